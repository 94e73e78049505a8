"""ESO as its chart makes it: rendered with the program's values, its CRDs and RBAC applied,
and the controller run as a process with the rendered Deployment's arguments.

The controller authenticates with a TokenRequest token of the chart's own ServiceAccount, so
it has exactly the chart's RBAC; the harness's administrator identity is never lent to it.
"""

import json
import os
import subprocess
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

import requests
import yaml

from e2e.build import crd_bundle, eso_chart
from e2e.kube import Kube
from e2e.processes import LOOPBACK, Process, ProcessExited, free_port, wait_until

RELEASE = "external-secrets"
KUBERNETES_VERSION = "v1.36.3"
# Rendered objects the harness applies: CRDs first, then the controller's identity and RBAC.
APPLIED_KINDS = ("ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding")
NAMESPACED_KINDS = ("ServiceAccount", "Role", "RoleBinding")
# Out of cluster, controller-runtime cannot find a namespace for the lease (it reads the pod's
# mounted namespace file), and one process needs no election.
DROPPED_ARGS = ("--enable-leader-election",)
# Held while a controller process is stopped and started, by a scenario or by the runner, so
# that the two never start one each.
_LIFECYCLE = threading.RLock()
# The EKS Pod Identity webhook's projected token: its audience and lifetime (EKS User Guide,
# "Understand how EKS Pod Identity works").
POD_IDENTITY_AUDIENCE = "pods.eks.amazonaws.com"
POD_IDENTITY_TOKEN_SECONDS = 86400
# The agent's URL for a pod of (namespace, ServiceAccount) that has a Pod Identity association,
# None for one that has none.
PodIdentityAgent = Callable[[str, str], Optional[str]]


