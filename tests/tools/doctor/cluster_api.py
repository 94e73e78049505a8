"""A cluster's API as the doctor reads it, serving objects in the shapes the real components
write them; the doctor against the real API server and ESO controller is e2e/test_doctor.py.

Rules kept from the real API server (k8s.io/apiserver): a request without the expected bearer
token gets 401; a missing object gets 404 with a `Status`; core/v1 events are filtered by the
field selectors `involvedObject.kind` and `involvedObject.name`; `Accept:
application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1` gets the object's metadata alone.
Every request is recorded with its `Accept` header, so a test can assert how Secrets were read.

Shapes kept from ESO 2.9.0 (apis/externalsecrets/v1/externalsecret_types.go and
pkg/controllers/externalsecret/externalsecret_controller.go): the `Ready` condition, reason
`SecretSynced` / message `secret synced` when synced; on a failure reason `SecretSyncedError` /
message `could not get secret data from provider`, and a Warning event `UpdateFailed` carrying
the error.
"""

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Optional
from urllib.parse import parse_qs, urlsplit

from components.kubeconfig import exec_kubeconfig

ESO_PATH = "/apis/external-secrets.io/v1/namespaces/{namespace}/externalsecrets/{name}"
TOKEN = "k8s-aws-v1.doctor-unit-test"


@dataclass
class ClusterApiFixture:
    cluster_name: str
    region: str
    objects: dict[str, dict[str, Any]] = field(default_factory=dict)
    events: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    requests: list[tuple[str, str]] = field(default_factory=list)
    _server: Optional[ThreadingHTTPServer] = None

    def start(self) -> "ClusterApiFixture":
        fixture = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                fixture.requests.append((self.path, self.headers.get("Accept", "")))
                status, body = fixture._answer(self.path, self.headers)
                content = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def kubeconfig(self, directory: Path) -> Path:
        path = directory / "kubeconfig.json"
        path.write_text(exec_kubeconfig(self.cluster_name, self.region, self.url, ""))
        return path

    # What ESO writes ----------------------------------------------------------------------

    def _external_secret(self, namespace: str, name: str, status: dict[str, Any]) -> None:
        self.objects[ESO_PATH.format(namespace=namespace, name=name)] = {
            "apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret",
            "metadata": {"name": name, "namespace": namespace}, "status": status,
        }

    def synced(self, namespace: str, name: str) -> None:
        self._external_secret(namespace, name, {
            "refreshTime": "2026-12-03T10:00:00Z",
            "conditions": [{"type": "Ready", "status": "True", "reason": "SecretSynced", "message": "secret synced"}],
        })

    def failing(self, namespace: str, name: str, error: str, at: str = "2026-12-03T10:05:00Z") -> None:
        self._external_secret(namespace, name, {"conditions": [{
            "type": "Ready", "status": "False", "reason": "SecretSyncedError",
            "message": "could not get secret data from provider",
        }]})
        self.event(namespace, name, "Warning", "UpdateFailed", error, at)

    def secret(self, namespace: str, name: str, data: dict[str, str], owner: Optional[str] = None) -> None:
        """A Secret as ESO writes it: under `creationPolicy: Owner` with a controller
        ownerReference to its ExternalSecret, which `applyOwnership` removes under `Orphan`."""
        metadata: dict[str, Any] = {"name": name, "namespace": namespace, "labels": {"reconcile.external-secrets.io/managed": "true"}}
        if owner:
            metadata["ownerReferences"] = [{
                "apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret", "name": owner,
                "uid": "00000000-0000-0000-0000-000000000001", "controller": True, "blockOwnerDeletion": True,
            }]
        self.objects[f"/api/v1/namespaces/{namespace}/secrets/{name}"] = {
            "apiVersion": "v1", "kind": "Secret", "metadata": metadata, "type": "Opaque", "data": data,
        }

    def event(self, namespace: str, name: str, kind: str, reason: str, message: str, at: str) -> None:
        self.events.setdefault(namespace, []).append({
            "metadata": {"name": f"{name}.{len(self.events.get(namespace, []))}", "namespace": namespace, "creationTimestamp": at},
            "involvedObject": {"kind": "ExternalSecret", "name": name, "namespace": namespace},
            "type": kind, "reason": reason, "message": message, "lastTimestamp": at,
        })

    # What the API server answers ------------------------------------------------------------

    def _answer(self, raw_path: str, headers) -> tuple[int, dict[str, Any]]:
        if headers.get("Authorization") != f"Bearer {TOKEN}":
            return 401, {"kind": "Status", "status": "Failure", "message": "Unauthorized", "code": 401}
        url = urlsplit(raw_path)
        if url.path == "/version":
            return 200, {"major": "1", "minor": "35", "gitVersion": "v1.35.0"}
        parts = url.path.strip("/").split("/")
        if parts[:3] == ["api", "v1", "namespaces"] and len(parts) == 5 and parts[4] == "events":
            selector = dict(term.split("=", 1) for term in parse_qs(url.query).get("fieldSelector", [""])[0].split(",") if term)
            items = [
                event for event in self.events.get(parts[3], [])
                if all(event["involvedObject"].get(key.removeprefix("involvedObject.")) == value for key, value in selector.items())
            ]
            return 200, {"kind": "EventList", "apiVersion": "v1", "items": items}
        found = self.objects.get(url.path)
        if found is None:
            return 404, {"kind": "Status", "status": "Failure", "reason": "NotFound", "message": f"{url.path} not found", "code": 404}
        if "as=PartialObjectMetadata" in headers.get("Accept", ""):
            return 200, {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": found["metadata"]}
        return 200, found
