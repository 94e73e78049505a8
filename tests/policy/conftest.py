"""Program runs shared by the policy-pack tests (the per-mode runs are built as `run_stack` builds them)."""

import copy

import pytest

from tools.plan.engine import ProgramRun, run_program
from tests.conftest import Mocks, as_pulumi_config, crowded_services, stack_values


def dev_values_with_irsa_mode(mode: str) -> dict:
    values = copy.deepcopy(stack_values("dev"))
    values["irsa"] = {**values["irsa"], "mode": mode}
    return values


@pytest.fixture(scope="session")
def wildcard_run() -> ProgramRun:
    """dev in irsa mode shared-wildcard: one role trusting the ServiceAccount name in any namespace."""
    return run_program(as_pulumi_config(dev_values_with_irsa_mode("shared-wildcard")), "test", Mocks())


@pytest.fixture(scope="session")
def split_run() -> ProgramRun:
    """prod with a namespace whose exact grants are past the inline limit: managed policies."""
    values = copy.deepcopy(stack_values("prod"))
    values["services"] += crowded_services(40)
    return run_program(as_pulumi_config(values), "prod", Mocks())
