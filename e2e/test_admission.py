"""The admission guard, enforced by the real API server: every forbidden object is refused with a
message that names its rule, and everything the program creates is admitted."""

import copy

import pytest

from e2e.kube import ApiError
from e2e.world import ESO_API

pytestmark = pytest.mark.timeout(300)
ACCOUNT = "external-secret-operator"
MANAGED, FREE = "adm-a", "adm-free"
LABEL = "eso-platform/managed"


def _store(namespace, auth, kind="SecretStore", name="probe", provider="aws"):
    metadata = {"name": name, **({"namespace": namespace} if namespace else {})}
    body = {"service": "SecretsManager", "region": "us-east-1", **({"auth": auth} if auth is not None else {})}
    if provider != "aws":
        body = {"data": [{"key": "k", "value": "v"}]}
    return {"apiVersion": ESO_API, "kind": kind, "metadata": metadata, "spec": {"provider": {provider: body}}}


def _jwt(account, namespace=None):
    ref = {"name": account, **({"namespace": namespace} if namespace else {})}
    return {"jwt": {"serviceAccountRef": ref}}


STATIC_KEYS = {"secretRef": {"accessKeyIDSecretRef": {"name": "aws", "key": "id"},
                             "secretAccessKeySecretRef": {"name": "aws", "key": "key"}}}  # pragma: allowlist secret


def _external_secret(namespace, where="secretStoreRef"):
    cluster_ref = {"kind": "ClusterSecretStore", "name": "shared"}
    spec = {"refreshInterval": "1h", "target": {"name": "probe"},
            "secretStoreRef": {"kind": "SecretStore", "name": "aws-secretsmanager-us-east-1"},
            "data": [{"secretKey": "k", "remoteRef": {"key": "adm/app/one", "property": "k"}}]}
    if where == "secretStoreRef":
        spec["secretStoreRef"] = cluster_ref
    elif where == "data":
        spec["data"][0]["sourceRef"] = {"storeRef": cluster_ref}
    else:
        spec["dataFrom"] = [{"extract": {"key": "adm/app/one"}, "sourceRef": {"storeRef": cluster_ref}}]
    return {"apiVersion": ESO_API, "kind": "ExternalSecret", "metadata": {"name": "probe", "namespace": namespace}, "spec": spec}


def _refused(harness, manifest, rule):
    with pytest.raises(ApiError) as raised:
        harness.admin.apply(manifest)
    assert raised.value.status in (403, 422), raised.value
    assert f"eso-platform admission rule {rule}:" in raised.value.message, raised.value.message


@pytest.fixture(scope="module")
def guarded(harness, generated_stack):
    plan = generated_stack("adm", {"services": [{"name": "one", "namespace": MANAGED}]})
    harness.deploy(plan)
    harness.wait_ready([(MANAGED, "one")])
    harness.admin.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": FREE}})
    return plan


def test_the_program_objects_are_admitted_and_both_policies_are_in_force(harness, guarded):
    names = {p["metadata"]["name"] for p in harness.admin.list("admissionregistration.k8s.io/v1", "ValidatingAdmissionPolicy")}
    assert {"eso-platform-tenant-namespaces", "eso-platform-aws-store-auth"} <= names
    assert harness.admin.get(ESO_API, "SecretStore", "aws-secretsmanager-us-east-1", MANAGED)


@pytest.mark.parametrize(
    "manifest, rule",
    [
        (_store(MANAGED, STATIC_KEYS), "tenant-store-no-static-credentials"),
        (_store(MANAGED, None, provider="fake"), "tenant-store-aws-only"),
        (_store(MANAGED, None), "tenant-store-managed-identity"),
        (_store(MANAGED, _jwt("default")), "tenant-store-managed-identity"),
        (_store(MANAGED, _jwt(ACCOUNT, "payments")), "tenant-store-managed-identity"),
        (_external_secret(MANAGED, "secretStoreRef"), "tenant-external-secret-namespaced-store"),
        (_external_secret(MANAGED, "data"), "tenant-external-secret-namespaced-store"),
        (_external_secret(MANAGED, "dataFrom"), "tenant-external-secret-namespaced-store"),
        (_store(FREE, STATIC_KEYS), "aws-store-static-credentials"),
        (_store(FREE, None), "aws-store-irsa"),
        (_store(None, STATIC_KEYS, kind="ClusterSecretStore"), "aws-store-static-credentials"),
        (_store(None, None, kind="ClusterSecretStore"), "aws-store-irsa"),
        (_store(None, _jwt(ACCOUNT, MANAGED), kind="ClusterSecretStore"), "cluster-store-tenant-account"),
    ],
    ids=[
        "tenant-static-keys", "tenant-other-provider", "tenant-no-auth", "tenant-default-account",
        "tenant-other-namespace-account", "es-cluster-store", "es-data-cluster-store", "es-datafrom-cluster-store",
        "free-static-keys", "free-no-auth", "cluster-static-keys", "cluster-no-auth", "cluster-tenant-account",
    ],
)
def test_a_forbidden_object_is_refused_naming_its_rule(harness, guarded, manifest, rule):
    _refused(harness, manifest, rule)


def test_an_update_that_changes_the_programs_store_account_is_refused(harness, guarded):
    store = copy.deepcopy(guarded.of_type("kubernetes:external-secrets.io/v1:SecretStore")[0]["inputs"])
    store["spec"]["provider"]["aws"]["auth"] = _jwt("default")
    _refused(harness, store, "tenant-store-managed-identity")


def test_outside_managed_namespaces_irsa_stores_are_admitted(harness, guarded):
    harness.admin.apply(_store(FREE, _jwt("anyone"), name="free-irsa"))
    harness.admin.apply(_store(None, _jwt("anyone", FREE), kind="ClusterSecretStore", name="adm-free-irsa"))
    harness.admin.delete(ESO_API, "ClusterSecretStore", "adm-free-irsa")


def test_a_managed_namespace_that_lost_its_label_changes_no_eso_object(harness, generated_stack, guarded):
    harness.admin.merge_patch("v1", "Namespace", MANAGED, {"metadata": {"labels": {LABEL: None}}})
    _refused(harness, _store(MANAGED, _jwt(ACCOUNT), name="compliant"), "managed-namespace-unlabelled")
    # A plain `pulumi up` compares with its state, which still has the label: only a refresh sees it gone.
    harness.deploy(guarded, seed=False)
    assert LABEL not in (harness.admin.get("v1", "Namespace", MANAGED)["metadata"].get("labels") or {})
    harness.deploy(guarded, seed=False, refresh=True)
    assert harness.admin.get("v1", "Namespace", MANAGED)["metadata"]["labels"][LABEL] == "true"
    harness.admin.apply(_store(MANAGED, _jwt(ACCOUNT), name="compliant"))
    harness.admin.delete(ESO_API, "SecretStore", "compliant", MANAGED)


def test_turning_the_guard_off_removes_it(harness, generated_stack, guarded):
    off = generated_stack("adm", {"admission": {"enabled": False}, "services": [{"name": "one", "namespace": MANAGED}]})
    assert "admission" in " ".join(off.document["warnings"])
    harness.deploy(off, seed=False)
    names = {p["metadata"]["name"] for p in harness.admin.list("admissionregistration.k8s.io/v1", "ValidatingAdmissionPolicy")}
    assert not names & {"eso-platform-tenant-namespaces", "eso-platform-aws-store-auth"}
    harness.admin.apply(_store(FREE, None, name="now-admitted"))
    harness.admin.delete(ESO_API, "SecretStore", "now-admitted", FREE)
    harness.deploy(guarded, seed=False)
