"""The admission guard: ValidatingAdmissionPolicies that keep every ESO store on IRSA.

Pure builders for the policy and binding manifests, and a thin component that registers them.

Two cluster-wide policies, defined once per cluster (by the stack that installs ESO, unless
another says `admission.clusterRules: define`) and bound so that no object is judged by both:

- in namespaces a stack manages (labelled MANAGED_NAMESPACE_LABEL), SecretStores act only as
  the ServiceAccount the namespace's SERVICE_ACCOUNT_ANNOTATION names, ExternalSecrets read
  only from SecretStores (no ClusterGenerator), and PushSecrets, where a stack turns their
  reconciler on, push only to SecretStores: whichever stack manages the namespace;
- everywhere else, and for every ClusterSecretStore, an AWS store authenticates with
  `auth.jwt` (IRSA), with `auth.secretRef` only in the namespaces the defining stack names.

And two policies per stack for what only that stack knows. Its namespaces: one that lost its
label changes no ESO object until the label is back, and no ClusterSecretStore acts as one of
their ServiceAccounts. Its ServiceAccount and its controller: in its namespaces only the
controller acts as the tenant ServiceAccount, so no Pod runs as it and no one else gets its
token (on EKS the pod identity webhook gives any Pod of that account the namespace role's
credentials, whatever `automountServiceAccountToken` says). Denials of several policies add
up, so per-stack policies compose.

The API server reports the first failing validation of a policy, so each list is ordered
from the most specific rule to the most general.
"""

from dataclasses import dataclass, field
from typing import Any, Optional

import pulumi
import pulumi_kubernetes as k8s

from components.admission_objects import denying_binding, validating_admission_policy

ESO_GROUP = "external-secrets.io"
ESO_VERSION = "v1"
# Chart 2.9.0 serves PushSecrets at v1alpha1 only.
PUSH_SECRET_VERSION = "v1alpha1"  # pragma: allowlist secret
MANAGED_NAMESPACE_LABEL = "eso-platform/managed"
# Set by the API server on every namespace to its name.
NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"
# On a managed namespace: the ServiceAccount its SecretStores must act as. Only whoever may
# update Namespaces (not a namespace's editors) can change it.
SERVICE_ACCOUNT_ANNOTATION = "eso-platform/service-account"
# On a managed namespace: the name of the role its SecretStores may name under Pod Identity (known
# before the role exists, and kept when irsa.rolePath moves it), with ESO's own session tags and
# no authentication of their own. A same-named role at another path or in another account is not
# one the controller role may assume.
ROLE_ANNOTATION = "eso-platform/role"
TENANT_POLICY = "eso-platform-tenant-namespaces"
STORE_AUTH_POLICY = "eso-platform-aws-store-auth"
RULE_PREFIX = "eso-platform admission rule"
CLUSTER_POLICIES = (TENANT_POLICY, STORE_AUTH_POLICY)

_AWS = "object.spec.provider.aws"
_HAS_AWS = f"has(object.spec.provider) && has({_AWS})"
_HAS_AUTH = f"{_HAS_AWS} && has({_AWS}.auth)"
_HAS_SECRET_REF = f"{_HAS_AUTH} && has({_AWS}.auth.secretRef)"
_HAS_ACCOUNT_REF = f"{_HAS_AUTH} && has({_AWS}.auth.jwt) && has({_AWS}.auth.jwt.serviceAccountRef)"
_ACCOUNT_REF = f"{_AWS}.auth.jwt.serviceAccountRef"
_NAMESPACE_ANNOTATIONS = "namespaceObject.metadata.annotations"
# What an AWS store may otherwise choose of its session: tags (which would replace ESO's own
# under sessionTagsPolicy None), tags carried on, roles chained before `role`, an external ID.
_SESSION_CHOICES = ("sessionTags", "customSessionTags", "transitiveTagKeys", "additionalRoles", "externalID")
_NAMESPACE_LABELS = "namespaceObject.metadata.labels"


@dataclass(frozen=True)
class Rule:
    """One validation: `expression` is true for an object the rule admits."""

    name: str
    expression: str
    message: str

    def validation(self) -> dict[str, str]:
        return {
            "expression": self.expression,
            "message": f"{RULE_PREFIX} {self.name}: {self.message}",
            "reason": "Forbidden",
        }


