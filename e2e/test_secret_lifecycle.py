"""No Secret lost by accident, proven with the real controller, API server and garbage collector."""

import json
import time

import pytest

from e2e.harness import SCENARIO_STACK, condition
from e2e.processes import wait_until
from e2e.secret_watch import SecretWatch

pytestmark = pytest.mark.timeout(300)


def _ready(harness, plan):
    harness.wait_ready([(d.namespace, d.name) for d in plan.deliveries()])


def test_a_rename_with_renamed_from_keeps_the_secret_with_no_gap(harness, generated_stack):
    plan = generated_stack("ren", {"services": [{"name": "billing", "namespace": "ren"}]})
    harness.deploy(plan)
    _ready(harness, plan)
    renamed = generated_stack("ren", {"services": [{"name": "invoicing", "namespace": "ren", "renamedFrom": "billing"}]})
    assert [d.name for d in renamed.deliveries()] == ["billing"], "the ExternalSecret keeps its name"
    with SecretWatch(harness.admin, "ren", "billing") as watch:
        expected = harness.deploy(renamed)
        harness.wait_for_data("ren", "billing", expected[("ren", "billing")])
        time.sleep(1)
    assert watch.gaps() == 0 and len(watch.uids) == 1


def test_on_remove_keep_leaves_the_secret_and_delete_removes_it(harness, generated_stack):
    services = [{"name": "kept", "namespace": "rmv", "onRemove": "keep"}, {"name": "dropped", "namespace": "rmv"}]
    plan = generated_stack("rmv", {"services": services})
    expected = harness.deploy(plan)
    _ready(harness, plan)
    wait_until(lambda: not harness.secret("rmv", "kept")["metadata"].get("ownerReferences"), 60, "kept Secret orphaned")
    assert harness.secret("rmv", "dropped")["metadata"]["ownerReferences"][0]["kind"] == "ExternalSecret"
    remaining = generated_stack("rmv", {"services": [{"name": "other", "namespace": "rmv"}]})
    harness.deploy(remaining)
    _ready(harness, remaining)
    wait_until(lambda: harness.secret("rmv", "dropped") is None, 60, "the garbage collector deletes the dropped Secret")
    assert harness.secret_data("rmv", "kept") == expected[("rmv", "kept")]


def _hand_made(harness, namespace: str, name: str, annotations=None) -> dict:
    harness.admin.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
    secret = {
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": name, "namespace": namespace, "annotations": annotations or {}},
        "stringData": {"hand": "made-by-a-person"},
    }
    harness.admin.apply(secret)
    return harness.secret_data(namespace, name)


def test_a_hand_made_secret_is_refused_unless_the_service_adopts_it(harness, generated_stack):
    before = _hand_made(harness, "hnd", "legacy")
    # The guard first and the service one `pulumi up` later, the safe order of
    # docs/secret-lifecycle.md: a policy made in the same `up` is enforced only a moment after ESO writes.
    other = {"name": "other", "namespace": "hnd"}
    harness.deploy(generated_stack("hnd", {"services": [other]}))
    plan = generated_stack("hnd", {"services": [other, {"name": "legacy", "namespace": "hnd"}]})
    harness.deploy(plan)
    # ESO's first write to an existing Secret is a metadata patch that it retries without touching
    # the ExternalSecret's status: the refusal shows in the controller's log and sync-error metric.
    refusal = "eso-platform refuses to overwrite Secret hnd/legacy"
    wait_until(lambda: refusal in harness.controller.process.log_path.read_text(), 90, "the guard's refusal in ESO's log")
    assert harness.secret_data("hnd", "legacy") == before
    assert "reconcile.external-secrets.io/managed" not in (harness.secret("hnd", "legacy")["metadata"].get("labels") or {})
    assert (condition(harness.external_secret("hnd", "legacy")) or {}).get("status") != "True"

    adopting = generated_stack("hnd", {"forceSync": "adopt", "services": [other, {"name": "legacy", "namespace": "hnd", "adopt": True}]})
    expected = harness.deploy(adopting)
    _ready(harness, adopting)
    assert harness.secret_data("hnd", "legacy") == expected[("hnd", "legacy")]
    assert harness.secret("hnd", "legacy")["metadata"]["ownerReferences"][0]["kind"] == "ExternalSecret"


def test_the_adopt_annotation_lets_a_one_off_migration_through(harness, generated_stack):
    _hand_made(harness, "ann", "tagged", {"eso-platform/adopt": "true"})
    plan = generated_stack("ann", {"services": [{"name": "tagged", "namespace": "ann"}]})
    expected = harness.deploy(plan)
    _ready(harness, plan)
    assert harness.secret_data("ann", "tagged") == expected[("ann", "tagged")]


