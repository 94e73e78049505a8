"""The cluster's API, read as the deploying identity: through the kubeconfig the program itself
uses, whose `aws eks get-token` runs as the Pulumi AWS provider's identity. The program reads a
tenant stack's namespaces through it before it registers anything; the doctor reads the rest.

Reads only. A Secret is read as `PartialObjectMetadata` (the API server's metadata-only form,
asked for in the `Accept` header), so no value ever reaches the reader.
"""

import base64
import json
import os
import ssl
import subprocess
import urllib.error
import urllib.request
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Optional
from urllib.parse import quote, urlencode

from components.kubeconfig import EXEC_API_VERSION, parsed_kubeconfig

# The API server answers with the object's metadata alone in this form
# (k8s.io/apimachinery meta/v1 PartialObjectMetadata, as the garbage collector reads objects).
METADATA_ONLY = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1"
_TIMEOUT_SECONDS = 30


class KubernetesError(Exception):
    """The API server cannot be reached, or refused a read."""


@dataclass
class ClusterApi:
    server: str
    ca_data: Optional[str]
    exec_spec: dict[str, Any]
    _token: Optional[str] = None

    @classmethod
    def from_kubeconfig(cls, kubeconfig: Any) -> "ClusterApi":
        """The current context's cluster and user; the user must authenticate with an exec plugin,
        as every kubeconfig the program writes does."""
        parsed = parsed_kubeconfig(kubeconfig)
        contexts = {c.get("name"): c.get("context") or {} for c in parsed.get("contexts") or []}
        context = contexts.get(parsed.get("current-context")) or next(iter(contexts.values()), {})
        clusters = {c.get("name"): c.get("cluster") or {} for c in parsed.get("clusters") or []}
        users = {u.get("name"): u.get("user") or {} for u in parsed.get("users") or []}
        cluster = clusters.get(context.get("cluster")) or next(iter(clusters.values()), {})
        user = users.get(context.get("user")) or next(iter(users.values()), {})
        if not cluster.get("server"):
            raise KubernetesError("the kubeconfig names no API server")
        if not user.get("exec"):
            raise KubernetesError("the kubeconfig's user authenticates with no exec plugin (`aws eks get-token`)")
        return cls(cluster["server"].rstrip("/"), cluster.get("certificate-authority-data"), user["exec"])

    def _bearer_token(self) -> str:
        """The token the exec plugin prints, as client-go runs it: the plugin's `env` over ours,
        and KUBERNETES_EXEC_INFO naming the ExecCredential version it asks for."""
        if self._token is not None:
            return self._token
        spec = self.exec_spec
        version = spec.get("apiVersion") or EXEC_API_VERSION
        env = {**os.environ, **{entry["name"]: entry["value"] for entry in spec.get("env") or []}}
        env["KUBERNETES_EXEC_INFO"] = json.dumps(
            {"apiVersion": version, "kind": "ExecCredential", "spec": {"interactive": False}}
        )
        command = [str(spec.get("command")), *[str(arg) for arg in spec.get("args") or []]]
        try:
            completed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
        except (OSError, subprocess.TimeoutExpired) as error:
            raise KubernetesError(f"cannot run the kubeconfig's `{command[0]}` for a token: {error}") from None
        if completed.returncode != 0:
            reason = (completed.stderr.strip().splitlines() or [f"exit code {completed.returncode}"])[-1]
            raise KubernetesError(f"the kubeconfig's `{' '.join(command[:4])} ...` failed: {reason}")
        try:
            self._token = json.loads(completed.stdout)["status"]["token"]
        except (ValueError, KeyError, TypeError):
            raise KubernetesError(f"the kubeconfig's `{command[0]}` printed no ExecCredential with a token") from None
        return self._token

    @cached_property
    def _tls(self) -> ssl.SSLContext:
        """Made once: every read trusts the same CA."""
        if not self.ca_data:
            return ssl.create_default_context()
        return ssl.create_default_context(cadata=base64.b64decode(self.ca_data).decode())

    def get(self, path: str, query: Optional[dict[str, str]] = None, metadata_only: bool = False) -> Optional[dict[str, Any]]:
        """The object or list at `path`, or None when the API server has none (404)."""
        url = self.server + path + (f"?{urlencode(query)}" if query else "")
        request = urllib.request.Request(url, headers={
            "Authorization": f"Bearer {self._bearer_token()}",
            "Accept": METADATA_ONLY if metadata_only else "application/json",
        })
        try:
            with urllib.request.urlopen(request, context=self._tls, timeout=_TIMEOUT_SECONDS) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as error:
            if error.code == 404:
                return None
            raise KubernetesError(f"GET {path}: {error.code} {_status_message(error)}") from None
        except (urllib.error.URLError, OSError, ValueError) as error:
            raise KubernetesError(f"cannot reach the API server at {self.server}: {getattr(error, 'reason', error)}") from None


def _status_message(error: urllib.error.HTTPError) -> str:
    try:
        return json.loads(error.read()).get("message") or error.reason
    except ValueError:
        return str(error.reason)


def object_path(group_version: str, plural: str, namespace: str, name: str = "") -> str:
    base = "/api/v1" if group_version == "v1" else f"/apis/{group_version}"
    return f"{base}/namespaces/{quote(namespace)}/{plural}" + (f"/{quote(name)}" if name else "")
