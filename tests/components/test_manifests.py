"""Tenant manifests, checked against the external-secrets.io/v1 field names and enums."""

from components.manifests import ExternalSecretSpec, external_secret, secret_store, service_account, store_name

SPEC = ExternalSecretSpec("api", "dev/app/api", "api-env", "10m", store_name("us-east-1"))


def test_all_properties_are_extracted_without_keys():
    manifest = external_secret(SPEC, "team", {"a": "b"})
    assert manifest["apiVersion"] == "external-secrets.io/v1"
    assert manifest["kind"] == "ExternalSecret"
    assert manifest["spec"] == {
        "refreshInterval": "10m",
        "secretStoreRef": {"name": "aws-secretsmanager-us-east-1", "kind": "SecretStore"},
        "target": {"name": "api-env", "creationPolicy": "Owner"},
        "dataFrom": [{"extract": {"key": "dev/app/api"}}],
    }
    assert "annotations" not in manifest["metadata"]


def test_keys_become_remote_refs_with_property_and_force_sync_an_annotation():
    spec = ExternalSecretSpec("api", "dev/app/api", "api", "1h", "s", keys=("A", "B"))
    manifest = external_secret(spec, "team", {}, force_sync="v2")
    assert manifest["metadata"]["annotations"] == {"force-sync": "v2"}
    assert manifest["spec"]["data"] == [
        {"secretKey": "A", "remoteRef": {"key": "dev/app/api", "property": "A"}},
        {"secretKey": "B", "remoteRef": {"key": "dev/app/api", "property": "B"}},
    ]
    assert "dataFrom" not in manifest["spec"]


def test_store_and_account():
    store = secret_store("eu-west-1", "team", "eso-sa", {})
    assert store["spec"]["provider"]["aws"] == {
        "service": "SecretsManager",
        "region": "eu-west-1",
        "auth": {"jwt": {"serviceAccountRef": {"name": "eso-sa"}}},
    }
    account = service_account("eso-sa", "team", "arn:aws:iam::1:role/r", {"l": "v"})
    assert account["metadata"]["annotations"] == {"eks.amazonaws.com/role-arn": "arn:aws:iam::1:role/r"}
    assert account["automountServiceAccountToken"] is False
