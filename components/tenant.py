"""A tenant namespace: its ServiceAccount for IRSA, a SecretStore per region, an ExternalSecret per service."""

from dataclasses import dataclass, field
from typing import Any, Optional

import pulumi
import pulumi_kubernetes as k8s

from components.admission import MANAGED_NAMESPACE_LABEL
from components.namespaces import adopted_namespace
from components.manifests import (
    ExternalSecretSpec,
    external_secret,
    secret_store,
    service_account,
)


@dataclass(frozen=True)
class TenantArgs:
    namespace: str
    service_account_name: str
    role_arn: pulumi.Input[str]
    regions: list[str]
    external_secrets: list[ExternalSecretSpec]
    labels: dict[str, str] = field(default_factory=dict)
    force_sync: str = ""
    # Adopts an existing namespace instead of failing; see ClusterAccess.namespace_provider.
    namespace_provider: Optional[pulumi.ProviderResource] = None
    # ESO objects wait for these: the operator's CRDs and webhook, which reject them before
    # they are ready, the role's permissions, without which the first sync is denied, and the
    # admission guard, so that it judges them too.
    wait_for: list[pulumi.Resource] = field(default_factory=list)


def _custom_resource(name: str, manifest: dict[str, Any], opts: pulumi.ResourceOptions):
    return k8s.apiextensions.CustomResource(
        name,
        api_version=manifest["apiVersion"],
        kind=manifest["kind"],
        metadata=manifest["metadata"],
        spec=manifest["spec"],
        opts=opts,
    )


class Tenant(pulumi.ComponentResource):
    namespace: pulumi.Output[str]
    service_account_name: pulumi.Output[str]
    store_names: dict[str, str]

    def __init__(self, name: str, args: TenantArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("eso-platform:tenant:Tenant", name, None, opts)
        # The label puts the namespace under the admission guard's tenant rules.
        namespace = adopted_namespace(
            f"{name}-namespace",
            args.namespace,
            {**args.labels, MANAGED_NAMESPACE_LABEL: "true"},
            self,
            args.namespace_provider,
        )
        namespace_name = namespace.metadata.name
        account = service_account(
            args.service_account_name, namespace_name, args.role_arn, args.labels
        )
        k8s.core.v1.ServiceAccount(
            f"{name}-service-account",
            metadata=account["metadata"],
            automount_service_account_token=account["automountServiceAccountToken"],
            opts=pulumi.ResourceOptions(parent=self),
        )
        after_operator = pulumi.ResourceOptions(parent=self, depends_on=args.wait_for)
        self.store_names = {}
        for region in args.regions:
            store = secret_store(region, namespace_name, args.service_account_name, args.labels)
            _custom_resource(f"{name}-store-{region}", store, after_operator)
            self.store_names[region] = store["metadata"]["name"]
        for spec in args.external_secrets:
            labels = {**args.labels, "eso-platform/service": spec.name}
            _custom_resource(
                f"{name}-{spec.name}",
                external_secret(spec, namespace_name, labels, args.force_sync),
                after_operator,
            )
        self.namespace = namespace_name
        self.service_account_name = pulumi.Output.from_input(args.service_account_name)
        self.register_outputs(
            {
                "namespace": self.namespace,
                "serviceAccountName": self.service_account_name,
                "storeNames": self.store_names,
            }
        )
