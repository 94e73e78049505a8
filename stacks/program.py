"""The program: a validated stack turned into components, and the stack outputs."""

import time
from collections import Counter
from typing import Any

import pulumi

from components.admission import AdmissionGuard, AdmissionGuardArgs
from components.chart_values import controller_sizing
from components.cluster import ClusterAccess, ClusterAccessArgs, NewCluster
from components.crd_check import ExistingOperator
from components.iam_documents import service_account_subject
from components.kubeconfig import with_deploying_identity
from components.labels import STACK_LABEL, stack_key
from components.irsa import IrsaRole, IrsaRoleArgs, PodIdentityTrust
from components.manifests import ExternalSecretSpec, ServiceAccountRef, store_name
from components.operator import CONTROLLER_SERVICE_ACCOUNT, Operator, OperatorArgs
from components.pod_identity import ControllerIdentity, ControllerIdentityArgs
from components.resource_types import READ_STACK_OUTPUTS
from components.secret_guard import SecretGuard, SecretGuardArgs
from components.tenant import (
    Tenant,
    TenantArgs,
    legacy_external_secret_resource_name,
    legacy_store_resource_name,
)
from stacks.access import controller_role_name, role_for_namespace, role_specs
from stacks.lifecycle import (
    NAMESPACE_CLAIM_OUTPUT,
    OperatorReview,
    defines_cluster_policies,
    labelled_by_namespace,
    operator_output,
    review_operator,
    role_path_warning,
    secret_changes,
)
from stacks.loading import ConfigError
from stacks.model import CHART_NAME
from stacks.spec import Stack
from stacks.tenancy import (
    KUBECONFIG_OUTPUT,
    PLATFORM_OUTPUT,
    TENANT_OF_OUTPUT,
    ClaimReader,
    as_tenant,
    claims_or_problem,
    cluster_claims,
    exports_platform,
    foreign_claimers,
    ownership,
    platform_output_values,
    qualified_stack_name,
    read_platform,
    taken_over_warning,
    tenant_problems,
)

PLATFORM = "eso-platform"


# On what belongs to the cluster rather than to one stack: the cluster-wide admission policies.
PLATFORM_LABELS = {"app.kubernetes.io/managed-by": "pulumi", "app.kubernetes.io/part-of": PLATFORM}


def labels(stack: Stack) -> dict[str, str]:
    return {**PLATFORM_LABELS, "eso-platform/environment": stack.environment}


ADMISSION_OFF_WARNING = (
    "admission.enabled is false: no admission guard keeps SecretStores on IRSA; any namespace editor "
    "can add a store with long-lived AWS keys, or none, and tenants can read through ClusterSecretStores."
)


SOMEONE_ELSES_OPERATOR_WARNING = (
    "eso.install is false: three guarantees hold only when this program installs ESO, and are now up "
    "to whoever installed it: the controller may request tokens only for the tenant ServiceAccounts "
    "(chart value rbac.serviceAccountTokenCreate: false), ESO's roles are not aggregated to the edit "
    "and admin ClusterRoles (rbac.aggregateToEdit/aggregateToAdmin: false), and the controller gets "
    "no instance metadata credentials (AWS_EC2_METADATA_DISABLED=true); see docs/coexistence.md"
)


# What each opted-in reconciler lets the controller do, beyond the ExternalSecrets of the program.
RECONCILER_WARNINGS = {
    "PushSecret": (
        "the controller writes Kubernetes Secrets to providers: whoever may create a PushSecret sends their "
        "namespace's Secrets to any store it names (in namespaces eso-platform manages, a PushSecret may "
        "name only SecretStores, whose roles cannot write)"
    ),
    "ClusterPushSecret": (
        "a ClusterPushSecret creates PushSecrets in every namespace it selects, pushing that namespace's "
        "Secrets (in namespaces eso-platform manages, each is judged as any PushSecret there)"
    ),
    "ClusterExternalSecret": (
        "a ClusterExternalSecret creates ExternalSecrets in every namespace it selects, and the controller "
        "may update Namespaces (in namespaces eso-platform manages, each is judged as any ExternalSecret there)"
    ),
    "ClusterGenerator": (
        "ExternalSecrets of any namespace can draw on a ClusterGenerator and whatever credentials it "
        "holds (in namespaces eso-platform manages, an ExternalSecret may not)"
    ),
}


