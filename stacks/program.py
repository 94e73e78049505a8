"""The program: a validated stack turned into components, and the stack outputs."""

from typing import Any

import pulumi

from components.admission import AdmissionGuard, AdmissionGuardArgs
from components.chart_values import controller_sizing
from components.cluster import ClusterAccess, ClusterAccessArgs, NewCluster
from components.irsa import IrsaRole, IrsaRoleArgs
from components.manifests import ExternalSecretSpec, store_name
from components.operator import Operator, OperatorArgs
from components.tenant import Tenant, TenantArgs
from stacks.access import role_for_namespace, role_specs
from stacks.model import CHART_NAME, CHART_REPOSITORY
from stacks.spec import Stack

PLATFORM = "eso-platform"


def labels(stack: Stack) -> dict[str, str]:
    return {
        "app.kubernetes.io/managed-by": "pulumi",
        "app.kubernetes.io/part-of": PLATFORM,
        "eso-platform/environment": stack.environment,
    }


ADMISSION_OFF_WARNING = (
    "admission.enabled is false: no admission guard keeps SecretStores on IRSA; any namespace editor "
    "can add a store with long-lived AWS keys, or none, and tenants can read through ClusterSecretStores."
)


def wildcard_warning(service_account: str) -> str:
    return (
        f"irsa.mode shared-wildcard: the role trusts a ServiceAccount named {service_account!r} in ANY "
        "namespace of the cluster, including namespaces created later, and it reads every service "
        "secret of this environment. Prefer per-namespace."
    )


def _cluster_args(stack: Stack) -> ClusterAccessArgs:
    cluster = stack.cluster
    new = cluster.create
    return ClusterAccessArgs(
        region=stack.region,
        existing_cluster_name=cluster.name,
        stack_reference=cluster.stack_reference,
        new_cluster=NewCluster(new.version, new.instance_type, new.desired_capacity) if new else None,
    )


def deploy(stack: Stack) -> dict[str, Any]:
    """Registers every resource of `stack` and returns the stack outputs."""
    common_labels = labels(stack)
    cluster = ClusterAccess("cluster", _cluster_args(stack))
    k8s_opts = pulumi.ResourceOptions(provider=cluster.provider)
    operator = Operator(
        "eso",
        OperatorArgs(
            namespace=stack.eso.namespace,
            chart=CHART_NAME,
            chart_version=stack.eso.chart_version,
            repository=CHART_REPOSITORY,
            replicas=stack.eso.replicas,
            sizing=controller_sizing(len(stack.services), stack.eso.concurrency),
            extra_values=stack.eso.values,
            labels=common_labels,
            namespace_provider=cluster.namespace_provider,
        ),
        k8s_opts,
    )

    admitted_after: list[pulumi.Resource] = []
    if stack.admission.enabled:
        guard = AdmissionGuard(
            "admission",
            AdmissionGuardArgs(
                service_account_name=stack.irsa.service_account_name,
                managed_namespaces=sorted(stack.namespaces()),
                static_credentials_namespaces=list(stack.admission.allow_static_credentials_in),
                labels=common_labels,
            ),
            k8s_opts,
        )
        admitted_after = guard.bindings
    else:
        pulumi.log.warn(ADMISSION_OFF_WARNING)

    specs = role_specs(stack)
    if stack.irsa.mode == "shared-wildcard":
        pulumi.log.warn(wildcard_warning(stack.irsa.service_account_name))
    roles = {
        spec.key: IrsaRole(
            f"irsa-{spec.key}",
            IrsaRoleArgs(
                role_name=spec.role_name,
                oidc_provider_arn=cluster.oidc_provider_arn,
                subjects=list(spec.subjects),
                grants=list(spec.grants),
                kms_key_arns=list(spec.kms_key_arns),
                wildcard_service_account=spec.wildcard_service_account,
                managed_policy_runs=[] if spec.read_policies.inline else list(spec.read_policies.runs),
                tags={
                    "managed-by": PLATFORM,
                    "eso-platform/environment": stack.environment,
                    "eso-platform/role": spec.key,
                },
            ),
        )
        for spec in specs
    }

    namespace_outputs: dict[str, Any] = {}
    service_outputs: dict[str, Any] = {}
    role_of_namespace = role_for_namespace(specs)
    for namespace, services in stack.namespaces().items():
        role = roles[role_of_namespace[namespace].key]
        tenant = Tenant(
            f"tenant-{namespace}",
            TenantArgs(
                namespace=namespace,
                service_account_name=stack.irsa.service_account_name,
                role_arn=role.role_arn,
                regions=sorted({service.region for service in services}),
                external_secrets=[
                    ExternalSecretSpec(
                        name=service.name,
                        secret_path=service.secret_path,
                        secret_name=service.secret_name,
                        refresh_interval=service.refresh_interval,
                        store_name=store_name(service.region),
                        keys=service.keys,
                    )
                    for service in services
                ],
                labels={**common_labels, "eso-platform/namespace": namespace},
                force_sync=stack.force_sync,
                namespace_provider=cluster.namespace_provider,
                wait_for=[operator.release, *role.read_grants, *admitted_after],
            ),
            k8s_opts,
        )
        namespace_outputs[namespace] = {
            "roleArn": role.role_arn,
            "serviceAccount": stack.irsa.service_account_name,
            "secretStores": tenant.store_names,
        }
        for service in services:
            service_outputs[f"{namespace}/{service.name}"] = {
                "secretPath": service.secret_path,
                "region": service.region,
                "kubernetesSecret": service.secret_name,
                "refreshInterval": service.refresh_interval,
            }

    return {
        "environment": stack.environment,
        "operator": {"namespace": operator.namespace, "chartVersion": stack.eso.chart_version},
        "namespaces": namespace_outputs,
        "services": service_outputs,
    }