def _cel_list(values: list[str]) -> str:
    # Only DNS labels and names reach here (validated by the stack model), so no quoting is needed.
    return "[" + ", ".join(f"'{value}'" for value in values) + "]"


def _only_secret_store_refs(items: str, path: tuple[str, ...] = ("sourceRef", "storeRef")) -> str:
    """`spec.<items>`: no entry's store reference (its field at `path`, or the entry itself for
    an empty path) names a ClusterSecretStore; a reference without a kind is a SecretStore."""
    fields = ["entry", *path]
    absent = [f"!has({'.'.join(fields[: depth + 1])})" for depth in range(1, len(fields))]
    ref = ".".join(fields)
    judged = " || ".join([*absent, f"!has({ref}.kind)", f"{ref}.kind == 'SecretStore'"])
    return f"!has(object.spec.{items}) || object.spec.{items}.all(entry, {judged})"


def _no_cluster_generator_refs() -> str:
    """`spec.dataFrom`: no entry's sourceRef.generatorRef names a ClusterGenerator."""
    ref = "entry.sourceRef.generatorRef"
    return (
        "!has(object.spec.dataFrom) || object.spec.dataFrom.all(entry, !has(entry.sourceRef) || "
        f"!has({ref}) || {ref}.kind != 'ClusterGenerator')"
    )


def tenant_account_policy_name(stack_key: str) -> str:
    return f"{stack_policy_name(stack_key)}-accounts"


def stack_policy_name(stack_key: str) -> str:
    return f"eso-platform-stack-{stack_key}"


def tenant_rules() -> list[Rule]:
    """What a managed namespace admits: its stores act only as the account, or the role, it is
    annotated with. A namespace carries both whichever identity its stack uses, so that switching
    identity changes no annotation (the API server judges a store against the namespace as its
    cache last saw it) and each shape fails in IAM under the other identity: without a token
    grant, or without ambient credentials."""
    is_store = "object.kind != 'SecretStore' || "
    is_external_secret = "object.kind != 'ExternalSecret' || "
    is_push_secret = "object.kind != 'PushSecret' || "
    store_ref = "object.spec.secretStoreRef"
    annotated_account = f"{_NAMESPACE_ANNOTATIONS}['{SERVICE_ACCOUNT_ANNOTATION}']"
    annotated_role = f"{_NAMESPACE_ANNOTATIONS}['{ROLE_ANNOTATION}']"
    role_annotated = f"(has({_NAMESPACE_ANNOTATIONS}) && '{ROLE_ANNOTATION}' in {_NAMESPACE_ANNOTATIONS})"
    session_choices = " && ".join(f"!has({_AWS}.{choice})" for choice in _SESSION_CHOICES)
    return [
        Rule(
            "tenant-store-no-static-credentials",
            is_store + f"!({_HAS_SECRET_REF})",
            "in a namespace eso-platform manages, a SecretStore may not use auth.secretRef "
            "(long-lived AWS keys); it authenticates with auth.jwt as the namespace's managed ServiceAccount",
        ),
        Rule(
            "tenant-store-aws-only",
            is_store + _HAS_AWS,
            "in a namespace eso-platform manages, a SecretStore must be an AWS store (spec.provider.aws)",
        ),
        Rule(
            "tenant-store-managed-identity",
            is_store
            + f"(({_HAS_ACCOUNT_REF} && has({_NAMESPACE_ANNOTATIONS}) && "
            f"'{SERVICE_ACCOUNT_ANNOTATION}' in {_NAMESPACE_ANNOTATIONS} && {_ACCOUNT_REF}.name == {annotated_account} && "
            f"(!has({_ACCOUNT_REF}.namespace) || {_ACCOUNT_REF}.namespace == object.metadata.namespace)) || "
            f"({role_annotated} && !({_HAS_AUTH}) && has({_AWS}.role) && {_AWS}.role.startsWith('arn:') && "
            f"{_AWS}.role.contains(':iam::') && {_AWS}.role.contains(':role/') && {_AWS}.role.endsWith('/' + {annotated_role}) && "
            f"has({_AWS}.sessionTagsPolicy) && {_AWS}.sessionTagsPolicy == 'Simple' && {session_choices}))",
            "in a namespace eso-platform manages, a SecretStore must act as the namespace's own identity, and no "
            "other: authenticate with auth.jwt.serviceAccountRef naming the managed ServiceAccount of its own "
            f"namespace (its annotation {SERVICE_ACCOUNT_ANNOTATION}; IRSA), or, under EKS Pod Identity, name the "
            f"namespace's role (an IAM role ARN ending in the name its annotation {ROLE_ANNOTATION} holds) with sessionTagsPolicy: Simple, no auth and none of "
            f"{', '.join(_SESSION_CHOICES)}, so that ESO tags the session with the ExternalSecret's namespace, "
            "which the role's trust requires",
        ),
        Rule(
            "tenant-external-secret-namespaced-store",
            is_external_secret
            + f"((!has(object.spec.secretStoreRef) || !has({store_ref}.kind) || {store_ref}.kind == 'SecretStore') && "
            f"({_only_secret_store_refs('data')}) && ({_only_secret_store_refs('dataFrom')}))",
            "in a namespace eso-platform manages, an ExternalSecret may reference only a SecretStore "
            "(spec.secretStoreRef and every sourceRef.storeRef), never a ClusterSecretStore",
        ),
        Rule(
            "tenant-external-secret-no-cluster-generator",
            is_external_secret + _no_cluster_generator_refs(),
            "in a namespace eso-platform manages, an ExternalSecret may not draw on a ClusterGenerator "
            "(spec.dataFrom[].sourceRef.generatorRef): its values and credentials are not the namespace's",
        ),
        Rule(
            "tenant-push-secret-namespaced-store",
            is_push_secret
            + f"({_only_secret_store_refs('secretStoreRefs', ())}) && ({_only_secret_store_refs('dataTo', ('storeRef',))})",
            "in a namespace eso-platform manages, a PushSecret may push only to a SecretStore "
            "(spec.secretStoreRefs and every dataTo[].storeRef), never to a ClusterSecretStore: the "
            "namespace's Secrets stay the namespace's",
        ),
    ]


