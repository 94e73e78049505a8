"""What a stack will create, read off a mock-engine run of the real program, in three formats."""

import json
from dataclasses import dataclass
from typing import Any, Optional

import yaml

from components.admission import NAMESPACE_NAME_LABEL
from components.labels import STACK_LABEL
from components.resource_types import (
    ADMISSION_BINDING,
    ADMISSION_POLICY,
    EXTERNAL_SECRET,
    MANAGED_POLICY,
    NAMESPACE_PATCH,
    POD_IDENTITY_ASSOCIATION,
    PROMETHEUS_RULE,
    RELEASE,
    ROLE,
    ROLE_POLICY,
    SECRET_STORE,
    SERVICE_ACCOUNT,
    TOKEN_ROLE,
    TOKEN_ROLE_BINDING,
)
from tools.plan.engine import REDACTED, ProgramRun, Registration
from tools.plan.estimate import Delivery, estimate
from tools.plan.replacements import ResourceChanges
from stacks.lifecycle import SecretChange
from stacks.tenancy import TENANT_OF_OUTPUT

# The program's name for its AdmissionGuard component. The Secret guard is a
# ValidatingAdmissionPolicy too; it has a line of its own under the operator.
ADMISSION_GUARD = "admission"
IAM_DOCUMENT_INPUTS = {ROLE: "assumeRolePolicy", ROLE_POLICY: "policy", MANAGED_POLICY: "policy"}
MANIFEST_ORDER = {SERVICE_ACCOUNT: 0, TOKEN_ROLE: 1, TOKEN_ROLE_BINDING: 2, SECRET_STORE: 3, EXTERNAL_SECRET: 4}


def _inputs(resource: Registration) -> dict[str, Any]:
    inputs = dict(resource.inputs)
    key = IAM_DOCUMENT_INPUTS.get(resource.type)
    if key and isinstance(inputs.get(key), str):
        inputs[key] = json.loads(inputs[key])
    return inputs


def deliveries(run: ProgramRun) -> list[Delivery]:
    regions = {
        (store.inputs["metadata"]["namespace"], store.inputs["metadata"]["name"]): store.inputs["spec"]["provider"]["aws"]["region"]
        for store in run.of_type(SECRET_STORE)
    }
    found = []
    for resource in run.of_type(EXTERNAL_SECRET):
        metadata, spec = resource.inputs["metadata"], resource.inputs["spec"]
        paths = {entry["extract"]["key"] for entry in spec.get("dataFrom", [])}
        paths |= {entry["remoteRef"]["key"] for entry in spec.get("data", [])}
        found.append(
            Delivery(
                namespace=metadata["namespace"],
                refresh_interval=spec.get("refreshInterval", "1h"),
                region=regions[(metadata["namespace"], spec["secretStoreRef"]["name"])],
                secret_paths=tuple(sorted(paths)),
            )
        )
    return found


def plan_resources(run: ProgramRun) -> list[dict[str, Any]]:
    """The resources as a JSON plan lists them."""
    return [
        {"type": r.type, "name": r.name, "parent": r.parent, "inputs": _inputs(r), "dependencies": list(r.dependencies),
         "propertyDependencies": {key: list(names) for key, names in r.property_dependencies.items()}}
        for r in run.resources
    ]


@dataclass(frozen=True)
class Against:
    """The plan held against the deployed one: its Secrets' fates and, when the deployed plan's
    resources are known, what the change replaces."""

    secret_changes: list[SecretChange]
    resource_changes: Optional[ResourceChanges]


def as_json(run: ProgramRun, against: Optional[Against] = None) -> str:
    document: dict[str, Any] = {
        "stack": run.stack,
        "project": run.project,
        "resources": plan_resources(run),
        "outputs": {name: REDACTED if name in run.secret_outputs else value for name, value in run.outputs.items()},
        "warnings": run.warnings,
        "estimate": estimate(deliveries(run)),
    }
    if against is not None:
        document["secretChanges"] = [change.as_dict() for change in against.secret_changes]
    if against is not None and against.resource_changes is not None:
        changes = against.resource_changes
        document["resourceChanges"] = {
            "replaced": [replacement.as_dict() for replacement in changes.replaced],
            "deleted": [{"type": kind, "name": name} for kind, name in changes.deleted],
            "created": [{"type": kind, "name": name} for kind, name in changes.created],
        }
    return json.dumps({key: _canonical(value) for key, value in document.items()}, indent=2) + "\n"


