"""Upgrading a stack deployed by the previous release: the engine resolves today's names through
their aliases, so nothing is replaced or deleted and no Secret goes missing."""

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
    for watch in watches:
        watch.__enter__()
    try:
        today = harness.stack("upgrade")
        result = today.up(plan.config, env=proxy)
        harness.wait_ready([(d.namespace, d.name) for d in plan.deliveries()])
        time.sleep(1)
    finally:
        for watch in watches:
            watch.__exit__(None, None, None)
    assert not [s for s in result.steps if s["op"] in REPLACING | DELETING], result.ops()
    assert result.ops()["create"] > 0, "today's release adds the guards and token grants"
    for watch in watches:
        assert watch.gaps() == 0 and len(watch.uids) == 1, (watch.namespace, watch.name, watch.states)
    assert any(path.endswith("index.yaml") for path in harness.charts.requests)
    assert not harness.tunnel.refused
