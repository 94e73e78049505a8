"""EKS Pod Identity with the real engine, API server and ESO controller: the controller's
credentials come from the front playing the Pod Identity Agent and EKS Auth, and every namespace
role's trust is judged as IAM judges it (aws:PrincipalArn, aws:PrincipalTag/*, aws:RequestTag/*).

The adversarial stores here are hand-written on purpose: what a tenant with rights to create
SecretStores could add, never what the program produces.
"""

import contextlib
from pathlib import Path

import boto3
import pytest
import requests
from botocore.exceptions import ClientError

from components.admission import TENANT_POLICY
from components.cluster import POD_IDENTITY_AGENT
from e2e.harness import ADMISSION_API, CLUSTER, DEPLOYER_KEYS, SCENARIO_STACK
from e2e.kube import ApiError
from e2e.processes import wait_until
from e2e.secret_watch import SecretWatch
from e2e.world import ESO_API

pytestmark = pytest.mark.timeout(600)
SERVICES = [{"name": "alpha", "namespace": "pid-a"}, {"name": "bravo", "namespace": "pid-b"}]
POD_IDENTITY = {"identity": "podIdentity", "services": SERVICES}
IRSA = {"services": SERVICES}
STORE = "aws-secretsmanager-us-east-1"
REFUSED_BY_THE_GUARD = "eso-platform admission rule tenant-store-managed-identity"


@pytest.fixture(scope="module")
def deployed(harness, generated_stack):
    harness.front.pod_identity.set_addon(CLUSTER, POD_IDENTITY_AGENT, "v1.3.10-eksbuild.2")
    plan = generated_stack("pid", POD_IDENTITY)
    mark = harness.front.log.calls_mark()
    expected = harness.deploy_ready(plan)
    return plan, expected, harness.front.log.calls_since(mark)


def _role_of(harness, namespace: str) -> str:
    store = harness.admin.get(ESO_API, "SecretStore", STORE, namespace)
    return store["spec"]["provider"]["aws"]["role"]


def _store(namespace: str, name: str, role: str, **aws) -> dict:
    provider = {"service": "SecretsManager", "region": "us-east-1", "role": role, "sessionTagsPolicy": "Simple", **aws}
    return {"apiVersion": ESO_API, "kind": "SecretStore", "metadata": {"name": name, "namespace": namespace},
            "spec": {"provider": {"aws": provider}}}


def _external_secret(namespace: str, name: str, path: str, store: str) -> dict:
    return {
        "apiVersion": ESO_API,
        "kind": "ExternalSecret",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"refreshInterval": "1h", "secretStoreRef": {"kind": "SecretStore", "name": store},
                 "target": {"name": name}, "dataFrom": [{"extract": {"key": path}}]},
    }


@contextlib.contextmanager
def guard_off(harness, probe: dict):
    """The cluster-wide tenant policy unbound, as if the admission guard were off, until the API
    server admits `probe`; bound again afterwards, until it refuses `probe` again."""
    binding = harness.admin.get(ADMISSION_API, "ValidatingAdmissionPolicyBinding", TENANT_POLICY)
    harness.admin.delete(ADMISSION_API, "ValidatingAdmissionPolicyBinding", TENANT_POLICY)

    def admitted() -> bool:
        try:
            harness.admin.apply(probe)
        except ApiError:
            return False
        return True

    try:
        wait_until(admitted, 60, "the API server admitting the probe with the guard unbound", interval=0.5)
        yield
    finally:
        restored = {"apiVersion": binding["apiVersion"], "kind": binding["kind"],
                    "metadata": {"name": TENANT_POLICY, "labels": binding["metadata"].get("labels", {})}, "spec": binding["spec"]}
        harness.admin.delete(ESO_API, "SecretStore", probe["metadata"]["name"], probe["metadata"]["namespace"])
        harness.admin.apply(restored)
        wait_until(lambda: not admitted(), 60, "the API server refusing the probe again", interval=0.5)
        harness.admin.delete(ESO_API, "SecretStore", probe["metadata"]["name"], probe["metadata"]["namespace"])


