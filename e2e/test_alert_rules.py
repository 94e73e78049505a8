"""The opt-in alerts under `promtool test rules`, the Prometheus project's own rule tester.

promtool is built from the Go module proxy by `python -m e2e.build`, with the harness's other
binaries, into the end-to-end cache. The rule file is what
`python -m stacks alert-rules` prints, the same rules the PrometheusRule carries.
"""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from e2e.build import binary

PROJECT_ROOT = Path(__file__).resolve().parent.parent
RULE_TESTS = Path(__file__).resolve().parent / "promtool" / "eso_alerts_test.yaml"
RULE_FILE_NAME = "eso-alerts.yaml"


@pytest.fixture(scope="session")
def promtool() -> Path:
    """Built by `python -m e2e.build` with the harness's other binaries (`make e2e` runs it first)."""
    built = binary("promtool")
    if not built.is_file():
        pytest.fail(f"{built} is missing: run `python -m e2e.build` (needs Go) first")
    return built


@pytest.fixture
def rules_dir(tmp_path) -> Path:
    """The rule file as the CLI prints it, beside a copy of the promtool test cases."""
    rules = subprocess.run(
        [sys.executable, "-m", "stacks", "alert-rules"], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True, timeout=60
    ).stdout
    (tmp_path / RULE_FILE_NAME).write_text(rules)
    shutil.copy(RULE_TESTS, tmp_path / RULE_TESTS.name)
    return tmp_path


def promtool_run(promtool: Path, directory: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(promtool), *args], cwd=directory, capture_output=True, text=True, timeout=120)


@pytest.mark.timeout(300)
def test_rule_file_passes_promtool_check(promtool, rules_dir):
    result = promtool_run(promtool, rules_dir, "check", "rules", RULE_FILE_NAME)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 3 rules found" in result.stdout + result.stderr


@pytest.mark.timeout(300)
def test_alerts_fire_as_the_rule_tests_expect(promtool, rules_dir):
    result = promtool_run(promtool, rules_dir, "test", "rules", RULE_TESTS.name)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.timeout(300)
def test_the_rule_tests_catch_a_weakened_rule(promtool, rules_dir):
    rule_file = rules_dir / RULE_FILE_NAME
    rule_file.write_text(rule_file.read_text().replace("for: 10m", "for: 1m", 1))
    result = promtool_run(promtool, rules_dir, "test", "rules", RULE_TESTS.name)
    assert result.returncode != 0
    assert "ExternalSecretNotReady" in result.stdout + result.stderr