def render(helm: Path, namespace: str, values: dict[str, Any], workdir: Path) -> list[dict[str, Any]]:
    """`helm template` of the chart with exactly `values`, webhook and cert-controller left out."""
    values_file = workdir / "values.json"
    values_file.write_text(json.dumps(values, indent=2))
    rendered = subprocess.run(
        [
            str(helm), "template", RELEASE, str(eso_chart()),
            "--namespace", namespace,
            "--kube-version", KUBERNETES_VERSION,
            "-f", str(values_file),
            "--set", "webhook.create=false",
            "--set", "certController.create=false",
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    (workdir / "rendered.yaml").write_text(rendered)
    return [document for document in yaml.safe_load_all(rendered) if document]


def crds(rendered: list[dict[str, Any]]) -> list[dict[str, Any]]:
    found = [d for d in rendered if d["kind"] == "CustomResourceDefinition"]
    if found:
        return found
    return [d for d in yaml.safe_load_all(crd_bundle().read_text()) if d and d["kind"] == "CustomResourceDefinition"]


def controller_deployment(rendered: list[dict[str, Any]]) -> dict[str, Any]:
    deployments = [
        d for d in rendered
        if d["kind"] == "Deployment" and d["metadata"]["labels"].get("app.kubernetes.io/name") == RELEASE
    ]
    if len(deployments) != 1:
        raise RuntimeError(f"expected one controller Deployment in the rendered chart, found {len(deployments)}")
    return deployments[0]


def controller_service_account(rendered: list[dict[str, Any]]) -> str:
    return controller_deployment(rendered)["spec"]["template"]["spec"]["serviceAccountName"]


@dataclass
class Controller:
    namespace: str
    service_account: str
    args: list[str]
    metrics_url: str
    live_url: str
    process: Process
    env: dict[str, str] = field(default_factory=dict)

    def restart(self, env: Optional[dict[str, str]] = None) -> None:
        """Stops the process and starts it again, with `env` in place of its environment if given."""
        with _LIFECYCLE:
            self.process.stop()
            if env is not None:
                self.env = env
            self.process = Process(self.process.name, self.process.argv, self.process.log_path, self.env).start()
            wait_until(self.live, 120, "external-secrets controller live after restart", interval=0.5)

    def live(self) -> bool:
        if not self.process.alive():
            raise ProcessExited(f"external-secrets exited:\n{self.process.log_tail()}")
        return requests.get(self.live_url, timeout=2).status_code == 200

    def credentials(self) -> str:
        """The controller's bearer token: what it authenticates to the API server with."""
        return json.loads(Path(self.env["KUBECONFIG"]).read_text())["users"][0]["user"]["token"]

    def peak_rss_kib(self) -> Optional[int]:
        try:
            for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
        except (OSError, AssertionError):
            return None
        return None


def _args(deployment: dict[str, Any], metrics_port: int, live_port: int) -> list[str]:
    """The rendered arguments, with the listening addresses moved to free loopback ports."""
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    addresses = {"--metrics-addr": f"{LOOPBACK}:{metrics_port}", "--live-addr": f"{LOOPBACK}:{live_port}"}
    args = []
    for arg in container.get("args", []):
        flag = arg.split("=", 1)[0]
        if flag not in DROPPED_ARGS and flag not in addresses:
            args.append(arg)
    return args + [f"{flag}={address}" for flag, address in addresses.items()]


def _container_env(deployment: dict[str, Any], namespace: str) -> dict[str, str]:
    env = {}
    for entry in deployment["spec"]["template"]["spec"]["containers"][0].get("env", []):
        if "value" in entry:
            env[entry["name"]] = str(entry["value"])
        elif entry.get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") == "metadata.namespace":
            env[entry["name"]] = namespace
    return env


def install(admin: Kube, rendered: list[dict[str, Any]], namespace: str) -> None:
    """Applies the chart's CRDs, waits for them, then its ServiceAccount and RBAC."""
    for crd in crds(rendered):
        admin.apply(crd)
    for crd in crds(rendered):
        name = crd["metadata"]["name"]

        def established() -> bool:
            status = admin.get("apiextensions.k8s.io/v1", "CustomResourceDefinition", name)["status"]
            return any(c["type"] == "Established" and c["status"] == "True" for c in status.get("conditions", []))

        wait_until(established, 60, f"CRD {name} established")
    for kind in APPLIED_KINDS:
        for document in (d for d in rendered if d["kind"] == kind):
            if kind in NAMESPACED_KINDS:
                document["metadata"].setdefault("namespace", namespace)
            admin.apply(document)


def _kubeconfig(path: Path, server: str, ca_cert: str, token: str) -> Path:
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "e2e", "cluster": {"server": server, "certificate-authority": ca_cert}}],
        "users": [{"name": "controller", "user": {"token": token}}],
        "contexts": [{"name": "e2e", "context": {"cluster": "e2e", "user": "controller"}}],
        "current-context": "e2e",
    }
    path.write_text(json.dumps(config))
    path.chmod(0o600)
    return path


def start(
    binary: Path,
    admin: Kube,
    rendered: list[dict[str, Any]],
    namespace: str,
    aws_endpoint: str,
    workdir: Path,
) -> Controller:
    return run_deployment(binary, admin, controller_deployment(rendered), namespace, aws_endpoint, workdir)


def _pod_identity_env(admin: Kube, namespace: str, account: str, agent: Optional[PodIdentityAgent], workdir: Path) -> dict[str, str]:
    """What the EKS Pod Identity webhook adds to a pod whose ServiceAccount has an association:
    the agent's URL and the file of a token of the account for it."""
    endpoint = agent(namespace, account) if agent is not None else None
    if endpoint is None:
        return {}
    token_file = workdir / "eks-pod-identity-token"
    token_file.write_text(admin.token(namespace, account, [POD_IDENTITY_AUDIENCE], POD_IDENTITY_TOKEN_SECONDS))
    token_file.chmod(0o600)
    return {"AWS_CONTAINER_CREDENTIALS_FULL_URI": endpoint, "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE": str(token_file)}


