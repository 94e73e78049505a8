"""Two stacks on one cluster, with the real engine and API server: the operator's stack defines the
cluster-wide admission policies, another stack (eso.install: false) adds only its own; a namespace
belongs to one stack; a stack that leaves gives its namespaces' labels back, and a label another
manager set to another value stops the update instead of being forced."""

import pytest

from e2e.harness import CLUSTER, REGION
from e2e.kube import ApiError
from e2e.world import ESO_API

pytestmark = pytest.mark.timeout(900)
ADMISSION = "admissionregistration.k8s.io/v1"
CLUSTER_POLICIES = {"eso-platform-tenant-namespaces", "eso-platform-aws-store-auth"}
STAGING_ACCOUNT = "staging-reader"
PROJECT_PREFIX = "eso-platform/"


def _config(environment, services, **extra):
    return {
        "aws:region": REGION,
        "environment": environment,
        "cluster": {"name": CLUSTER},
        "eso": {"install": False, "namespace": "external-secrets"},
        "services": services,
        **extra,
    }


STAGING = _config(
    "staging",
    [{"name": "api", "namespace": "shared-staging-api"}, {"name": "web", "namespace": "shared-staging-web"}],
    irsa={"serviceAccountName": STAGING_ACCOUNT},
)


def _namespace(harness, name):
    return harness.admin.get("v1", "Namespace", name)["metadata"]


def _project_keys(metadata):
    return {
        key
        for field in ("labels", "annotations")
        for key in (metadata.get(field) or {})
        if key.startswith(PROJECT_PREFIX)
    }


def _policies(harness):
    return {p["metadata"]["name"] for p in harness.admin.list(ADMISSION, "ValidatingAdmissionPolicy")}


def _store(namespace, account, name="probe"):
    return {
        "apiVersion": ESO_API,
        "kind": "SecretStore",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "provider": {
                "aws": {
                    "service": "SecretsManager",
                    "region": REGION,
                    "auth": {"jwt": {"serviceAccountRef": {"name": account}}},
                }
            }
        },
    }


def _dry_run(harness, manifest):
    metadata = manifest["metadata"]
    path = harness.admin.path(manifest["apiVersion"], manifest["kind"], namespace=metadata.get("namespace", ""))
    return harness.admin.request("POST", path, f"create {metadata['name']}", json=manifest, params={"dryRun": "All"})


def _refused(harness, manifest, rule):
    with pytest.raises(ApiError) as raised:
        _dry_run(harness, manifest)
    assert f"eso-platform admission rule {rule}:" in raised.value.message, raised.value.message


@pytest.fixture(scope="module")
def two_stacks(harness):
    dev = harness.stack("shared-dev")
    _, dev_plan, _ = harness.up(dev, harness.committed_config("dev"))
    harness.wait_for_controller()
    staging = harness.stack("shared-staging")
    staging_plan = harness.planned(staging.name, STAGING)
    harness.apply(staging, staging_plan)
    deliveries = [(d.namespace, d.name) for plan in (dev_plan, staging_plan) for d in plan.deliveries()]
    harness.wait_ready(deliveries)
    extra = []
    yield dev, dev_plan, staging, staging_plan, extra
    for stack in (staging, *extra):
        if stack.config is not None:
            stack.destroy()


def test_a_second_stack_on_the_cluster_deploys_and_both_deliver(harness, two_stacks):
    dev, dev_plan, staging, staging_plan, _ = two_stacks
    policies = _policies(harness)
    own = {name for name in policies if name.startswith("eso-platform-stack-")}
    stacks = {name.removesuffix("-accounts") for name in own}
    # Each stack guards its namespaces with its own two policies: its stores and its tenant account.
    assert CLUSTER_POLICIES <= policies and len(stacks) == 2 and own == stacks | {f"{s}-accounts" for s in stacks}, policies
    # The cluster-wide policies are the operator's stack's alone: staging only reads them.
    assert not [s for s in staging.resources() if s["type"].endswith("ValidatingAdmissionPolicy") and s["id"] in CLUSTER_POLICIES and not s.get("external")]
    # Staging's preview has nothing to change: it neither fights over nor rewrites dev's objects.
    assert not staging.preview(staging_plan.config).checked().changed()
    assert not dev.preview(dev_plan.config).checked().changed()
    staging_labels = _namespace(harness, "shared-staging-api")["labels"]
    dev_labels = _namespace(harness, "payments")["labels"]
    assert staging_labels["eso-platform/stack"] != dev_labels["eso-platform/stack"]
    assert staging_labels["eso-platform/environment"] == "staging"
    assert _namespace(harness, "shared-staging-api")["annotations"]["eso-platform/service-account"] == STAGING_ACCOUNT