def store_auth_rules(static_credentials_namespaces: list[str]) -> list[Rule]:
    """What every unmanaged namespace, and the cluster scope, admits. Both judge `spec.provider`,
    which ExternalSecrets do not have."""
    if static_credentials_namespaces:
        allowed = f"has(object.metadata.namespace) && object.metadata.namespace in {_cel_list(static_credentials_namespaces)}"
        where = "outside the namespaces in eso-platform:admission.allowStaticCredentialsIn (" + ", ".join(
            static_credentials_namespaces
        ) + ")"
    else:
        allowed = "false"
        where = "anywhere (eso-platform:admission.allowStaticCredentialsIn lists no namespace)"
    return [
        Rule(
            "aws-store-static-credentials",
            f"!({_HAS_SECRET_REF}) || ({allowed})",
            f"an AWS SecretStore or ClusterSecretStore may not use auth.secretRef (long-lived AWS keys) {where}; "
            "use auth.jwt (IRSA)",
        ),
        Rule(
            "aws-store-irsa",
            f"!({_HAS_AWS}) || ({_HAS_ACCOUNT_REF}) || ({_HAS_SECRET_REF})",
            "an AWS SecretStore or ClusterSecretStore must authenticate with auth.jwt.serviceAccountRef "
            "(IRSA); without auth the controller would fall back to ambient AWS credentials",
        ),
    ]


def stack_rules(managed_namespaces: list[str]) -> list[Rule]:
    """What one stack's namespaces need beyond the cluster-wide rules; judged everywhere."""
    namespaces = _cel_list(managed_namespaces)
    return [
        Rule(
            "managed-namespace-unlabelled",
            f"!has(object.metadata.namespace) || !(object.metadata.namespace in {namespaces}) || "
            f"(has({_NAMESPACE_LABELS}) && '{MANAGED_NAMESPACE_LABEL}' in {_NAMESPACE_LABELS} && "
            f"{_NAMESPACE_LABELS}['{MANAGED_NAMESPACE_LABEL}'] == 'true')",
            f"this namespace is one eso-platform manages but has lost its label {MANAGED_NAMESPACE_LABEL}=true; "
            "restore it (`pulumi up --refresh` does: a plain `pulumi up` does not see the change) before changing its ESO objects",
        ),
        Rule(
            "cluster-store-tenant-account",
            f"object.kind != 'ClusterSecretStore' || !({_HAS_ACCOUNT_REF}) || "
            f"!has({_ACCOUNT_REF}.namespace) || !({_ACCOUNT_REF}.namespace in {namespaces})",
            "a ClusterSecretStore may not authenticate as a ServiceAccount of a namespace eso-platform "
            "manages: every namespace could then read that namespace's secrets",
        ),
    ]


