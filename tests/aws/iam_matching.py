"""IAM wildcard matching and a deliberately small IAM policy evaluator, used by the tests.

Why a local evaluator: moto 5.2.5 does not implement `iam:SimulatePrincipalPolicy`, and its
opt-in access control cannot judge resource grants: Secrets Manager requests are authorized
against the resource "*", and its matcher only turns `*` into `.*`, leaving `?` and `.` as
regular-expression syntax. So moto proves the documents are accepted by an IAM API, and this
module proves what they grant.

Matching rules (IAM's rules for `Resource` ARNs and for the `StringLike` condition operator):

* `*` matches any run of characters, the empty run included, and crosses `:` and `/`;
* `?` matches exactly one character (never the empty string);
* every other character matches only itself, case-sensitively: `.`, `+`, `/`, `[`, `(`, `\\`
  and the like are literal;
* the pattern must match the whole value, not a part of it.

IAM documents per-segment matching, with a trailing `*` of a segment allowed to expand beyond
the segment's colons. Letting every `*` cross colons is the broader reading: a claim that no
statement matches an ARN, proven under it, also holds under IAM's. The program's own patterns
contain only `?`, in the resource segment, where the two readings agree.

Action names are case-insensitive in IAM (`secretsmanager:getsecretvalue` is the same action
as `secretsmanager:GetSecretValue`), so `action_matches` folds case and then uses the same
wildcard rules.

The evaluator handles what the program generates: `Effect`, `Action`, `Resource`, `Sid`, and a
`Condition` judged against the request's context keys, given as a `RequestContext` (IAM's
rules: keys are case-insensitive; `StringEquals`/`StringLike` (and `ArnEquals`/`ArnLike`) hold when the key is present and
matches one of the values, so a request that does not name the key fails them; `Null` `"true"`
holds when the key is absent, `"false"` when present; every operator of a statement must hold).
Anything it cannot judge (`NotAction`, `NotResource`, `Principal` in an identity policy, policy
variables, another condition operator, a `Condition` on a statement that concerns a request
given without context) raises `UnsupportedPolicyElement`, so a test can never pass because the
evaluator silently misread a policy.

Multivalued keys (`aws:TagKeys`, `sts:TransitiveTagKeys`, given as lists) are judged only through
the set operators, IAM's rules ("Single-valued vs. multivalued context keys", IAM User Guide):
`ForAllValues:<op>` holds when every value of the request matches one of the policy's, and so
when the key is absent or empty; `ForAnyValue:<op>` when at least one does, so never when the key
is absent. A set operator on a single-valued key, or a plain one on a multivalued key, is refused:
AWS warns that both can grant what the author did not mean, and the program writes neither.

Trust policies (`trust_admits`, `assume_role_denial`) follow the IAM User Guide:

* "AWS JSON policy elements: Principal": `AWS` names an account (`arn:aws:iam::<id>:root` or the
  bare id: "Both delegate permissions to the account"), a role (its ARN; a session of the role
  is that role's principal), or one role session (`arn:aws:sts::<id>:assumed-role/<role>/<name>`);
  `Service` names an AWS service; `Federated` an identity provider. "You cannot use a wildcard to
  match part of a principal name or ARN", so principals compare exactly; `"*"` is refused.
* "Policy evaluation logic": a trust policy must allow the request itself ("IAM role trust
  policies and KMS key policies are exceptions ... because they must explicitly allow access for
  principals"); within one account, a trust that names the role or the session is enough, its
  caller's implicit deny notwithstanding, while one that names only the account delegates to the
  caller's identity policies, which must then allow the action on the role's ARN ("When you
  allow access to a different account, an administrator in that account must then grant
  access"), as they must for every call across accounts. An explicit Deny anywhere wins.
* "Passing session tags in AWS STS", "Permissions required to add session tags": a request that
  passes session tags needs "in addition to the action that matches the API operation" the
  `sts:TagSession` action, allowed by the same rules; its context carries `aws:RequestTag/<key>`
  per tag, `aws:TagKeys` and `sts:TransitiveTagKeys`; a role session's own requests carry
  `aws:PrincipalTag/<key>` for its principal tags: its role's IAM tags, overridden by its session
  tags, "regardless of case", and `aws:PrincipalArn` (for a role session, the role's ARN: "the
  role session principal is granted the permissions based on the ARN of role that was assumed")
  and `aws:PrincipalAccount`. A service assuming a role on a resource's behalf gives
  `aws:SourceArn` and `aws:SourceAccount` instead ("The confused deputy problem").
* "Chaining roles with session tags": transitive tags pass to every later session of the chain,
  and a request may not pass a tag whose key is one the caller holds as transitive ("If you try
  to pass the Heart = 3 session tag, the operation will fail"); `RoleSession.chained` raises
  `TransitiveTagConflict` then. Which tags reach `aws:RequestTag` in a chained request is not
  documented: here only the ones the request itself passes.
"""

