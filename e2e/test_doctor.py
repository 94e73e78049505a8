"""The preflight doctor against the world the harness deployed: green, then a real fault fails
its check with a fix, then green again once fixed."""

import json
import os
import subprocess
import sys

import pytest

from e2e.world import REPOSITORY, put_secret

pytestmark = pytest.mark.timeout(300)


def _doctor(harness, stack_file, python: str = sys.executable) -> tuple[int, dict]:
    env = {
        **os.environ,
        "AWS_ENDPOINT_URL": harness.moto_url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",  # pragma: allowlist secret
    }
    completed = subprocess.run(
        [str(python), "-m", "stacks", "doctor", str(stack_file), "--format", "json", "--oidc-issuer", harness.issuer],
        cwd=REPOSITORY, env=env, capture_output=True, text=True, timeout=120,
    )
    assert completed.returncode in (0, 1), completed.stderr
    return completed.returncode, json.loads(completed.stdout)


def _failed(report: dict) -> list[dict]:
    return [check for check in report["checks"] if check["status"] == "fail"]


def test_a_non_json_secret_fails_its_check_and_turns_green_once_fixed(harness, generated_stack, product_python):
    plan = generated_stack("doc", {"services": [{"name": "api", "namespace": "doc", "keys": ["URL"]}]})
    expected = harness.deploy(plan)
    harness.wait_ready([("doc", "api")])
    stack_file = plan.stack_file
    # In the virtualenv `pulumi` builds from requirements.txt, as deploy.yml runs it.
    code, report = _doctor(harness, stack_file, product_python)
    assert code == 0, _failed(report)

    put_secret(harness.moto_url, "us-east-1", "doc/app/api", "not json at all")
    code, report = _doctor(harness, stack_file)
    assert code == 1
    (failure,) = _failed(report)
    assert "doc/app/api" in json.dumps(failure) and failure.get("fix")
    assert "not json at all" not in json.dumps(report), "the doctor never prints a value"

    put_secret(harness.moto_url, "us-east-1", "doc/app/api", expected[("doc", "api")])
    code, report = _doctor(harness, stack_file)
    assert code == 0, _failed(report)


def test_the_plan_runs_in_the_virtualenv_built_from_requirements_txt_alone(product_python):
    for command in (["plan", "dev"], ["plan", "prod", "--format", "json"], ["alert-rules"], ["secrets-provider", "prod"]):
        completed = subprocess.run(
            [str(product_python), "-m", "stacks", *command], cwd=REPOSITORY, capture_output=True, text=True, timeout=300,
        )
        assert completed.returncode == 0, completed.stderr
        assert completed.stdout.strip()
