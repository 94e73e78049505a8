"""One running world for the whole end-to-end session; see e2e/harness.py."""

import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable

import pytest

from e2e.harness import CLUSTER, REGION, Harness
from e2e.world import REPOSITORY, Plan

StackFactory = Callable[[str, dict[str, Any]], Plan]


@pytest.fixture(scope="session")
def harness(tmp_path_factory) -> Harness:
    # ESO_PLATFORM_E2E_WORKDIR keeps the processes' logs where a failed run can be read.
    kept = os.environ.get("ESO_PLATFORM_E2E_WORKDIR")
    # Under pytest-xdist each worker runs a world of its own.
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    started = Harness.start(Path(kept) / worker if kept else tmp_path_factory.mktemp("world"))
    yield started
    started.stop()


@pytest.fixture(scope="session")
def plan_of(harness) -> Callable[[str], Plan]:
    """A committed stack (Pulumi.<stack>.yaml), as the harness's cluster deploys it."""
    return lambda stack: harness.planned(stack, harness.committed_config(stack))


@pytest.fixture(scope="session")
def generated_stack(harness) -> StackFactory:
    """A config written for one test: `environment` is its name, on the harness's cluster."""

    def make(name: str, config: dict[str, Any]) -> Plan:
        return harness.planned(name, {"aws:region": REGION, "environment": name, "cluster": {"name": CLUSTER}, **config})

    return make


@pytest.fixture(scope="session")
def product_python(tmp_path_factory) -> Path:
    """The interpreter of a virtualenv built from requirements.txt alone, as `pulumi` builds its
    own: every product command must run in it, with none of requirements-dev.txt."""
    venv = tmp_path_factory.mktemp("product") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
         "-r", str(REPOSITORY / "requirements.txt")],
        check=True, timeout=900,
    )
    return python