from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Optional, Sequence, Union

PolicyDocument = Mapping[str, Any]
# A request's condition keys and their values, as IAM keys them (`secretsmanager:VersionStage`):
# a string, or a list for the multivalued keys.
RequestContext = Mapping[str, Union[str, Sequence[str]]]
# The multivalued keys among those modelled, lowercased as keys are compared.
MULTIVALUED_KEYS = frozenset({"aws:tagkeys", "sts:transitivetagkeys"})
SET_OPERATORS = ("ForAllValues:", "ForAnyValue:")


class UnsupportedPolicyElement(ValueError):
    """The policy uses something this evaluator does not model; it refuses to guess."""


def wildcard_match(pattern: str, value: str) -> bool:
    """Whether `value` as a whole matches `pattern` under the rules in the module docstring.

    Greedy matching that backtracks to the most recent `*`: on a mismatch, that `*` absorbs
    one more character and matching resumes after it. Earlier stars never need to be
    revisited, because any longer run they could take is also available to the later star.
    """
    p = v = 0
    star = -1  # index in `pattern` of the most recent `*`, or -1
    absorbed_to = 0  # `value` index up to which that `*` has absorbed characters
    while v < len(value):
        if p < len(pattern) and pattern[p] == "*":
            star, absorbed_to = p, v
            p += 1
        elif p < len(pattern) and (pattern[p] == "?" or pattern[p] == value[v]):
            p += 1
            v += 1
        elif star != -1:
            absorbed_to += 1
            p, v = star + 1, absorbed_to
        else:
            return False
    while p < len(pattern) and pattern[p] == "*":
        p += 1
    return p == len(pattern)


def action_matches(pattern: str, action: str) -> bool:
    """IAM action matching: wildcards as in `wildcard_match`, case-insensitive."""
    return wildcard_match(pattern.lower(), action.lower())


