"""The doctor against the world the harness deployed, as the deploying identity: it reaches the
real API server through the program's own kubeconfig (`aws eks get-token`, the harness's stand-in
CLI) and AWS through the front; green, then a secret ESO cannot deliver fails its ExternalSecret's
check with ESO's own error, then green again once fixed."""

import json
import subprocess

import pytest

from e2e.harness import condition
from e2e.processes import wait_until
from e2e.aws_front import moto_client
from e2e.world import REPOSITORY, put_secret

pytestmark = pytest.mark.timeout(300)
MARKER = "value-the-doctor-must-never-print"


def _doctor(harness, stack_file, python=None) -> tuple[int, dict]:
    return harness.doctor(stack_file, "--oidc-issuer", harness.issuer, python=python)


def _failed(report: dict) -> list[dict]:
    return [check for check in report["checks"] if check["status"] == "fail"]


def test_a_secret_missing_a_key_fails_its_external_secret_and_turns_green_once_fixed(harness, generated_stack, product_python):
    plan = generated_stack("doc", {"services": [{"name": "api", "namespace": "doc", "keys": ["URL"]}]})
    expected = harness.deploy_ready(plan)
    stack_file = plan.stack_file
    # In the virtualenv `pulumi` builds from requirements.txt, as deploy.yml runs it.
    code, report = _doctor(harness, stack_file, product_python)
    assert code == 0, _failed(report)
    assert [c["status"] for c in report["checks"] if c["check"] in ("cluster-access", "external-secret")] == ["pass", "pass"]

    put_secret(harness.moto_url, "us-east-1", "doc/app/api", {"OTHER": MARKER})
    harness.force_sync("doc", "api")
    wait_until(lambda: (condition(harness.external_secret("doc", "api")) or {}).get("status") == "False", 60,
               "ESO to fail the ExternalSecret")
    code, report = _doctor(harness, stack_file)
    assert code == 1
    (failure,) = _failed(report)
    assert (failure["check"], failure["subject"]) == ("external-secret", "doc/api")
    # ESO 2.9.0's own words: the data entry, then the provider's error (secretsmanager.go).
    assert "last error: error processing spec.data[0] (key: doc/app/api), err: key URL does not exist in secret doc/app/api" in failure["detail"], failure
    assert MARKER not in json.dumps(report), "the doctor never prints a value"

    put_secret(harness.moto_url, "us-east-1", "doc/app/api", expected[("doc", "api")])
    harness.force_sync("doc", "api")
    harness.wait_ready([("doc", "api")])
    code, report = _doctor(harness, stack_file)
    assert code == 0, _failed(report)


def test_the_plan_runs_in_the_virtualenv_built_from_requirements_txt_alone(product_python):
    for command in (["plan", "dev"], ["plan", "prod", "--format", "json"], ["alert-rules"], ["secrets-provider", "prod"]):
        completed = subprocess.run(
            [str(product_python), "-m", "stacks", *command], cwd=REPOSITORY, capture_output=True, text=True, timeout=300,
        )
        assert completed.returncode == 0, completed.stderr
        assert completed.stdout.strip()


def test_a_kept_secret_is_warned_until_eso_has_synced_under_orphan(harness, generated_stack):
    """ESO drops the Secret's ownerReference only in a sync that read the secret: switched to
    onRemove: keep while its secret is unreadable, the Secret stays owned (removing the service
    would delete it) and the doctor warns; once a sync succeeds, it is let go."""
    owned = generated_stack("kpt", {"services": [{"name": "app", "namespace": "kpt"}]})
    expected = harness.deploy_ready(owned)
    moto_client("secretsmanager", harness.moto_url).delete_secret(SecretId="kpt/app/app", ForceDeleteWithoutRecovery=True)
    kept = generated_stack("kpt", {"services": [{"name": "app", "namespace": "kpt", "onRemove": "keep"}]})
    harness.deploy(kept, seed=False)
    wait_until(lambda: (condition(harness.external_secret("kpt", "app")) or {}).get("status") == "False", 60,
               "ESO to fail the sync under Orphan")
    assert harness.secret("kpt", "app")["metadata"]["ownerReferences"][0]["kind"] == "ExternalSecret"
    code, report = _doctor(harness, kept.stack_file)
    (warned,) = [c for c in report["checks"] if c["check"] == "kept-secret"]
    assert (warned["status"], warned["subject"]) == ("warn", "kpt/app"), warned
    assert "removing the service now deletes this Secret" in warned["detail"]

    put_secret(harness.moto_url, "us-east-1", "kpt/app/app", expected[("kpt", "app")])
    harness.force_sync("kpt", "app")
    wait_until(lambda: not harness.secret("kpt", "app")["metadata"].get("ownerReferences"), 60, "ESO to let go of the Secret")
    code, report = _doctor(harness, kept.stack_file)
    assert code == 0, _failed(report)
    (let_go,) = [c for c in report["checks"] if c["check"] == "kept-secret"]
    assert let_go["status"] == "pass", let_go