def _canonical(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _canonical(value[key]) for key in sorted(value)}
    if isinstance(value, list):
        return [_canonical(item) for item in value]
    return value


def kubernetes_objects(run: ProgramRun) -> list[dict[str, Any]]:
    resources = [r for r in run.resources if r.type in MANIFEST_ORDER]
    resources.sort(
        key=lambda r: (r.inputs["metadata"]["namespace"], MANIFEST_ORDER[r.type], r.inputs["metadata"]["name"])
    )
    objects = []
    for resource in resources:
        body = _canonical(resource.inputs)
        head = {key: body.pop(key) for key in ("apiVersion", "kind", "metadata")}
        objects.append({**head, **body})
    return objects


def as_yaml(run: ProgramRun) -> str:
    header = (
        f"# eso-platform plan of stack {run.stack}: ServiceAccounts, the controller's token grants, "
        "SecretStores and ExternalSecrets\n"
    )
    return header + yaml.safe_dump_all(kubernetes_objects(run), sort_keys=False, explicit_start=True)


def _roles_by_name(run: ProgramRun) -> dict[str, Registration]:
    return {role.inputs["name"]: role for role in run.of_type(ROLE)}


def _as_list(value: Any) -> list:
    """IAM allows one value or a list wherever a list may stand."""
    return value if isinstance(value, list) else [value]


def _trust_lines(document: dict[str, Any]) -> list[str]:
    lines = []
    for statement in document["Statement"]:
        for operator, conditions in statement.get("Condition", {}).items():
            for key, value in conditions.items():
                claim = key.rsplit(":", 1)[-1]
                lines += [f"{claim} {operator} {item}" for item in _as_list(value)]
    return sorted(lines, key=lambda line: (not line.startswith("sub"), line))


def _policy_resources(run: ProgramRun, role: Registration) -> list[tuple[str, str]]:
    policies = [p for p in run.of_type(ROLE_POLICY) + run.of_type(MANAGED_POLICY) if p.parent == role.parent]
    rows = []
    for policy in policies:
        for statement in json.loads(policy.inputs["policy"])["Statement"]:
            reads = any(action.startswith("secretsmanager:") for action in _as_list(statement["Action"]))
            verb = _read_verb(statement) if reads else "decrypts"
            rows += [(verb, resource) for resource in _as_list(statement["Resource"])]
    return rows


def _read_verb(statement: dict[str, Any]) -> str:
    stage = statement.get("Condition", {}).get("StringEquals", {}).get("secretsmanager:VersionStage")
    return "reads" if stage is None else f"reads the {stage} version of"


def _identity_lines(run: ProgramRun, roles: dict[str, Registration]) -> list[str]:
    """Whom the namespace roles trust: the cluster's OIDC provider, or the controller's Pod Identity."""
    if run.outputs.get("identity") == "podIdentity":
        (association,) = run.of_type(POD_IDENTITY_ASSOCIATION)
        inputs = association.inputs
        controller = json.loads(roles[inputs["roleArn"].rsplit("/", 1)[-1]].inputs["assumeRolePolicy"])
        lines = [
            f"  EKS Pod Identity: ServiceAccount {inputs['namespace']}/{inputs['serviceAccount']} of cluster "
            f"{inputs['clusterName']} gets role {inputs['roleArn']}, which may only assume the namespace roles",
        ]
        return lines + [f"    trusted for {line}" for line in _trust_lines(controller)]
    for role in roles.values():
        for statement in json.loads(role.inputs["assumeRolePolicy"])["Statement"]:
            return [f"  OIDC provider {statement['Principal']['Federated']}"]
    return ["  OIDC provider none (no roles)"]


