"""Moving a namespace out of an existing stack into a team's tenant stack, as the README's
"Moving namespaces into tenant stacks" says, with the real engine, API server and ESO
controller: `pulumi state move` of the namespace's components, the source's `up` without its
services, then the tenant's first `up`. Nothing is created again or replaced, and a 50 ms poll
of every Secret sees it present, with one UID and its data, throughout."""

import pytest

from components.labels import STACK_LABEL, stack_key
from e2e.harness import ORGANIZATION, REGION, decoded
from e2e.secret_watch import SecretWatch

pytestmark = pytest.mark.timeout(900)
SOURCE, TENANT = "mv-monolith", "mv-payments"
MOVED = [{"name": "ledger", "namespace": "mv-pay"}, {"name": "invoices", "namespace": "mv-pay"}]
STAYING = [{"name": "catalog", "namespace": "mv-shop"}]
COMPONENTS = ("eso-platform:tenant:Tenant", "eso-platform:irsa:IrsaRole")


def _moved_components(state, namespace):
    """The URNs of the namespace's Tenant and role components (each moved with its children)."""
    names = {f"tenant-{namespace}", f"irsa-{namespace}"}
    return sorted(r["urn"] for r in state["resources"] if r["type"] in COMPONENTS and r["urn"].rsplit("::", 1)[1] in names)


def test_a_namespace_moves_into_a_tenant_stack_with_no_gap_and_nothing_replaced(harness):
    source = harness.stack(SOURCE)
    source_config = {**harness.committed_config("dev"), "eso-platform:services": [*MOVED, *STAYING]}
    _, source_plan, expected = harness.up(source, source_config)
    harness.wait_for_controller()
    harness.wait_ready([(d.namespace, d.name) for d in source_plan.deliveries()])
    urns = _moved_components(source.state(), "mv-pay")
    assert len(urns) == 2, urns
    tenant = harness.stack(TENANT)
    tenant_config = {"aws:region": REGION, "environment": "dev", "platform": f"{ORGANIZATION}/eso-platform/{SOURCE}", "services": MOVED}
    watches = [SecretWatch(harness.admin, namespace, name) for namespace, name in expected]
    for watch in watches:
        watch.__enter__()
    try:
        tenant.move_here(source, urns)
        # The source gives the namespace up: it no longer has its resources, so deletes nothing.
        given_up = harness.planned(SOURCE, {**source_config, "eso-platform:services": STAYING})
        source_result = source.up(given_up.config).checked()
        assert "delete" not in source_result.ops() and "replace" not in source_result.ops(), source_result.ops()
        tenant_plan = harness.planned(TENANT, tenant_config)
        tenant_result = tenant.up(tenant_plan.config).checked()
        harness.wait_ready([(d.namespace, d.name) for d in tenant_plan.deliveries()])
    finally:
        for watch in watches:
            watch.__exit__(None, None, None)
    try:
        # The moved objects are the tenant's now, as they were: none created again, none replaced.
        moved = [step for step in tenant_result.steps if step["urn"].split("::")[2].startswith(COMPONENTS)]
        assert len(moved) >= 12 and {step["op"] for step in moved} <= {"same", "update"}, moved
        # Only the claim changes hands: the label names the tenant stack now.
        assert [step["type"] for step in moved if step["op"] == "update"] == ["kubernetes:core/v1:NamespacePatch"], moved
        assert any(f"namespace mv-pay: its claim names stack {ORGANIZATION}/eso-platform/{SOURCE}" in w for w in tenant_result.warnings())
        for watch in watches:
            assert watch.polls > 10 and watch.gaps() == 0 and len(watch.uids) == 1, (watch.namespace, watch.name, watch.states)
        for (namespace, name), data in expected.items():
            assert decoded(harness.secret(namespace, name)) == data, (namespace, name)
        labels = harness.admin.get("v1", "Namespace", "mv-pay")["metadata"]["labels"]
        assert labels[STACK_LABEL] == stack_key(f"{ORGANIZATION}/eso-platform/{TENANT}")
        assert not tenant.preview(tenant_plan.config).checked().changed()
        assert not source.preview(given_up.config).checked().changed()
    finally:
        tenant.destroy()