def as_list(value: Union[str, Iterable[str]]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def statements(document: PolicyDocument) -> list[Mapping[str, Any]]:
    found = document["Statement"]
    return [found] if isinstance(found, Mapping) else list(found)


def _check_supported(statement: Mapping[str, Any]) -> None:
    for element in ("NotAction", "NotResource", "Principal", "NotPrincipal"):
        if element in statement:
            raise UnsupportedPolicyElement(f"statement {statement.get('Sid')!r} uses {element}")
    if statement.get("Effect") not in ("Allow", "Deny"):
        raise UnsupportedPolicyElement(f"statement {statement.get('Sid')!r} has Effect {statement.get('Effect')!r}")
    for resource in as_list(statement["Resource"]):
        if "${" in resource:
            raise UnsupportedPolicyElement(f"resource {resource!r} uses a policy variable")


def concerns(
    statement: Mapping[str, Any], action: str, resource_arn: str, context: Optional[RequestContext] = None
) -> bool:
    """Whether `statement` applies to `action` on `resource_arn` with `context`; raises for what it
    cannot judge."""
    _check_supported(statement)
    if not any(action_matches(pattern, action) for pattern in as_list(statement["Action"])):
        return False
    if not any(wildcard_match(pattern, resource_arn) for pattern in as_list(statement["Resource"])):
        return False
    if "Condition" in statement:
        if context is None:
            raise UnsupportedPolicyElement(
                f"statement {statement.get('Sid')!r} concerns {action} on {resource_arn} only under a "
                "Condition, and the request has no context"
            )
        return _conditions_hold(statement["Condition"], context)
    return True


def identity_decision(
    documents: Iterable[PolicyDocument], action: str, resource_arn: str, context: Optional[RequestContext] = None
) -> Optional[str]:
    """IAM's identity-policy decision for one request: "Deny" for an explicit Deny (which wins),
    else "Allow" for any Allow, else None, the implicit deny."""
    allowed = False
    for document in documents:
        for statement in statements(document):
            if concerns(statement, action, resource_arn, context):
                if statement["Effect"] == "Deny":
                    return "Deny"
                allowed = True
    return "Allow" if allowed else None


def is_allowed(
    documents: Iterable[PolicyDocument], action: str, resource_arn: str, context: Optional[RequestContext] = None
) -> bool:
    return identity_decision(documents, action, resource_arn, context) == "Allow"


def allow_statements_naming(documents: Iterable[PolicyDocument], resource_arn: str) -> list[str]:
    """Sids (or indexes) of Allow statements with a Resource pattern matching `resource_arn`,
    whatever their actions: the resources a role can touch in any way."""
    found = []
    for document in documents:
        for index, statement in enumerate(statements(document)):
            _check_supported(statement)
            if statement["Effect"] == "Allow" and any(
                wildcard_match(pattern, resource_arn) for pattern in as_list(statement["Resource"])
            ):
                found.append(str(statement.get("Sid", index)))
    return found


# Trust policies --------------------------------------------------------------------------

# ArnEquals/ArnLike compare an ARN as a whole here; IAM compares segment by segment, which
# admits no more (the broader reading, as for Resource).
_STRING_OPERATORS = {
    "StringEquals": lambda pattern, value: pattern == value,
    "StringLike": wildcard_match,
    "ArnEquals": lambda pattern, value: pattern == value,
    "ArnLike": wildcard_match,
}


@dataclass(frozen=True)
class WebIdentityRequest:
    """An `sts:AssumeRoleWithWebIdentity` call: who federates and the token's claims, keyed as
    IAM keys them (`<issuer>:sub`, `<issuer>:aud`)."""

    federated_provider_arn: str
    claims: Mapping[str, str]
    action: str = "sts:AssumeRoleWithWebIdentity"


class TransitiveTagConflict(ValueError):
    """A request passes a session tag whose key the caller holds as a transitive tag."""


def _overlay(base: Mapping[str, str], over: Mapping[str, str]) -> dict[str, str]:
    # A tag of `over` replaces one of `base` with the same key in any case.
    replaced = {key.lower() for key in over}
    return {key: value for key, value in base.items() if key.lower() not in replaced} | dict(over)


@dataclass(frozen=True)
class RoleSession:
    """A role session as STS made it: its role, its name, its session tags (passed when it was
    made, or inherited as transitive ones) and which of their keys are transitive."""

    role_arn: str
    name: str
    tags: Mapping[str, str] = field(default_factory=dict)
    transitive_keys: frozenset[str] = frozenset()

    @property
    def partition(self) -> str:
        return self.role_arn.split(":")[1]

    @property
    def account(self) -> str:
        return self.role_arn.split(":")[4]

    @property
    def arn(self) -> str:
        role_name = self.role_arn.rsplit("/", 1)[-1]
        return f"arn:{self.partition}:sts::{self.account}:assumed-role/{role_name}/{self.name}"

    def principal_tags(self, role_tags: Mapping[str, str]) -> dict[str, str]:
        return _overlay(role_tags, self.tags)

    def principal_context(self, role_tags: Mapping[str, str]) -> dict[str, str]:
        """The condition keys every request of this session carries, its role having `role_tags`."""
        context = {"aws:PrincipalArn": self.role_arn, "aws:PrincipalAccount": self.account}
        return context | {f"aws:PrincipalTag/{key}": value for key, value in self.principal_tags(role_tags).items()}

    def chained(self, role_arn: str, name: str, tags: Mapping[str, str], transitive_keys: Iterable[str] = ()) -> "RoleSession":
        """The session this one gets by assuming `role_arn` with `tags`, its transitive tags
        carried over."""
        inherited = {key: value for key, value in self.tags.items() if key.lower() in {k.lower() for k in self.transitive_keys}}
        clashing = sorted(key for key in tags if key.lower() in {k.lower() for k in inherited})
        if clashing:
            raise TransitiveTagConflict(f"the session tags {clashing} are transitive tags of the calling session")
        return RoleSession(role_arn, name, inherited | dict(tags), frozenset(inherited) | frozenset(transitive_keys))


@dataclass(frozen=True)
class ServicePrincipal:
    """An AWS service assuming a role, on behalf of the resource `source_arn` of `source_account`."""

    service: str
    source_arn: str = ""
    source_account: str = ""


@dataclass(frozen=True)
class AssumeRoleRequest:
    """An `sts:AssumeRole` call: the role, the caller (a role session, whose role has the IAM
    tags `caller_role_tags`, or a service) and the session tags it passes."""

    role_arn: str
    caller: Union[RoleSession, ServicePrincipal]
    tags: Mapping[str, str] = field(default_factory=dict)
    transitive_tag_keys: tuple[str, ...] = ()
    caller_role_tags: Mapping[str, str] = field(default_factory=dict)

    def actions(self) -> list[str]:
        return ["sts:AssumeRole"] + (["sts:TagSession"] if self.tags or self.transitive_tag_keys else [])

    def context(self) -> dict[str, Union[str, list[str]]]:
        context: dict[str, Union[str, list[str]]] = {f"aws:RequestTag/{key}": value for key, value in self.tags.items()}
        if self.tags:
            context["aws:TagKeys"] = list(self.tags)
        if self.transitive_tag_keys:
            context["sts:TransitiveTagKeys"] = list(self.transitive_tag_keys)
        if isinstance(self.caller, RoleSession):
            context |= self.caller.principal_context(self.caller_role_tags)
        else:
            if self.caller.source_arn:
                context["aws:SourceArn"] = self.caller.source_arn
            if self.caller.source_account:
                context["aws:SourceAccount"] = self.caller.source_account
        return context


# How a trust statement's Principal names the caller: itself (its provider, service, role or
# session) or only its account.
DIRECT, ACCOUNT = "direct", "account"


def _principal_match(principal: Any, request: Union[WebIdentityRequest, AssumeRoleRequest]) -> Optional[str]:
    if not isinstance(principal, Mapping):
        raise UnsupportedPolicyElement(f"trust principal {principal!r}")
    unknown = set(principal) - {"AWS", "Service", "Federated"}
    if unknown:
        raise UnsupportedPolicyElement(f"trust principal {sorted(unknown)}")
    if any(value == "*" for values in principal.values() for value in as_list(values)):
        raise UnsupportedPolicyElement("trust principal '*'")
    if isinstance(request, WebIdentityRequest):
        return DIRECT if request.federated_provider_arn in as_list(principal.get("Federated", [])) else None
    caller = request.caller
    if isinstance(caller, ServicePrincipal):
        return DIRECT if caller.service in as_list(principal.get("Service", [])) else None
    named = as_list(principal.get("AWS", []))
    if caller.role_arn in named or caller.arn in named:
        return DIRECT
    if f"arn:{caller.partition}:iam::{caller.account}:root" in named or caller.account in named:
        return ACCOUNT
    return None


def _trust_grant(document: PolicyDocument, request: Union[WebIdentityRequest, AssumeRoleRequest], action: str,
                 context: RequestContext) -> Optional[str]:
    """How the trust policy allows `action` for the request (DIRECT before ACCOUNT), or None
    when no Allow applies or a Deny does."""
    granted: Optional[str] = None
    for statement in statements(document):
        unknown = set(statement) - {"Sid", "Effect", "Principal", "Action", "Condition"}
        if unknown or statement.get("Effect") not in ("Allow", "Deny"):
            raise UnsupportedPolicyElement(f"trust statement uses {sorted(unknown) or statement.get('Effect')}")
        how = _principal_match(statement["Principal"], request)
        if how is None or not any(action_matches(pattern, action) for pattern in as_list(statement["Action"])):
            continue
        if not _conditions_hold(statement.get("Condition", {}), context):
            continue
        if statement["Effect"] == "Deny":
            return None
        granted = DIRECT if DIRECT in (granted, how) else how
    return granted


def trust_admits(document: PolicyDocument, request: WebIdentityRequest) -> bool:
    """Whether a trust policy lets the web identity `request` assume the role (the module
    docstring's rules; the token's claims are the context)."""
    return _trust_grant(document, request, request.action, request.claims) is not None


def assume_role_denial(trust: PolicyDocument, caller_policies: Iterable[PolicyDocument],
                       request: AssumeRoleRequest) -> Optional[str]:
    """Why IAM refuses `request`, judged on the role's trust and the calling session's role's
    identity policies (the module docstring's rules), or None when it allows it."""
    context = request.context()
    documents = list(caller_policies)
    for action in request.actions():
        grant = _trust_grant(trust, request, action, context)
        if grant is None:
            return f"the trust policy of {request.role_arn} does not allow {action}"
        if isinstance(request.caller, ServicePrincipal):
            continue
        identity = identity_decision(documents, action, request.role_arn, context)
        if identity == "Deny":
            return f"an identity-based policy explicitly denies {action}"
        same_account = request.caller.account == request.role_arn.split(":")[4]
        if identity is None and not (grant == DIRECT and same_account):
            return f"no identity-based policy allows the {action} action"
    return None


def _matches(compare: Any, expected: Any, value: str) -> bool:
    return any(compare(str(pattern), value) for pattern in as_list(expected))


def _conditions_hold(condition: Mapping[str, Mapping[str, Any]], context: RequestContext) -> bool:
    # Condition keys are case-insensitive in IAM; values are compared as the operator says.
    folded = {key.lower(): value for key, value in context.items()}
    for operator, tests in condition.items():
        if operator == "Null":
            for key, expected in tests.items():
                if expected not in ("true", "false"):
                    raise UnsupportedPolicyElement(f"Null condition value {expected!r}")
                if (folded.get(key.lower()) in (None, [])) != (expected == "true"):
                    return False
            continue
        qualifier = next((prefix for prefix in SET_OPERATORS if operator.startswith(prefix)), "")
        base = operator[len(qualifier):]
        if base not in _STRING_OPERATORS:
            raise UnsupportedPolicyElement(f"condition operator {operator}")
        compare = _STRING_OPERATORS[base]
        for key, expected in tests.items():
            if bool(qualifier) != (key.lower() in MULTIVALUED_KEYS):
                raise UnsupportedPolicyElement(f"{operator} on the {'single' if qualifier else 'multi'}valued key {key}")
            value = folded.get(key.lower())
            if qualifier == "ForAllValues:":
                held = all(_matches(compare, expected, item) for item in as_list(value or []))
            elif qualifier == "ForAnyValue:":
                held = any(_matches(compare, expected, item) for item in as_list(value or []))
            else:
                held = isinstance(value, str) and _matches(compare, expected, value)
            if not held:
                return False
    return True
