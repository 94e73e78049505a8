"""What only the real engine decides, on the dev stack of this repository: `up` from nothing,
previews and refreshes that find nothing to do, a service added, renames, and what the stack's
reference to its own last deployment warns of and refuses. The tests run in order on one stack.
"""

import copy
from dataclasses import dataclass
from typing import Any

import pytest

from components.resource_types import EXTERNAL_SECRET, ROLE_POLICY
from e2e.secret_watch import SecretWatch

pytestmark = pytest.mark.timeout(900)
SERVICES = "eso-platform:services"
# What the engine does to a component or to the stack itself is not a change of the cloud.
NOT_RESOURCES = ("eso-platform:", "pulumi:pulumi:Stack", "pulumi:pulumi:StackReference")


@dataclass
class Dev:
    stack: Any
    config: dict[str, Any]

    def with_services(self, change) -> dict[str, Any]:
        config = copy.deepcopy(self.config)
        change(config[SERVICES])
        return config


def resource_changes(result) -> set[tuple[str, str, str]]:
    """(op, type, resource name) of every step that changes a resource."""
    return {
        (step["op"], step["type"], step["urn"].rsplit("::", 1)[1])
        for step in result.changed()
        if not step["type"].startswith(NOT_RESOURCES)
    }


def _managed(state: dict) -> dict[str, tuple]:
    """What the stack manages, as its state holds it (a read resource's timestamp and the
    order of the state aside)."""
    return {r["urn"]: (r.get("inputs"), r.get("outputs")) for r in state["resources"] if not r.get("external")}


@pytest.fixture(scope="module")
def dev(harness):
    stack = harness.stack("dev")
    config = harness.committed_config("dev")
    result, plan, expected = harness.up(stack, config)
    harness.wait_for_controller()
    harness.wait_ready([(d.namespace, d.name) for d in plan.deliveries()])
    return Dev(stack, config), result, expected


def test_dev_from_nothing_delivers_every_secret_with_the_documented_outputs(harness, dev):
    current, result, expected = dev
    assert set(result.ops()) <= {"create", "read"}, result.ops()
    # The Secrets the stack file names (secretName, else renamedFrom, else the service's name),
    # not the ones the plan says: each holds its secret's data.
    named = {(s["namespace"], s.get("secretName") or s.get("renamedFrom") or s["name"]) for s in current.config[SERVICES]}
    assert set(expected) == named, set(expected) ^ named
    for (namespace, secret), data in expected.items():
        assert harness.secret_data(namespace, secret) == data, f"{namespace}/{secret}"
    outputs = result.outputs
    assert sorted(outputs["namespaces"]) == ["backend", "frontend", "payments"]
    assert outputs["namespaces"]["payments"]["secretStores"] == {
        "us-east-1": "aws-secretsmanager-us-east-1",
        "us-west-2": "aws-secretsmanager-us-west-2",
    }
    assert outputs["namespaces"]["payments"]["roleArn"].endswith(":role/eso-dev.payments")
    assert outputs["services"]["backend/backend-api"] == {
        "secretPath": "dev/app/backend-api",
        "region": "us-east-1",
        "kubernetesSecret": "backend-api-env",
        "refreshInterval": "10m",
        "externalSecret": "backend-api",
        "onRemove": "delete",
        "protect": False,
    }
    assert outputs["operator"] == {"namespace": "external-secrets", "chartVersion": "2.9.0", "installed": True, "onRemove": "uninstall"}
    assert "/index.yaml" in harness.charts.requests, "the chart came from the repository eso.chartRepository names"


def test_a_preview_right_after_and_after_a_refresh_changes_nothing(dev):
    stack = dev[0].stack
    assert not stack.preview().checked().changed()
    stack.refresh()
    assert not stack.preview().checked().changed()


