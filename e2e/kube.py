"""A small Kubernetes REST client: server-side apply, reads, deletes and TokenRequest.

Resource paths come from the API server's own discovery, so CRDs work as soon as they are
established.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Optional

import requests

FIELD_MANAGER = "eso-platform-e2e"


class ApiError(RuntimeError):
    def __init__(self, status: int, body: str, what: str):
        self.status = status
        self.body = body
        try:
            self.message = json.loads(body).get("message", body)
        except ValueError:
            self.message = body
        super().__init__(f"{what}: HTTP {status}: {self.message}")


@dataclass(frozen=True)
class Credentials:
    """Client certificate, or a bearer token."""

    cert: Optional[tuple[str, str]] = None
    token: Optional[str] = None


class Kube:
    def __init__(self, server: str, ca_cert: str, credentials: Credentials):
        self.server = server
        self.ca_cert = ca_cert
        self.session = requests.Session()
        if credentials.cert:
            self.session.cert = credentials.cert
        if credentials.token:
            self.session.headers["Authorization"] = f"Bearer {credentials.token}"
        self._resources: dict[tuple[str, str], tuple[str, bool]] = {}

    def as_token(self, token: str) -> Kube:
        return Kube(self.server, self.ca_cert, Credentials(token=token))

    def impersonating(self, user: str) -> Kube:
        """The same credentials acting as `user`, as `kubectl --as` does."""
        other = Kube(self.server, self.ca_cert, Credentials(cert=self.session.cert))
        other.session.headers["Impersonate-User"] = user
        return other

    def request(self, method: str, path: str, what: str, **kwargs) -> Any:
        # `verify` per request: requests lets REQUESTS_CA_BUNDLE override a session's own.
        response = self.session.request(method, self.server + path, timeout=30, verify=self.ca_cert, **kwargs)
        if response.status_code >= 400:
            raise ApiError(response.status_code, response.text, what)
        return response.json() if response.content else None

    def _discover(self, api_version: str) -> None:
        base = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
        for resource in self.request("GET", base, f"discover {api_version}")["resources"]:
            if "/" not in resource["name"]:
                self._resources[(api_version, resource["kind"])] = (resource["name"], resource["namespaced"])

    def path(self, api_version: str, kind: str, name: str = "", namespace: str = "") -> str:
        if (api_version, kind) not in self._resources:
            self._discover(api_version)
        plural, namespaced = self._resources[(api_version, kind)]
        base = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
        scope = f"/namespaces/{namespace}" if namespaced and namespace else ""
        return f"{base}{scope}/{plural}" + (f"/{name}" if name else "")

    def apply(self, manifest: dict[str, Any], manager: str = FIELD_MANAGER) -> dict[str, Any]:
        metadata = manifest["metadata"]
        what = f"apply {manifest['kind']} {metadata.get('namespace', '')}/{metadata['name']}"
        return self.request(
            "PATCH",
            self.path(manifest["apiVersion"], manifest["kind"], metadata["name"], metadata.get("namespace", "")),
            what,
            params={"fieldManager": manager, "force": "true"},
            data=json.dumps(manifest),
            headers={"Content-Type": "application/apply-patch+yaml"},
        )

    def create(self, manifest: dict[str, Any]) -> dict[str, Any]:
        metadata = manifest["metadata"]
        return self.request(
            "POST",
            self.path(manifest["apiVersion"], manifest["kind"], namespace=metadata.get("namespace", "")),
            f"create {manifest['kind']} {metadata.get('namespace', '')}/{metadata['name']}",
            json=manifest,
        )

    def merge_patch(self, api_version: str, kind: str, name: str, patch: dict[str, Any], namespace: str = "") -> dict[str, Any]:
        return self.request(
            "PATCH",
            self.path(api_version, kind, name, namespace),
            f"patch {kind} {namespace}/{name}",
            data=json.dumps(patch),
            headers={"Content-Type": "application/merge-patch+json"},
        )

    def get(self, api_version: str, kind: str, name: str, namespace: str = "") -> Optional[dict[str, Any]]:
        try:
            return self.request("GET", self.path(api_version, kind, name, namespace), f"get {kind} {name}")
        except ApiError as error:
            if error.status == 404:
                return None
            raise

    def list(self, api_version: str, kind: str, namespace: str = "", selector: str = "") -> list[dict[str, Any]]:
        params = {"labelSelector": selector} if selector else {}
        found = self.request("GET", self.path(api_version, kind, namespace=namespace), f"list {kind}", params=params)
        return found["items"]

    def delete(self, api_version: str, kind: str, name: str, namespace: str = "") -> None:
        try:
            self.request("DELETE", self.path(api_version, kind, name, namespace), f"delete {kind} {name}")
        except ApiError as error:
            if error.status != 404:
                raise

    def token(self, namespace: str, service_account: str, audiences: Optional[list[str]] = None, seconds: int = 86400) -> str:
        spec: dict[str, Any] = {"expirationSeconds": seconds}
        if audiences:
            spec["audiences"] = audiences
        body = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": spec}
        created = self.request(
            "POST",
            f"/api/v1/namespaces/{namespace}/serviceaccounts/{service_account}/token",
            f"token for {namespace}/{service_account}",
            json=body,
        )
        return created["status"]["token"]
