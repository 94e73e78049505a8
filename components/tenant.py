"""A tenant namespace: under IRSA its ServiceAccount and the controller's token grant for that
account alone, under Pod Identity its role on the namespace; a SecretStore per region, an
ExternalSecret per service."""

import re
from dataclasses import dataclass, field
from collections.abc import Sequence
from typing import Any, Optional

import pulumi
import pulumi_kubernetes as k8s

from components.admission import MANAGED_NAMESPACE_LABEL, ROLE_ANNOTATION, SERVICE_ACCOUNT_ANNOTATION
from components.custom_resources import custom_resource
from components.namespaces import adopted_namespace
from components.manifests import (
    ExternalSecretSpec,
    ServiceAccountRef,
    external_secret,
    secret_store,
    service_account,
    token_request_binding,
    token_request_role,
)


@dataclass(frozen=True)
class TenantArgs:
    namespace: str
    # The ServiceAccount stores act as under IRSA (created only then).
    service_account_name: str
    role_arn: pulumi.Input[str]
    # The role's name, `eso-dev.payments`.
    role_name: str
    regions: list[str]
    external_secrets: list[ExternalSecretSpec]
    # The operator's controller: granted tokens for this tenant's ServiceAccount only.
    controller: ServiceAccountRef
    labels: dict[str, str] = field(default_factory=dict)
    # The namespace's claim (see components.labels.STACK_LABEL), with its labels.
    namespace_annotations: dict[str, str] = field(default_factory=dict)
    namespace_labels: dict[str, str] = field(default_factory=dict)
    # The last deployment labelled the namespace through the Namespace resource itself.
    labelled_by_namespace: bool = False
    force_sync: str = ""
    # Adopts an existing namespace instead of failing; see ClusterAccess.namespace_provider.
    namespace_provider: Optional[pulumi.ProviderResource] = None
    # ESO objects wait for these: the operator's CRDs and webhook, which reject them before
    # they are ready, the role's permissions, without which the first sync is denied, and the
    # admission guard, so that it judges them too.
    wait_for: list[pulumi.Resource] = field(default_factory=list)
    # Names of earlier releases that another tenant's child also had: the engine refuses an
    # alias two resources claim, and no deployed stack can hold such a name anyway.
    ambiguous_legacy_names: frozenset[str] = frozenset()
    # Under EKS Pod Identity stores name `role_arn` and the controller's own session assumes it:
    # no ServiceAccount, no token grant.
    pod_identity: bool = False
    # ExternalSecrets the engine may not delete (Pulumi's protect): removing one, or a destroy,
    # stops with an error naming each, before anything is deleted.
    protected_external_secrets: frozenset[str] = frozenset()


# '/' is in no DNS label, so a child's name holds its tenant's namespace and its own name
# unambiguously: no two (namespace, name) pairs share one, whatever the names contain.
def store_resource_name(tenant: str, region: str) -> str:
    return f"{tenant}/{region}"


def external_secret_resource_name(tenant: str, external_secret: str) -> str:
    return f"{tenant}/{external_secret}"


# Earlier releases joined with '-': ('payments', 'api-gateway') and ('payments-api',
# 'gateway') met. Deployed stacks hold these names; aliases carry them over.
def legacy_store_resource_name(tenant: str, region: str) -> str:
    return f"{tenant}-store-{region}"


def legacy_external_secret_resource_name(tenant: str, external_secret: str) -> str:
    return f"{tenant}-{external_secret}"


def _typed_resource(resource_type: type, name: str, manifest: dict[str, Any], opts: pulumi.ResourceOptions):
    """A manifest of a built-in kind as its pulumi-kubernetes resource: fields become arguments."""
    arguments = {
        re.sub(r"(?<!^)([A-Z])", r"_\1", key).lower(): value
        for key, value in manifest.items()
        if key not in ("apiVersion", "kind")
    }
    return resource_type(name, **arguments, opts=opts)