def test_a_service_added_previews_exactly_its_resources_then_deploys_replacing_nothing(harness, dev):
    current = dev[0]
    added = current.with_services(lambda services: services.append({"name": "reports", "namespace": "frontend"}))
    plan = harness.planned("dev", added)
    preview = current.stack.preview(plan.config).checked()
    assert resource_changes(preview) == {
        ("create", EXTERNAL_SECRET, "tenant-frontend/reports"),
        ("update", ROLE_POLICY, "irsa-frontend-read-secrets"),
    }
    result, expected = harness.apply(current.stack, plan)
    assert resource_changes(result) == resource_changes(preview) and not result.replaced()
    harness.wait_ready([("frontend", "reports")])
    assert harness.secret_data("frontend", "reports") == expected[("frontend", "reports")]
    current.config = added


def test_a_rename_with_renamed_from_updates_in_place_and_keeps_the_secret(harness, dev):
    current = dev[0]

    def rename(services):
        worker = next(s for s in services if s["name"] == "backend-worker")
        worker.update(name="backend-jobs", renamedFrom="backend-worker")

    renamed = current.with_services(rename)
    plan = harness.planned("dev", renamed)
    with SecretWatch(harness.admin, "backend", "backend-worker") as watch:
        result, expected = harness.apply(current.stack, plan)
        harness.wait_for_data("backend", "backend-worker", expected[("backend", "backend-worker")])
    # docs/secret-lifecycle.md: the ExternalSecret keeps its name and Pulumi identity and is
    # updated in place; only its label, its path and the role's read grant change.
    assert resource_changes(result) == {
        ("update", EXTERNAL_SECRET, "tenant-backend/backend-worker"),
        ("update", ROLE_POLICY, "irsa-backend-read-secrets"),
    }
    assert watch.gaps() == 0 and len(watch.uids) == 1, (watch.states, watch.uids)
    current.config = renamed


def test_a_changed_secret_name_writes_the_new_secret_and_deletes_the_old_one_with_a_warning(harness, dev):
    current = dev[0]

    def rename_secret(services):
        next(s for s in services if s["name"] == "web")["secretName"] = "web-env"  # pragma: allowlist secret

    changed = current.with_services(rename_secret)
    plan = harness.planned("dev", changed)
    preview = current.stack.preview(plan.config).checked()
    assert "Secret frontend/web will be deleted and frontend/web-env is written instead: service frontend/web changes its secretName" in preview.warnings()
    result, expected = harness.apply(current.stack, plan)
    assert resource_changes(result) == {("update", EXTERNAL_SECRET, "tenant-frontend/web")}
    harness.wait_for_data("frontend", "web-env", expected[("frontend", "web-env")])
    harness.wait_until_absent("frontend", "web")
    current.config = changed


def test_removing_a_service_is_warned_by_the_preview(harness, dev):
    current = dev[0]

    def remove(services):
        services[:] = [s for s in services if s["name"] != "reports"]

    removed = current.with_services(remove)
    preview = current.stack.preview(harness.planned("dev", removed).config).checked()
    assert (
        "Secret frontend/reports will be deleted: service frontend/reports is removed (onRemove: delete); to keep the "
        "Secret, deploy onRemove: keep on the service first, then remove it"
    ) in preview.warnings()
    assert ("delete", EXTERNAL_SECRET, "tenant-frontend/reports") in resource_changes(preview)


def test_moving_the_operators_namespace_is_refused_and_changes_nothing(harness, dev):
    current = dev[0]
    moved = copy.deepcopy(current.config)
    moved["eso-platform:eso"] = {**moved["eso-platform:eso"], "namespace": "eso-system"}
    before = current.stack.state()
    config = harness.planned("dev", moved).config
    message = (
        "eso.namespace: this stack installed the operator in 'external-secrets'; moving it to 'eso-system' would "
        "replace the Helm release"
    )
    preview = current.stack.preview(config)
    assert not preview.ok and message in preview.error
    up = current.stack.run("up", config)
    assert not up.ok and message in up.error
    assert not resource_changes(up), resource_changes(up)
    after, earlier = _managed(current.stack.state()), _managed(before)
    assert after == earlier, [urn for urn in after.keys() | earlier.keys() if after.get(urn) != earlier.get(urn)]
    current.stack.config = harness.planned("dev", current.config).config
