"""The stand-in `aws` CLI answers `aws eks get-token` as the AWS CLI does, for each identity."""

import datetime
import json
import subprocess
import sys

import pytest

from e2e import aws_cli
from tests.conftest import PROJECT_ROOT

TOKENS = {"default": "token-default", "profile:deploy": "token-profile", "role:arn:aws:iam::123456789012:role/deployer": "token-role"}
NOW = datetime.datetime(2026, 12, 1, 12, 0, tzinfo=datetime.timezone.utc)


def run(argv: list[str], tmp_path, **env) -> tuple[int, dict, list[dict]]:
    log = tmp_path / "aws-cli.jsonl"
    environ = {aws_cli.TOKENS: json.dumps(TOKENS), aws_cli.LOG: str(log), "AWS_REGION": "us-east-1", **env}
    completed = subprocess.run(
        [sys.executable, str(PROJECT_ROOT / "e2e" / "aws_cli.py"), *argv],
        env=environ, capture_output=True, text=True, timeout=30,
    )
    entries = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    return completed.returncode, json.loads(completed.stdout) if completed.returncode == 0 else {"stderr": completed.stderr}, entries


@pytest.mark.parametrize(
    "argv, token",
    [
        # components/kubeconfig.py today
        (["eks", "get-token", "--cluster-name", "dev", "--region", "us-east-1"], "token-default"),
        # pulumi-eks: global --region first, then `eks get-token`; its `--role` is a prefix of --role-arn
        (["--region", "us-east-1", "eks", "get-token", "--cluster-name", "dev", "--role", "arn:aws:iam::123456789012:role/deployer"], "token-role"),
        (["eks", "get-token", "--cluster-name", "dev", "--role-arn", "arn:aws:iam::123456789012:role/deployer"], "token-role"),
        # `aws eks update-kubeconfig`
        (["--region", "us-east-1", "eks", "get-token", "--cluster-name", "dev", "--output", "json"], "token-default"),
        (["eks", "get-token", "--cluster-name=dev", "--profile=deploy"], "token-profile"),
    ],
)
def test_each_command_line_form_gets_its_identitys_token(tmp_path, argv, token):
    code, credential, entries = run(argv, tmp_path)
    assert code == 0
    assert credential["kind"] == "ExecCredential" and credential["status"]["token"] == token
    assert entries == [{"argv": argv, "env": {"AWS_REGION": "us-east-1"}}]


def test_the_profile_can_come_from_the_environment_and_an_unknown_identity_gets_a_refused_token(tmp_path):
    _, credential, entries = run(["eks", "get-token", "--cluster-name", "dev"], tmp_path, AWS_PROFILE="deploy")
    assert credential["status"]["token"] == "token-profile"
    assert entries[0]["env"] == {"AWS_PROFILE": "deploy", "AWS_REGION": "us-east-1"}
    _, stranger, _ = run(["eks", "get-token", "--cluster-name", "dev", "--profile", "other"], tmp_path)
    assert stranger["status"]["token"] not in TOKENS.values()


def test_the_credential_answers_in_the_api_version_client_go_asks_for():
    asked = {"KUBERNETES_EXEC_INFO": json.dumps({"apiVersion": "client.authentication.k8s.io/v1", "kind": "ExecCredential"})}
    assert aws_cli.exec_credential("t", asked, NOW)["apiVersion"] == "client.authentication.k8s.io/v1"
    credential = aws_cli.exec_credential("t", {}, NOW)
    assert credential["apiVersion"] == "client.authentication.k8s.io/v1beta1"
    assert credential["status"]["expirationTimestamp"] == "2026-12-01T12:14:00Z"


@pytest.mark.parametrize(
    "argv",
    [
        ["eks", "get-token"],
        ["eks", "get-token", "--cluster-name"],
        ["eks", "get-token", "--cluster", "dev"],
        ["eks", "get-token", "--cluster-name", "dev", "--token-only"],
        ["sts", "get-caller-identity"],
    ],
)
def test_anything_else_is_a_usage_error_and_is_still_recorded(tmp_path, argv):
    code, answer, entries = run(argv, tmp_path)
    assert code == aws_cli.USAGE_ERROR and answer["stderr"].startswith("aws: error:")
    assert [entry["argv"] for entry in entries] == [argv]
