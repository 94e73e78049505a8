"""The pulumi_policy layer: the adapter, the pack's wiring, and the SDK's own Analyze path.

No Pulumi CLI is needed: `policy/__main__.py` runs with PolicyPack replaced by a recorder (the
real one starts a gRPC server and never returns), and the recorded policies are then driven
through pulumi-policy's analyzer servicer exactly as the CLI's gRPC calls would drive them.
"""

import json
import runpy
import sys
from types import SimpleNamespace
from unittest import mock

import pytest
import pulumi_policy
from google.protobuf import struct_pb2
from pulumi.runtime import proto
from pulumi_policy import EnforcementLevel, PolicyCustomTimeouts, PolicyResourceOptions, ResourceValidationArgs
from pulumi_policy.policy import _PolicyAnalyzerServicer
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, unknown_checking_proxy

from policy import rules
from tests.conftest import PROJECT_ROOT
from components.resource_types import ROLE_POLICY
from components.resource_types import KUBERNETES_SECRET as K8S_SECRET
from tests.policy.helpers import (
    ADVISORY,
    K8S_SECRET_DATA,
    MANDATORY,
    READ_SCOPE,
    WILDCARD_TRUST,
    edit_document,
    first_role_policy,
    mutated,
)

PACK_DIR = PROJECT_ROOT / "policy"


def widened(run):
    policy = first_role_policy(run)

    def widen(document):
        document["Statement"][0]["Resource"] = "*"

    return policy, mutated(policy, lambda inputs: edit_document(inputs, "policy", widen))


# --- The adapter --------------------------------------------------------------------------------


def test_validator_reports_each_message_of_its_check(dev_run):
    policy, inputs = widened(dev_run)
    report = mock.Mock()
    validate = rules.validator(rules.secret_read_scope_violations)
    validate(SimpleNamespace(resource_type=policy.type, props=inputs), report)
    expected = rules.secret_read_scope_violations(policy.type, inputs)
    assert len(expected) == 1
    report.assert_called_once_with(expected[0], None)


def test_validator_reports_nothing_for_a_compliant_resource(dev_run):
    policy = first_role_policy(dev_run)
    report = mock.Mock()
    rules.validator(rules.secret_read_scope_violations)(SimpleNamespace(resource_type=policy.type, props=policy.inputs), report)
    report.assert_not_called()


def test_validator_reads_the_sdks_args_and_proxied_props(dev_run):
    """ResourceValidationArgs built as the SDK's Analyze builds it, props behind its unknown-checking proxy."""
    policy, inputs = widened(dev_run)
    options = PolicyResourceOptions(False, [], None, [], PolicyCustomTimeouts(0, 0, 0), [])
    args = ResourceValidationArgs(policy.type, unknown_checking_proxy(inputs), policy.urn, policy.name, options, None)
    report = mock.Mock()
    rules.validator(rules.secret_read_scope_violations)(args, report)
    assert report.call_count == 1 and "Resource '*'" in report.call_args.args[0]


# --- The pack's wiring --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pack():
    """What `policy/__main__.py` passes to PolicyPack, run as Pulumi runs it (run_path on the directory)."""
    recorded = {}
    with mock.patch.object(pulumi_policy, "PolicyPack", lambda **kwargs: recorded.update(kwargs)), mock.patch.object(
        sys, "path", list(sys.path)
    ):
        runpy.run_path(str(PACK_DIR), run_name="__main__")
    return recorded


def test_pack_is_mandatory_with_one_policy_per_guardrail(pack):
    assert pack["name"] == "eso-platform-guardrails"
    assert pack["enforcement_level"] is EnforcementLevel.MANDATORY
    levels = {policy.name: policy.enforcement_level for policy in pack["policies"]}
    assert levels == {
        **{name: EnforcementLevel.MANDATORY for name in MANDATORY},
        **{name: EnforcementLevel.ADVISORY for name in ADVISORY},
    }
    assert all(isinstance(p, pulumi_policy.ResourceValidationPolicy) for p in pack["policies"])