class Tenant(pulumi.ComponentResource):
    namespace: pulumi.Output[str]
    service_account_name: pulumi.Output[Optional[str]]
    store_names: dict[str, str]

    def __init__(self, name: str, args: TenantArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("eso-platform:tenant:Tenant", name, None, opts)
        pod_identity = args.pod_identity
        # The label puts the namespace under the admission guard's tenant rules, which hold its
        # stores to the annotated account or role (both, so that switching identity changes neither).
        identity = {SERVICE_ACCOUNT_ANNOTATION: args.service_account_name, ROLE_ANNOTATION: args.role_name}
        namespace_name = adopted_namespace(
            f"{name}-namespace",
            args.namespace,
            {**args.labels, **args.namespace_labels, MANAGED_NAMESPACE_LABEL: "true"},
            {**args.namespace_annotations, **identity},
            self,
            args.namespace_provider,
            args.labelled_by_namespace,
        )
        # What stores and ExternalSecrets sync through under IRSA: the token grant and the account.
        binding, account = ([], []) if pod_identity else self._token_grant(name, args, namespace_name)

        def after_operator(
            legacy_name: str, also_after: Sequence[pulumi.Resource] = (), protect: bool = False
        ) -> pulumi.ResourceOptions:
            # Until the binding exists the controller cannot request the account's token.
            aliases = [] if legacy_name in args.ambiguous_legacy_names else [pulumi.Alias(name=legacy_name)]
            return pulumi.ResourceOptions(
                parent=self, depends_on=[*args.wait_for, *binding, *also_after], aliases=aliases, protect=protect
            )

        self.store_names = {}
        stores = []
        for region in args.regions:
            store = secret_store(
                region, namespace_name, args.service_account_name, args.labels, args.role_arn if pod_identity else None
            )
            stores.append(custom_resource(
                store_resource_name(name, region), store, after_operator(legacy_store_resource_name(name, region))
            ))
            self.store_names[region] = store["metadata"]["name"]
        for spec in args.external_secrets:
            labels = {**args.labels, "eso-platform/service": spec.service or spec.name}
            # After the stores and the account they sync through, so that a destroy deletes the
            # ExternalSecrets first, and one it may not delete (protect) stops it before anything
            # the tenant's ExternalSecrets need is gone.
            custom_resource(
                external_secret_resource_name(name, spec.name),
                external_secret(spec, namespace_name, labels, args.force_sync),
                after_operator(legacy_external_secret_resource_name(name, spec.name), [*account, *stores],
                               spec.name in args.protected_external_secrets),
            )
        self.namespace = namespace_name
        self.service_account_name = pulumi.Output.from_input(None if pod_identity else args.service_account_name)
        self.register_outputs(
            {
                "namespace": self.namespace,
                "serviceAccountName": self.service_account_name,
                "storeNames": self.store_names,
            }
        )

    def _token_grant(
        self, name: str, args: TenantArgs, namespace_name: pulumi.Output[str]
    ) -> tuple[list[pulumi.Resource], list[pulumi.Resource]]:
        """The controller's grant of the ServiceAccount's tokens, and the ServiceAccount."""
        own = pulumi.ResourceOptions(parent=self)
        account = _typed_resource(
            k8s.core.v1.ServiceAccount,
            f"{name}-service-account",
            service_account(args.service_account_name, namespace_name, args.role_arn, args.labels),
            own,
        )
        token_role = _typed_resource(
            k8s.rbac.v1.Role,
            f"{name}-token-role",
            token_request_role(namespace_name, args.service_account_name, args.labels),
            own,
        )
        token_binding = _typed_resource(
            k8s.rbac.v1.RoleBinding,
            f"{name}-token-binding",
            token_request_binding(namespace_name, args.controller, args.labels),
            pulumi.ResourceOptions(parent=self, depends_on=[token_role]),
        )
        return [token_binding], [account]