def tenant_account_rules(service_account: str, controller_username: str) -> list[Rule]:
    """What a stack's namespaces admit as its tenant ServiceAccount: nothing but the
    controller's TokenRequests."""
    is_pod = "request.resource.resource != 'pods' || "
    is_token = "request.resource.resource != 'serviceaccounts' || request.subResource != 'token' || "
    runs_as = " || ".join(
        f"(has(object.spec.{field}) && object.spec.{field} == '{service_account}')"
        # `serviceAccount` is the deprecated alias the API server still accepts.
        for field in ("serviceAccountName", "serviceAccount")
    )
    return [
        Rule(
            "tenant-account-pod",
            is_pod + f"!({runs_as})",
            f"no Pod may run as {service_account}, the ServiceAccount eso-platform keeps for ESO: it would get "
            "the namespace role's AWS credentials and read every secret of the namespace; run the workload as "
            "another ServiceAccount and mount the Kubernetes Secret ESO writes",
        ),
        Rule(
            "tenant-account-token",
            is_token + f"request.name != '{service_account}' || request.userInfo.username == '{controller_username}'",
            f"only ESO's controller ({controller_username}) may request a token for {service_account}: the token "
            "assumes the namespace role and reads every secret of the namespace",
        ),
    ]


def _core_resource_rules(resources: list[str]) -> dict[str, Any]:
    return {
        "resourceRules": [{"apiGroups": [""], "apiVersions": ["v1"], "resources": resources, "operations": ["CREATE"]}],
        "matchPolicy": "Equivalent",
    }


def _resource_rules(resources: list[str]) -> dict[str, Any]:
    versions = {resource: PUSH_SECRET_VERSION if resource == "pushsecrets" else ESO_VERSION for resource in resources}
    return {
        "resourceRules": [
            {
                "apiGroups": [ESO_GROUP],
                "apiVersions": [version],
                "resources": [resource for resource in resources if versions[resource] == version],
                "operations": ["CREATE", "UPDATE"],
            }
            for version in sorted(set(versions.values()))
        ],
        # Requests through any other served version are converted to v1 and judged the same.
        "matchPolicy": "Equivalent",
    }


def policy(
    name: str, resources: list[str], rules: list[Rule], labels: dict[str, str], core: bool = False
) -> dict[str, Any]:
    """`resources` of ESO's API group (created or updated), or `core` ones (created: a Pod's
    account and a TokenRequest's name cannot change)."""
    spec = {
        # An error evaluating a rule rejects the object: the guard fails closed.
        "failurePolicy": "Fail",
        "matchConstraints": (_core_resource_rules if core else _resource_rules)(resources),
        "validations": [rule.validation() for rule in rules],
    }
    return validating_admission_policy(name, spec, labels)


def binding(policy_name: str, managed: bool, labels: dict[str, str]) -> dict[str, Any]:
    """Binds the policy to managed namespaces only, or to every other namespace (cluster-scoped
    objects such as ClusterSecretStores always match a namespace selector)."""
    operator = "In" if managed else "NotIn"
    return denying_binding(
        policy_name, policy_name, {"key": MANAGED_NAMESPACE_LABEL, "operator": operator, "values": ["true"]}, labels
    )


def cluster_guard_manifests(static_credentials_namespaces: list[str], labels: dict[str, str]) -> list[dict[str, Any]]:
    """The cluster-wide policies, each followed by its binding."""
    return [
        policy(TENANT_POLICY, ["secretstores", "externalsecrets", "pushsecrets"], tenant_rules(), labels),
        binding(TENANT_POLICY, True, labels),
        policy(
            STORE_AUTH_POLICY,
            ["secretstores", "clustersecretstores"],
            store_auth_rules(sorted(static_credentials_namespaces)),
            labels,
        ),
        binding(STORE_AUTH_POLICY, False, labels),
    ]


