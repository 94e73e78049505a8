"""etcd and kube-apiserver on 127.0.0.1, with RBAC and ServiceAccount tokens from an EKS-shaped issuer."""

import hashlib
import json
import secrets as random_source
from dataclasses import dataclass, field
from pathlib import Path

import requests

from e2e import pki
from e2e.kube import Credentials, Kube
from e2e.processes import LOOPBACK, Process, ProcessExited, free_port, wait_until


def eks_issuer(region: str, seed: str) -> str:
    """An issuer shaped like EKS's: https://oidc.eks.<region>.amazonaws.com/id/<32 hex digits>."""
    return f"https://oidc.eks.{region}.amazonaws.com/id/{hashlib.sha256(seed.encode()).hexdigest()[:32].upper()}"


@dataclass
class ControlPlane:
    server: str
    issuer: str
    pki: pki.ControlPlanePki
    etcd: Process
    apiserver: Process
    # What `aws eks get-token` hands the engine for the deploying identity, by identity (see
    # e2e/aws_cli.py): the API server knows these tokens as the cluster's administrator, as an
    # EKS access entry with the cluster-admin policy would make it.
    deployer_tokens: dict[str, str] = field(default_factory=dict)
    controller_manager: Process | None = None
    scheduler: Process | None = None
    kwok: Process | None = None

    @property
    def admin_kubeconfig(self) -> Path:
        return _admin_kubeconfig(self, self.pki.ca_cert.parent / "admin.kubeconfig")

    def admin(self) -> Kube:
        return Kube(
            self.server,
            str(self.pki.ca_cert),
            Credentials(cert=(str(self.pki.admin_cert), str(self.pki.admin_key))),
        )

    def jwks(self) -> dict:
        admin = self.admin()
        return admin.request("GET", "/openid/v1/jwks", "jwks")

    def stop(self) -> None:
        for process in (self.kwok, self.scheduler, self.controller_manager):
            if process is not None:
                process.stop()
        self.apiserver.stop()
        self.etcd.stop()


def _admin_kubeconfig(plane: ControlPlane, path: Path) -> Path:
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "e2e", "cluster": {"server": plane.server, "certificate-authority": str(plane.pki.ca_cert)}}],
        "users": [{"name": "admin", "user": {"client-certificate": str(plane.pki.admin_cert), "client-key": str(plane.pki.admin_key)}}],
        "contexts": [{"name": "e2e", "context": {"cluster": "e2e", "user": "admin"}}],
        "current-context": "e2e",
    }
    path.write_text(json.dumps(config))
    path.chmod(0o600)
    return path


def start_controller_manager(plane: ControlPlane, binary: Path, workdir: Path) -> None:
    """The garbage collector, namespace deletion, ClusterRole aggregation and the `default`
    ServiceAccounts: what a real cluster does on its own, that ESO and the program rely on."""
    kubeconfig = plane.admin_kubeconfig
    plane.controller_manager = Process(
        "kube-controller-manager",
        [
            str(binary),
            f"--kubeconfig={kubeconfig}",
            "--leader-elect=false",
            f"--bind-address={LOOPBACK}",
            f"--secure-port={free_port()}",
            f"--root-ca-file={plane.pki.ca_cert}",
            f"--service-account-private-key-file={plane.pki.service_account_key}",
            "--use-service-account-credentials=false",
            "--v=1",
        ],
        workdir / "logs" / "kube-controller-manager.log",
    ).start()
    admin = plane.admin()

    def default_account() -> bool:
        if not plane.controller_manager.alive():
            raise ProcessExited(f"kube-controller-manager exited:\n{plane.controller_manager.log_tail()}")
        return admin.get("v1", "ServiceAccount", "default", "default") is not None

    wait_until(default_account, 120, "kube-controller-manager (the default ServiceAccount)", interval=0.5)


DEPLOYER = "eso-platform-deployer"
# A node kwok keeps Ready, and whose pods it reports Running and Ready: no kubelet runs them.
FAKE_NODE = "kwok-node-0"
KWOK_NODE_ANNOTATION = "kwok.x-k8s.io/node"


def _token_auth_file(path: Path, identities: tuple[str, ...]) -> dict[str, str]:
    tokens = {identity: f"e2e-{random_source.token_hex(16)}" for identity in identities}
    path.write_text("".join(f"{token},{DEPLOYER},{DEPLOYER},system:masters\n" for token in tokens.values()))
    path.chmod(0o600)
    return tokens


def start_scheduler(plane: ControlPlane, binary: Path, workdir: Path) -> None:
    kubeconfig = plane.admin_kubeconfig
    plane.scheduler = Process(
        "kube-scheduler",
        [str(binary), f"--kubeconfig={kubeconfig}", "--leader-elect=false", f"--bind-address={LOOPBACK}", f"--secure-port={free_port()}", "--v=1"],
        workdir / "logs" / "kube-scheduler.log",
    ).start()


