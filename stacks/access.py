"""Which IAM roles a stack has, whom each trusts and which secrets each may read."""

import hashlib
from dataclasses import dataclass
from typing import Optional

from components.iam_documents import (
    DNS_SUFFIXES,
    INLINE_POLICY_LIMIT,
    MANAGED_POLICY_LIMIT,
    MAX_MANAGED_POLICIES_PER_ROLE,
    TRUST_POLICY_LIMIT,
    AwsIdentity,
    PodIdentityPrincipal,
    PolicyTooLargeError,
    ReadPolicyLayout,
    SecretGrant,
    compact,
    controller_permission_policy,
    partition_of_region,
    permission_policy,
    pod_identity_trust_policy,
    read_policy_layout,
    render,
    role_arn,
    service_account_subject,
    trust_policy,
)
from components.operator import CONTROLLER_SERVICE_ACCOUNT
from stacks.spec import Stack

ROLE_NAME_LIMIT = 64
SHARED_ROLE_KEY = "shared"


def worst_case_identity(stack: Stack) -> AwsIdentity:
    """The identity of a cluster in the stack region's partition, with the part only the cluster
    knows (its issuer's id) at its longest: a stack that passes the size check then fits IAM's limits."""
    partition = partition_of_region(stack.region)
    return AwsIdentity.from_oidc_provider_arn(
        f"arn:{partition}:iam::000000000000:oidc-provider/"
        f"oidc.eks.{stack.region}.{DNS_SUFFIXES[partition]}/id/{'F' * 32}"
    )


def worst_case_role_arn(stack: Stack, name: str) -> str:
    """The ARN of the stack's role `name` in the worst-case identity's account."""
    return role_arn(worst_case_identity(stack), stack.irsa.role_path, name)


def worst_case_principal(stack: Stack) -> PodIdentityPrincipal:
    """The controller's Pod Identity session with its cluster's name at EKS's longest (100)."""
    identity = worst_case_identity(stack)
    return PodIdentityPrincipal(
        controller_role_arn=worst_case_role_arn(stack, controller_role_name(stack.environment)),
        cluster_arn=f"arn:{identity.partition}:eks:{stack.region}:{identity.account_id}:cluster/{'c' * 100}",
        namespace=stack.eso.namespace,
        service_account=CONTROLLER_SERVICE_ACCOUNT,
    )


def trust_of(stack: Stack, spec: "RoleSpec") -> dict:
    """The spec's trust for the worst-case identity, as the stack's identity writes it."""
    identity = worst_case_identity(stack)
    if stack.pod_identity:
        return pod_identity_trust_policy(identity, worst_case_principal(stack), list(spec.namespaces))
    return trust_policy(identity, list(spec.subjects), spec.wildcard_service_account)


@dataclass(frozen=True)
class RoleSpec:
    key: str
    role_name: str
    namespaces: tuple[str, ...]
    subjects: tuple[str, ...]
    grants: tuple[SecretGrant, ...]
    kms_key_arns: tuple[str, ...]
    wildcard_service_account: Optional[str]
    # Laid out for the worst-case identity's ARNs (the longest issuer), so that it holds for any cluster.
    read_policies: ReadPolicyLayout


def role_name(environment: str, namespace: Optional[str]) -> str:
    """`eso-<env>.<namespace>` (or `eso-<env>-shared`), shortened with a hash to fit IAM's 64.

    No DNS label holds a '.', so no environment and namespace pair can spell another's name.
    """
    return _fitted(f"eso-{environment}.{namespace}" if namespace else f"eso-{environment}-shared")


def controller_role_name(environment: str) -> str:
    """`eso-<env>-controller`: the controller's Pod Identity role. It ends unlike a shared role's
    name and holds no '.', so it is never another role's name."""
    return _fitted(f"eso-{environment}-controller")


def _fitted(name: str) -> str:
    if len(name) <= ROLE_NAME_LIMIT:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"{name[: ROLE_NAME_LIMIT - 9]}-{digest}"


def role_name_patterns(environment: str) -> tuple[str, ...]:
    """IAM patterns that match every name `role_name` and `controller_role_name` give
    `environment`'s roles, and no other environment's: an environment is a DNS label, so it holds no '.'."""
    return f"eso-{environment}.*", role_name(environment, None), controller_role_name(environment)