def run_deployment(
    binary: Path, admin: Kube, deployment: dict[str, Any], namespace: str, aws_endpoint: str, workdir: Path,
    pod_identity_agent: Optional[PodIdentityAgent] = None,
) -> Controller:
    """The controller process of `deployment`, as its pod would run: its arguments and
    environment, a token of its ServiceAccount, and what the Pod Identity webhook adds when the
    account has an association (`pod_identity_agent`)."""
    account = deployment["spec"]["template"]["spec"]["serviceAccountName"]
    token = admin.token(namespace, account)
    kubeconfig = _kubeconfig(workdir / "controller.kubeconfig", admin.server, admin.ca_cert, token)
    metrics_port, live_port = free_port(), free_port()
    args = _args(deployment, metrics_port, live_port)
    env = {
        # Only what a pod would have: no AWS credentials of any kind, and the cluster by kubeconfig.
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(workdir),
        "KUBECONFIG": str(kubeconfig),
        "AWS_SECRETSMANAGER_ENDPOINT": aws_endpoint,
        "AWS_STS_ENDPOINT": aws_endpoint,
        **_container_env(deployment, namespace),
        # The webhook injects this when a pod is created, never into a running one; a process
        # starts here for each new pod template, so an association made or removed later counts
        # from the next template change, as on EKS from the next pods. A process restarted after
        # it exited gets it afresh too, where a container restart would keep its pod's.
        **_pod_identity_env(admin, namespace, account, pod_identity_agent, workdir),
    }
    process = Process("external-secrets", [str(binary), *args], workdir / "logs" / "external-secrets.log", env).start()
    controller = Controller(
        namespace, account, args, f"http://{LOOPBACK}:{metrics_port}/metrics", f"http://{LOOPBACK}:{live_port}/healthz", process, env
    )
    wait_until(controller.live, 120, "external-secrets controller live", interval=0.5)
    return controller


class DeploymentRunner:
    """What the kubelet would do for the controller's pod: a controller process runs while the
    chart's controller Deployment exists with replicas, restarted when it exits (the pod's
    `restartPolicy: Always`; it exits, for one, when it starts before its CRDs are served) or
    when its pod template changes (a `helm upgrade`), and stopped when the Deployment goes.
    kwok reports the pods Ready; this runs them."""

    def __init__(self, binary: Path, admin: Kube, aws_endpoint: str, workdir: Path, interval: float = 0.5,
                 pod_identity_agent: Optional[PodIdentityAgent] = None):
        self.binary, self.admin, self.aws_endpoint, self.workdir, self.interval = binary, admin, aws_endpoint, workdir, interval
        self.pod_identity_agent = pod_identity_agent
        self.controller: Optional[Controller] = None
        self.started: list[tuple[str, str]] = []
        self._template: Optional[str] = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="controller-runner", daemon=True)
        self.errors: list[str] = []

    def start(self) -> "DeploymentRunner":
        self._thread.start()
        return self

    def _found(self) -> Optional[dict[str, Any]]:
        for deployment in self.admin.list("apps/v1", "Deployment", selector=f"app.kubernetes.io/name={RELEASE}"):
            if deployment["spec"].get("replicas", 1) > 0:
                return deployment
        return None

    def sync(self) -> None:
        with _LIFECYCLE:
            self._sync()

    def _sync(self) -> None:
        deployment = self._found()
        template = json.dumps(deployment["spec"]["template"], sort_keys=True) if deployment else None
        if template == self._template and (self.controller is None or self.controller.process.alive()):
            return
        if self.controller is not None:
            self.controller.process.stop()
            self.controller = None
        if deployment is not None:
            namespace = deployment["metadata"]["namespace"]
            self.controller = run_deployment(self.binary, self.admin, deployment, namespace, self.aws_endpoint, self.workdir,
                                             self.pod_identity_agent)
            self.started.append((namespace, deployment["metadata"]["name"]))
        self._template = template

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.sync()
            except Exception as error:  # reported by the scenario that waits for the controller
                self.errors.append(str(error))

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        if self.controller is not None:
            self.controller.process.stop()

