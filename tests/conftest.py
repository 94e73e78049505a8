"""Shared fixtures: the real program run under the SDK's mock engine with placeholder AWS answers."""

import json
import os
from pathlib import Path
from typing import Any, Callable, Optional

import boto3
import pytest
import yaml
from hypothesis import settings
from moto import mock_aws
from pulumi.runtime import rpc

from tools.plan.engine import PLACEHOLDER_ACCOUNT, PlaceholderCloud, ProgramRun, RecordingMonitor, run_program
from tools.stack_files import read_stack_config, stack_file

PROJECT_ROOT = Path(__file__).resolve().parent.parent
REGION = "us-east-1"


class Mocks(PlaceholderCloud):
    """The offline plan's placeholder cloud, with the account and issuer tests assert on."""

    def __init__(
        self, account_id: str = PLACEHOLDER_ACCOUNT, oidc_issuer: Optional[str] = None, kubeconfig: Any = None
    ):
        super().__init__(REGION, account_id=account_id, oidc_issuer=oidc_issuer)
        # What a cluster stack exports (or pulumi-eks's kubeconfigJson), instead of the placeholder's.
        self.exported_kubeconfig = kubeconfig

    def kubeconfig(self, cluster: str) -> Any:
        return super().kubeconfig(cluster) if self.exported_kubeconfig is None else self.exported_kubeconfig


class RevealingMonitor(RecordingMonitor):
    """Also keeps each resource's inputs with secret values shown, to assert what a secret holds."""

    def __init__(self, cloud: PlaceholderCloud):
        super().__init__(cloud)
        self.revealed: dict[str, dict[str, Any]] = {}

    def RegisterResource(self, request):
        response = super().RegisterResource(request)
        self.revealed[request.name] = _revealed(rpc.deserialize_properties(request.object, keep_unknowns=False))
        return response


def _revealed(value: Any) -> Any:
    if isinstance(value, dict):
        if value.get(rpc._special_sig_key) == rpc._special_secret_sig:
            return _revealed(value["value"])
        return {key: _revealed(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_revealed(item) for item in value]
    return value


def stack_values(stack: str) -> dict[str, Any]:
    """A committed stack's config as YAML values (objects, not JSON text), keyed without prefixes
    for the `eso-platform:` namespace and with `aws:` keys as they are."""
    values: dict[str, Any] = {}
    for key, text in read_stack_config(stack_file(stack)).items():
        name = key.removeprefix("eso-platform:")
        values[name] = json.loads(text) if text[:1] in "[{" else text
    return values


def pod_identity_values(stack: str) -> dict[str, Any]:
    """A committed stack's values under `identity: podIdentity`, without the tenant ServiceAccount
    name it sets, which Pod Identity has no use for (and refuses)."""
    values = stack_values(stack)
    values["identity"] = "podIdentity"
    values["irsa"] = {key: value for key, value in values["irsa"].items() if key != "serviceAccountName"}
    return values


def as_pulumi_config(values: dict[str, Any]) -> dict[str, str]:
    config = {}
    for key, value in values.items():
        full = key if ":" in key else f"eso-platform:{key}"
        config[full] = value if isinstance(value, str) else json.dumps(value)
    return config


def write_stack_file(path: Path, values: dict[str, Any]) -> Path:
    """`values` (see stack_values) as a stack file at `path`."""
    config = {key if ":" in key else f"eso-platform:{key}": value for key, value in values.items()}
    path.write_text(yaml.safe_dump({"config": config}, sort_keys=True))
    return path


def crowded_services(count: int, namespace: str = "crowded") -> list[dict[str, str]]:
    """`count` services with the longest names a service may have (63 characters) in one
    namespace: the fewest services whose exact grants go past IAM's inline limit."""
    return [{"name": f"service-{index:03d}-{'x' * 51}", "namespace": namespace} for index in range(count)]


# Kubeconfigs as pulumi-eks (its kubeconfigJson) and `aws eks update-kubeconfig` write them, read
# off the sources components/kubeconfig.py cites; the YAML file names its command line.
KUBECONFIGS = PROJECT_ROOT / "tests" / "components" / "kubeconfigs"
PULUMI_EKS_KUBECONFIG = (KUBECONFIGS / "pulumi-eks-4.4.0.json").read_text()
AWS_CLI_KUBECONFIG = (KUBECONFIGS / "aws-cli-update-kubeconfig.yaml").read_text()

RunStack = Callable[..., ProgramRun]


@pytest.fixture
def aws(monkeypatch, tmp_path):
    """A boto3 session whose every call goes to moto's in-memory AWS, never to a real one."""
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    # No shared config or credentials file of the machine is read.
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    with mock_aws():
        yield boto3.Session(region_name="us-east-1")


@pytest.fixture
def run_stack() -> RunStack:
    """Runs the program on `values` (see stack_values) and returns what it registered."""

    def run(values: dict[str, Any], stack: str = "test", mocks: Optional[Mocks] = None) -> ProgramRun:
        return run_program(as_pulumi_config(values), stack, mocks or Mocks())

    return run


@pytest.fixture(scope="session")
def dev_run() -> ProgramRun:
    return run_program(read_stack_config(stack_file("dev")), "dev", Mocks())


@pytest.fixture(scope="session")
def prod_run() -> ProgramRun:
    return run_program(read_stack_config(stack_file("prod")), "prod", Mocks())


settings.register_profile("ci", max_examples=300, deadline=None, derandomize=True)
settings.register_profile("default", max_examples=100, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))
