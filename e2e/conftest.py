"""One running world for the whole end-to-end session; see e2e/harness.py."""

import os
from pathlib import Path
from typing import Any, Callable

import pytest

from e2e.harness import Harness
from e2e.world import Plan, run_plan, write_stack

StackFactory = Callable[[str, dict[str, Any]], Plan]


@pytest.fixture(scope="session")
def harness(tmp_path_factory) -> Harness:
    # ESO_PLATFORM_E2E_WORKDIR keeps the processes' logs where a failed run can be read.
    kept = os.environ.get("ESO_PLATFORM_E2E_WORKDIR")
    started = Harness.start(Path(kept) if kept else tmp_path_factory.mktemp("world"))
    yield started
    started.stop()


@pytest.fixture(scope="session")
def plan_of(harness) -> Callable[[str | Path], Plan]:
    return lambda stack: Plan(run_plan(stack, harness.issuer))


@pytest.fixture(scope="session")
def generated_stack(harness, tmp_path_factory) -> StackFactory:
    """A stack file written for one test, planned against the running API server's issuer."""
    directory = tmp_path_factory.mktemp("stacks")

    def make(name: str, config: dict[str, Any]) -> Plan:
        full = {"aws:region": "us-east-1", "environment": name, "cluster": {"name": "e2e"}, **config}
        path = write_stack(directory, name, full)
        return Plan(run_plan(path, harness.issuer), path)

    return make