def reconciler_warning(kind: str) -> str:
    return f"eso.reconcilers {kind}: {RECONCILER_WARNINGS[kind]}."


def wildcard_warning(service_account: str) -> str:
    return (
        f"irsa.mode shared-wildcard: the role trusts a ServiceAccount named {service_account!r} in ANY "
        "namespace of the cluster, including namespaces created later, and it reads every service "
        "secret of this environment. Prefer per-namespace."
    )


def tenant_name(namespace: str) -> str:
    return f"tenant-{namespace}"


def ambiguous_legacy_names(stack: Stack) -> frozenset[str]:
    """Tenant children's names of earlier releases that two of this stack's children share."""
    stores: Counter = Counter()
    external_secrets: Counter = Counter()
    for namespace, services in stack.namespaces().items():
        tenant = tenant_name(namespace)
        stores.update({legacy_store_resource_name(tenant, region) for region in {s.region for s in services}})
        external_secrets.update(legacy_external_secret_resource_name(tenant, s.external_secret_name) for s in services)
    return frozenset(name for counts in (stores, external_secrets) for name, count in counts.items() if count > 1)


def controller_account(stack: Stack) -> ServiceAccountRef:
    """The controller's ServiceAccount. The chart names it after the release, and the values that
    could rename it are refused; an ESO installed by someone else runs as what its stack names."""
    return ServiceAccountRef(stack.eso.namespace, stack.eso.controller_service_account or CONTROLLER_SERVICE_ACCOUNT)


def own_stack_name() -> str:
    return f"{pulumi.get_organization()}/{pulumi.get_project()}/{pulumi.get_stack()}"


# A backend whose writes are not atomic (the file backend's metadata sidecar) can be read while
# the engine writes the checkpoint it begins the update with; the read then fails with this.
CHECKPOINT_BEING_WRITTEN = "failed to load checkpoint"
PREVIOUS_OUTPUTS_ATTEMPTS = 10


def previous_outputs() -> dict[str, Any]:
    """The outputs this stack's last deployment exported (none before the first, or after a
    destroy). Read before anything is registered, so that its refusals stop a preview early
    and its answers can shape resource options."""
    return stack_outputs(own_stack_name())


def stack_outputs(name: str) -> dict[str, Any]:
    """The outputs stack `name` last exported (none before its first deployment)."""
    for attempt in range(1, PREVIOUS_OUTPUTS_ATTEMPTS + 1):
        try:
            result = pulumi.runtime.invoke(READ_STACK_OUTPUTS, {"name": name})
            break
        except Exception as error:
            if CHECKPOINT_BEING_WRITTEN not in str(error) or attempt == PREVIOUS_OUTPUTS_ATTEMPTS:
                raise
            time.sleep(0.1 * attempt)
    outputs = result.value.get("outputs") if isinstance(result.value, dict) else None
    return outputs if isinstance(outputs, dict) else {}


def _claim_reader() -> ClaimReader:
    # The offline plan and the unit tests answer the cluster's reads, as they answer AWS lookups.
    mocks = getattr(pulumi.runtime.settings.SETTINGS.monitor, "mocks", None)
    return getattr(mocks, "namespace_claims", None) or cluster_claims


