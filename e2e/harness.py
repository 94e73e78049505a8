"""The running world: moto, the AWS front, etcd, kube-apiserver and the ESO controller."""

import base64
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import requests

from e2e import build, control_plane, eso_controller
from e2e.aws_front import AwsFront
from e2e.kube import Kube
from e2e.processes import LOOPBACK, Process, free_port, wait_until
from e2e.world import ESO_API, Plan, apply_kubernetes, create_iam, seed_secrets

REGION = "us-east-1"


def condition(obj: Optional[dict[str, Any]], kind: str = "Ready") -> Optional[dict[str, Any]]:
    for found in (obj or {}).get("status", {}).get("conditions", []):
        if found["type"] == kind:
            return found
    return None


def decoded(secret: Optional[dict[str, Any]]) -> Optional[dict[str, str]]:
    if secret is None:
        return None
    return {key: base64.b64decode(value).decode() for key, value in (secret.get("data") or {}).items()}


@dataclass
class Harness:
    workdir: Path
    binaries: dict[str, Path]
    moto: Process
    moto_url: str
    plane: control_plane.ControlPlane
    front: AwsFront
    admin: Kube
    controller: Optional[eso_controller.Controller] = None
    chart_values: Optional[dict[str, Any]] = None
    timings: dict[str, float] = field(default_factory=dict)

    @classmethod
    def start(cls, workdir: Optional[Path] = None) -> "Harness":
        workdir = workdir or Path(tempfile.mkdtemp(prefix="eso-platform-e2e-"))
        binaries = build.build_all(lambda line: print(line, file=sys.stderr, flush=True))
        moto_port = free_port()
        moto_url = f"http://{LOOPBACK}:{moto_port}"
        moto = Process(
            "moto",
            [str(Path(sys.executable).parent / "moto_server"), "-H", LOOPBACK, "-p", str(moto_port)],
            workdir / "logs" / "moto.log",
        ).start()
        wait_until(lambda: requests.get(f"{moto_url}/moto-api/", timeout=2).ok, 60, "moto server")
        issuer = control_plane.eks_issuer(REGION, workdir.name)
        plane = control_plane.start(workdir, binaries["etcd"], binaries["kube-apiserver"], issuer)
        control_plane.start_controller_manager(plane, binaries["kube-controller-manager"], workdir)
        front = AwsFront(moto_url, plane.jwks).start()
        return cls(workdir, binaries, moto, moto_url, plane, front, plane.admin())

    @property
    def issuer(self) -> str:
        return self.plane.issuer

    def ensure_operator(self, plan: Plan, overrides: Optional[dict[str, Any]] = None) -> None:
        """The chart rendered with this plan's values (and a measurement's `overrides`), and the
        controller running with them."""
        values = {**plan.chart_values, **(overrides or {})}
        if self.controller is not None and self.chart_values == values:
            return
        namespace = plan.operator_namespace
        for manifest in plan.kubernetes_objects():
            if manifest["kind"] == "Namespace" and manifest["metadata"]["name"] == namespace:
                self.admin.apply(manifest)
        rendered = eso_controller.render(self.binaries["helm"], namespace, values, self.workdir)
        eso_controller.install(self.admin, rendered, namespace)
        if self.controller is not None:
            self.controller.process.stop()
        self.controller = eso_controller.start(
            self.binaries["external-secrets"], self.admin, rendered, namespace, self.front.url, self.workdir
        )
        self.chart_values = values

    def deploy(self, plan: Plan, seed: bool = True) -> dict[tuple[str, str], dict[str, str]]:
        """IAM, secrets and objects of `plan`; returns the expected Secret data when seeding."""
        if plan.installs_operator:
            self.ensure_operator(plan)
        create_iam(plan, self.moto_url)
        expected = seed_secrets(plan, self.moto_url) if seed else {}
        apply_kubernetes(self.admin, plan)
        return expected

    # Reads --------------------------------------------------------------------------------

    def external_secret(self, namespace: str, name: str) -> Optional[dict[str, Any]]:
        return self.admin.get(ESO_API, "ExternalSecret", name, namespace)

    def secret(self, namespace: str, name: str) -> Optional[dict[str, Any]]:
        return self.admin.get("v1", "Secret", name, namespace)

    def secret_data(self, namespace: str, name: str) -> Optional[dict[str, str]]:
        return decoded(self.secret(namespace, name))

    def wait_ready(self, names: list[tuple[str, str]], timeout: float = 120) -> float:
        pending = set(names)

        def all_ready() -> bool:
            for namespace, name in list(pending):
                ready = condition(self.external_secret(namespace, name))
                if ready and ready["status"] == "True":
                    pending.discard((namespace, name))
            return not pending

        try:
            return wait_until(all_ready, timeout, f"{len(names)} ExternalSecrets Ready", interval=0.5)
        except TimeoutError:
            states = {f"{ns}/{n}": condition(self.external_secret(ns, n)) for ns, n in sorted(pending)}
            raise TimeoutError(f"not Ready within {timeout:.0f} s: {states}\ncontroller log:\n{self.controller_log()}") from None

    def wait_for_data(self, namespace: str, name: str, expected: dict[str, str], timeout: float = 60) -> float:
        return wait_until(lambda: self.secret_data(namespace, name) == expected, timeout, f"Secret {namespace}/{name} data", interval=0.2)

    def events(self, namespace: str, name: str) -> list[str]:
        found = self.admin.request(
            "GET", f"/api/v1/namespaces/{namespace}/events", "events",
            params={"fieldSelector": f"involvedObject.name={name}"},
        )
        return [event.get("message", "") for event in found["items"]]

    def wait_for_failure(
        self, namespace: str, name: str, text: str = "", timeout: float = 60, kind: str = "ExternalSecret"
    ) -> list[str]:
        """Waits until the ESO object is not Ready and its condition or events say `text` (ESO
        puts the provider's error in events; an ExternalSecret's condition says only that syncing
        failed). Returns the messages seen."""
        found: list[str] = []

        def failed() -> bool:
            ready = condition(self.admin.get(ESO_API, kind, name, namespace))
            if not ready or ready["status"] != "False":
                return False
            messages = [ready.get("message", ""), ready.get("reason", ""), *self.events(namespace, name)]
            if any(text in message for message in messages):
                found[:] = messages
                return True
            return False

        wait_until(failed, timeout, f"{kind} {namespace}/{name} failing with {text!r}", interval=0.5)
        return found

    def controller_log(self, lines: int = 40) -> str:
        return self.controller.process.log_tail(lines) if self.controller else ""

    def stop(self) -> None:
        started = time.monotonic()
        if self.controller is not None:
            self.controller.process.stop()
        self.front.stop()
        self.plane.stop()
        self.moto.stop()
        self.timings["stop"] = time.monotonic() - started
