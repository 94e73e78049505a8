"""Kubernetes objects of a tenant namespace as plain dicts (external-secrets.io/v1 API)."""

from dataclasses import dataclass
from typing import Any, Literal, Optional

import pulumi

ESO_API_VERSION = "external-secrets.io/v1"
ROLE_ARN_ANNOTATION = "eks.amazonaws.com/role-arn"
FORCE_SYNC_ANNOTATION = "force-sync"
# ESO's documented force-sync is `kubectl annotate externalsecret ... force-sync=...`; with it, a
# person's field manager owns the annotation and the program's next server-side apply would stop
# on the conflict. The program's ExternalSecrets take their fields back instead.
PATCH_FORCE_ANNOTATION = "pulumi.com/patchForce"


@dataclass(frozen=True)
class ExternalSecretSpec:
    name: str
    secret_path: str
    secret_name: str
    refresh_interval: str
    store_name: str
    keys: Optional[tuple[str, ...]] = None
    # The service's name where it is not the ExternalSecret's (renamedFrom keeps the old one).
    service: Optional[str] = None
    # Owner: the Secret goes with the ExternalSecret; Orphan: it stays when the ExternalSecret goes.
    creation_policy: Literal["Owner", "Orphan"] = "Owner"


def store_name(region: str) -> str:
    return f"aws-secretsmanager-{region}"


def service_account(
    name: str, namespace: pulumi.Input[str], role_arn: pulumi.Input[str], labels: dict[str, str]
) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": dict(labels),
            "annotations": {ROLE_ARN_ANNOTATION: role_arn},
        },
        # Only ESO requests tokens for this account; no pod should mount one.
        "automountServiceAccountToken": False,
    }


@dataclass(frozen=True)
class ServiceAccountRef:
    namespace: str
    name: str


TOKEN_REQUEST_ROLE = "eso-platform-token-request"
RBAC_API_VERSION = "rbac.authorization.k8s.io/v1"


def token_request_role(
    namespace: pulumi.Input[str], service_account_name: str, labels: dict[str, str]
) -> dict[str, Any]:
    """Tokens for the tenant's ServiceAccount and no other: the chart's ClusterRole grants none."""
    only_the_tenant = [service_account_name]
    return {
        "apiVersion": RBAC_API_VERSION,
        "kind": "Role",
        "metadata": {"name": TOKEN_REQUEST_ROLE, "namespace": namespace, "labels": dict(labels)},
        "rules": [
            {
                "apiGroups": [""],
                "resources": ["serviceaccounts/token"],
                "resourceNames": only_the_tenant,
                "verbs": ["create"],
            },
            # ESO reads the account's role-arn annotation before it requests a token
            # (providers/v1/aws/auth/auth.go). The chart's ClusterRole also grants that read,
            # for its informer cache; this keeps the tenant's Role complete on its own.
            {
                "apiGroups": [""],
                "resources": ["serviceaccounts"],
                "resourceNames": only_the_tenant,
                "verbs": ["get"],
            },
        ],
    }


def token_request_binding(
    namespace: pulumi.Input[str], controller: ServiceAccountRef, labels: dict[str, str]
) -> dict[str, Any]:
    return {
        "apiVersion": RBAC_API_VERSION,
        "kind": "RoleBinding",
        "metadata": {"name": TOKEN_REQUEST_ROLE, "namespace": namespace, "labels": dict(labels)},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": TOKEN_REQUEST_ROLE},
        "subjects": [{"kind": "ServiceAccount", "name": controller.name, "namespace": controller.namespace}],
    }


# ESO 2.9.0 tags the session with the namespace of the ExternalSecret it syncs, in place of any
# tags the store names (providers/v1/aws/provider.go): the namespace role's trust keys on it.
SIMPLE_SESSION_TAGS = "Simple"


def secret_store(
    region: str,
    namespace: pulumi.Input[str],
    service_account_name: Optional[str],
    labels: dict[str, str],
    role_arn: Optional[pulumi.Input[str]] = None,
) -> dict[str, Any]:
    """An AWS store acting as the namespace's ServiceAccount (IRSA) or, given `role_arn` (Pod
    Identity), with no auth: the controller's own credentials assume the role, and nothing else
    of the session (tags, chained roles, external ID) is the store's to choose."""
    aws: dict[str, Any] = {"service": "SecretsManager", "region": region}
    if role_arn is None:
        aws["auth"] = {"jwt": {"serviceAccountRef": {"name": service_account_name}}}
    else:
        aws |= {"role": role_arn, "sessionTagsPolicy": SIMPLE_SESSION_TAGS}
    return {
        "apiVersion": ESO_API_VERSION,
        "kind": "SecretStore",
        "metadata": {"name": store_name(region), "namespace": namespace, "labels": dict(labels)},
        "spec": {"provider": {"aws": aws}},
    }


def external_secret(
    spec: ExternalSecretSpec,
    namespace: pulumi.Input[str],
    labels: dict[str, str],
    force_sync: str = "",
) -> dict[str, Any]:
    annotations = {PATCH_FORCE_ANNOTATION: "true"}
    if force_sync:
        annotations[FORCE_SYNC_ANNOTATION] = force_sync
    metadata: dict[str, Any] = {"name": spec.name, "namespace": namespace, "labels": dict(labels), "annotations": annotations}
    body: dict[str, Any] = {
        "refreshInterval": spec.refresh_interval,
        "secretStoreRef": {"name": spec.store_name, "kind": "SecretStore"},
        "target": {"name": spec.secret_name, "creationPolicy": spec.creation_policy},
    }
    if spec.keys is None:
        body["dataFrom"] = [{"extract": {"key": spec.secret_path}}]
    else:
        body["data"] = [
            {"secretKey": key, "remoteRef": {"key": spec.secret_path, "property": key}}
            for key in spec.keys
        ]
    return {"apiVersion": ESO_API_VERSION, "kind": "ExternalSecret", "metadata": metadata, "spec": body}
