"""The running world: moto, the AWS front, etcd, kube-apiserver, kube-controller-manager,
kube-scheduler and kwok, a chart repository, the real Pulumi engine, and the ESO controller.

The harness provides only what the program never creates: the cluster (its API server, the
EKS answer for it, its OIDC provider in IAM), the secrets' values, and a process for the
controller pod the chart's Deployment asks for. Everything else is what `pulumi up` made.
"""

import base64
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import requests
import yaml

from components.kubeconfig import exec_kubeconfig
from components.manifests import FORCE_SYNC_ANNOTATION
from components.resource_types import ADMISSION_BINDING, ADMISSION_POLICY

from e2e import build, chart_repository, control_plane, eso_controller, moto_serial
from e2e.aws_front import AwsFront, moto_client
from e2e.aws_provider.install import install as install_aws_plugin
from e2e.aws_cli import LOG as AWS_CLI_LOG, TOKENS as AWS_CLI_TOKENS
from e2e.engine import ORGANIZATION, Engine, EngineResult, EngineStack
from e2e.kube import Kube
from e2e.processes import LOOPBACK, Process, ProcessExited, free_port, wait_until
from e2e.world import ESO_API, Plan, create_oidc_provider, run_plan, seed_secrets, write_stack

REGION = "us-east-1"
# The cluster Pulumi.dev.yaml names; the front answers DescribeCluster for it.
CLUSTER = "platform-dev"
CLUSTER_VERSION = "1.36"
# The identities `aws eks get-token` may resolve to (see e2e/aws_cli.py) that the cluster admits.
DEPLOYER_PROFILE = "platform-deployer"
DEPLOYER_ROLE = "arn:aws:iam::123456789012:role/platform-deployer"
DEPLOYER_IDENTITIES = ("default", f"profile:{DEPLOYER_PROFILE}", f"role:{DEPLOYER_ROLE}")
# The access keys of those identities (the default one's, the profile's); moto takes any key.
DEPLOYER_KEYS = ("testing", "deployer")
# No pod network: the chart's webhook could not be called by the API server.
NO_WEBHOOK = {"webhook": {"create": False}, "certController": {"create": False}}
# The stack every scenario that is not about stacks themselves reconfigures and deploys.
SCENARIO_STACK = "scenarios"
ADMISSION_API = "admissionregistration.k8s.io/v1"
ADMISSION_TYPES = (ADMISSION_POLICY, ADMISSION_BINDING)
# Observed is not yet enforced, and nothing says when it is; about a second here.
POLICY_SETTLE_SECONDS = 2
# Every namespace the program adopts or creates carries it.
PROGRAM_LABEL = "eso-platform/environment"
PROGRAM_LABEL_PREFIX = "eso-platform/"
# On every admission policy the program registers.
PART_OF_PLATFORM = "app.kubernetes.io/part-of=eso-platform"
CLUSTER_STACK_PROGRAM = Path(__file__).resolve().parent / "cluster_stack"


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
    charts: chart_repository.ChartRepository
    runner: eso_controller.DeploymentRunner
    engine: Engine
    timings: dict[str, float] = field(default_factory=dict)
    # The stack whose operator and tenants the cluster holds now; see `claim`.
    owner: Optional[EngineStack] = None
    tunnel: Optional[chart_repository.UpstreamTunnel] = None

    @classmethod
    def start(cls, workdir: Optional[Path] = None) -> "Harness":
        workdir = workdir or Path(tempfile.mkdtemp(prefix="eso-platform-e2e-"))
        binaries = build.build_all(lambda line: print(line, file=sys.stderr, flush=True))
        moto_port = free_port()
        moto_url = f"http://{LOOPBACK}:{moto_port}"
        moto = Process(
            "moto",
            moto_serial.command(LOOPBACK, moto_port),
            workdir / "logs" / "moto.log",
        ).start()
        wait_until(lambda: requests.get(f"{moto_url}/moto-api/", timeout=2).ok, 60, "moto server")
        issuer = control_plane.eks_issuer(REGION, workdir.name)
        plane = control_plane.start(workdir, binaries["etcd"], binaries["kube-apiserver"], issuer, DEPLOYER_IDENTITIES)
        control_plane.start_controller_manager(plane, binaries["kube-controller-manager"], workdir)
        control_plane.start_scheduler(plane, binaries["kube-scheduler"], workdir)
        control_plane.start_kwok(plane, binaries["kwok"], build.kwok_stages(), workdir)
        front = AwsFront(moto_url, plane.jwks, deployer_keys=DEPLOYER_KEYS).start()
        front.add_cluster(CLUSTER, REGION, plane.server, _ca_data(plane), plane.issuer, CLUSTER_VERSION)
        create_oidc_provider(moto_url, plane.issuer)
        charts = chart_repository.ChartRepository(
            chart_repository.package(binaries["helm"], build.eso_chart(), workdir / "charts"),
            plane.pki.chart_repository_cert,
            plane.pki.chart_repository_key,
        ).start()
        admin = plane.admin()
        runner = eso_controller.DeploymentRunner(
            binaries["external-secrets"], admin, front.url, workdir,
            pod_identity_agent=lambda namespace, account: front.pod_identity_endpoint_for(CLUSTER, namespace, account),
        ).start()
        engine = _engine(workdir, binaries, plane, front)
        return cls(workdir, binaries, moto, moto_url, plane, front, admin, charts, runner, engine)

    @property
    def controller(self) -> Optional[eso_controller.Controller]:
        """The controller process of the chart's Deployment, once the engine installed it."""
        return self.runner.controller

    @property
    def aws_cli_calls(self) -> list[dict[str, Any]]:
        log = Path(self.engine.env[AWS_CLI_LOG])
        return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []

    # The engine ------------------------------------------------------------------------------

    def engine_config(self, config: dict[str, Any], upstream: bool = False) -> dict[str, Any]:
        """A stack's config as the harness's cluster needs it: the chart from the local
        repository (with `upstream`, from upstream's, which the engine reaches through
        `upstream_env`), no webhook (no pod network), keyed as a stack file keys it."""
        keyed = {key if ":" in key else f"eso-platform:{key}": value for key, value in config.items()}
        if "eso-platform:platform" in keyed:
            return keyed  # A tenant stack's operator is its platform stack's.
        eso = dict(keyed.get("eso-platform:eso") or {})
        if not upstream:
            eso["chartRepository"] = self.charts.url
        eso["values"] = _merged(eso.get("values") or {}, NO_WEBHOOK)
        keyed["eso-platform:eso"] = eso
        return keyed

    def committed_config(self, stack: str) -> dict[str, Any]:
        """Pulumi.<stack>.yaml's config. A `cluster.stackReference` is answered by a cluster
        stack the harness deploys on the same backend, whose only organization is `organization`."""
        config = yaml.safe_load((build.REPOSITORY / f"Pulumi.{stack}.yaml").read_text())["config"]
        reference = (config.get("eso-platform:cluster") or {}).get("stackReference")
        if reference:
            project, name = reference.split("/")[-2:]
            self.cluster_stack(project, name)
            config["eso-platform:cluster"] = {"stackReference": f"{ORGANIZATION}/{project}/{name}"}
        return config

    def cluster_stack(self, project: str, name: str, kubeconfig: Optional[str] = None) -> EngineStack:
        """A stack of `project` exporting this cluster's kubeconfig (as given, else as the program
        writes one) and OIDC provider ARN."""
        stack = self.engine.stack(name, CLUSTER_STACK_PROGRAM, workspace=f"{project}-{name}", project=project)
        if stack.config is None or kubeconfig is not None:
            account = moto_client("sts", self.moto_url).get_caller_identity()["Account"]
            kubeconfig = kubeconfig or exec_kubeconfig(CLUSTER, REGION, self.plane.server, self.ca_data())
            provider = f"arn:aws:iam::{account}:oidc-provider/{self.issuer.removeprefix('https://')}"
            stack.up({f"{project}:kubeconfig": kubeconfig, f"{project}:oidcProviderArn": provider}).checked()
        return stack

    def ca_data(self) -> str:
        """The cluster CA certificate, base64, as a kubeconfig carries it."""
        return _ca_data(self.plane)

    def stack(self, name: str, program: Optional[Path] = None, workspace: Optional[str] = None) -> EngineStack:
        return self.engine.stack(name, program or build.REPOSITORY, workspace)

    def upstream_env(self) -> dict[str, str]:
        """The engine's way to upstream's chart repository, which this machine cannot reach:
        an HTTPS proxy that tunnels charts.external-secrets.io to the harness's repository."""
        if self.tunnel is None:
            self.tunnel = chart_repository.UpstreamTunnel(self.charts.port).start()
        return {"HTTPS_PROXY": self.tunnel.url}

    def previous_release(self, commit: str) -> Path:
        """The program as it was at `commit` (`git archive`), to deploy a stack with it."""
        target = self.workdir / "releases" / commit
        if not (target / "__main__.py").exists():
            target.mkdir(parents=True, exist_ok=True)
            archive = subprocess.run(["git", "archive", commit], cwd=build.REPOSITORY, capture_output=True, timeout=60)
            if archive.returncode != 0:
                raise RuntimeError(f"commit {commit} is not in this clone's history (a shallow clone?): {archive.stderr.decode()}")
            subprocess.run(["tar", "-x", "-C", str(target)], input=archive.stdout, check=True, timeout=60)
        return target

    def planned(self, name: str, config: dict[str, Any], upstream: bool = False) -> Plan:
        """What the program registers for `config` (the mock-engine plan): which secrets to seed
        and which ExternalSecrets to wait for; the world itself is the engine's."""
        full = self.engine_config(config, upstream)
        path = write_stack(self.workdir / "stack-files", name, full)
        return Plan(run_plan(path, self.issuer), full, path)

    def up(self, stack: EngineStack, config: dict[str, Any], seed: bool = True, **kwargs) -> tuple[EngineResult, Plan, dict]:
        """`pulumi up` of `stack` with `config` (see engine_config), after seeding a value at
        every secret path it reads; returns the result, the plan and the expected Secret data."""
        plan = self.planned(stack.name, config)
        result, expected = self.apply(stack, plan, seed, **kwargs)
        return result, plan, expected

    def apply(self, stack: EngineStack, plan: Plan, seed: bool = True, **kwargs) -> tuple[EngineResult, dict]:
        if plan.installs_operator:
            self.claim(stack)
        expected = seed_secrets(plan, self.moto_url) if seed else {}
        result = stack.up(plan.config, **kwargs)
        if any(step["type"] in ADMISSION_TYPES for step in result.changed()):
            self.settle_admission()
        return result, expected

    def settle_admission(self) -> None:
        """Until the API server enforces the admission policies as they now are: a policy is
        enforced a moment after it is observed, through the admission plugin's own cache, so a
        scenario that tries a forbidden object right after `up` meets the policy `up` made."""
        for policy in self.admin.list(ADMISSION_API, "ValidatingAdmissionPolicy"):
            name = policy["metadata"]["name"]

            def observed() -> bool:
                found = self.admin.get(ADMISSION_API, "ValidatingAdmissionPolicy", name)
                return found is None or found.get("status", {}).get("observedGeneration") == found["metadata"]["generation"]

            wait_until(observed, 30, f"ValidatingAdmissionPolicy {name} observed", interval=0.1)
        time.sleep(POLICY_SETTLE_SECONDS)

    def wait_for_controller(self, timeout: float = 120) -> eso_controller.Controller:
        def running() -> bool:
            controller = self.runner.controller
            try:
                up = controller is not None and controller.live()
            except ProcessExited as exited:  # the runner starts it again, as the kubelet would
                raise RuntimeError(str(exited)) from None
            if not up:
                raise RuntimeError(self.runner.errors[-1] if self.runner.errors else "no controller Deployment yet")
            return True

        wait_until(running, timeout, "the chart's controller running", interval=0.5)
        return self.runner.controller

    @property
    def issuer(self) -> str:
        return self.plane.issuer

    def deploy(self, plan: Plan, seed: bool = True, refresh: bool = False) -> dict[tuple[str, str], dict[str, str]]:
        """`pulumi up` of the scenarios' stack with the config `plan` was made from (one stack,
        reconfigured by each scenario, as a platform team edits its stack: the cluster holds one
        operator); returns the expected Secret data when seeding."""
        return self.apply(self.stack(SCENARIO_STACK), plan, seed, flags={"refresh": True} if refresh else None)[1]

    def deploy_ready(self, plan: Plan) -> dict[tuple[str, str], dict[str, str]]:
        """`deploy`, then until every ExternalSecret of `plan` is Ready; the expected Secret data."""
        expected = self.deploy(plan)
        self.wait_ready([(d.namespace, d.name) for d in plan.deliveries()])
        return expected

    def claim(self, stack: EngineStack) -> EngineStack:
        """`stack`, as the one whose operator the cluster runs: another stack that installed one
        is destroyed first and the cluster reset (see `reset`)."""
        if self.owner is not None and self.owner is not stack:
            self.reset()
        self.owner = stack
        return stack

    def reset(self) -> None:
        """The cluster as another stack can take it over: the owning stack destroyed, then what
        `pulumi destroy` keeps by design removed as docs/coexistence.md says to (the Helm
        release), and the labels the program set on the namespaces it keeps taken off (another
        stack labels them for itself; deleting them takes the namespace controller minutes)."""
        if self.owner is not None and self.owner.config is not None:
            self.owner.destroy()
        self.owner = None
        self.remove_what_destroy_keeps()

    def abandon(self, stack: EngineStack, namespaces: set[str]) -> None:
        """The cluster as another stack can take it over, without destroying `stack`: its
        ExternalSecrets in `namespaces` deleted at once, then as `reset` leaves it."""
        for namespace in sorted(namespaces):
            self.admin.request("DELETE", self.admin.path(ESO_API, "ExternalSecret", namespace=namespace), f"delete ExternalSecrets in {namespace}")
        # What its namespace Patches would have given back; `remove_what_destroy_keeps` takes the labels.
        for found in self.admin.list("v1", "Namespace", selector=PROGRAM_LABEL):
            annotations = {key: None for key in found["metadata"].get("annotations") or {} if key.startswith(PROGRAM_LABEL_PREFIX)}
            self.admin.merge_patch("v1", "Namespace", found["metadata"]["name"], {"metadata": {"annotations": annotations}})
        # The next stack defines the cluster-wide policies again.
        for kind in ("ValidatingAdmissionPolicyBinding", "ValidatingAdmissionPolicy"):
            self.admin.request("DELETE", self.admin.path(ADMISSION_API, kind), f"delete {kind}s", params={"labelSelector": PART_OF_PLATFORM})
        if self.owner is stack:
            self.owner = None
        self.remove_what_destroy_keeps()

    def release_revisions(self, namespace: str = "") -> list[dict[str, Any]]:
        """The program's Helm release in `namespace`, or wherever it is installed: Helm keeps a
        Secret per revision."""
        return self.admin.list("v1", "Secret", namespace, selector="owner=helm,name=external-secrets")

    def remove_what_destroy_keeps(self) -> None:
        releases = {r["metadata"]["namespace"] for r in self.release_revisions()}
        for namespace in sorted(releases):
            uninstalled = subprocess.run(
                [str(self.binaries["helm"]), "uninstall", "external-secrets", "--namespace", namespace, "--wait", "--timeout", "120s"],
                env={**os.environ, "KUBECONFIG": str(self.plane.admin_kubeconfig)}, capture_output=True, text=True, timeout=180,
            )
            if uninstalled.returncode != 0:
                raise RuntimeError(f"helm uninstall in {namespace} failed: {uninstalled.stderr}")
        for namespace in self.admin.list("v1", "Namespace", selector=PROGRAM_LABEL):
            labels = {key: None for key in namespace["metadata"]["labels"] if key.startswith(PROGRAM_LABEL_PREFIX)}
            self.admin.merge_patch("v1", "Namespace", namespace["metadata"]["name"], {"metadata": {"labels": labels}})
        wait_until(lambda: self.runner.controller is None, 60, "the controller stopped with its Deployment", interval=0.5)

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

    def force_sync(self, namespace: str, name: str) -> None:
        """ESO's force-sync annotation set to a value it has not seen: it syncs the ExternalSecret now."""
        annotations = {"metadata": {"annotations": {FORCE_SYNC_ANNOTATION: uuid.uuid4().hex}}}
        self.admin.merge_patch(ESO_API, "ExternalSecret", name, annotations, namespace)

    def force_synced(self, namespace: str, name: str, timeout: float = 120) -> float:
        """Until ESO has synced the ExternalSecret again, after now, and it is Ready."""
        before = self.external_secret(namespace, name)["status"]["refreshTime"]
        self.force_sync(namespace, name)

        def synced_again() -> bool:
            found = self.external_secret(namespace, name)
            ready = condition(found)
            return found["status"].get("refreshTime") != before and bool(ready) and ready["status"] == "True"

        return wait_until(synced_again, timeout, f"ExternalSecret {namespace}/{name} synced again", interval=0.5)

    def wait_until_absent(self, namespace: str, name: str, timeout: float = 60) -> float:
        return wait_until(lambda: self.secret(namespace, name) is None, timeout, f"Secret {namespace}/{name} deleted", interval=0.2)

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

    def doctor(self, stack_file: Path, *args: str, python: Optional[Path] = None, timeout: float = 120) -> tuple[int, dict[str, Any]]:
        """`python -m stacks doctor` of `stack_file` as deploy.yml runs it, in the engine's
        environment (its `aws` CLI, its AWS credentials and endpoint, the front, its Pulumi CLI
        logged in to its backend): the exit code,
        0 or 1, and the JSON report."""
        completed = subprocess.run(
            [str(python or sys.executable), "-m", "stacks", "doctor", str(stack_file), "--format", "json", *args],
            cwd=build.REPOSITORY, env=self.engine.cli_environment(), capture_output=True, text=True, timeout=timeout,
        )
        assert completed.returncode in (0, 1), completed.stderr
        return completed.returncode, json.loads(completed.stdout)

    def controller_log(self, lines: int = 40) -> str:
        return self.controller.process.log_tail(lines) if self.controller else ""

    def stop(self) -> None:
        started = time.monotonic()
        self.runner.stop()
        self.engine.stop_strays()
        if self.tunnel is not None:
            self.tunnel.stop()
        self.charts.stop()
        self.front.stop()
        self.plane.stop()
        self.moto.stop()
        self.timings["stop"] = time.monotonic() - started


