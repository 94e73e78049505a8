"""The reconcilers the program does not use are off, as chart 2.9.0 turns them off: the controller
its Deployment runs starts no PushSecret, ClusterPushSecret or ClusterExternalSecret controller,
its RBAC grants none of their kinds nor ClusterGenerators, and a PushSecret the guard admits in a
tenant namespace is never reconciled while that namespace's ExternalSecret syncs. One naming a
ClusterSecretStore there is refused by the real API server, at the version the chart serves."""

import re

import pytest
import requests

from e2e.kube import ApiError
from e2e.world import ESO_API

pytestmark = pytest.mark.timeout(300)
PUSH_API = "external-secrets.io/v1alpha1"
NAMESPACE = "recon-a"
SERVICES = {"services": [{"name": "echo", "namespace": NAMESPACE}]}
# controller-runtime names each controller after the kind it reconciles, lower-cased.
UNUSED_CONTROLLERS = {"pushsecret", "clusterpushsecret", "clusterexternalsecret"}
PUSH_RULE = "eso-platform admission rule tenant-push-secret-namespaced-store"


@pytest.fixture(scope="module")
def deployed(harness, generated_stack):
    return harness.deploy_ready(generated_stack("recon", SERVICES))


def _started_controllers(metrics_url: str) -> set[str]:
    """The controllers the process runs, by the `controller` label of controller-runtime's series."""
    text = requests.get(metrics_url, timeout=5).text
    return set(re.findall(r'^controller_runtime_[a-z_]+\{[^}]*controller="([^"]+)"', text, re.MULTILINE))


def _push_secret(store: str, store_kind: str, secret_key: str) -> dict:
    return {
        "apiVersion": PUSH_API,
        "kind": "PushSecret",
        "metadata": {"name": f"push-to-{store_kind.lower()}", "namespace": NAMESPACE},
        "spec": {
            "refreshInterval": "10s",
            "secretStoreRefs": [{"name": store, "kind": store_kind}],
            "selector": {"secret": {"name": "echo"}},
            "data": [{"match": {"secretKey": secret_key, "remoteRef": {"remoteKey": "recon/app/pushed"}}}],
        },
    }


def test_the_controller_runs_only_the_reconcilers_the_program_uses(harness, deployed):
    controller = harness.wait_for_controller()
    started = _started_controllers(controller.metrics_url)
    assert {"externalsecret", "secretstore"} <= started and not started & UNUSED_CONTROLLERS, started
    as_controller = harness.admin.as_token(controller.credentials())
    for api_version, kind in (
        (PUSH_API, "PushSecret"),
        (PUSH_API, "ClusterPushSecret"),
        (ESO_API, "ClusterExternalSecret"),
        ("generators.external-secrets.io/v1alpha1", "ClusterGenerator"),
    ):
        with pytest.raises(ApiError) as refused:
            as_controller.list(api_version, kind)
        assert refused.value.status == 403, kind
    assert as_controller.list(ESO_API, "ExternalSecret", NAMESPACE)


def test_a_push_secret_in_a_tenant_namespace_is_never_reconciled(harness, deployed):
    (store,) = harness.admin.list(ESO_API, "SecretStore", NAMESPACE)
    secret_key = sorted(deployed[(NAMESPACE, "echo")])[0]
    with pytest.raises(ApiError) as refused:
        harness.admin.create(_push_secret(store["metadata"]["name"], "ClusterSecretStore", secret_key))
    assert refused.value.status == 403 and PUSH_RULE in refused.value.message
    pushed = harness.admin.create(_push_secret(store["metadata"]["name"], "SecretStore", secret_key))
    name = pushed["metadata"]["name"]
    marks = len(harness.front.log.decisions)
    try:
        # Synced after the PushSecret exists: the controller is at work in this namespace.
        harness.force_synced(NAMESPACE, "echo")
        found = harness.admin.get(PUSH_API, "PushSecret", name, NAMESPACE)
        # A reconciled PushSecret gets a finalizer and a Ready condition at once.
        assert "status" not in found and not found["metadata"].get("finalizers"), found
        assert not harness.events(NAMESPACE, name)
        calls = {d.resource for d in harness.front.log.since(marks) if d.call == "secretsmanager"}
        assert not [c for c in calls if "pushed" in c], calls
    finally:
        harness.admin.delete(PUSH_API, "PushSecret", name, NAMESPACE)