def join_platform(stack: Stack, name: str, own_key: str) -> Stack:
    """A tenant stack of platform stack `name`, with its operator, once nothing stops it: a
    platform stack that is not one, or a namespace another stack of the cluster manages. Read
    before anything is registered, so a preview refuses it."""
    platform, problems = read_platform(name, stack_outputs(name))
    if platform is not None:
        kubeconfig = with_deploying_identity(platform.kubeconfig, stack.deploying_identity, stack.region)
        claims, unread = claims_or_problem(_claim_reader(), kubeconfig, sorted(stack.namespaces()))
        claimers = {owner: stack_outputs(owner) for owner in foreign_claimers(own_key, claims)}
        owned = ownership(stack, own_key, claims, claimers)
        problems += tenant_problems(stack, platform) + unread + owned.problems
    if problems:
        raise pulumi.RunError(str(ConfigError(problems)))
    for namespace, owner in sorted(owned.taken_over.items()):
        pulumi.log.warn(taken_over_warning(namespace, owner))
    return as_tenant(stack, platform)


def review_previous_deployment(stack: Stack, previous: dict[str, Any]) -> OperatorReview:
    """Refuses what would break the operator the last deployment left, and warns of what the
    change interrupts."""
    review = review_operator(previous.get("operator"), stack.eso.install, stack.eso.namespace, stack.eso.on_remove)
    if review.problems:
        raise pulumi.RunError("; ".join(review.problems))
    role_move = role_path_warning(previous.get("namespaces"), stack.irsa.role_path)
    for warning in [*review.warnings, *([role_move] if role_move else [])]:
        pulumi.log.warn(warning)
    return review


def _cluster_args(stack: Stack) -> ClusterAccessArgs:
    cluster = stack.cluster
    new = cluster.create
    return ClusterAccessArgs(
        region=stack.region,
        existing_cluster_name=cluster.name,
        stack_reference=cluster.stack_reference,
        new_cluster=NewCluster(new.version, new.instance_type, new.desired_capacity) if new else None,
        identity=stack.deploying_identity,
        pod_identity=stack.pod_identity,
    )


def role_tags(stack: Stack, key: str) -> dict[str, str]:
    return {"managed-by": PLATFORM, "eso-platform/environment": stack.environment, "eso-platform/role": key}