def _ca_data(plane: control_plane.ControlPlane) -> str:
    return base64.b64encode(plane.pki.ca_cert.read_bytes()).decode()


def _merged(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in extra.items():
        merged[key] = _merged(merged.get(key) or {}, value) if isinstance(value, dict) else value
    return merged


def _engine(workdir: Path, binaries: dict[str, Path], plane: control_plane.ControlPlane, front: AwsFront) -> Engine:
    """The engine with a PULUMI_HOME of this run's: the cached kubernetes plugin, and the
    stand-in aws plugin of this checkout; `aws` on its PATH is the stand-in CLI."""
    home = workdir / "pulumi-home"
    plugins = home / "plugins"
    plugins.mkdir(parents=True, exist_ok=True)
    # The engine lists plugin folders and skips links to them; a link to the executable is fine.
    cached = binaries["pulumi-plugin-kubernetes"]
    kubernetes = plugins / cached.parent.name
    kubernetes.mkdir()
    (kubernetes / cached.name).symlink_to(cached)
    install_aws_plugin(binaries["pulumi"], home)
    # The deploying identities' profiles; moto takes any key, and no credential is real.
    (workdir / "aws-config").write_text(f"[default]\nregion = {REGION}\n\n[profile {DEPLOYER_PROFILE}]\nregion = {REGION}\n")
    (workdir / "aws-credentials").write_text(
        "[default]\naws_access_key_id = testing\naws_secret_access_key = testing\n\n"  # pragma: allowlist secret
        f"[{DEPLOYER_PROFILE}]\naws_access_key_id = deployer\naws_secret_access_key = deployer\n"  # pragma: allowlist secret
    )
    tools = workdir / "bin"
    tools.mkdir(exist_ok=True)
    aws = tools / "aws"
    aws.write_text(f"#!/bin/sh\nexec {sys.executable} {build.REPOSITORY / 'e2e' / 'aws_cli.py'} \"$@\"\n")
    aws.chmod(0o755)
    env = {
        "PATH": f"{tools}:{os.environ.get('PATH', '/usr/bin:/bin')}",
        # The deploying identity: moto accepts any key, and nothing else sees these.
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",  # pragma: allowlist secret
        "AWS_ENDPOINT_URL": front.url,
        "AWS_CONFIG_FILE": str(workdir / "aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(workdir / "aws-credentials"),
        AWS_CLI_TOKENS: json.dumps(plane.deployer_tokens),
        AWS_CLI_LOG: str(workdir / "aws-cli.jsonl"),
        # Helm fetches the chart over HTTPS from the harness's repository, and keeps its caches
        # in this run's workdir: never the user's, never another world's.
        "SSL_CERT_FILE": str(plane.pki.ca_cert),
        **{f"HELM_{kind}_HOME": str(workdir / "helm" / kind.lower()) for kind in ("CACHE", "CONFIG", "DATA")},
    }
    return Engine(workdir / "engine", binaries["pulumi"], home, env)
