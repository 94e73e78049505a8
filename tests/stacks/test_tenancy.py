"""Platform and tenant stacks through the real program under the mock engine: what a tenant
stack may set, what it reads off its platform stack, what it registers, and the namespaces it
refuses because another stack of the cluster manages them."""

import copy

import pulumi
import pytest

from components.labels import STACK_LABEL, stack_key
from components.resource_types import ADMISSION_POLICY, CRD, READ_STACK_OUTPUTS, RELEASE
from stacks.tenancy import qualified_stack_name
from tests.conftest import Mocks, stack_values
from tests.stacks.test_loading import problems_of

PLATFORM = "organization/eso-platform/dev"
OWN = "organization/eso-platform/dev-payments"
SERVICES = [
    {"name": "ledger", "namespace": "payments"},
    {"name": "invoices", "namespace": "payments"},
    {"name": "storefront", "namespace": "shop"},
]


def tenant(**changes):
    values = {"aws:region": "us-east-1", "environment": "dev", "platform": PLATFORM, "services": copy.deepcopy(SERVICES)}
    values.update(changes)
    return values


class PlatformWorld(Mocks):
    """The platform stack's outputs and the cluster's namespace claims, as a scenario sets them."""

    def __init__(self, platform=None, claims=None, others=None):
        super().__init__()
        self.platform = platform
        self.claims = claims or {}
        # The last outputs of the other stacks that claim a namespace.
        self.others = others or {}
        self.reads: list[list[str]] = []
        self.stacks_read: list[str] = []

    def call(self, args):
        if args.token == READ_STACK_OUTPUTS and not args.args["name"].endswith("/dev-payments"):
            self.stacks_read.append(args.args["name"])
        return super().call(args)

    def platform_outputs(self, name):
        if name in self.others:
            return self.others[name]
        return super().platform_outputs(name) if self.platform is None else self.platform

    def namespace_claims(self, kubeconfig, namespaces):
        self.reads.append(namespaces)
        return {ns: claim for ns, claim in self.claims.items() if ns in namespaces}


def refusal(run_stack, world, values=None) -> str:
    with pytest.raises(pulumi.RunError) as raised:
        run_stack(values or tenant(), stack="dev-payments", mocks=world)
    return str(raised.value)


def test_a_tenant_stack_sets_none_of_what_its_platform_decides():
    problems = problems_of(
        tenant(cluster={"name": "platform-dev"}, eso={"replicas": 2}, identity="irsa", admission={"enabled": False}, irsa={"mode": "shared"})
    )
    for key in ("cluster", "eso", "identity", "admission"):
        assert any(p.startswith(f"{key}: a tenant stack (platform: {PLATFORM}) sets no {key}: ") for p in problems), (key, problems)
    assert any(p.startswith("irsa.mode: a tenant stack's roles are per-namespace") for p in problems), problems


def test_a_stack_names_its_cluster_or_its_platform():
    values = tenant()
    del values["platform"]
    assert problems_of(values) == [
        "cluster: required; set exactly one of name, stackReference or create, or make this a tenant stack "
        "with platform: <org/project/stack> of its platform stack"
    ]


def test_a_tenant_stack_registers_its_namespaces_only_through_the_platforms_cluster(run_stack):
    world = PlatformWorld()
    run = run_stack(tenant(), stack="dev-payments", mocks=world)
    assert world.stacks_read == [PLATFORM] and world.reads == [["payments", "shop"]]
    assert not run.of_type(RELEASE) and not run.of_type(CRD)
    # It reads the cluster-wide policies (they must exist) and registers only its own.
    policies = run.of_type(ADMISSION_POLICY)
    assert {p.read_id for p in policies if p.read_id} == {"eso-platform-tenant-namespaces", "eso-platform-aws-store-auth"}
    own = {p.inputs["metadata"]["name"] for p in policies if not p.read_id}
    key = stack_key(OWN)
    assert own == {f"eso-platform-stack-{key}", f"eso-platform-stack-{key}-accounts", f"eso-platform-secret-guard-{key}"}
    reference = run.of_type("pulumi:pulumi:StackReference")
    assert [r.inputs["name"] for r in reference] == [PLATFORM]
    assert sorted(run.outputs["namespaces"]) == ["payments", "shop"]
    assert run.outputs["operator"] == {"namespace": "external-secrets", "installed": False}
    assert "platform" not in run.outputs and "kubeconfig" not in run.outputs
    assert run.outputs["tenantOf"] == PLATFORM
    assert not [w for w in run.warnings if "eso.install is false" in w], run.warnings
    for patch in run.of_type("kubernetes:core/v1:NamespacePatch"):
        assert patch.inputs["metadata"]["labels"][STACK_LABEL] == key


def test_a_tenant_stack_uses_the_operator_namespace_and_account_its_platform_exports(run_stack):
    outputs = PlatformWorld().platform_outputs(PLATFORM)
    outputs["platform"] = {**outputs["platform"], "operatorNamespace": "eso-system", "controllerServiceAccount": "eso-controller"}
    run = run_stack(tenant(), stack="dev-payments", mocks=PlatformWorld(platform=outputs))
    assert run.outputs["secretGuard"]["controller"] == "system:serviceaccount:eso-system:eso-controller"
    bindings = run.of_type("kubernetes:rbac.authorization.k8s.io/v1:RoleBinding")
    assert bindings and all(b.inputs["subjects"] == [{"kind": "ServiceAccount", "name": "eso-controller", "namespace": "eso-system"}] for b in bindings)


