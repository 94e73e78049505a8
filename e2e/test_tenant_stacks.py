"""A platform stack and two tenant stacks on one cluster, with the real engine, API server and
ESO controller: the platform stack runs the operator and the cluster-wide guards and delivers
nothing; each team's tenant stack delivers its own namespaces through the platform's kubeconfig
and operator, read off its outputs. A namespace belongs to one stack, and the cluster says which:
a tenant's preview refuses a namespace another stack manages, naming that stack."""

import pytest

from components.labels import STACK_LABEL, stack_key
from e2e.harness import ORGANIZATION, REGION, decoded
from e2e.kube import ApiError
from e2e.world import ESO_API

pytestmark = pytest.mark.timeout(900)
PLATFORM = "tp-platform"
TEAM_A, TEAM_B = "tp-team-a", "tp-team-b"
CLUSTER_POLICIES = {"eso-platform-tenant-namespaces", "eso-platform-aws-store-auth"}


def _full(name):
    return f"{ORGANIZATION}/eso-platform/{name}"


def _tenant(services):
    return {"aws:region": REGION, "environment": "dev", "platform": _full(PLATFORM), "services": services}


TEAM_A_SERVICES = [{"name": "ledger", "namespace": "tp-a-api"}, {"name": "invoices", "namespace": "tp-a-api"}]
TEAM_B_SERVICES = [{"name": "storefront", "namespace": "tp-b-web"}]


def _errors(result):
    return " ".join(d["message"] for d in result.diagnostics if d["severity"] == "error")


@pytest.fixture(scope="module")
def fleet(harness):
    platform = harness.stack(PLATFORM)
    platform_config = {**harness.committed_config("dev"), "eso-platform:services": []}
    _, platform_plan, _ = harness.up(platform, platform_config)
    harness.wait_for_controller()
    tenants = {}
    for name, services in ((TEAM_A, TEAM_A_SERVICES), (TEAM_B, TEAM_B_SERVICES)):
        stack = harness.stack(name)
        plan = harness.planned(name, _tenant(services))
        _, expected = harness.apply(stack, plan)
        tenants[name] = (stack, plan, expected)
    harness.wait_ready([(d.namespace, d.name) for _, plan, _ in tenants.values() for d in plan.deliveries()])
    yield platform, platform_plan, tenants
    for stack, _, _ in tenants.values():
        stack.destroy()


def test_each_tenant_stack_delivers_its_namespaces_through_the_platforms_operator(harness, fleet):
    platform, platform_plan, tenants = fleet
    for name, (stack, plan, expected) in tenants.items():
        for (namespace, secret), data in expected.items():
            assert decoded(harness.secret(namespace, secret)) == data, (name, namespace, secret)
        types = {resource["type"] for resource in stack.resources()}
        # The operator and the cluster-wide guards are the platform's: a tenant holds neither.
        assert "kubernetes:helm.sh/v3:Release" not in types, name
        assert not [
            r for r in stack.resources()
            if r["type"].endswith("ValidatingAdmissionPolicy") and r["id"] in CLUSTER_POLICIES and not r.get("external")
        ], name
        assert "pulumi:pulumi:StackReference" in types, name
        for namespace in {d.namespace for d in plan.deliveries()}:
            labels = harness.admin.get("v1", "Namespace", namespace)["metadata"]["labels"]
            assert labels[STACK_LABEL] == stack_key(_full(name)), namespace
    # Nothing to change anywhere: no stack fights over another's objects.
    assert not platform.preview(platform_plan.config).checked().changed()
    for name, (stack, plan, _) in tenants.items():
        assert not stack.preview(plan.config).checked().changed(), name


def test_the_platforms_guard_covers_every_tenants_namespaces(harness, fleet):
    borrowed = {
        "apiVersion": ESO_API,
        "kind": "SecretStore",
        "metadata": {"name": "borrow", "namespace": "tp-b-web"},
        "spec": {"provider": {"aws": {"service": "SecretsManager", "region": REGION, "auth": {
            "jwt": {"serviceAccountRef": {"name": "external-secrets", "namespace": "external-secrets"}}}}}},
    }
    path = harness.admin.path(ESO_API, "SecretStore", namespace="tp-b-web")
    with pytest.raises(ApiError) as refused:
        harness.admin.request("POST", path, "create borrow", json=borrowed, params={"dryRun": "All"})
    assert "eso-platform admission rule tenant-store-managed-identity:" in refused.value.message, refused.value.message


def test_a_preview_refuses_a_namespace_another_stack_manages_and_names_that_stack(harness, fleet):
    platform, _, tenants = fleet
    team_b, team_b_plan, _ = tenants[TEAM_B]
    before = harness.admin.get("v1", "Namespace", "tp-a-api")["metadata"]
    stealing = _tenant([*TEAM_B_SERVICES, {"name": "skim", "namespace": "tp-a-api"}])
    for operation in ("preview", "up"):
        result = team_b.run(operation, harness.engine_config(stealing))
        assert not result.ok, operation
        errors = _errors(result)
        assert f"services[1].namespace: namespace 'tp-a-api' is managed by stack {_full(TEAM_A)}" in errors, errors
        assert not result.changed(), operation
    # The platform's own namespace too: the operator's is claimed by the platform stack.
    result = team_b.run("preview", harness.engine_config(_tenant([*TEAM_B_SERVICES, {"name": "peek", "namespace": "external-secrets"}])))
    errors = _errors(result)
    assert "services[1].namespace: 'external-secrets' is the operator's namespace of platform stack" in errors, errors
    assert f"services[1].namespace: namespace 'external-secrets' is managed by stack {_full(PLATFORM)}" in errors, errors
    after = harness.admin.get("v1", "Namespace", "tp-a-api")["metadata"]
    assert (after["labels"], after["annotations"]) == (before["labels"], before["annotations"])
    assert not harness.admin.get(ESO_API, "ExternalSecret", "skim", "tp-a-api")
    assert not team_b.preview(team_b_plan.config).checked().changed()


def test_a_tenant_stack_may_not_set_what_its_platform_decides(harness, fleet):
    _, _, tenants = fleet
    team_a, _, _ = tenants[TEAM_A]
    config = harness.engine_config({**_tenant(TEAM_A_SERVICES), "eso": {"replicas": 2}, "admission": {"enabled": False}})
    result = team_a.run("preview", config)
    assert not result.ok
    errors = _errors(result)
    assert f"eso: a tenant stack (platform: {_full(PLATFORM)}) sets no eso" in errors, errors
    assert "admission: a tenant stack" in errors, errors
    assert not result.changed()


def test_the_doctor_checks_a_tenant_stack_with_its_platforms_operator(harness, fleet):
    _, _, tenants = fleet
    _, plan, _ = tenants[TEAM_A]
    code, report = harness.doctor(plan.stack_file, "--oidc-issuer", harness.issuer, timeout=300)
    assert code == 0, report
    passed = [c["check"] for c in report["checks"] if c["status"] == "pass"]
    # Through the platform's kubeconfig, as this stack's deploying identity: each role's trust, each
    # ExternalSecret Ready.
    assert passed.count("cluster-access") == 1 and passed.count("role-trust") == 1, report
    assert passed.count("external-secret") == len(TEAM_A_SERVICES), report
