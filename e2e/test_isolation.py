"""Isolation with real tokens: what one namespace, or an account the program did not create, cannot read.

The adversarial objects here are hand-written on purpose: they are what a tenant could add,
never what the program produces.
"""

import pytest

from e2e.kube import ApiError
from e2e.world import ESO_API, put_secret

pytestmark = pytest.mark.timeout(300)
ACCOUNT = "external-secret-operator"
TOKEN_FORBIDDEN = 'cannot create resource "serviceaccounts/token"'
STS_DENIED = "Not authorized to perform sts:AssumeRoleWithWebIdentity"
STORE_NOT_READY = "is not ready"


def _external_secret(namespace: str, name: str, path: str, store: str) -> dict:
    return {
        "apiVersion": ESO_API,
        "kind": "ExternalSecret",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "refreshInterval": "1h",
            "secretStoreRef": {"kind": "SecretStore", "name": store},
            "target": {"name": name},
            "dataFrom": [{"extract": {"key": path}}],
        },
    }


def _store(namespace: str, name: str, account: str) -> dict:
    return {
        "apiVersion": ESO_API,
        "kind": "SecretStore",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"provider": {"aws": {"service": "SecretsManager", "region": "us-east-1",
                                      "auth": {"jwt": {"serviceAccountRef": {"name": account}}}}}},
    }


def _service_account(namespace: str, name: str, role_arn: str) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {"name": name, "namespace": namespace, "annotations": {"eks.amazonaws.com/role-arn": role_arn}},
    }


SERVICES = {"services": [{"name": "alpha", "namespace": "iso-a"}, {"name": "bravo", "namespace": "iso-b"}]}


@pytest.fixture(scope="module")
def isolated(harness, generated_stack):
    plan = generated_stack("iso", SERVICES)
    harness.deploy_ready(plan)
    return plan


def _role_arn(harness, namespace: str) -> str:
    account = harness.admin.get("v1", "ServiceAccount", ACCOUNT, namespace)
    return account["metadata"]["annotations"]["eks.amazonaws.com/role-arn"]


def test_a_namespace_cannot_read_another_namespaces_secret(harness, isolated):
    store = "aws-secretsmanager-us-east-1"
    harness.admin.apply(_external_secret("iso-a", "steal-bravo", "iso/app/bravo", store))
    messages = harness.wait_for_failure("iso-a", "steal-bravo", "AccessDeniedException")
    assert any("not authorized to perform: secretsmanager:GetSecretValue" in m for m in messages)
    assert harness.secret("iso-a", "steal-bravo") is None


def test_a_prefix_look_alike_secret_is_denied(harness, isolated):
    put_secret(harness.moto_url, "us-east-1", "iso/app/alpha-v2", {"k": "look-alike"})
    harness.admin.apply(_external_secret("iso-a", "alpha-v2", "iso/app/alpha-v2", "aws-secretsmanager-us-east-1"))
    harness.wait_for_failure("iso-a", "alpha-v2", "AccessDeniedException")
    assert harness.secret("iso-a", "alpha-v2") is None


def _grant_token(harness, namespace: str, account: str) -> None:
    """What the program never grants: the controller may mint `account`'s token. It stands for a
    cluster where some other identity can get that token, so the IAM wall is tested alone."""
    name = f"e2e-token-{account}"
    harness.admin.apply({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
        "metadata": {"name": name, "namespace": namespace},
        "rules": [{"apiGroups": [""], "resources": ["serviceaccounts/token"], "verbs": ["create"], "resourceNames": [account]}],
    })
    harness.admin.apply({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
        "metadata": {"name": name, "namespace": namespace},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
        "subjects": [{"kind": "ServiceAccount", "name": harness.controller.service_account, "namespace": harness.controller.namespace}],
    })


def test_another_service_account_cannot_assume_the_namespaces_role(harness, generated_stack, isolated):
    role_arn = _role_arn(harness, "iso-a")
    harness.admin.apply(_service_account("iso-a", "intruder", role_arn))
    # First wall: the admission guard refuses a store that would act as another account.
    with pytest.raises(ApiError) as refused:
        harness.admin.apply(_store("iso-a", "intruder-store", "intruder"))
    assert "eso-platform admission rule tenant-store-managed-identity" in refused.value.message
    # The walls behind it, with the guard off as a stack may choose (admission.enabled: false).
    harness.deploy(generated_stack("iso", {**SERVICES, "admission": {"enabled": False}}), seed=False)
    harness.admin.apply(_store("iso-a", "intruder-store", "intruder"))
    harness.admin.apply(_external_secret("iso-a", "via-intruder", "iso/app/alpha", "intruder-store"))
    # Second wall: the controller may not even mint the intruder's token.
    harness.wait_for_failure("iso-a", "intruder-store", TOKEN_FORBIDDEN, kind="SecretStore")
    harness.wait_for_failure("iso-a", "via-intruder", STORE_NOT_READY)
    # Third wall, with the second taken down too: STS refuses the intruder's real token.
    _grant_token(harness, "iso-a", "intruder")
    harness.wait_for_failure("iso-a", "intruder-store", STS_DENIED, timeout=120, kind="SecretStore")
    denied = [d for d in harness.front.log.decisions if d.call == "sts" and not d.allowed and d.resource == role_arn]
    assert denied and "Not authorized" in denied[-1].reason
    assert harness.secret("iso-a", "via-intruder") is None


def _outsider(harness, namespace: str, role_arn: str, path: str) -> None:
    harness.admin.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
    harness.admin.apply(_service_account(namespace, ACCOUNT, role_arn))
    _grant_token(harness, namespace, ACCOUNT)
    harness.admin.apply(_store(namespace, "outsider-store", ACCOUNT))
    harness.admin.apply(_external_secret(namespace, "outsider", path, "outsider-store"))


def test_shared_mode_admits_only_the_listed_namespaces(harness, generated_stack):
    plan = generated_stack(
        "shr", {"irsa": {"mode": "shared"}, "services": [{"name": "one", "namespace": "shr-a"}, {"name": "two", "namespace": "shr-b"}]}
    )
    harness.deploy_ready(plan)
    _outsider(harness, "shr-outside", _role_arn(harness, "shr-a"), "shr/app/one")
    harness.wait_for_failure("shr-outside", "outsider-store", STS_DENIED, timeout=120, kind="SecretStore")
    harness.wait_for_failure("shr-outside", "outsider", STORE_NOT_READY)
    assert harness.secret("shr-outside", "outsider") is None


def test_shared_wildcard_mode_admits_any_namespace_as_documented(harness, generated_stack):
    plan = generated_stack(
        "wld", {"irsa": {"mode": "shared-wildcard"}, "services": [{"name": "one", "namespace": "wld-a"}]}
    )
    expected = harness.deploy_ready(plan)
    _outsider(harness, "wld-outside", _role_arn(harness, "wld-a"), "wld/app/one")
    harness.wait_ready([("wld-outside", "outsider")])
    assert harness.secret_data("wld-outside", "outsider") == expected[("wld-a", "one")]