def _role_lines(run: ProgramRun, roles: dict[str, Registration], role_arn: str) -> list[str]:
    role = roles[role_arn.rsplit("/", 1)[-1]]
    lines = [f"  role {role_arn}"]
    lines += [f"    trusts {line}" for line in _trust_lines(json.loads(role.inputs["assumeRolePolicy"]))]
    if role.inputs.get("permissionsBoundary"):
        lines.append(f"    bounded by {role.inputs['permissionsBoundary']}")
    managed = [p for p in run.of_type(MANAGED_POLICY) if p.parent == role.parent]
    if managed:
        lines.append(f"    grants over the inline limit, in {len(managed)} customer-managed policies attached to it")
    return lines + [f"    {verb} {arn}" for verb, arn in _policy_resources(run, role)]


def _claim_line(metadata: dict[str, Any]) -> str:
    return (
        f"claimed by label {STACK_LABEL}={metadata['labels'][STACK_LABEL]} ({metadata['annotations'][STACK_LABEL]}), "
        "never forced; the labels are given back when it leaves the stack"
    )


def as_text(run: ProgramRun, against: Optional[Against] = None) -> str:
    out: list[str] = []
    add = out.append
    roles = _roles_by_name(run)
    add(f"eso-platform plan: stack {run.stack}, environment {run.outputs.get('environment')}")
    add("cluster lookups answered offline with placeholders (override with --account-id, --oidc-issuer):")
    out += _identity_lines(run, roles)
    platform = run.outputs.get(TENANT_OF_OUTPUT)
    if platform:
        add(f"  platform stack {platform}: a placeholder of environment {run.outputs.get('environment')}, its operator in "
            f"{(run.outputs.get('operator') or {}).get('namespace')}; at preview its outputs are read, and the cluster "
            "says which stack manages each namespace (one another stack manages is refused)")
    by_namespace: dict[str, list[Registration]] = {}
    for resource in run.resources:
        if resource.type in MANIFEST_ORDER and resource.read_id is None:
            by_namespace.setdefault(resource.inputs["metadata"]["namespace"], []).append(resource)
    claims = {r.inputs["metadata"]["name"]: r.inputs["metadata"] for r in run.of_type(NAMESPACE_PATCH)}
    for namespace, resources in sorted(by_namespace.items()):
        add("")
        add(f"namespace {namespace}")
        if namespace in claims:
            add(f"  {_claim_line(claims[namespace])}")
        resources.sort(key=lambda r: (MANIFEST_ORDER[r.type], r.inputs["metadata"]["name"]))
        shown_roles: set[str] = set()
        for resource in resources:
            metadata, inputs = resource.inputs["metadata"], resource.inputs
            if resource.type == SERVICE_ACCOUNT:
                out += _role_lines(run, roles, metadata["annotations"]["eks.amazonaws.com/role-arn"])
                add(f"  serviceaccount {metadata['name']}")
            elif resource.type == TOKEN_ROLE:
                grants = [
                    f"{verb} {rule['resources'][0]} of {', '.join(rule['resourceNames'])}"
                    for rule in inputs["rules"]
                    for verb in rule["verbs"]
                ]
                add(f"  rbac role {metadata['name']}: {'; '.join(grants)}")
            elif resource.type == TOKEN_ROLE_BINDING:
                subjects = ", ".join(f"{s['kind']} {s['namespace']}/{s['name']}" for s in inputs["subjects"])
                add(f"  rbac binding {metadata['name']}: role {inputs['roleRef']['name']} to {subjects}")
            elif resource.type == SECRET_STORE:
                aws = inputs["spec"]["provider"]["aws"]
                if "auth" in aws:
                    account = aws["auth"]["jwt"]["serviceAccountRef"]["name"]
                    add(f"  secretstore {metadata['name']}: {aws['service']} in {aws['region']} as {account}")
                    continue
                if aws["role"] not in shown_roles:
                    shown_roles.add(aws["role"])
                    out += _role_lines(run, roles, aws["role"])
                add(
                    f"  secretstore {metadata['name']}: {aws['service']} in {aws['region']} assuming {aws['role']} "
                    f"from the controller's session, tagged by ESO with esoNamespace={namespace} "
                    f"(sessionTagsPolicy {aws['sessionTagsPolicy']})"
                )
            else:
                spec = inputs["spec"]
                if "dataFrom" in spec:
                    path, what = spec["dataFrom"][0]["extract"]["key"], "all keys"
                else:
                    path = spec["data"][0]["remoteRef"]["key"]
                    what = "keys " + ", ".join(entry["secretKey"] for entry in spec["data"])
                sync = f", force-sync {metadata['annotations']['force-sync']}" if "force-sync" in (metadata.get("annotations") or {}) else ""
                kept = ", Secret kept on removal" if spec["target"]["creationPolicy"] == "Orphan" else ""
                protected = ", protected from deletion" if resource.protect else ""
                add(
                    f"  externalsecret {metadata['name']}: {path} -> Secret {spec['target']['name']} "
                    f"({what}) every {spec['refreshInterval']} via {spec['secretStoreRef']['name']}{sync}{kept}{protected}"
                )
    add("")
    add("operator")
    for release in run.of_type(RELEASE):
        inputs = release.inputs
        values = inputs.get("values", {})
        add(
            f"  chart {inputs['chart']} {inputs['version']}{_chart_origin(inputs)} "
            f"in namespace {inputs['namespace']}, {values.get('replicaCount', 1)} replica(s), "
            f"leader election {'on' if values.get('leaderElect') else 'off'}"
        )
        flags = values.get("extraArgs", {})
        add(
            f"  --concurrent={values.get('concurrent', 1)} --client-qps={flags.get('client-qps', 50)} "
            f"--client-burst={flags.get('client-burst', 100)}"
        )
        env = {entry["name"]: entry.get("value") for entry in values.get("extraEnv", [])}
        rbac = values.get("rbac", {})
        add(
            f"  controller: instance-metadata credentials {'off' if env.get('AWS_EC2_METADATA_DISABLED') == 'true' else 'ON'}, "
            "tokens for "
            f"{'tenant ServiceAccounts only' if rbac.get('serviceAccountTokenCreate') is False else 'ANY ServiceAccount'}, "
            f"ESO objects for namespace editors {'ON' if rbac.get('aggregateToEdit', True) else 'off'}"
        )
        if values.get("serviceMonitor", {}).get("enabled"):
            add("  ServiceMonitors for the controller's and webhook's metrics (needs the Prometheus Operator's CRDs)")
        fate = "kept installed and running" if release.retain_on_delete else "uninstalled"
        add(f"  on destroy or eso.install: false: {fate}{'; taken back by import of ' + release.import_id if release.import_id else ''}")
    for rule in run.of_type(PROMETHEUS_RULE):
        alerts = [r["alert"] for group in rule.inputs["spec"]["groups"] for r in group["rules"]]
        add(f"  PrometheusRule {rule.inputs['metadata']['name']}: alerts {', '.join(alerts)}")
    operator = run.outputs.get("operator") or {}
    if run.outputs.get(TENANT_OF_OUTPUT):
        add(f"  platform stack {run.outputs[TENANT_OF_OUTPUT]}'s, in namespace {operator['namespace']}: it installed the "
            "operator and its CRDs before it exported what this stack reads")
    elif operator.get("installed") is False:
        (account,) = [r.read_id for r in run.of_type(SERVICE_ACCOUNT) if r.read_id]
        add(
            f"  not installed by this stack: the ESO in namespace {operator['namespace']}, its external-secrets.io/v1 CRDs "
            f"and the controller's ServiceAccount {account} checked at deploy"
        )
    guard = run.outputs.get("secretGuard")
    if guard:
        adopts = ", ".join(guard["adopts"]) or "none"
        add(f"  secret guard {guard['policy']}: {guard['controller']} updates only Secrets an ExternalSecret wrote; adopts {adopts}")
    add("")
    out += _admission_lines(run)
    add("")
    add("warnings")
    out += [f"  {warning}" for warning in run.warnings] or ["  none"]
    add("")
    if against is not None:
        add("kubernetes secrets against the deployed config")
        out += [
            f"  {change.action} {change.namespace}/{change.secret} (service {change.service})"
            for change in against.secret_changes
        ] or ["  none deleted or renamed"]
        add("")
        out += _resource_change_lines(against.resource_changes)
    out += _estimate_lines(estimate(deliveries(run)))
    return "\n".join(out) + "\n"