def start_kwok(plane: ControlPlane, binary: Path, stages: list[Path], workdir: Path) -> None:
    """kwok with its stages, managing the one fake node; pods scheduled there turn Ready."""
    kubeconfig = plane.admin_kubeconfig
    plane.kwok = Process(
        "kwok",
        [
            str(binary),
            f"--kubeconfig={kubeconfig}",
            "--manage-all-nodes=false",
            f"--manage-nodes-with-annotation-selector={KWOK_NODE_ANNOTATION}=fake",
            # kwokctl's value; the binary's default, 0, keeps no node lease, and pods on the
            # node turn Ready=False about 55 s later.
            "--node-lease-duration-seconds=40",
            f"--server-address={LOOPBACK}:{free_port()}",
            *[f"--config={stage}" for stage in stages],
        ],
        workdir / "logs" / "kwok.log",
    ).start()
    admin = plane.admin()
    # kwok fills in its status (allocatable, the Ready condition); no taint, so pods land here.
    admin.apply({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": FAKE_NODE,
            "annotations": {KWOK_NODE_ANNOTATION: "fake", "node.alpha.kubernetes.io/ttl": "0"},
            "labels": {"kubernetes.io/hostname": FAKE_NODE, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64", "type": "kwok"},
        },
    })

    def node_ready() -> bool:
        if not plane.kwok.alive():
            raise ProcessExited(f"kwok exited:\n{plane.kwok.log_tail()}")
        node = admin.get("v1", "Node", FAKE_NODE) or {}
        return any(c["type"] == "Ready" and c["status"] == "True" for c in node.get("status", {}).get("conditions", []))

    wait_until(node_ready, 120, f"kwok's node {FAKE_NODE} Ready", interval=0.5)


def start(workdir: Path, etcd_binary: Path, apiserver_binary: Path, issuer: str, identities: tuple[str, ...] = ("default",)) -> ControlPlane:
    keys = pki.create(workdir / "pki")
    deployer_tokens = _token_auth_file(workdir / "pki" / "deployer-tokens.csv", identities)
    client_port, peer_port, secure_port = free_port(), free_port(), free_port()
    etcd_url = f"http://{LOOPBACK}:{client_port}"
    etcd = Process(
        "etcd",
        [
            str(etcd_binary),
            f"--data-dir={workdir / 'etcd'}",
            f"--listen-client-urls={etcd_url}",
            f"--advertise-client-urls={etcd_url}",
            f"--listen-peer-urls=http://{LOOPBACK}:{peer_port}",
            f"--initial-advertise-peer-urls=http://{LOOPBACK}:{peer_port}",
            f"--initial-cluster=default=http://{LOOPBACK}:{peer_port}",
            "--log-level=warn",
            # One run's data; durability buys nothing here.
            "--unsafe-no-fsync",
        ],
        workdir / "logs" / "etcd.log",
    ).start()
    wait_until(lambda: requests.get(f"{etcd_url}/health", timeout=2).json()["health"] == "true", 60, "etcd health")

    apiserver = Process(
        "kube-apiserver",
        [
            str(apiserver_binary),
            f"--etcd-servers={etcd_url}",
            f"--bind-address={LOOPBACK}",
            f"--advertise-address={LOOPBACK}",
            f"--secure-port={secure_port}",
            # No other replica to reconcile with; a loopback address is refused otherwise.
            "--endpoint-reconciler-type=none",
            f"--tls-cert-file={keys.serving_cert}",
            f"--tls-private-key-file={keys.serving_key}",
            f"--client-ca-file={keys.ca_cert}",
            f"--token-auth-file={workdir / 'pki' / 'deployer-tokens.csv'}",
            "--authorization-mode=RBAC",
            f"--service-account-issuer={issuer}",
            f"--service-account-signing-key-file={keys.service_account_key}",
            f"--service-account-key-file={keys.service_account_public_key}",
            "--service-cluster-ip-range=10.96.0.0/16",
            "--anonymous-auth=false",
            "--profiling=false",
            "--v=1",
        ],
        workdir / "logs" / "kube-apiserver.log",
    ).start()
    plane = ControlPlane(f"https://{LOOPBACK}:{secure_port}", issuer, keys, etcd, apiserver, deployer_tokens)
    admin = plane.admin()

    def ready() -> bool:
        if not apiserver.alive():
            raise ProcessExited(f"kube-apiserver exited:\n{apiserver.log_tail()}")
        return admin.session.get(f"{plane.server}/readyz", verify=admin.ca_cert, timeout=5).status_code == 200

    wait_until(ready, 180, "kube-apiserver /readyz", interval=0.5)
    return plane
