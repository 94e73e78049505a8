"""The guardrails of eso-platform as pure functions, plus thin adapters for pulumi_policy.

Every check has the form `(resource_type, props) -> list[str]`: the violation messages for one
resource, empty when it complies or when the check does not concern the resource's type.
`props` are the resource's inputs as the engine sends them to a policy pack: camelCase
property names, IAM documents as JSON text (or already-parsed objects), and, under
`pulumi preview`, pulumi_policy's read-only proxies in place of dicts and lists. The checks
only read `Mapping`/`Sequence` behaviour and touch no more of `props` than they need, so a
value that is unknown during preview only stops the check that actually reads it (the SDK
then reports "can't run policy during preview" and the check runs again at `pulumi up`).

Importing this module starts nothing: only `policy/__main__.py` builds the PolicyPack.
"""

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Optional

from pulumi_policy import ReportViolation, ResourceValidationArgs
from pulumi_policy.proxy import UnknownValueError

from components.resource_types import KUBERNETES_SECRET, MANAGED_POLICY, POLICY_ATTACHMENT, RELEASE, ROLE, ROLE_POLICY
from stacks.durations import parse_go_duration

Check = Callable[[str, Mapping[str, Any]], list[str]]

# ---------------------------------------------------------------------------------------------
# Resource types
# ---------------------------------------------------------------------------------------------

# Resources whose `policy` property is an identity policy.
IDENTITY_POLICY_TYPES = frozenset(
    {
        ROLE_POLICY,
        MANAGED_POLICY,
        "aws:iam/userPolicy:UserPolicy",
        "aws:iam/groupPolicy:GroupPolicy",
    }
)
# Resources that attach managed policies to a role, and the property holding the policy ARN(s).
POLICY_ATTACHMENT_PROPS = {
    POLICY_ATTACHMENT: "policyArn",
    "aws:iam/policyAttachment:PolicyAttachment": "policyArn",
    "aws:iam/rolePolicyAttachmentsExclusive:RolePolicyAttachmentsExclusive": "policyArns",
    ROLE: "managedPolicyArns",
}
KUBERNETES_SECRET_TYPES = frozenset({KUBERNETES_SECRET, "kubernetes:core/v1:SecretPatch"})
SECRET_VERSION_TYPES = frozenset({"aws:secretsmanager/secretVersion:SecretVersion"})
# Properties of a SecretVersion that put the secret's value into the program and its state.
SECRET_VERSION_VALUE_PROPS = ("secretString", "secretBinary", "secretStringWo")
EXTERNAL_SECRET = re.compile(r"kubernetes:external-secrets\.io/[^:]+:ExternalSecret")
CLUSTER_EXTERNAL_SECRET = re.compile(r"kubernetes:external-secrets\.io/[^:]+:ClusterExternalSecret")
HELM_CHART_TYPES = frozenset({RELEASE, "kubernetes:helm.sh/v4:Chart"})
ESO_CHART = "external-secrets"

# ---------------------------------------------------------------------------------------------
# Small helpers over props (plain values or pulumi_policy proxies alike)
# ---------------------------------------------------------------------------------------------

WILDCARDS = ("*", "?")


def _has_wildcard(text: str) -> bool:
    return any(w in text for w in WILDCARDS)


def _wildcard_regex(pattern: str, ignore_case: bool = False) -> re.Pattern:
    """IAM wildcard matching: `*` any run of characters (colons included), `?` exactly one."""
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    flags = re.DOTALL | (re.IGNORECASE if ignore_case else 0)
    return re.compile(body, flags)


def _as_list(value: Any) -> list[Any]:
    """An IAM element that may be a single value or a list of them, as a list."""
    if value is None:
        return []
    if isinstance(value, Sequence) and not isinstance(value, (str, bytes)):
        return list(value)
    return [value]


def _carries(props: Mapping[str, Any], key: str) -> bool:
    """Whether `props` has a non-empty `key`. An unknown value (preview) counts as carried: it
    is still a literal value of the program, only computed later."""
    if key not in list(props):  # iterating the keys reads no value, so no unknown-check fires
        return False
    try:
        value = props[key]
    except UnknownValueError:
        return True
    if value is None:
        return False
    if isinstance(value, (str, bytes, Mapping, Sequence)):
        return len(value) > 0
    return True