def test_a_platform_stack_exports_what_its_tenants_read(run_stack):
    run = run_stack({**stack_values("dev"), "services": []}, stack="dev")
    assert run.outputs["platform"] == {
        "environment": "dev", "identity": "irsa", "operatorNamespace": "external-secrets", "controllerServiceAccount": "external-secrets",
    }
    assert "kubeconfig" in run.secret_outputs and "platform" not in run.secret_outputs
    someone_elses = run_stack({**stack_values("dev"), "eso": {"install": False}}, stack="dev")
    assert "platform" not in someone_elses.outputs and "kubeconfig" not in someone_elses.outputs


@pytest.mark.parametrize(
    "platform, expected",
    [
        ({}, f"platform: stack {PLATFORM} has no outputs: deploy the platform stack first"),
        ({"environment": "dev"}, f"platform: stack {PLATFORM} is not a platform stack: it exports no platform and kubeconfig outputs"),
    ],
)
def test_a_platform_that_is_not_one_is_refused_before_anything_is_registered(run_stack, platform, expected):
    world = PlatformWorld(platform=platform)
    assert expected in refusal(run_stack, world)
    assert world.reads == []


def test_what_a_tenant_cannot_share_with_its_platform_is_refused_all_at_once(run_stack):
    outputs = PlatformWorld().platform_outputs(PLATFORM)
    outputs["platform"] = {**outputs["platform"], "environment": "prod", "identity": "podIdentity"}
    values = tenant(services=[*SERVICES, {"name": "peek", "namespace": "external-secrets"}])
    message = refusal(run_stack, PlatformWorld(platform=outputs), values)
    assert "stack config has 3 problems" in message
    assert f"environment: 'dev', but platform stack {PLATFORM} is environment 'prod'" in message
    assert f"platform: stack {PLATFORM} runs ESO with identity podIdentity, and tenant stacks support irsa only" in message
    assert f"services[3].namespace: 'external-secrets' is the operator's namespace of platform stack {PLATFORM}" in message


def test_a_namespace_another_stack_manages_is_refused_naming_that_stack(run_stack):
    other = "organization/eso-platform/dev-shop"
    world = PlatformWorld(
        claims={"shop": (stack_key(other), other), "payments": (stack_key(OWN), OWN)},
        others={other: {"namespaces": {"shop": {}}, "operator": {"namespace": "external-secrets", "installed": False}}},
    )
    message = refusal(run_stack, world)
    assert "stack config has 1 problem" in message
    assert (
        f"services[2].namespace: namespace 'shop' is managed by stack {other} (label {STACK_LABEL}={stack_key(other)}); "
        "a namespace belongs to one stack"
    ) in message


def test_a_tenant_stack_redeploys_the_namespaces_it_already_manages(run_stack):
    world = PlatformWorld(claims={"shop": (stack_key(OWN), OWN), "payments": (stack_key(OWN), OWN)})
    run = run_stack(tenant(), stack="dev-payments", mocks=world)
    assert sorted(run.outputs["namespaces"]) == ["payments", "shop"]


@pytest.mark.parametrize(
    "reference, expected",
    [("dev", "acme/eso-platform/dev"), ("platform/dev", "acme/platform/dev"), ("other/platform/dev", "other/platform/dev")],
)
def test_a_platform_reference_is_completed_as_a_stack_reference_is(reference, expected):
    assert qualified_stack_name(reference, "acme", "eso-platform") == expected


def test_the_operators_namespace_is_managed_by_the_stack_that_installs_it(run_stack):
    outputs = PlatformWorld().platform_outputs(PLATFORM)
    outputs.update(namespaces={}, operator={"namespace": "shop", "installed": True})
    outputs["platform"] = {**outputs["platform"], "operatorNamespace": "shop"}
    world = PlatformWorld(claims={"shop": (stack_key(PLATFORM), PLATFORM)}, others={PLATFORM: outputs})
    message = refusal(run_stack, world)
    assert f"services[2].namespace: 'shop' is the operator's namespace of platform stack {PLATFORM}" in message
    assert f"services[2].namespace: namespace 'shop' is managed by stack {PLATFORM}" in message


def test_a_claim_moved_here_with_its_resources_is_taken_over_with_a_warning(run_stack):
    source = "organization/eso-platform/dev-monolith"
    # The source stack's last `up` no longer lists the namespace: `pulumi state move` took its resources.
    world = PlatformWorld(claims={"shop": (stack_key(source), source)}, others={source: {"namespaces": {"payments-old": {}}}})
    run = run_stack(tenant(), stack="dev-payments", mocks=world)
    assert sorted(run.outputs["namespaces"]) == ["payments", "shop"]
    assert [w for w in run.warnings if w.startswith("namespace shop:")] == [
        f"namespace shop: its claim names stack {source}, which no longer manages it (its resources were moved here "
        "with `pulumi state move`): this stack takes the claim over"
    ]
