"""Platform and tenant stacks: what a platform stack exports for its tenants, what a tenant stack
reads off it, and which of a tenant's namespaces another stack of the cluster already manages."""

import dataclasses
from dataclasses import dataclass
from typing import Any, Callable, Optional

from components.labels import STACK_LABEL
from stacks.cluster_api import ClusterApi, KubernetesError
from stacks.model import EsoConfig
from stacks.spec import Stack

# The output a tenant stack reads: what its namespaces need of the platform, in plain values.
PLATFORM_OUTPUT = "platform"
# A tenant stack's: the full name of its platform stack.
TENANT_OF_OUTPUT = "tenantOf"
# The platform's kubeconfig, exported (as a secret) under the name cluster.stackReference reads.
KUBECONFIG_OUTPUT = "kubeconfig"


def platform_output_values(environment: str, identity: str, operator_namespace: str, controller_name: str) -> dict[str, str]:
    return {
        "environment": environment,
        "identity": identity,
        "operatorNamespace": operator_namespace,
        "controllerServiceAccount": controller_name,
    }


def exports_platform(stack: Stack) -> bool:
    """A stack that installs the operator can be a platform stack; a tenant stack never is."""
    return stack.platform is None and stack.eso.install


def qualified_stack_name(reference: str, organization: str, project: str) -> str:
    """`stack`, `project/stack` or `org/project/stack`, as StackReference completes it."""
    parts = reference.split("/")
    return "/".join([organization, project][: 3 - len(parts)] + parts)


@dataclass(frozen=True)
class Platform:
    stack: str
    environment: str
    identity: str
    operator_namespace: str
    controller_service_account: str
    kubeconfig: str


def read_platform(name: str, outputs: dict[str, Any]) -> tuple[Optional[Platform], list[str]]:
    """The platform stack `name` from its outputs, or why it cannot be one."""
    values = outputs.get(PLATFORM_OUTPUT)
    keys = ("environment", "identity", "operatorNamespace", "controllerServiceAccount")
    if not outputs:
        return None, [f"platform: stack {name} has no outputs: deploy the platform stack first (`pulumi up` there), then this one"]
    if not isinstance(values, dict) or not all(isinstance(values.get(k), str) for k in keys) or not isinstance(outputs.get(KUBECONFIG_OUTPUT), str):
        return None, [
            f"platform: stack {name} is not a platform stack: it exports no {PLATFORM_OUTPUT} and {KUBECONFIG_OUTPUT} "
            "outputs. A platform stack installs the operator (eso.install: true) and is not itself a tenant "
            "stack; deploy it with this release first"
        ]
    return Platform(name, *(values[k] for k in keys), outputs[KUBECONFIG_OUTPUT]), []


def tenant_problems(stack: Stack, platform: Platform) -> list[str]:
    problems = []
    if stack.environment != platform.environment:
        problems.append(
            f"environment: {stack.environment!r}, but platform stack {platform.stack} is environment "
            f"{platform.environment!r}: a tenant stack reads its secrets under its platform's environment; "
            f"set environment: {platform.environment}"
        )
    if platform.identity != "irsa":
        problems.append(
            f"platform: stack {platform.stack} runs ESO with identity {platform.identity}, and tenant stacks "
            "support irsa only: under podIdentity the controller's grant, in the platform stack, names every "
            "namespace role; keep these services in the platform stack"
        )
    for index, service in enumerate(stack.services):
        if service.namespace == platform.operator_namespace:
            problems.append(
                f"services[{index}].namespace: {service.namespace!r} is the operator's namespace of platform "
                f"stack {platform.stack}; deliver secrets into the application's own namespace"
            )
    return problems


def as_tenant(stack: Stack, platform: Platform) -> Stack:
    """`stack` with the operator its platform runs."""
    eso = EsoConfig(
        install=False, namespace=platform.operator_namespace, controllerServiceAccount=platform.controller_service_account
    )
    return dataclasses.replace(stack, eso=eso, identity=platform.identity)


# A namespace's claim: the managing stack's key (label) and full name (annotation).
ClaimReader = Callable[[str, list[str]], dict[str, tuple[str, str]]]


def cluster_claims(kubeconfig: str, namespaces: list[str]) -> dict[str, tuple[str, str]]:
    """Each of `namespaces` that a stack claims, read off the cluster's Namespace objects
    (metadata only)."""
    api = ClusterApi.from_kubeconfig(kubeconfig)
    claims = {}
    for namespace in namespaces:
        found = api.get(f"/api/v1/namespaces/{namespace}", metadata_only=True)
        metadata = (found or {}).get("metadata") or {}
        key = (metadata.get("labels") or {}).get(STACK_LABEL)
        if key:
            claims[namespace] = (key, (metadata.get("annotations") or {}).get(STACK_LABEL) or key)
    return claims


def manages(outputs: dict[str, Any], namespace: str) -> bool:
    """Whether a stack's last deployment manages `namespace`: a tenant's, or its operator's."""
    operator = outputs.get("operator") if isinstance(outputs.get("operator"), dict) else {}
    installed = operator.get("installed", True) is not False and operator.get("namespace") == namespace
    return installed or namespace in (outputs.get("namespaces") or {})


def foreign_claimers(own_key: str, claims: dict[str, tuple[str, str]]) -> list[str]:
    return sorted({owner for key, owner in claims.values() if key != own_key})


@dataclass(frozen=True)
class Ownership:
    problems: list[str]
    # Namespaces whose claim names a stack that no longer manages them: what `pulumi state move`
    # brought here along with their resources.
    taken_over: dict[str, str]


def ownership(stack: Stack, own_key: str, claims: dict[str, tuple[str, str]], claimers: dict[str, dict[str, Any]]) -> Ownership:
    """Each namespace of `stack` that another stack manages, named at its first service, given
    each claiming stack's last outputs."""
    problems, taken_over = [], {}
    first_service = {}
    for index, service in enumerate(stack.services):
        first_service.setdefault(service.namespace, index)
    for namespace, index in sorted(first_service.items()):
        key, owner = claims.get(namespace, (own_key, ""))
        if key != own_key and not manages(claimers.get(owner, {}), namespace):
            taken_over[namespace] = owner
        elif key != own_key:
            problems.append(
                f"services[{index}].namespace: namespace {namespace!r} is managed by stack {owner} (label "
                f"{STACK_LABEL}={key}); a namespace belongs to one stack: add the service to that stack's "
                "config, or move the namespace as the README's \"Moving namespaces into tenant stacks\" describes"
            )
    return Ownership(problems, taken_over)


def taken_over_warning(namespace: str, owner: str) -> str:
    return (
        f"namespace {namespace}: its claim names stack {owner}, which no longer manages it (its resources were moved "
        "here with `pulumi state move`): this stack takes the claim over"
    )


def claims_or_problem(read: ClaimReader, kubeconfig: str, namespaces: list[str]) -> tuple[dict[str, tuple[str, str]], list[str]]:
    try:
        return read(kubeconfig, namespaces), []
    except KubernetesError as error:
        return {}, [f"platform: cannot read which stacks manage this stack's namespaces: {error}"]