def _parse_document(value: Any, where: str) -> tuple[Optional[Mapping[str, Any]], list[str]]:
    """(document, problems) for a policy property holding JSON text or a parsed object."""
    if value is None:
        return None, []
    if isinstance(value, str):
        if not value.strip():
            return None, []
        try:
            value = json.loads(value)
        except json.JSONDecodeError as error:
            return None, [f"{where} is not valid JSON ({error.msg}), so it cannot be checked"]
    if not isinstance(value, Mapping):
        return None, [f"{where} is not a policy document (got {type(value).__name__})"]
    return value, []


def _statements(document: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """(label, statement) for each statement, `Statement` being one object or a list."""
    for index, statement in enumerate(_as_list(document.get("Statement"))):
        if isinstance(statement, Mapping):
            sid = statement.get("Sid")
            yield (f"statement {sid!r}" if sid else f"statement #{index}"), statement


def _allows(statement: Mapping[str, Any]) -> bool:
    return str(statement.get("Effect", "")).lower() == "allow"


def _granted_actions(statement: Mapping[str, Any], actions: Sequence[str]) -> list[str]:
    """Which of `actions` an Allow statement grants, through `Action` or `NotAction`."""
    if "NotAction" in list(statement):
        excluded = [_wildcard_regex(p, ignore_case=True) for p in _as_list(statement["NotAction"]) if isinstance(p, str)]
        return [a for a in actions if not any(x.fullmatch(a) for x in excluded)]
    patterns = [_wildcard_regex(p, ignore_case=True) for p in _as_list(statement.get("Action")) if isinstance(p, str)]
    return [a for a in actions if any(p.fullmatch(a) for p in patterns)]


# ---------------------------------------------------------------------------------------------
# 1. Secrets Manager reads are scoped to single, named secrets
# ---------------------------------------------------------------------------------------------

SECRET_READ_ACTIONS = (
    "secretsmanager:GetSecretValue",
    "secretsmanager:DescribeSecret",
    "secretsmanager:GetResourcePolicy",
    "secretsmanager:ListSecretVersionIds",
    "secretsmanager:BatchGetSecretValue",
)
# Secrets Manager appends '-' and six random characters to every secret's ARN; that suffix,
# after a literal secret name, is the one wildcard a secret ARN may carry.
RANDOM_SUFFIX = "-??????"
_SINGLE_SECRET_ARN = re.compile(
    r"arn:[^:*?]+:secretsmanager:[^:*?]+:[^:*?]+:secret:(?P<name>[^*?]+)" + re.escape(RANDOM_SUFFIX)
)


def secret_resource_problem(resource: Any) -> Optional[str]:
    """Why granting a secret read on `resource` reaches more than one named secret, or None.

    Literal ARNs (no wildcard) name one resource and pass; so do ARNs of other services,
    which a Secrets Manager action cannot reach.
    """
    if not isinstance(resource, str):
        return f"Resource {resource!r} is not an ARN"
    if resource == "*":
        return "Resource '*' matches every secret"
    if not _has_wildcard(resource):
        return None
    parts = resource.split(":", 5)
    if len(parts) == 6:
        service, rest = parts[2], parts[5]
        if not _has_wildcard(service) and service.lower() != "secretsmanager":
            return None  # another service's resource
        if not rest.startswith("secret:") and not _has_wildcard(rest[: len("secret:")]):
            return None  # not a secret (Secrets Manager has no other resource type)
    if _SINGLE_SECRET_ARN.fullmatch(resource):
        return None
    prefix, separator, name = resource.partition(":secret:")
    if separator and not _has_wildcard(prefix):
        return (
            f"Resource {resource!r} has a wildcard in the secret name {name!r}: it matches "
            f"more than one secret; the only wildcard allowed is the trailing {RANDOM_SUFFIX!r} "
            "after a literal name"
        )
    return (
        f"Resource {resource!r} has a wildcard outside the trailing {RANDOM_SUFFIX!r} of a "
        "literal secret name, so it can match more than one secret"
    )


def _document_read_scope(document: Mapping[str, Any], where: str) -> list[str]:
    problems = []
    for label, statement in _statements(document):
        if not _allows(statement):
            continue
        granted = _granted_actions(statement, SECRET_READ_ACTIONS)
        if not granted:
            continue
        via = " (through NotAction)" if "NotAction" in list(statement) else ""
        actions = ", ".join(granted)
        if "NotResource" in list(statement):
            problems.append(
                f"{where}, {label}: allows {actions}{via} with NotResource, i.e. on every secret "
                "not listed; name each secret in Resource instead"
            )
            continue
        for resource in _as_list(statement.get("Resource")):
            problem = secret_resource_problem(resource)
            if problem:
                problems.append(f"{where}, {label}: allows {actions}{via}; {problem}")
    return problems


def secret_read_scope_violations(resource_type: str, props: Mapping[str, Any]) -> list[str]:
    """Rule 1: no Secrets Manager read on `*` or on a secret ARN with a wildcard in the name."""
    documents: list[tuple[str, Any]] = []
    if resource_type in IDENTITY_POLICY_TYPES:
        documents.append(("policy", props.get("policy")))
    elif resource_type == ROLE:
        for index, inline in enumerate(_as_list(props.get("inlinePolicies"))):
            if isinstance(inline, Mapping):
                documents.append((f"inlinePolicies[{index}].policy", inline.get("policy")))
    else:
        return []
    problems: list[str] = []
    for where, value in documents:
        document, parse_problems = _parse_document(value, where)
        problems += parse_problems
        if document is not None:
            problems += _document_read_scope(document, where)
    return problems


# ---------------------------------------------------------------------------------------------
# 2. Web-identity trust pins `sub` and `aud`
# ---------------------------------------------------------------------------------------------

WEB_IDENTITY_ACTION = "sts:AssumeRoleWithWebIdentity"
# The documented shared-wildcard mode: one ServiceAccount name, in any namespace.
SHARED_WILDCARD_SUBJECT = re.compile(r"system:serviceaccount:\*:[a-z0-9]([-a-z0-9.]*[a-z0-9])?")


@dataclass(frozen=True)
class TrustFindings:
    mandatory: list[str]
    advisory: list[str]


def _condition_values(block: Any, key: str) -> Optional[list[Any]]:
    """The values of condition `key` in one operator's block; condition keys ignore case."""
    if not isinstance(block, Mapping):
        return None
    for name in block:
        if isinstance(name, str) and name.lower() == key.lower():
            return _as_list(block[name])
    return None


def _federated_issuers(principal: Any) -> list[str]:
    if not isinstance(principal, Mapping):
        return []
    providers = [p for p in _as_list(principal.get("Federated")) if isinstance(p, str)]
    # An IAM OIDC provider ARN ends in `oidc-provider/<issuer>`; condition keys use `<issuer>`.
    return [p.split(":oidc-provider/", 1)[1] if ":oidc-provider/" in p else p for p in providers]


def _trusts_anyone(principal: Any) -> bool:
    if principal == "*":
        return True
    return isinstance(principal, Mapping) and "*" in _as_list(principal.get("AWS"))


def web_identity_trust_findings(resource_type: str, props: Mapping[str, Any]) -> TrustFindings:
    """Rule 2 for one role: mandatory problems, and the advisory shared-wildcard finding."""
    findings = TrustFindings([], [])
    if resource_type != ROLE:
        return findings
    document, problems = _parse_document(props.get("assumeRolePolicy"), "assumeRolePolicy")
    findings.mandatory.extend(problems)
    if document is None:
        return findings
    for label, statement in _statements(document):
        if not _allows(statement) or not _granted_actions(statement, (WEB_IDENTITY_ACTION,)):
            continue
        principal = statement.get("Principal")
        if _trusts_anyone(principal):
            findings.mandatory.append(f"assumeRolePolicy, {label}: allows {WEB_IDENTITY_ACTION} to any principal")
            continue
        conditions = statement.get("Condition")
        conditions = conditions if isinstance(conditions, Mapping) else {}
        equals, like = conditions.get("StringEquals"), conditions.get("StringLike")
        for issuer in _federated_issuers(principal):
            where = f"assumeRolePolicy, {label} (issuer {issuer})"
            if not _condition_values(equals, f"{issuer}:aud"):
                findings.mandatory.append(f"{where}: {issuer}:aud is not pinned with StringEquals")
            if _condition_values(equals, f"{issuer}:sub"):
                continue
            wildcard_subjects = _condition_values(like, f"{issuer}:sub")
            if not wildcard_subjects:
                findings.mandatory.append(f"{where}: {issuer}:sub is not pinned with StringEquals")
            elif all(isinstance(s, str) and SHARED_WILDCARD_SUBJECT.fullmatch(s) for s in wildcard_subjects):
                findings.advisory.append(
                    f"{where}: StringLike sub {', '.join(wildcard_subjects)} trusts that "
                    "ServiceAccount name in every namespace of the cluster, including namespaces "
                    "created later (irsa.mode shared-wildcard); prefer per-namespace roles"
                )
            else:
                findings.mandatory.append(
                    f"{where}: StringLike {issuer}:sub {wildcard_subjects!r} is not the documented "
                    "system:serviceaccount:*:<name> form; pin the subject with StringEquals"
                )
    return findings


def web_identity_trust_violations(resource_type: str, props: Mapping[str, Any]) -> list[str]:
    """Rule 2 (mandatory): web-identity trust pins `<issuer>:sub` and `<issuer>:aud` with StringEquals."""
    return web_identity_trust_findings(resource_type, props).mandatory


def shared_wildcard_trust_warnings(resource_type: str, props: Mapping[str, Any]) -> list[str]:
    """Rule 2 (advisory): `StringLike` sub of exactly `system:serviceaccount:*:<name>`."""
    return web_identity_trust_findings(resource_type, props).advisory


# ---------------------------------------------------------------------------------------------
# 3. and 4. No secret values in the program
# ---------------------------------------------------------------------------------------------


def literal_kubernetes_secret_violations(resource_type: str, props: Mapping[str, Any]) -> list[str]:
    """Rule 3: no Kubernetes Secret carries literal `data` or `stringData`."""
    if resource_type not in KUBERNETES_SECRET_TYPES:
        return []
    return [
        f"{key} holds literal secret values; Secrets are created only by External Secrets "
        "Operator from AWS Secrets Manager (add an ExternalSecret instead)"
        for key in ("data", "stringData")
        if _carries(props, key)
    ]


def secret_version_value_violations(resource_type: str, props: Mapping[str, Any]) -> list[str]:
    """Rule 4: no SecretVersion carries `secretString`/`secretBinary` (nor write-only `secretStringWo`)."""
    if resource_type not in SECRET_VERSION_TYPES:
        return []
    return [
        f"{key} puts the secret's value into the program and its state; write secret values "
        "outside Pulumi (console, CLI or rotation) and only reference the secret here"
        for key in SECRET_VERSION_VALUE_PROPS
        if _carries(props, key)
    ]


# ---------------------------------------------------------------------------------------------
# 5. ExternalSecret refresh interval
# ---------------------------------------------------------------------------------------------

MINIMUM_REFRESH_SECONDS = 60


def refresh_interval_problem(value: Any, where: str) -> Optional[str]:
    """Why `value` is not an acceptable refresh interval, or None. Absent means ESO's 1h."""
    if value is None:
        return None
    if not isinstance(value, str):
        return f"{where} {value!r} is not a duration string like 10m or 1h"
    try:
        seconds = parse_go_duration(value)
    except ValueError:
        return f"{where} {value!r} is not a valid Go duration (like 10m or 1h30m)"
    if seconds == 0:
        return f"{where} {value!r} turns refreshing off; use at least 1m"
    if seconds < MINIMUM_REFRESH_SECONDS:
        return f"{where} {value!r} is below the 1m minimum: each refresh is a billed Secrets Manager call"
    return None


def _get_path(props: Mapping[str, Any], *path: str) -> Any:
    node: Any = props
    for key in path:
        if not isinstance(node, Mapping):
            return None
        node = node.get(key)
    return node


def refresh_interval_violations(resource_type: str, props: Mapping[str, Any]) -> list[str]:
    """Rule 5: ExternalSecret `spec.refreshInterval` is a Go duration of at least 1m (absent: 1h)."""
    if EXTERNAL_SECRET.fullmatch(resource_type):
        path = ("spec", "refreshInterval")
    elif CLUSTER_EXTERNAL_SECRET.fullmatch(resource_type):
        path = ("spec", "externalSecretSpec", "refreshInterval")
    else:
        return []
    problem = refresh_interval_problem(_get_path(props, *path), ".".join(path))
    return [problem] if problem else []


# ---------------------------------------------------------------------------------------------
# 6. The ESO chart version is pinned
# ---------------------------------------------------------------------------------------------

# An exact semantic version (semver.org 2.0.0): no range, no `v`, no `x`, `*`, `^` or `~`.
EXACT_SEMVER = re.compile(
    r"(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?(\+[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?"
)


def is_eso_chart(chart: Any) -> bool:
    return isinstance(chart, str) and (chart == ESO_CHART or chart.endswith("/" + ESO_CHART))


def chart_version_violations(resource_type: str, props: Mapping[str, Any]) -> list[str]:
    """Rule 6: the external-secrets chart has an exact semver `version`."""
    if resource_type not in HELM_CHART_TYPES or not is_eso_chart(props.get("chart")):
        return []
    version = props.get("version")
    if isinstance(version, str) and EXACT_SEMVER.fullmatch(version):
        return []
    shown = "no version" if version in (None, "") else f"version {version!r}"
    return [
        f"chart {props.get('chart')!r} has {shown}; pin an exact chart version such as 2.9.0 "
        "(no range, no 'latest'), so that every preview installs what was reviewed"
    ]


# ---------------------------------------------------------------------------------------------
# 7. Roles get only customer-managed policies
# ---------------------------------------------------------------------------------------------

AWS_MANAGED_POLICY = re.compile(r"arn:[^:]+:iam::aws:policy/.+")


def attached_policy_violations(resource_type: str, props: Mapping[str, Any]) -> list[str]:
    """Rule 7: no AWS managed policy is attached. A customer-managed policy (aws.iam.Policy) is
    checked by rule 1 where it is defined; an AWS managed one is AWS's to change, out of reach."""
    key = POLICY_ATTACHMENT_PROPS.get(resource_type)
    if key is None or key not in list(props):
        return []
    return [
        f"{key} attaches the AWS managed policy {arn!r}: no rule of this pack can check what it grants, "
        "and AWS may widen it (SecretsManagerReadWrite reads every secret); attach a customer-managed "
        "policy (aws.iam.Policy) that names each secret instead"
        for arn in _as_list(props[key])
        if isinstance(arn, str) and AWS_MANAGED_POLICY.fullmatch(arn)
    ]


# ---------------------------------------------------------------------------------------------
# The pack's catalogue and the pulumi_policy adapters
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Guardrail:
    name: str
    description: str
    check: Check
    advisory: bool = False


GUARDRAILS: tuple[Guardrail, ...] = (
    Guardrail(
        "secrets-manager-read-single-secret",
        "Secrets Manager reads are granted only on named secrets: never on \"*\", and the only "
        "wildcard in a secret ARN is the trailing -?????? after a literal name.",
        secret_read_scope_violations,
    ),
    Guardrail(
        "irsa-trust-pins-sub-and-aud",
        "Web-identity trust pins <issuer>:sub and <issuer>:aud with StringEquals.",
        web_identity_trust_violations,
    ),
    Guardrail(
        "irsa-shared-wildcard-trust",
        "The shared-wildcard mode trusts one ServiceAccount name in every namespace "
        "(StringLike system:serviceaccount:*:<name>).",
        shared_wildcard_trust_warnings,
        advisory=True,
    ),
    Guardrail(
        "no-literal-kubernetes-secret-data",
        "Kubernetes Secrets carry no literal data or stringData; they come from External Secrets Operator.",
        literal_kubernetes_secret_violations,
    ),
    Guardrail(
        "no-secret-values-in-secret-versions",
        "Secrets Manager SecretVersions carry no secretString or secretBinary from the program.",
        secret_version_value_violations,
    ),
    Guardrail(
        "external-secret-refresh-interval",
        "ExternalSecret refreshInterval is a Go duration of at least 1m (unset means 1h).",
        refresh_interval_violations,
    ),
    Guardrail(
        "eso-chart-version-pinned",
        "The external-secrets Helm chart is pinned to an exact semver version.",
        chart_version_violations,
    ),
    Guardrail(
        "attached-policies-are-customer-managed",
        "Roles get no AWS managed policy (attachments and managedPolicyArns): only customer-managed "
        "policies, whose documents the read-scope rule checks.",
        attached_policy_violations,
    ),
)


def violations(resource_type: str, props: Mapping[str, Any]) -> dict[str, list[str]]:
    """Every guardrail's findings for one resource, by guardrail name (empty lists dropped)."""
    found = {g.name: g.check(resource_type, props) for g in GUARDRAILS}
    return {name: messages for name, messages in found.items() if messages}


def validator(check: Check) -> Callable[[ResourceValidationArgs, ReportViolation], None]:
    """`check` as a pulumi_policy resource validation: one report_violation per message."""

    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        for message in check(args.resource_type, args.props):
            report_violation(message, None)

    validate.__name__ = f"validate_{check.__name__}"
    validate.__doc__ = check.__doc__
    return validate
