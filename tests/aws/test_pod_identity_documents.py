"""The program's Pod Identity documents under moto's IAM API and parliament's lint.

The controller's policy keeps one finding: CREDENTIALS_EXPOSURE, parliament's community auditor
for actions that return credentials (sts:AssumeRole). Getting the namespace roles' credentials
is all the controller role is for; the namespace roles' trusts decide which it gets.
"""

import json

import pytest
from parliament import analyze_policy_string, expand_action

from tests.aws.moto_world import ROLE, ROLE_POLICY, World, create_iam
from tests.conftest import Mocks, as_pulumi_config, pod_identity_values
from tools.plan.engine import run_program

NO_RESOURCE = ("MALFORMED", "Statement contains neither Resource nor NotResource")
CREDENTIALS_EXPOSURE = ("CREDENTIALS_EXPOSURE", "")


def pod_identity_run(mode: str = "per-namespace"):
    values = pod_identity_values("prod")
    values["irsa"]["mode"] = mode
    return run_program(as_pulumi_config(values), "prod", Mocks())


def findings(text: str) -> list[tuple[str, str]]:
    policy = analyze_policy_string(text, include_community_auditors=True)
    return sorted((f.issue, f.detail if isinstance(f.detail, str) else json.dumps(f.detail, sort_keys=True)) for f in policy.findings)


@pytest.mark.parametrize("mode", ["per-namespace", "shared"])
def test_moto_accepts_every_document(aws, mode):
    run = pod_identity_run(mode)
    created = create_iam(aws, run, World())
    iam = aws.client("iam")
    for role in run.of_type(ROLE):
        stored = iam.get_role(RoleName=role.inputs["name"])["Role"]["AssumeRolePolicyDocument"]
        assert stored == json.loads(role.inputs["assumeRolePolicy"])
    assert {r.inputs["name"] for r in run.of_type(ROLE)} == {arn.rsplit("/", 1)[1] for arn in created}
    controller = next(p for p in run.of_type(ROLE_POLICY) if p.inputs["role"] == "eso-prod-controller")
    assert iam.get_role_policy(RoleName="eso-prod-controller", PolicyName=controller.inputs["name"])["PolicyDocument"] == (
        json.loads(controller.inputs["policy"])
    )


@pytest.mark.parametrize("mode", ["per-namespace", "shared"])
def test_permission_policies_lint_clean_and_trusts_keep_only_the_no_resource_finding(mode):
    run = pod_identity_run(mode)
    for policy in run.of_type(ROLE_POLICY):
        expected = [CREDENTIALS_EXPOSURE] if policy.inputs["role"] == "eso-prod-controller" else []
        assert findings(policy.inputs["policy"]) == expected, policy.inputs["role"]
    for role in run.of_type(ROLE):
        text = role.inputs["assumeRolePolicy"]
        # A trust policy has no Resource (see test_parliament_lint.py), so parliament audits no further.
        assert findings(text) == [NO_RESOURCE], role.inputs["name"]
        for statement in json.loads(text)["Statement"]:
            # The action check parliament skipped: real STS actions, and only these two.
            assert [expand_action(action) for action in statement["Action"]] == [
                [{"service": "sts", "action": "AssumeRole"}],
                [{"service": "sts", "action": "TagSession"}],
            ]