def test_pack_files_pin_the_sdks_and_use_their_own_virtualenv():
    requirements = (PACK_DIR / "requirements.txt").read_text().split()
    assert sorted(requirements) == ["pulumi-policy==1.21.0", "pulumi==3.272.0"]
    import yaml

    project = yaml.safe_load((PACK_DIR / "PulumiPolicy.yaml").read_text())
    assert project["runtime"] == {"name": "python", "options": {"virtualenv": "venv"}}


def test_rules_module_starts_no_pack():
    source = (PACK_DIR / "rules.py").read_text()
    assert "PolicyPack(" not in source


# --- Through the SDK's Analyze, as the CLI calls it ---------------------------------------------


@pytest.fixture(scope="module")
def analyzer(pack):
    return _PolicyAnalyzerServicer(pack["name"], "0.1.0", pack["policies"], pack["enforcement_level"])


def analyze(analyzer, type_token: str, props: dict, name: str = "r") -> list:
    properties = struct_pb2.Struct()
    properties.update(props)
    request = proto.AnalyzeRequest(type=type_token, properties=properties, urn=f"urn:pulumi:test::p::{type_token}::{name}", name=name)
    return list(analyzer.Analyze(request, None).diagnostics)


def test_analyze_passes_the_real_program(analyzer, dev_run):
    for registration in dev_run.resources:
        assert analyze(analyzer, registration.type, registration.inputs, registration.name) == [], registration.name


def test_analyze_reports_a_wide_read_as_mandatory(analyzer, dev_run):
    policy, inputs = widened(dev_run)
    [diagnostic] = analyze(analyzer, policy.type, inputs)
    assert diagnostic.policyName == READ_SCOPE
    assert diagnostic.enforcementLevel == proto.MANDATORY
    assert diagnostic.policyPackName == "eso-platform-guardrails"
    assert "Resource '*'" in diagnostic.message


def test_analyze_reports_the_shared_wildcard_trust_as_advisory_only(analyzer, wildcard_run):
    role = wildcard_run.named("irsa-shared-role")
    [diagnostic] = analyze(analyzer, role.type, role.inputs)
    assert diagnostic.policyName == WILDCARD_TRUST
    assert diagnostic.enforcementLevel == proto.ADVISORY


def test_analyze_during_preview_does_not_fail_on_an_unknown_policy(analyzer, dev_run):
    """An unknown document cannot be judged in preview: the SDK reports it as advisory, and the
    check runs again at `pulumi up` when the value is known."""
    policy = first_role_policy(dev_run)
    diagnostics = analyze(analyzer, ROLE_POLICY, {**policy.inputs, "policy": UNKNOWN_STRING_VALUE})
    assert [(d.policyName, d.enforcementLevel) for d in diagnostics] == [(READ_SCOPE, proto.ADVISORY)]
    assert "during preview" in diagnostics[0].message


def test_analyze_reports_a_secret_with_unknown_data_as_mandatory(analyzer):
    """Data computed from another resource is still literal data in the Secret."""
    diagnostics = analyze(analyzer, K8S_SECRET, {"apiVersion": "v1", "kind": "Secret", "stringData": UNKNOWN_STRING_VALUE})
    assert [(d.policyName, d.enforcementLevel) for d in diagnostics] == [(K8S_SECRET_DATA, proto.MANDATORY)]


def test_analyze_reads_only_the_props_a_check_needs(analyzer, dev_run):
    """An ExternalSecret whose namespace is unknown in preview (a namespace being created) is still checked."""
    external_secret = next(r for r in dev_run.resources if r.type.endswith(":ExternalSecret"))
    inputs = json.loads(json.dumps(external_secret.inputs))
    inputs["metadata"]["namespace"] = UNKNOWN_STRING_VALUE
    assert analyze(analyzer, external_secret.type, inputs) == []
    inputs["spec"]["refreshInterval"] = "30s"
    assert [d.enforcementLevel for d in analyze(analyzer, external_secret.type, inputs)] == [proto.MANDATORY]
