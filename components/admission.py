"""The admission guard: ValidatingAdmissionPolicies that keep every ESO store on IRSA.

Pure builders for the policy and binding manifests, and a thin component that registers them.
Two policies, bound so that no object is judged by both:

- in namespaces the program manages (labelled MANAGED_NAMESPACE_LABEL), SecretStores act as
  the managed ServiceAccount only and ExternalSecrets read only from SecretStores;
- everywhere else, and for every ClusterSecretStore, an AWS store authenticates with
  `auth.jwt` (IRSA), with `auth.secretRef` only in namespaces the stack names; and a managed
  namespace that lost its label changes no ESO object until the label is back.

The API server reports the first failing validation of a policy, so each list is ordered
from the most specific rule to the most general.
"""

from dataclasses import dataclass
from typing import Any, Optional

import pulumi
import pulumi_kubernetes as k8s

from components.admission_objects import denying_binding, validating_admission_policy

ESO_GROUP = "external-secrets.io"
ESO_VERSION = "v1"
MANAGED_NAMESPACE_LABEL = "eso-platform/managed"
TENANT_POLICY = "eso-platform-tenant-namespaces"
STORE_AUTH_POLICY = "eso-platform-aws-store-auth"
RULE_PREFIX = "eso-platform admission rule"

_AWS = "object.spec.provider.aws"
_HAS_AWS = f"has(object.spec.provider) && has({_AWS})"
_HAS_AUTH = f"{_HAS_AWS} && has({_AWS}.auth)"
_HAS_SECRET_REF = f"{_HAS_AUTH} && has({_AWS}.auth.secretRef)"
_HAS_ACCOUNT_REF = f"{_HAS_AUTH} && has({_AWS}.auth.jwt) && has({_AWS}.auth.jwt.serviceAccountRef)"
_ACCOUNT_REF = f"{_AWS}.auth.jwt.serviceAccountRef"


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


def _only_secret_store_refs(items: str) -> str:
    """`spec.data` or `spec.dataFrom`: no entry's sourceRef.storeRef names a ClusterSecretStore."""
    ref = "entry.sourceRef.storeRef"
    return (
        f"!has(object.spec.{items}) || object.spec.{items}.all(entry, !has(entry.sourceRef) || "
        f"!has({ref}) || !has({ref}.kind) || {ref}.kind == 'SecretStore')"
    )


def tenant_rules(service_account: str) -> list[Rule]:
    """What a managed namespace admits: its stores act only as `service_account`."""
    is_store = "object.kind != 'SecretStore' || "
    is_external_secret = "object.kind != 'ExternalSecret' || "
    store_ref = "object.spec.secretStoreRef"
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
            "tenant-store-managed-service-account",
            is_store
            + f"({_HAS_ACCOUNT_REF} && {_ACCOUNT_REF}.name == '{service_account}' && "
            f"(!has({_ACCOUNT_REF}.namespace) || {_ACCOUNT_REF}.namespace == object.metadata.namespace))",
            f"in a namespace eso-platform manages, a SecretStore must authenticate with "
            f"auth.jwt.serviceAccountRef naming the managed ServiceAccount '{service_account}' "
            "of its own namespace, and no other account",
        ),
        Rule(
            "tenant-external-secret-namespaced-store",
            is_external_secret
            + f"((!has(object.spec.secretStoreRef) || !has({store_ref}.kind) || {store_ref}.kind == 'SecretStore') && "
            f"({_only_secret_store_refs('data')}) && ({_only_secret_store_refs('dataFrom')}))",
            "in a namespace eso-platform manages, an ExternalSecret may reference only a SecretStore "
            "(spec.secretStoreRef and every sourceRef.storeRef), never a ClusterSecretStore",
        ),
    ]