def role_specs(stack: Stack) -> list[RoleSpec]:
    """One role per namespace with services, or one shared role when the stack opts in.

    Raises PolicyTooLargeError when a single secret's grant is over a managed policy's limit.
    """
    identity = worst_case_identity(stack)
    account = stack.irsa.service_account_name
    namespaces = stack.namespaces()
    kms = tuple(sorted(set(stack.irsa.kms_key_arns)))

    def grants(services) -> tuple[SecretGrant, ...]:
        return tuple(sorted({SecretGrant(s.region, s.secret_path) for s in services}, key=lambda g: (g.path, g.region)))

    def layout(services) -> ReadPolicyLayout:
        return read_policy_layout(identity, list(grants(services)), list(kms))

    if stack.irsa.mode == "per-namespace":
        return [
            RoleSpec(
                key=namespace,
                role_name=role_name(stack.environment, namespace),
                namespaces=(namespace,),
                subjects=(service_account_subject(namespace, account),),
                grants=grants(services),
                kms_key_arns=kms,
                wildcard_service_account=None,
                read_policies=layout(services),
            )
            for namespace, services in namespaces.items()
        ]
    if not namespaces:
        return []
    return [
        RoleSpec(
            key=SHARED_ROLE_KEY,
            role_name=role_name(stack.environment, None),
            namespaces=tuple(namespaces),
            subjects=tuple(service_account_subject(namespace, account) for namespace in namespaces),
            grants=grants(stack.services),
            kms_key_arns=kms,
            wildcard_service_account=account if stack.irsa.mode == "shared-wildcard" else None,
            read_policies=layout(stack.services),
        )
    ]


def role_for_namespace(specs: list[RoleSpec]) -> dict[str, RoleSpec]:
    return {namespace: spec for spec in specs for namespace in spec.namespaces}


def policy_size_problems(stack: Stack) -> list[str]:
    """Every role whose documents would be over IAM's limits, as config problems with a fix."""
    identity = worst_case_identity(stack)
    allowed = stack.irsa.managed_policies_per_role
    problems = []
    specs = _role_specs_or_problem(stack, problems)
    if stack.pod_identity and specs:
        try:
            render(controller_permission_policy([worst_case_role_arn(stack, spec.role_name) for spec in specs]),
                   INLINE_POLICY_LIMIT, f"the permission policy of role {controller_role_name(stack.environment)}")
        except PolicyTooLargeError as error:
            problems.append(f"identity: {error}, one grant per namespace role; use irsa.mode shared or fewer namespaces per stack")
    for spec in specs:
        where = f"services (namespace {spec.key})" if spec.wildcard_service_account is None and len(spec.namespaces) == 1 else "services"
        try:
            render(
                trust_of(stack, spec),
                TRUST_POLICY_LIMIT,
                f"the trust policy of role {spec.role_name}",
            )
        except PolicyTooLargeError as error:
            problems.append(f"irsa.mode: {error}; use per-namespace roles or fewer namespaces per stack")
        needed = len(spec.read_policies.buckets)
        if spec.read_policies.inline or needed <= allowed:
            continue
        size = len(compact(permission_policy(identity, list(spec.grants), list(spec.kms_key_arns))))
        fix = "move some services to another namespace or stack"
        if needed <= MAX_MANAGED_POLICIES_PER_ROLE:
            fix = (
                f"raise the IAM quota 'Managed policies per role' (at most {MAX_MANAGED_POLICIES_PER_ROLE}) "
                f"and set irsa.managedPoliciesPerRole to {needed}, or {fix}"
            )
        problems.append(
            f"{where}: the exact grants of role {spec.role_name} ({len(spec.grants)} secrets, "
            f"{size} characters in one document, over the {INLINE_POLICY_LIMIT} of inline policies) need "
            f"{needed} managed policies of at most {MANAGED_POLICY_LIMIT} characters (a power of two: each "
            f"secret's policy is chosen by a hash of its path, so that adding or removing one changes one "
            f"policy), over irsa.managedPoliciesPerRole = {allowed}; {fix}"
        )
    return problems


def _role_specs_or_problem(stack: Stack, problems: list[str]) -> list[RoleSpec]:
    try:
        return role_specs(stack)
    except PolicyTooLargeError as error:
        problems.append(f"irsa.kmsKeyArns: {error}; list fewer KMS keys")
        return []
