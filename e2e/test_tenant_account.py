"""Only ESO acts as a tenant ServiceAccount, judged by the real API server: no Pod runs as it,
whoever creates the Pod, and no one but the controller gets its token, while every
ExternalSecret goes on syncing. And with IAM alone: an editor who points their namespace's
account at a neighbour namespace's role gets AccessDenied from STS (the role trusts only the
neighbour's own account, by the token's `sub`)."""


import pytest

from e2e.kube import ApiError
from e2e.processes import wait_until
from e2e.world import ESO_API

pytestmark = pytest.mark.timeout(300)
ACCOUNT = "external-secret-operator"
ROLE_ANNOTATION = "eks.amazonaws.com/role-arn"
STS_DENIED = "Not authorized to perform sts:AssumeRoleWithWebIdentity"
POD_RULE = "eso-platform admission rule tenant-account-pod"
TOKEN_RULE = "eso-platform admission rule tenant-account-token"
EDITOR = "acct-editor"
SERVICES = {"services": [{"name": "alpha", "namespace": "acct-a"}, {"name": "bravo", "namespace": "acct-b"}]}


@pytest.fixture(scope="module")
def deployed(harness, generated_stack):
    return harness.deploy_ready(generated_stack("acct", SERVICES))


@pytest.fixture(scope="module")
def editor(harness, deployed):
    """A user with Kubernetes' built-in `edit` role in acct-a: they may create Pods, ReplicaSets
    and Jobs there, and change its ServiceAccounts."""
    harness.admin.apply({
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {"name": EDITOR, "namespace": "acct-a"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "edit"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": EDITOR}],
    })
    return harness.admin.impersonating(EDITOR)


def _pod_spec(account: str) -> dict:
    return {"serviceAccountName": account, "containers": [{"name": "app", "image": "registry.example/app:1"}]}


def _pod(name: str, account: str) -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "acct-a"}, "spec": _pod_spec(account)}


def _refused(call, rule: str) -> None:
    with pytest.raises(ApiError) as refused:
        call()
    assert refused.value.status == 403 and rule in refused.value.message, refused.value


def _pods_as_tenant_account(harness) -> list[str]:
    return [pod["metadata"]["name"] for pod in harness.admin.list("v1", "Pod", "acct-a") if pod["spec"].get("serviceAccountName") == ACCOUNT]


def test_no_pod_runs_as_the_tenant_account_whoever_creates_it(harness, editor):
    # A user, and a cluster admin: the guard is not RBAC, so no role lets a Pod through.
    for who in (editor, harness.admin):
        _refused(lambda: who.create(_pod("as-tenant", ACCOUNT)), POD_RULE)
    # The same Pod as another account is admitted (a dry run: nothing is left behind).
    pods = "/api/v1/namespaces/acct-a/pods"
    editor.request("POST", pods, "dry-run Pod", json=_pod("as-default", "default"), params={"dryRun": "All"})
    # A ReplicaSet's and a Job's Pods are created by their controllers, and refused the same.
    labels = {"app": "as-tenant"}
    editor.apply({
        "apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "as-tenant", "namespace": "acct-a"},
        "spec": {"replicas": 1, "selector": {"matchLabels": labels},
                 "template": {"metadata": {"labels": labels}, "spec": _pod_spec(ACCOUNT)}},
    })
    editor.apply({
        "apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "as-tenant", "namespace": "acct-a"},
        "spec": {"backoffLimit": 0, "template": {"spec": {**_pod_spec(ACCOUNT), "restartPolicy": "Never"}}},
    })

    def replica_failure() -> bool:
        replica_set = harness.admin.get("apps/v1", "ReplicaSet", "as-tenant", "acct-a")
        conditions = replica_set.get("status", {}).get("conditions", [])
        return any(c["type"] == "ReplicaFailure" and POD_RULE in c.get("message", "") for c in conditions)

    wait_until(replica_failure, 120, "the ReplicaSet's Pod refused by the guard", interval=0.5)
    wait_until(lambda: any(POD_RULE in m for m in harness.events("acct-a", "as-tenant")), 120,
               "the Job's Pod refused by the guard", interval=0.5)
    assert _pods_as_tenant_account(harness) == []