def _refused(harness, manifest: dict) -> str:
    with pytest.raises(ApiError) as raised:
        harness.admin.apply(manifest)
    return str(raised.value)


def test_every_secret_arrives_through_the_controllers_pod_identity(harness, deployed):
    plan, expected, calls = deployed
    for (namespace, name), data in expected.items():
        assert harness.secret_data(namespace, name) == data
    env = harness.controller.env
    assert env["AWS_CONTAINER_CREDENTIALS_FULL_URI"].startswith("http://127.0.0.1:")
    assert Path(env["AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"]).is_file()
    assert env["AWS_EC2_METADATA_DISABLED"] == "true"
    # No tenant ServiceAccount, no OIDC lookup: only the controller's session, tagged by ESO.
    assert harness.admin.get("v1", "ServiceAccount", "external-secret-operator", "pid-a") is None
    # The window also holds the calls of whatever the worker's earlier scenarios left running.
    deployer = {call.operation for call in calls if call.access_key in DEPLOYER_KEYS}
    assert "CreatePodIdentityAssociation" in deployer
    assert not deployer & {"ListOpenIDConnectProviders", "GetOpenIDConnectProvider"}, deployer
    roles = {_role_of(harness, namespace) for namespace in ("pid-a", "pid-b")}
    assert not [call for call in calls if call.operation == "AssumeRoleWithWebIdentity" and call.params.get("RoleArn") in roles]
    admitted = [d for d in harness.front.log.decisions if d.call == "sts" and d.allowed and d.resource == _role_of(harness, "pid-a")]
    assert admitted, "ESO assumed pid-a's role"


def test_the_controllers_own_credentials_read_no_secret(harness, deployed):
    env = harness.controller.env
    token = Path(env["AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"]).read_text()
    found = requests.get(env["AWS_CONTAINER_CREDENTIALS_FULL_URI"], headers={"Authorization": token}, timeout=10)
    assert found.ok, found.text
    credentials = found.json()
    client = boto3.session.Session().client(
        "secretsmanager", region_name="us-east-1", endpoint_url=harness.front.url,
        aws_access_key_id=credentials["AccessKeyId"], aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["Token"],
    )
    with pytest.raises(ClientError) as raised:
        client.get_secret_value(SecretId="pid/app/alpha")
    assert raised.value.response["Error"]["Code"] == "AccessDeniedException"


def test_a_store_naming_another_namespaces_role_is_refused_by_the_guard_and_by_iam(harness, deployed):
    borrowed = _store("pid-b", "borrowed", _role_of(harness, "pid-a"))
    assert REFUSED_BY_THE_GUARD in _refused(harness, borrowed)
    with guard_off(harness, borrowed):
        harness.admin.apply(borrowed)
        harness.admin.apply(_external_secret("pid-b", "steal-alpha", "pid/app/alpha", "borrowed"))
        role = borrowed["spec"]["provider"]["aws"]["role"]

        def refused_by_sts() -> list:
            return [d for d in harness.front.log.decisions if d.call == "sts" and not d.allowed and d.resource == role]

        wait_until(refused_by_sts, 120, "STS refusing pid-a's role to a session tagged esoNamespace=pid-b", interval=0.5)
        harness.wait_for_failure("pid-b", "steal-alpha", timeout=120)
        messages = [*harness.events("pid-b", "borrowed"), *harness.events("pid-b", "steal-alpha")]
        assert any("AccessDenied" in message for message in messages), (messages, refused_by_sts())
        assert harness.secret("pid-b", "steal-alpha") is None
        harness.admin.delete(ESO_API, "ExternalSecret", "steal-alpha", "pid-b")