def test_each_stacks_namespaces_admit_only_their_own_account(harness, two_stacks):
    _dry_run(harness, _store("shared-staging-api", STAGING_ACCOUNT))
    _dry_run(harness, _store("payments", "external-secret-operator"))
    _refused(harness, _store("shared-staging-api", "external-secret-operator"), "tenant-store-managed-identity")
    _refused(harness, _store("payments", STAGING_ACCOUNT), "tenant-store-managed-identity")
    # Staging's own policy guards staging's namespaces: no ClusterSecretStore may act as their account.
    cluster_store = _store(None, STAGING_ACCOUNT, name="shared-borrow")
    del cluster_store["metadata"]["namespace"]
    cluster_store["kind"] = "ClusterSecretStore"
    cluster_store["spec"]["provider"]["aws"]["auth"]["jwt"]["serviceAccountRef"]["namespace"] = "shared-staging-web"
    _refused(harness, cluster_store, "cluster-store-tenant-account")


def test_a_namespace_another_stack_manages_is_refused(harness, two_stacks):
    _, _, staging, staging_plan, _ = two_stacks
    before = _namespace(harness, "payments")
    claimed = {**STAGING, "services": [*STAGING["services"], {"name": "steal", "namespace": "payments"}]}
    result = staging.run("up", harness.planned(staging.name, claimed).config)
    assert not result.ok
    errors = " ".join(d["message"] for d in result.diagnostics if d["severity"] == "error")
    assert "conflict" in errors and ".metadata.labels.eso-platform/stack" in errors, errors
    after = _namespace(harness, "payments")
    assert after["labels"] == before["labels"] and after["annotations"] == before["annotations"]
    assert not harness.admin.get(ESO_API, "ExternalSecret", "steal", "payments")
    staging.up(staging_plan.config)


def test_a_destroyed_stack_gives_its_namespaces_back_and_another_adopts_them(harness, two_stacks):
    dev, dev_plan, staging, _, extra = two_stacks
    staging.destroy()
    for name in ("shared-staging-api", "shared-staging-web"):
        # The namespace stays (it may hold workloads), without a trace of the stack that left.
        assert _project_keys(_namespace(harness, name)) == set(), name
    assert CLUSTER_POLICIES <= _policies(harness)
    assert not dev.preview(dev_plan.config).checked().changed()
    qa = harness.stack("shared-qa")
    extra.append(qa)
    qa_config = _config("qa", [{"name": "api", "namespace": "shared-staging-api"}])
    plan = harness.planned(qa.name, qa_config)
    harness.apply(qa, plan)
    harness.wait_ready([(d.namespace, d.name) for d in plan.deliveries()])
    assert _namespace(harness, "shared-staging-api")["labels"]["eso-platform/environment"] == "qa"


def test_a_label_another_manager_set_otherwise_stops_the_update_and_its_own_labels_stay(harness, two_stacks):
    _, _, _, _, extra = two_stacks
    namespace = "shared-gitops"
    owned_elsewhere = {"app.kubernetes.io/instance": "web", "eso-platform/managed": "true"}
    harness.admin.apply(
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace, "labels": {**owned_elsewhere, "eso-platform/environment": "other"}}},
        manager="argocd",
    )
    gitops = harness.stack("shared-gitops")
    extra.append(gitops)
    plan = harness.planned(gitops.name, _config("gitops", [{"name": "api", "namespace": namespace}]))
    result = gitops.run("up", plan.config)
    assert not result.ok
    errors = " ".join(d["message"] for d in result.diagnostics if d["severity"] == "error")
    assert 'conflict with "argocd"' in errors and ".metadata.labels.eso-platform/environment" in errors, errors
    assert _namespace(harness, namespace)["labels"]["eso-platform/environment"] == "other"
    assert not harness.admin.list(ESO_API, "ExternalSecret", namespace)
    # What the README says to do: the other manager lets go of the key; then the update goes through.
    harness.admin.apply(
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace, "labels": owned_elsewhere}}, manager="argocd"
    )
    harness.apply(gitops, plan)
    harness.wait_ready([(d.namespace, d.name) for d in plan.deliveries()])
    gitops.destroy()
    # The labels the other manager shares stay with it; only what the stack alone set is gone.
    labels = _namespace(harness, namespace)["labels"]
    assert {key: labels.get(key) for key in owned_elsewhere} == owned_elsewhere
    assert "eso-platform/stack" not in labels and "eso-platform/environment" not in labels