def test_only_the_controller_gets_the_tenant_accounts_token(harness, deployed):
    audiences = ["sts.amazonaws.com"]
    _refused(lambda: harness.admin.token("acct-a", ACCOUNT, audiences), TOKEN_RULE)
    controller = harness.admin.as_token(harness.controller.credentials())
    assert controller.token("acct-a", ACCOUNT, audiences)
    # Another account's token is no concern of the guard.
    wait_until(lambda: harness.admin.get("v1", "ServiceAccount", "default", "acct-a"), 60, "ServiceAccount acct-a/default")
    assert harness.admin.token("acct-a", "default", audiences)
    # ESO itself still gets the token: every ExternalSecret syncs again, with its data.
    for namespace, name in (("acct-a", "alpha"), ("acct-b", "bravo")):
        harness.force_synced(namespace, name)
        assert harness.secret_data(namespace, name) == deployed[(namespace, name)]


def test_an_editor_pointing_the_account_at_a_neighbours_role_is_refused_by_sts(harness, deployed, editor):
    neighbours_role = harness.admin.get("v1", "ServiceAccount", ACCOUNT, "acct-b")["metadata"]["annotations"][ROLE_ANNOTATION]
    own_role = harness.admin.get("v1", "ServiceAccount", ACCOUNT, "acct-a")["metadata"]["annotations"][ROLE_ANNOTATION]
    assert neighbours_role != own_role
    editor.merge_patch("v1", "ServiceAccount", ACCOUNT, {"metadata": {"annotations": {ROLE_ANNOTATION: neighbours_role}}}, "acct-a")
    try:
        harness.force_sync("acct-a", "alpha")
        harness.wait_for_failure("acct-a", "alpha", STS_DENIED, timeout=120)
        denied = lambda: [d for d in harness.front.log.decisions if d.call == "sts" and not d.allowed and d.resource == neighbours_role]  # noqa: E731
        wait_until(denied, 60, "STS refusing acct-a's token for acct-b's role", interval=0.5)
        assert "Not authorized" in denied()[-1].reason
        # acct-a's Secret keeps its own data; acct-b's never reached it.
        assert harness.secret_data("acct-a", "alpha") == deployed[("acct-a", "alpha")]
    finally:
        harness.admin.merge_patch("v1", "ServiceAccount", ACCOUNT, {"metadata": {"annotations": {ROLE_ANNOTATION: own_role}}}, "acct-a")


@pytest.mark.parametrize("version", ["AWSPREVIOUS", "uuid/a1b2c3d4-5678-90ab-cdef-EXAMPLE11111"])
def test_the_role_reads_no_earlier_version_of_its_own_secret(harness, deployed, version):
    # What ESO sends for a remote ref naming a version (a stage, or `uuid/` for a VersionId):
    # the namespace's own secret, and still refused by the role's permission policy.
    name = "alpha-" + ("previous" if version == "AWSPREVIOUS" else "by-id")
    harness.admin.apply({
        "apiVersion": ESO_API, "kind": "ExternalSecret", "metadata": {"name": name, "namespace": "acct-a"},
        "spec": {"refreshInterval": "1h", "secretStoreRef": {"kind": "SecretStore", "name": "aws-secretsmanager-us-east-1"},
                 "target": {"name": name},
                 "data": [{"secretKey": "value", "remoteRef": {"key": "acct/app/alpha", "version": version}}]},
    })
    try:
        messages = harness.wait_for_failure("acct-a", name, "AccessDeniedException", timeout=120)
        assert any("not authorized to perform: secretsmanager:GetSecretValue" in m for m in messages)
        assert harness.secret("acct-a", name) is None
    finally:
        harness.admin.delete(ESO_API, "ExternalSecret", name, "acct-a")