def _resource_change_lines(changes: Optional[ResourceChanges]) -> list[str]:
    if changes is None:
        return ["resources against the deployed config", "  unknown: --against a JSON plan (--format json) lists replacements", ""]
    lines = ["resources against the deployed config"]
    lines += [f"  replaced {r.type} {r.name} (changes {', '.join(r.inputs)})" for r in changes.replaced]
    lines += [f"  deleted {kind} {name}" for kind, name in changes.deleted]
    lines += [f"  created {kind} {name}" for kind, name in changes.created]
    if len(lines) == 1:
        lines.append("  none replaced, deleted or created")
    return lines + [""]


def _chart_origin(release_inputs: dict[str, Any]) -> str:
    repository = (release_inputs.get("repositoryOpts") or {}).get("repo")
    return f" from {repository}" if repository else ""


def _admission_lines(run: ProgramRun) -> list[str]:
    policies = [p for p in run.of_type(ADMISSION_POLICY) if p.parent == ADMISSION_GUARD]
    if not policies:
        return ["admission guard", "  off (admission.enabled: false)"]
    matches = {
        binding.inputs["spec"]["policyName"]: binding.inputs["spec"].get("matchResources")
        for binding in run.of_type(ADMISSION_BINDING)
        if binding.parent == ADMISSION_GUARD and binding.read_id is None
    }
    lines = ["admission guard (ValidatingAdmissionPolicy, denies on CREATE and UPDATE; Pods and tokens on CREATE)"]
    for policy in sorted(policies, key=lambda p: p.read_id or p.inputs["metadata"]["name"]):
        if policy.read_id is not None:
            lines.append(
                f"  {policy.read_id}: cluster-wide, defined by another stack of this cluster "
                "(admission.clusterRules: require); read at deploy, and its absence fails the deployment"
            )
            continue
        name, spec = policy.inputs["metadata"]["name"], policy.inputs["spec"]
        resources = [resource for rule in spec["matchConstraints"]["resourceRules"] for resource in rule["resources"]]
        match = matches[name]
        if match is None:
            where = "every namespace and the cluster scope (its rules name this stack's namespaces)"
        else:
            (selector,) = match["namespaceSelector"]["matchExpressions"]
            labelled = f"{selector['key']}={selector['values'][0]}"
            if selector["key"] == NAMESPACE_NAME_LABEL:
                where = "this stack's namespaces (" + ", ".join(selector["values"]) + ")"
            elif selector["operator"] == "In":
                where = f"namespaces labelled {labelled}"
            else:
                where = f"cluster scope and namespaces not labelled {labelled}"
        lines.append(f"  {name}: {', '.join(resources)} in {where}")
        lines += [f"    {validation['message']}" for validation in spec["validations"]]
    return lines


def _estimate_lines(result: dict) -> list[str]:
    header = f"  {'namespace':<20} {'secrets':>7} {'calls/month':>12} {'API USD':>9} {'storage USD':>11} {'total USD':>9}"
    lines = ["estimate (Secrets Manager, per month)", header]

    def row(name: str, summary: dict) -> str:
        return (
            f"  {name:<20} {summary['secrets']:>7} {summary['callsPerMonth']:>12,.0f} "
            f"{summary['apiUsd']:>9.2f} {summary['storageUsd']:>11.2f} {summary['totalUsd']:>9.2f}"
        )

    lines += [row(name, summary) for name, summary in result["namespaces"].items()]
    lines.append(row("total", result["total"]))
    lines.append("  assumptions:")
    lines += [f"    - {assumption}" for assumption in result["assumptions"]]
    return lines
