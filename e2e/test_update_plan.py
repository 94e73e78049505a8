"""prod's deploy as deploy.yml runs it, with the real engine: `pulumi preview --save-plan` shows
the program's warnings before anyone approves, and `pulumi up --plan` applies exactly that plan,
or stops when the update would differ from it."""

import pytest

from components.manifests import FORCE_SYNC_ANNOTATION
from e2e.harness import SCENARIO_STACK
from e2e.world import ESO_API

pytestmark = pytest.mark.timeout(600)
NAMESPACE = "upl"
SERVICES = [{"name": "kept", "namespace": NAMESPACE}, {"name": "dropped", "namespace": NAMESPACE}]


def test_an_update_plan_applies_what_its_preview_showed_or_stops(harness, generated_stack, tmp_path):
    harness.deploy_ready(generated_stack(NAMESPACE, {"services": SERVICES}))
    stack = harness.stack(SCENARIO_STACK)
    saved = str(tmp_path / "update-plan.json")
    fewer = generated_stack(NAMESPACE, {"services": SERVICES[:1]}).config
    preview = stack.preview(fewer, flags={"plan": saved}).checked()
    # The approvers read the deletion in the preview, not only while the `up` deletes.
    assert any(w.startswith(f"Secret {NAMESPACE}/dropped will be deleted") for w in preview.warnings()), preview.warnings()
    changing = ("create", "update", "delete", "replace")
    planned = preview.urns(*changing)
    assert f"::tenant-{NAMESPACE}/dropped" in " ".join(preview.urns("delete")), planned
    applied = stack.up(fewer, flags={"plan": saved})
    assert applied.urns(*changing) == planned
    harness.wait_until_absent(NAMESPACE, "dropped")

    # The program asked for something the approved plan does not hold: the `up` stops.
    approved = generated_stack(NAMESPACE, {"services": SERVICES[:1], "forceSync": "approved"}).config
    stack.preview(approved, flags={"plan": saved}).checked()
    other = generated_stack(NAMESPACE, {"services": SERVICES[:1], "forceSync": "not-approved"}).config
    refused = stack.run("up", other, flags={"plan": saved})
    assert not refused.ok
    said = refused.error + " ".join(d["message"] for d in refused.diagnostics)
    assert f"tenant-{NAMESPACE}/kept violates plan" in said, said[-2000:]
    annotations = harness.admin.get(ESO_API, "ExternalSecret", "kept", NAMESPACE)["metadata"].get("annotations", {})
    assert annotations.get(FORCE_SYNC_ANNOTATION) != "not-approved"
