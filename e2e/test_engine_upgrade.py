"""Upgrading a stack deployed by the previous release: the engine resolves today's names through
their aliases, so nothing is replaced or deleted and no Secret goes missing."""

import threading
import time

import pytest

from e2e.engine import DELETING, REPLACING
from e2e.secret_watch import SecretWatch

pytestmark = pytest.mark.timeout(900)
# The last commit before tenant children were renamed `tenant-<namespace>/<name>`.
PREVIOUS_RELEASE = "e36a976"


def test_upgrading_from_the_previous_release_replaces_and_deletes_nothing(harness):
    config = harness.committed_config("dev")
    proxy = harness.upstream_env()
    # That release knows no eso.chartRepository: both take the chart from upstream's repository.
    plan = harness.planned("upgrade", config, upstream=True)
    old = harness.stack("upgrade", program=harness.previous_release(PREVIOUS_RELEASE))
    harness.apply(old, plan, env=proxy)
    harness.wait_for_controller()
    harness.wait_ready([(d.namespace, d.name) for d in plan.deliveries()])
    watches = [SecretWatch(harness.admin, d.namespace, d.secret_name) for d in plan.deliveries()]
    def project_labels(namespace):
        labels = harness.admin.get("v1", "Namespace", namespace)["metadata"].get("labels") or {}
        return {key: value for key, value in labels.items() if key.startswith("eso-platform/")}

    before = {namespace: project_labels(namespace) for namespace in sorted({d.namespace for d in plan.deliveries()})}
    assert all(before.values()), before
    unlabelled: list[str] = []
    upgrading = threading.Event()

    def poll_labels():
        # Today's release moves the labels to a Patch of their own: never may a namespace lose one meanwhile.
        while not upgrading.is_set():
            for namespace, labels in before.items():
                now = project_labels(namespace)
                if any(now.get(key) != value for key, value in labels.items()):
                    unlabelled.append(namespace)
            time.sleep(0.05)

    poller = threading.Thread(target=poll_labels, daemon=True)
    for watch in watches:
        watch.__enter__()
    poller.start()
    try:
        today = harness.stack("upgrade")
        result = today.up(plan.config, env=proxy)
        harness.wait_ready([(d.namespace, d.name) for d in plan.deliveries()])
        time.sleep(1)
    finally:
        upgrading.set()
        poller.join(10)
        for watch in watches:
            watch.__exit__(None, None, None)
    assert not unlabelled, f"namespaces seen without a label they had: {sorted(set(unlabelled))}"
    assert not [s for s in result.steps if s["op"] in REPLACING | DELETING], result.ops()
    assert result.ops()["create"] > 0, "today's release adds the guards and token grants"
    for watch in watches:
        assert watch.gaps() == 0 and len(watch.uids) == 1, (watch.namespace, watch.name, watch.states)
    assert any(path.endswith("index.yaml") for path in harness.charts.requests)
    assert not harness.tunnel.refused