def test_a_stack_that_does_not_install_eso_uses_the_running_one(harness, generated_stack):
    # The scenarios' stack runs the operator; a second stack of the program, with eso.install
    # false, uses it. Its admission guard is off: the guard's policy names are cluster-wide, so
    # two stacks cannot both register one yet.
    harness.deploy(generated_stack("own", {"services": [{"name": "app", "namespace": "own"}]}))
    config = {"eso": {"install": False}, "admission": {"enabled": False}, "services": [{"name": "app", "namespace": "ext"}]}
    plan = generated_stack("ext", config)
    assert not plan.installs_operator
    stack = harness.stack("ext")
    try:
        # The controller's ServiceAccount is read at deploy: a name no account has fails the
        # preview, naming it, instead of leaving every store without a token.
        wrong = generated_stack("ext", {**config, "eso": {"install": False, "controllerServiceAccount": "eso-external-secrets"}})
        preview = stack.preview(wrong.config)
        assert not preview.ok and "external-secrets/eso-external-secrets" in preview.error + json.dumps(preview.diagnostics)
        _, expected = harness.apply(stack, plan)
        _ready(harness, plan)
        assert harness.secret_data("ext", "app") == expected[("ext", "app")]
    finally:
        stack.destroy()


def _errors(result) -> str:
    """The engine's error diagnostics, each with the resource it is about."""
    return " ".join(f"{d.get('urn') or ''} {d['message']}" for d in result.diagnostics if d["severity"] == "error")


def test_protected_external_secrets_stop_a_removal_and_a_destroy_naming_each(harness, generated_stack):
    """protectExternalSecrets: the engine refuses to delete a protected ExternalSecret, in a
    removal's preview and in `pulumi destroy`, which runs no program and so prints none of its
    warnings; the ExternalSecrets are the stack's only leaves, so the destroy stops at them before
    anything else is deleted. A service that opts out is deleted, and nothing more."""
    services = [{"name": "guarded", "namespace": "prt"}, {"name": "also", "namespace": "prt"}]
    config = {"protectExternalSecrets": True, "services": services}
    expected = harness.deploy_ready(generated_stack("prt", config))
    stack = harness.stack(SCENARIO_STACK)

    def protection() -> dict[str, bool]:
        return {r["urn"].rsplit("::", 1)[1]: r.get("protect", False) for r in stack.resources() if r["type"].endswith(":ExternalSecret")}

    assert protection() == {"tenant-prt/guarded": True, "tenant-prt/also": True}
    removal = stack.preview(generated_stack("prt", {**config, "services": services[:1]}).config)
    assert not removal.ok and "tenant-prt/also" in _errors(removal) and "protected" in _errors(removal)

    def urns() -> list[str]:
        # The engine's default providers come and go with the resources that use them.
        return sorted(r["urn"] for r in stack.resources() if not r["type"].startswith("pulumi:providers:"))

    before = urns()
    destroy = stack.run("destroy")
    refused = _errors(destroy)
    assert not destroy.ok and "protected" in refused and "tenant-prt/guarded" in refused and "tenant-prt/also" in refused, refused
    assert not destroy.warnings(), "destroy runs no program: none of its warnings"
    assert urns() == before, "nothing was deleted"
    for name in ("guarded", "also"):
        assert harness.secret_data("prt", name) == expected[("prt", name)]

    # One service opts out (an `up` that changes only the state): a destroy deletes its
    # ExternalSecret, and stops at the protected one with everything it needs.
    opted_out = [services[0], {**services[1], "protect": False}]
    harness.deploy(generated_stack("prt", {**config, "services": opted_out}))
    assert protection() == {"tenant-prt/guarded": True, "tenant-prt/also": False}
    destroy = stack.run("destroy")
    assert not destroy.ok and "tenant-prt/guarded" in _errors(destroy) and "tenant-prt/also" not in _errors(destroy)
    assert urns() == [urn for urn in before if not urn.endswith("::tenant-prt/also")]
    assert harness.secret_data("prt", "guarded") == expected[("prt", "guarded")]

    # Turned off and deployed, the protection is gone: the removal goes through.
    harness.deploy(generated_stack("prt", {"services": services}))
    harness.deploy(generated_stack("prt", {"services": services[1:]}))
    wait_until(lambda: harness.secret("prt", "guarded") is None, 60, "the removed service's Secret deleted")