def store_auth_rules(static_credentials_namespaces: list[str], managed_namespaces: list[str]) -> list[Rule]:
    """What every other namespace, and the cluster scope, admits. Only the unlabelled-namespace
    rule concerns ExternalSecrets: the others judge `spec.provider`, which they do not have."""
    if static_credentials_namespaces:
        allowed = f"has(object.metadata.namespace) && object.metadata.namespace in {_cel_list(static_credentials_namespaces)}"
        where = "outside the namespaces in eso-platform:admission.allowStaticCredentialsIn (" + ", ".join(
            static_credentials_namespaces
        ) + ")"
    else:
        allowed = "false"
        where = "anywhere (eso-platform:admission.allowStaticCredentialsIn lists no namespace)"
    rules = []
    if managed_namespaces:
        # This policy sees a managed namespace's objects only when its label is gone.
        rules.append(
            Rule(
                "managed-namespace-unlabelled",
                f"!has(object.metadata.namespace) || !(object.metadata.namespace in {_cel_list(managed_namespaces)})",
                f"this namespace is one eso-platform manages but has lost its label {MANAGED_NAMESPACE_LABEL}=true; "
                "restore it (`pulumi up --refresh` does: a plain `pulumi up` does not see the change) before changing its ESO objects",
            )
        )
    rules += [
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
    if managed_namespaces:
        rules.append(
            Rule(
                "cluster-store-tenant-account",
                f"object.kind != 'ClusterSecretStore' || !({_HAS_ACCOUNT_REF}) || "
                f"!has({_ACCOUNT_REF}.namespace) || !({_ACCOUNT_REF}.namespace in {_cel_list(managed_namespaces)})",
                "a ClusterSecretStore may not authenticate as a ServiceAccount of a namespace eso-platform "
                "manages: every namespace could then read that namespace's secrets",
            )
        )
    return rules


def _resource_rules(resources: list[str]) -> dict[str, Any]:
    return {
        "resourceRules": [
            {
                "apiGroups": [ESO_GROUP],
                "apiVersions": [ESO_VERSION],
                "resources": resources,
                "operations": ["CREATE", "UPDATE"],
            }
        ],
        # Requests through any other served version are converted to v1 and judged the same.
        "matchPolicy": "Equivalent",
    }


def policy(name: str, resources: list[str], rules: list[Rule], labels: dict[str, str]) -> dict[str, Any]:
    spec = {
        # An error evaluating a rule rejects the object: the guard fails closed.
        "failurePolicy": "Fail",
        "matchConstraints": _resource_rules(resources),
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


def guard_manifests(
    service_account: str,
    static_credentials_namespaces: list[str],
    managed_namespaces: list[str],
    labels: dict[str, str],
) -> list[dict[str, Any]]:
    """Both policies, each followed by its binding."""
    return [
        policy(TENANT_POLICY, ["secretstores", "externalsecrets"], tenant_rules(service_account), labels),
        binding(TENANT_POLICY, True, labels),
        policy(
            STORE_AUTH_POLICY,
            ["secretstores", "clustersecretstores", "externalsecrets"],
            store_auth_rules(sorted(static_credentials_namespaces), sorted(managed_namespaces)),
            labels,
        ),
        binding(STORE_AUTH_POLICY, False, labels),
    ]


@dataclass(frozen=True)
class AdmissionGuardArgs:
    service_account_name: str
    managed_namespaces: list[str]
    static_credentials_namespaces: list[str]
    labels: dict[str, str]


class AdmissionGuard(pulumi.ComponentResource):
    # What ESO objects should wait for: the guard judges them from the moment they exist.
    bindings: list[pulumi.Resource]

    def __init__(self, name: str, args: AdmissionGuardArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("eso-platform:admission:AdmissionGuard", name, None, opts)
        manifests = guard_manifests(
            args.service_account_name, args.static_credentials_namespaces, args.managed_namespaces, args.labels
        )
        self.bindings = []
        policies: dict[str, pulumi.Resource] = {}
        for manifest in manifests:
            metadata, spec = manifest["metadata"], manifest["spec"]
            if manifest["kind"] == "ValidatingAdmissionPolicy":
                policies[metadata["name"]] = k8s.admissionregistration.v1.ValidatingAdmissionPolicy(
                    f"{name}-{metadata['name']}",
                    metadata=metadata,
                    spec=spec,
                    opts=pulumi.ResourceOptions(parent=self),
                )
            else:
                self.bindings.append(
                    k8s.admissionregistration.v1.ValidatingAdmissionPolicyBinding(
                        f"{name}-{metadata['name']}-binding",
                        metadata=metadata,
                        spec=spec,
                        opts=pulumi.ResourceOptions(parent=self, depends_on=[policies[spec["policyName"]]]),
                    )
                )
        self.register_outputs({"policies": sorted(policies)})
