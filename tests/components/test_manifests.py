"""Tenant manifests, checked against the external-secrets.io/v1 field names and enums."""

from components.manifests import (
    ExternalSecretSpec,
    ServiceAccountRef,
    external_secret,
    secret_store,
    service_account,
    store_name,
    token_request_binding,
    token_request_role,
)

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
    # Without forceSync, no force-sync annotation: only the program's claim on its own fields.
    assert manifest["metadata"]["annotations"] == {"pulumi.com/patchForce": "true"}


def test_keys_become_remote_refs_with_property_and_force_sync_an_annotation():
    spec = ExternalSecretSpec("api", "dev/app/api", "api", "1h", "s", keys=("A", "B"))
    manifest = external_secret(spec, "team", {}, force_sync="v2")
    assert manifest["metadata"]["annotations"] == {"force-sync": "v2", "pulumi.com/patchForce": "true"}
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


def test_token_role_names_only_the_tenant_account_and_the_binding_only_the_controller():
    role = token_request_role("team", "eso-sa", {"l": "v"})
    assert role["apiVersion"] == "rbac.authorization.k8s.io/v1" and role["kind"] == "Role"
    assert role["metadata"] == {"name": "eso-platform-token-request", "namespace": "team", "labels": {"l": "v"}}
    assert role["rules"] == [
        {"apiGroups": [""], "resources": ["serviceaccounts/token"], "resourceNames": ["eso-sa"], "verbs": ["create"]},
        {"apiGroups": [""], "resources": ["serviceaccounts"], "resourceNames": ["eso-sa"], "verbs": ["get"]},
    ]
    binding = token_request_binding("team", ServiceAccountRef("eso-system", "external-secrets"), {})
    assert binding["metadata"]["namespace"] == "team"
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": role["metadata"]["name"]}
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "external-secrets", "namespace": "eso-system"}]
