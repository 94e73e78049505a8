"""Faults lose nothing: AWS unreachable, the controller restarted, a secret deleted upstream."""

import time

import pytest
import requests

from components.manifests import FORCE_SYNC_ANNOTATION as FORCE_SYNC
from e2e.aws_front import moto_client
from e2e.processes import wait_until
from e2e.world import ESO_API

pytestmark = pytest.mark.timeout(400)
OUTAGE_SECONDS = 30
SYNC_ERROR = "SecretSyncedError"


@pytest.fixture(scope="module")
def synced(harness, generated_stack):
    services = [{"name": "one", "namespace": "flt"}, {"name": "two", "namespace": "flt", "keys": ["K"]}]

    def deploy(force_sync: str) -> dict:
        return harness.deploy(generated_stack("flt", {"services": services, "forceSync": force_sync}), seed=force_sync == "0")

    expected = deploy("0")
    names = [("flt", "one"), ("flt", "two")]
    harness.wait_ready(names)
    return deploy, names, expected


def _snapshot(harness, names):
    return {name: harness.secret(*name) for name in names}


def test_an_aws_outage_keeps_every_secret_and_recovers(harness, synced):
    _, names, expected = synced
    harness.front.stop()
    started = time.monotonic()
    try:
        # `pulumi up` itself needs AWS; an operator forces the sync by hand, as `kubectl annotate` would.
        for namespace, name in names:
            harness.admin.merge_patch(ESO_API, "ExternalSecret", name, {"metadata": {"annotations": {FORCE_SYNC: "outage"}}}, namespace)
        for namespace, name in names:
            harness.wait_for_failure(namespace, name, SYNC_ERROR, timeout=OUTAGE_SECONDS)
        while time.monotonic() - started < OUTAGE_SECONDS:
            for (namespace, name), data in expected.items():
                assert harness.secret_data(namespace, name) == data
            time.sleep(1)
    finally:
        harness.front.start()
    recovered = harness.wait_ready(names, timeout=180)
    print(f"outage: recovered {recovered:.1f} s after the front came back")
    for (namespace, name), data in expected.items():
        assert harness.secret_data(namespace, name) == data


def _reconciles(harness) -> float:
    text = requests.get(harness.controller.metrics_url, timeout=5).text
    total = 0.0
    for line in text.splitlines():
        if line.startswith("controller_runtime_reconcile_total{") and 'controller="externalsecret"' in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_restarting_the_controller_changes_no_secret(harness, synced):
    _, names, _ = synced
    every = [(s["metadata"]["namespace"], s["metadata"]["name"]) for s in harness.admin.list("v1", "Secret")]
    before = {name: harness.secret(*name)["metadata"]["resourceVersion"] for name in every}
    external_secrets = len(harness.admin.list("external-secrets.io/v1", "ExternalSecret"))
    harness.controller.restart()
    wait_until(lambda: _reconciles(harness) >= external_secrets, 120, "every ExternalSecret reconciled after restart")
    time.sleep(5)
    after = {name: harness.secret(*name)["metadata"]["resourceVersion"] for name in every}
    assert after == before


def test_a_secret_deleted_upstream_leaves_the_kubernetes_secret_in_place(harness, synced):
    deploy, names, expected = synced
    moto_client("secretsmanager", harness.moto_url).delete_secret(SecretId="flt/app/one", ForceDeleteWithoutRecovery=True)
    deploy("after-delete")
    harness.wait_for_failure("flt", "one", SYNC_ERROR, timeout=60)
    time.sleep(2)
    assert harness.secret_data("flt", "one") == expected[("flt", "one")]
