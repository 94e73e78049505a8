"""The opt-in alerts under `promtool test rules`, the Prometheus project's own rule tester.

promtool is built from the Go module proxy into the end-to-end cache (e2e.build.cache_root(),
~/.cache/eso-platform/e2e unless ESO_PLATFORM_E2E_CACHE moves it), <version>/bin, on first
use (needs Go; minutes on two cores), then reused. The rule file is what
`python -m stacks alert-rules` prints, the same rules the PrometheusRule carries.
"""

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from e2e.build import cache_root

PROJECT_ROOT = Path(__file__).resolve().parent.parent
PROMTOOL_MODULE = "github.com/prometheus/prometheus/cmd/promtool"
PROMTOOL_VERSION = "v0.316.0"
RULE_TESTS = Path(__file__).resolve().parent / "promtool" / "eso_alerts_test.yaml"
RULE_FILE_NAME = "eso-alerts.yaml"
BUILD_TIMEOUT = 1800


def promtool_bin_dir() -> Path:
    return cache_root() / PROMTOOL_VERSION / "bin"


@pytest.fixture(scope="session")
def promtool() -> Path:
    binary = promtool_bin_dir() / "promtool"
    if binary.is_file():
        return binary
    go = shutil.which("go")
    if go is None:
        pytest.fail("building promtool needs Go (https://go.dev/dl/) on PATH")
    binary.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    subprocess.run(
        [go, "install", f"{PROMTOOL_MODULE}@{PROMTOOL_VERSION}"],
        env={**os.environ, "GOBIN": str(binary.parent)},
        check=True,
        timeout=BUILD_TIMEOUT,
    )
    print(f"built promtool {PROMTOOL_VERSION} in {time.monotonic() - started:.0f} s", file=sys.stderr)
    return binary


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


@pytest.mark.timeout(BUILD_TIMEOUT + 120)
def test_rule_file_passes_promtool_check(promtool, rules_dir):
    result = promtool_run(promtool, rules_dir, "check", "rules", RULE_FILE_NAME)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 3 rules found" in result.stdout + result.stderr


@pytest.mark.timeout(BUILD_TIMEOUT + 120)
def test_alerts_fire_as_the_rule_tests_expect(promtool, rules_dir):
    result = promtool_run(promtool, rules_dir, "test", "rules", RULE_TESTS.name)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.timeout(BUILD_TIMEOUT + 120)
def test_the_rule_tests_catch_a_weakened_rule(promtool, rules_dir):
    rule_file = rules_dir / RULE_FILE_NAME
    rule_file.write_text(rule_file.read_text().replace("for: 10m", "for: 1m", 1))
    result = promtool_run(promtool, rules_dir, "test", "rules", RULE_TESTS.name)
    assert result.returncode != 0
    assert "ExternalSecretNotReady" in result.stdout + result.stderr