def test_hand_set_session_tags_are_refused_by_the_guard_which_alone_tells_them_apart(harness, deployed):
    """With sessionTagsPolicy None the store's own tags are the session's: a store in pid-b may
    then claim esoNamespace=pid-a, and STS receives exactly the request ESO makes for pid-a.
    IAM cannot refuse it; the admission guard does, which is why Pod Identity requires it."""
    forged = _store("pid-b", "forged", _role_of(harness, "pid-a"), sessionTagsPolicy="None", sessionTags=[
        {"key": "esoNamespace", "value": "pid-a"}, {"key": "esoStoreKind", "value": "SecretStore"},
    ])
    assert REFUSED_BY_THE_GUARD in _refused(harness, forged)
    with guard_off(harness, forged):
        harness.admin.apply(forged)
        harness.admin.apply(_external_secret("pid-b", "forged-alpha", "pid/app/alpha", "forged"))
        harness.wait_ready([("pid-b", "forged-alpha")])
        assert harness.secret_data("pid-b", "forged-alpha") == harness.secret_data("pid-a", "alpha")
        harness.admin.delete(ESO_API, "ExternalSecret", "forged-alpha", "pid-b")
        wait_until(lambda: harness.secret("pid-b", "forged-alpha") is None, 60, "the forged Secret gone with its ExternalSecret")


def test_the_doctor_checks_the_agent_the_association_and_the_trust(harness, deployed, product_python):
    plan = deployed[0]
    _, report = harness.doctor(plan.stack_file, python=product_python)
    by_check = {}
    for check in report["checks"]:
        by_check.setdefault(check["check"], []).append(check)
    assert [c["status"] for c in by_check["pod-identity-agent"]] == ["pass"]
    assert [c["status"] for c in by_check["pod-identity-association"]] == ["pass"]
    assert {c["subject"]: c["status"] for c in by_check["role-trust"]} == {
        "eso-pid-controller": "pass", "eso-pid.pid-a": "pass", "eso-pid.pid-b": "pass",
    }
    assert "oidc-provider" not in by_check

    harness.front.pod_identity.set_addon(CLUSTER, POD_IDENTITY_AGENT, "v1.3.10-eksbuild.2", status="DEGRADED")
    try:
        _, report = harness.doctor(plan.stack_file)
        (agent,) = [c for c in report["checks"] if c["check"] == "pod-identity-agent"]
        assert agent["status"] == "fail" and "DEGRADED" in agent["detail"]
    finally:
        harness.front.pod_identity.set_addon(CLUSTER, POD_IDENTITY_AGENT, "v1.3.10-eksbuild.2")


def test_switching_identity_on_a_live_stack_keeps_every_secret(harness, generated_stack, deployed):
    """IRSA to Pod Identity and back, each one `pulumi up`: the roles' trust changes before the
    stores do (the stores depend on the roles), the controller restarts with or without its Pod
    Identity credentials, and a poll sees every Secret throughout."""
    irsa = generated_stack("pid", IRSA)
    harness.deploy_ready(irsa)
    pod_identity = generated_stack("pid", POD_IDENTITY)
    names = [("pid-a", "alpha"), ("pid-b", "bravo")]
    watches = [SecretWatch(harness.admin, namespace, name) for namespace, name in names]
    with contextlib.ExitStack() as stack:
        for watch in watches:
            stack.enter_context(watch)
        for plan in (pod_identity, irsa):
            result, _ = harness.apply(harness.stack(SCENARIO_STACK), plan, seed=False)
            steps = [step for step in result.checked().steps if step["op"] != "same"]
            assert not result.replaced(), result.replaced()
            order = [step["urn"].rsplit("::", 1)[1] for step in steps]
            for namespace in ("pid-a", "pid-b"):
                assert order.index(f"irsa-{namespace}-role") < order.index(f"tenant-{namespace}/us-east-1"), order
            for namespace, name in names:
                harness.force_synced(namespace, name, timeout=180)
    for watch in watches:
        assert watch.polls > 20 and watch.gaps() == 0, watch.states
