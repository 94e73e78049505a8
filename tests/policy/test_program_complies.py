"""The real program, run under the mock engine, passes every guardrail of the pack.

The only finding it may produce is the advisory one, and only in irsa.mode shared-wildcard.
"""

import copy

import pytest

from tests.conftest import stack_values
from tests.policy.conftest import dev_values_with_irsa_mode
from components.resource_types import EXTERNAL_SECRET, MANAGED_POLICY, RELEASE, ROLE, ROLE_POLICY
from components.resource_types import POLICY_ATTACHMENT as ATTACHMENT
from tests.policy.helpers import WILDCARD_TRUST, findings

# Each guardrail that concerns the program has something to look at in every run below.
CHECKED_TYPES = {ROLE, ROLE_POLICY, EXTERNAL_SECRET, RELEASE}


@pytest.mark.parametrize("run_fixture", ["dev_run", "prod_run"])
def test_committed_stacks_pass_every_guardrail(request, run_fixture):
    run = request.getfixturevalue(run_fixture)
    assert CHECKED_TYPES <= {r.type for r in run.resources}
    assert findings(run) == {}


def test_prod_permission_policy_with_kms_statement_passes(prod_run):
    # prod adds a kms:Decrypt statement on a key ARN: it must not be mistaken for a secret read.
    policies = [r.inputs["policy"] for r in prod_run.of_type(ROLE_POLICY)]
    assert policies and all("kms:Decrypt" in p for p in policies)
    assert findings(prod_run) == {}


@pytest.mark.parametrize("mode", ["per-namespace", "shared"])
def test_irsa_modes_without_wildcard_pass_every_guardrail(run_stack, mode):
    run = run_stack(dev_values_with_irsa_mode(mode))
    assert CHECKED_TYPES <= {r.type for r in run.resources}
    assert findings(run) == {}


def test_shared_wildcard_mode_yields_exactly_the_advisory_warning(run_stack):
    run = run_stack(dev_values_with_irsa_mode("shared-wildcard"))
    found = findings(run)
    assert list(found) == ["irsa-shared-role"]
    assert list(found["irsa-shared-role"]) == [WILDCARD_TRUST]
    [message] = found["irsa-shared-role"][WILDCARD_TRUST]
    assert "system:serviceaccount:*:external-secret-operator" in message
    # The program itself warns about the same role once.
    assert len(run.warnings) == 1 and "shared-wildcard" in run.warnings[0]


def test_other_program_shapes_pass_every_guardrail(run_stack):
    """A created cluster, another secret path layout, KMS keys, the 1m minimum interval and
    opt-in monitoring."""
    values = copy.deepcopy(stack_values("dev"))
    values["cluster"] = {"create": {"version": "1.35"}}
    values["secretPathTemplate"] = "{env}/{namespace}/{service}"
    values["irsa"] = {
        **values["irsa"],
        "kmsKeyArns": [
            "arn:aws:kms:us-east-1:123456789012:key/0b7c6f1e-3f1a-4c55-9a3e-5d2c1e8f9a10",
            "arn:aws:kms:us-west-2:123456789012:key/mrk-4c1f0e2b9d7a4e6f8a3b5c7d9e1f2a3b",
        ],
    }
    values["services"][0]["refreshInterval"] = "1m"
    values["eso"] = {**values["eso"], "monitoring": {"serviceMonitor": True, "alerts": True}}
    run = run_stack(values)
    assert run.of_type("kubernetes:monitoring.coreos.com/v1:PrometheusRule")
    intervals = {r.inputs["spec"]["refreshInterval"] for r in run.of_type(EXTERNAL_SECRET)}
    assert "1m" in intervals
    assert CHECKED_TYPES <= {r.type for r in run.resources}
    assert findings(run) == {}


def test_grants_spread_over_managed_policies_pass_every_guardrail(split_run):
    assert {MANAGED_POLICY, ATTACHMENT} | CHECKED_TYPES <= {r.type for r in split_run.resources}
    assert findings(split_run) == {}