def stack_guard_manifests(
    stack_key: str, managed_namespaces: list[str], service_account: Optional[str], controller_username: str, labels: dict[str, str]
) -> list[dict[str, Any]]:
    """The stack's own policies: one bound everywhere, its rules naming the namespaces they
    concern; under IRSA one for the tenant ServiceAccount (None under Pod Identity, which has
    none), bound to those namespaces by name (the label the API server sets on every namespace,
    so no one can take a namespace out by relabelling it)."""
    name = stack_policy_name(stack_key)
    namespaces = sorted(managed_namespaces)
    manifests = [
        policy(name, ["secretstores", "clustersecretstores", "externalsecrets", "pushsecrets"], stack_rules(namespaces), labels),
        denying_binding(name, name, None, labels),
    ]
    if namespaces and service_account is not None:  # a selector's `In` needs a value
        accounts = tenant_account_policy_name(stack_key)
        manifests += [
            policy(accounts, ["pods", "serviceaccounts/token"], tenant_account_rules(service_account, controller_username), labels, core=True),
            denying_binding(accounts, accounts, {"key": NAMESPACE_NAME_LABEL, "operator": "In", "values": namespaces}, labels),
        ]
    return manifests


_RESOURCE_TYPES = {
    "ValidatingAdmissionPolicy": k8s.admissionregistration.v1.ValidatingAdmissionPolicy,
    "ValidatingAdmissionPolicyBinding": k8s.admissionregistration.v1.ValidatingAdmissionPolicyBinding,
}


@dataclass(frozen=True)
class AdmissionGuardArgs:
    stack_key: str
    managed_namespaces: list[str]
    # The tenant ServiceAccount of every managed namespace, and the controller's user name: only
    # it may act as that account.
    service_account: str
    controller_username: str
    labels: dict[str, str]
    # On the cluster-wide policies: whichever stack defines them, the same.
    cluster_labels: dict[str, str]
    # False: another stack defines the cluster-wide policies, and they are read (a missing one
    # fails the deployment, naming it) instead of registered.
    define_cluster_policies: bool
    static_credentials_namespaces: list[str] = field(default_factory=list)


class AdmissionGuard(pulumi.ComponentResource):
    # What ESO objects should wait for: the guard judges them from the moment they exist.
    bindings: list[pulumi.Resource]

    def __init__(self, name: str, args: AdmissionGuardArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("eso-platform:admission:AdmissionGuard", name, None, opts)
        own_manifests = stack_guard_manifests(
            args.stack_key, args.managed_namespaces, args.service_account, args.controller_username, args.labels
        )
        own = self._register(name, own_manifests, [])
        if args.define_cluster_policies:
            # The stack's policy first: an older cluster-wide policy held its rules until now.
            cluster = self._register(
                name, cluster_guard_manifests(args.static_credentials_namespaces, args.cluster_labels), own
            )
        else:
            cluster = [self._read(name, manifest) for manifest in cluster_guard_manifests([], {})]
        self.bindings = [*own[1::2], *cluster[1::2]]
        defined = CLUSTER_POLICIES if args.define_cluster_policies else ()
        own_policies = [manifest["metadata"]["name"] for manifest in own_manifests[::2]]
        self.register_outputs({"policies": [*own_policies, *defined]})

    def _register(self, name: str, manifests: list[dict[str, Any]], after: list[pulumi.Resource]) -> list[pulumi.Resource]:
        registered: list[pulumi.Resource] = []
        for manifest in manifests:
            metadata, spec = manifest["metadata"], manifest["spec"]
            is_policy = manifest["kind"] == "ValidatingAdmissionPolicy"
            depends_on = after if is_policy else [*after, registered[-1]]
            registered.append(
                _RESOURCE_TYPES[manifest["kind"]](
                    f"{name}-{metadata['name']}" + ("" if is_policy else "-binding"),
                    metadata=metadata,
                    spec=spec,
                    opts=pulumi.ResourceOptions(parent=self, depends_on=depends_on),
                )
            )
        return registered

    def _read(self, name: str, manifest: dict[str, Any]) -> pulumi.Resource:
        is_policy = manifest["kind"] == "ValidatingAdmissionPolicy"
        policy_name = manifest["metadata"]["name"]
        return _RESOURCE_TYPES[manifest["kind"]].get(
            f"{name}-required-{policy_name}" + ("" if is_policy else "-binding"),
            policy_name,
            opts=pulumi.ResourceOptions(parent=self),
        )