def deploy(stack: Stack) -> dict[str, Any]:
    """Registers every resource of `stack` and returns the stack outputs."""
    full_name = own_stack_name()
    own_key = stack_key(full_name)
    platform_name = None
    if stack.platform is not None:
        platform_name = qualified_stack_name(stack.platform, pulumi.get_organization(), pulumi.get_project())
        stack = join_platform(stack, platform_name, own_key)
    previous = previous_outputs()
    operator_review = review_previous_deployment(stack, previous)
    common_labels = labels(stack)
    claim = {"namespace_labels": {STACK_LABEL: own_key}, "namespace_annotations": {STACK_LABEL: full_name}}
    relabelled = labelled_by_namespace(previous)
    defines_cluster_rules = defines_cluster_policies(stack.admission.cluster_rules, stack.eso.install, previous)
    controller = controller_account(stack)
    controller_username = service_account_subject(controller.namespace, controller.name)
    cluster = ClusterAccess("cluster", _cluster_args(stack))
    k8s_opts = pulumi.ResourceOptions(provider=cluster.provider)
    specs = role_specs(stack)
    controller_identity = None
    # What the controller needs before it can read under Pod Identity: its association and grant.
    controller_ready: list[pulumi.Resource] = []
    if stack.pod_identity:
        controller_identity = ControllerIdentity(
            "pod-identity",
            ControllerIdentityArgs(
                role_name=controller_role_name(stack.environment),
                cluster_arn=cluster.cluster_arn,
                cluster_name=cluster.cluster_name,
                namespace=controller.namespace,
                service_account=controller.name,
                namespace_role_names=[spec.role_name for spec in specs],
                path=stack.irsa.role_path,
                permissions_boundary=stack.irsa.permissions_boundary,
                tags=role_tags(stack, "controller"),
            ),
        )
        controller_ready = controller_identity.ready
    if stack.eso.install:
        operator = Operator(
            "eso",
            OperatorArgs(
                namespace=stack.eso.namespace,
                chart=CHART_NAME,
                chart_version=stack.eso.chart_version,
                repository=stack.eso.chart_repository,
                replicas=stack.eso.replicas,
                sizing=controller_sizing(len(stack.services), stack.eso.concurrency),
                extra_values=stack.eso.values,
                labels=common_labels,
                namespace_provider=cluster.namespace_provider,
                labelled_by_namespace=stack.eso.namespace in relabelled,
                **claim,
                service_monitor=stack.eso.monitoring.service_monitor,
                alerts=stack.eso.monitoring.alerts,
                monitoring_labels=stack.eso.monitoring.labels,
                reconcilers=list(stack.eso.reconcilers),
                keep_on_removal=stack.eso.on_remove == "keep",
                take_back=operator_review.take_back,
                pod_identity=stack.pod_identity,
                wait_for=[*cluster.ready, *controller_ready],
            ),
            k8s_opts,
        )
        ready_for_eso_objects: list[pulumi.Resource] = list(operator.ready)
        for kind in stack.eso.reconcilers:
            pulumi.log.warn(reconciler_warning(kind))
    elif stack.platform is not None:
        # The platform stack installed the operator and its CRDs before it exported what this
        # stack read; reading the CRDs here would put their schemas in every checkpoint.
        ready_for_eso_objects = []
    else:
        existing = ExistingOperator("eso", controller, k8s_opts)
        ready_for_eso_objects = [*existing.crds, existing.controller_account]
        if stack.platform is None:
            pulumi.log.warn(SOMEONE_ELSES_OPERATOR_WARNING)

    admitted_after: list[pulumi.Resource] = []
    # Under Pod Identity no tenant ServiceAccount exists: stores act as the controller.
    tenant_account = None if stack.pod_identity else stack.irsa.service_account_name
    if stack.admission.enabled:
        guard = AdmissionGuard(
            "admission",
            AdmissionGuardArgs(
                stack_key=own_key,
                managed_namespaces=sorted(stack.namespaces()),
                service_account=tenant_account,
                controller_username=controller_username,
                labels=common_labels,
                cluster_labels=PLATFORM_LABELS,
                define_cluster_policies=defines_cluster_rules,
                static_credentials_namespaces=list(stack.admission.allow_static_credentials_in),
            ),
            k8s_opts,
        )
        admitted_after = guard.bindings
    else:
        pulumi.log.warn(ADMISSION_OFF_WARNING)

    if stack.irsa.mode == "shared-wildcard":
        pulumi.log.warn(wildcard_warning(stack.irsa.service_account_name))
    roles = {
        spec.key: IrsaRole(
            f"irsa-{spec.key}",
            IrsaRoleArgs(
                role_name=spec.role_name,
                oidc_provider_arn=cluster.oidc_provider_arn,
                pod_identity=PodIdentityTrust(
                    controller_identity.role_arn, cluster.cluster_arn, controller.namespace, controller.name, list(spec.namespaces)
                )
                if controller_identity
                else None,
                subjects=list(spec.subjects),
                grants=list(spec.grants),
                kms_key_arns=list(spec.kms_key_arns),
                wildcard_service_account=spec.wildcard_service_account,
                managed_policy_buckets=[] if spec.read_policies.inline else list(spec.read_policies.buckets),
                path=stack.irsa.role_path,
                permissions_boundary=stack.irsa.permissions_boundary,
                tags=role_tags(stack, spec.key),
            ),
        )
        for spec in specs
    }

    namespace_outputs: dict[str, Any] = {}
    service_outputs: dict[str, Any] = {}
    role_of_namespace = role_for_namespace(specs)
    unaliased = ambiguous_legacy_names(stack)
    guard_output: dict[str, Any] = {}
    if stack.services:
        guard_args = SecretGuardArgs(
            # Every tenant stack of a platform shares its environment.
            policy_name=f"{PLATFORM}-secret-guard-{own_key if stack.platform else stack.environment}",
            controller_username=controller_username,
            namespaces=sorted(stack.namespaces()),
            adoptable=sorted(f"{s.namespace}/{s.secret_name}" for s in stack.services if s.adopt),
            labels=common_labels,
        )
        ready_for_eso_objects.append(SecretGuard("secret-guard", guard_args, k8s_opts).binding)
        guard_output = {
            "policy": guard_args.policy_name,
            "controller": guard_args.controller_username,
            "adopts": guard_args.adoptable,
        }
    for namespace, services in stack.namespaces().items():
        role = roles[role_of_namespace[namespace].key]
        tenant = Tenant(
            tenant_name(namespace),
            TenantArgs(
                namespace=namespace,
                service_account_name=stack.irsa.service_account_name,
                role_arn=role.role_arn,
                role_name=role_of_namespace[namespace].role_name,
                pod_identity=stack.pod_identity,
                regions=sorted({service.region for service in services}),
                external_secrets=[
                    ExternalSecretSpec(
                        name=service.external_secret_name,
                        secret_path=service.secret_path,
                        secret_name=service.secret_name,
                        refresh_interval=service.refresh_interval,
                        store_name=store_name(service.region),
                        keys=service.keys,
                        service=service.name if service.name != service.external_secret_name else None,
                        creation_policy="Orphan" if service.on_remove == "keep" else "Owner",
                    )
                    for service in services
                ],
                protected_external_secrets=frozenset(s.external_secret_name for s in services if s.protect),
                controller=controller,
                labels={**common_labels, "eso-platform/namespace": namespace},
                force_sync=stack.force_sync,
                namespace_provider=cluster.namespace_provider,
                labelled_by_namespace=namespace in relabelled,
                **claim,
                wait_for=[
                    *ready_for_eso_objects, *role.read_grants, *admitted_after, *controller_ready,
                ],
                ambiguous_legacy_names=unaliased,
            ),
            k8s_opts,
        )
        namespace_outputs[namespace] = {
            "roleArn": role.role_arn,
            **({"serviceAccount": tenant_account} if tenant_account else {}),
            "secretStores": tenant.store_names,
        }
        for service in services:
            service_outputs[f"{namespace}/{service.name}"] = {
                "secretPath": service.secret_path,
                "region": service.region,
                "kubernetesSecret": service.secret_name,
                "refreshInterval": service.refresh_interval,
                "externalSecret": service.external_secret_name,
                "onRemove": service.on_remove,
                "protect": service.protect,
            }

    for change in secret_changes(previous.get("services"), service_outputs):
        pulumi.log.warn(change.message)
    platform_outputs = {}
    if exports_platform(stack):
        platform_outputs = {
            PLATFORM_OUTPUT: platform_output_values(stack.environment, stack.identity, controller.namespace, controller.name),
            KUBECONFIG_OUTPUT: cluster.kubeconfig,
        }
    return {
        "environment": stack.environment,
        **platform_outputs,
        **({TENANT_OF_OUTPUT: platform_name} if platform_name else {}),
        NAMESPACE_CLAIM_OUTPUT: {"label": f"{STACK_LABEL}={own_key}", "stack": full_name},
        "identity": stack.identity,
        # The doctor reads the cluster's issuer off it, whichever form the cluster takes.
        **({"oidcProviderArn": cluster.oidc_provider_arn} if cluster.oidc_provider_arn is not None else {}),
        **(
            {"podIdentity": {"controllerRoleArn": controller_identity.role_arn, "associationId": controller_identity.association_id,
                             "clusterArn": cluster.cluster_arn}}
            if controller_identity
            else {}
        ),
        "operator": operator_output(
            stack.eso.install, stack.eso.namespace, stack.eso.chart_version, stack.eso.on_remove, previous.get("operator")
        ),
        "admission": {"clusterRules": "define" if defines_cluster_rules else "require"} if stack.admission.enabled else {},
        "secretGuard": guard_output,
        "namespaces": namespace_outputs,
        "services": service_outputs,
    }
