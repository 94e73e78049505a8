"""The deploying identity's policy (`python -m stacks deployer-policy`) allows every AWS call the
real engine's `up`, `preview`, `up --refresh` and `destroy` of the program, and the doctor, make:
each call the front saw signed by the deploying identity is judged with the project's IAM
matcher against the policy printed for the config in effect, with the condition keys the
request carries."""

import json
import subprocess
import sys

import pytest

from components.cluster import POD_IDENTITY_AGENT
from e2e.authorization import Authorizer
from e2e.aws_front import moto_client
from e2e.harness import CLUSTER, SCENARIO_STACK
from e2e.world import REPOSITORY
from tests.aws.iam_matching import is_allowed
from tests.conftest import crowded_services

pytestmark = pytest.mark.timeout(900)
ACCOUNT = "123456789012"
# The access key the engine's environment signs with: the deploying identity.
DEPLOYER_KEY = "testing"
BOUNDARY_DOCUMENT = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": ["secretsmanager:GetSecretValue", "kms:Decrypt"], "Resource": "*"},
]}


def _deployer_policy(stack_file) -> dict:
    completed = subprocess.run(
        [sys.executable, "-m", "stacks", "deployer-policy", str(stack_file), "--account", ACCOUNT],
        cwd=REPOSITORY, capture_output=True, text=True, timeout=120,
    )
    assert completed.returncode == 0, completed.stderr
    return json.loads(completed.stdout)


def _refused(calls, policy: dict, authorizer: Authorizer) -> list[str]:
    refused = []
    for call in calls:
        for authorization in authorizer.authorizations(call):
            if not is_allowed([policy], authorization.action, authorization.resource, authorization.context):
                refused.append(f"{authorization.action} on {authorization.resource} with {authorization.context}")
    return refused


def _deployer_calls(log, since: int, until: int) -> list:
    return [call for call in log.calls_since(since)[: until - since] if call.access_key == DEPLOYER_KEY]


def test_every_call_of_the_engine_and_the_doctor_is_allowed_by_the_deployer_policy(harness, generated_stack):
    iam = moto_client("iam", harness.moto_url)
    boundary = iam.create_policy(PolicyName="eso-deployer-boundary", PolicyDocument=json.dumps(BOUNDARY_DOCUMENT))["Policy"]["Arn"]
    keys = [moto_client("kms", harness.moto_url, region).create_key(Description="deployer-policy")["KeyMetadata"]["Arn"]
            for region in ("us-east-1", "us-west-2")]
    irsa = {"permissionsBoundary": boundary, "kmsKeyArns": keys}
    crowded = crowded_services(40, "dp-crowded")
    first = generated_stack("deployer", {"irsa": irsa, "services": [
        {"name": "api", "namespace": "dp-a"}, {"name": "web", "namespace": "dp-b", "region": "us-west-2"}, *crowded,
    ]})
    # Printed before the next config of the same stack rewrites its stack file.
    first_policy = _deployer_policy(first.stack_file)
    # dp-b leaves (its role is deleted, and us-west-2 with it), dp-a gains a service, the crowded role's grants change.
    second = generated_stack("deployer", {"irsa": {**irsa, "kmsKeyArns": keys[:1]}, "services": [
        {"name": "api", "namespace": "dp-a"}, {"name": "worker", "namespace": "dp-a"}, *crowded_services(41, "dp-crowded"),
    ]})
    log, stack = harness.front.log, harness.stack(SCENARIO_STACK)
    # The cluster as no stack has it: every role the window sees is one these configs create.
    harness.reset()

    start = log.calls_mark()
    harness.deploy(first)
    updates = log.calls_mark()
    stack.preview(second.config).checked()
    harness.deploy(second)
    harness.deploy(second, refresh=True)
    harness.doctor(second.stack_file, timeout=300)
    harness.reset()
    end = log.calls_mark()
    authorizer = Authorizer(ACCOUNT)
    first_calls, later_calls = _deployer_calls(log, start, updates), _deployer_calls(log, updates, end)
    refused = _refused(first_calls, first_policy, authorizer)
    refused += _refused(later_calls, _deployer_policy(second.stack_file), authorizer)
    calls = first_calls + later_calls
    assert refused == []
    # What was judged: the role, policy and attachment lifecycles, the lookups and the doctor's reads.
    actions = {f"{call.service}:{call.operation}" for call in calls}
    assert {
        "iam:CreateRole", "iam:PutRolePolicy", "iam:CreatePolicy", "iam:AttachRolePolicy", "iam:CreatePolicyVersion",
        "iam:DetachRolePolicy", "iam:DeletePolicy", "iam:DeleteRole", "iam:GetRole", "eks:DescribeCluster",
        "iam:GetOpenIDConnectProvider", "secretsmanager:DescribeSecret", "kms:DescribeKey",
    } <= actions, sorted(actions)
    assert "secretsmanager:GetSecretValue" not in actions


def test_under_pod_identity_every_call_of_the_engine_and_the_doctor_is_allowed(harness, generated_stack):
    """The association's lifecycle (created passing the controller role, read, deleted by the
    destroy), the controller's grant updated as a namespace leaves, and the agent's add-on read
    by the doctor, judged the same way."""
    harness.front.pod_identity.set_addon(CLUSTER, POD_IDENTITY_AGENT, "v1.3.10-eksbuild.2")
    services = [{"name": "api", "namespace": "dpp-a"}, {"name": "web", "namespace": "dpp-b"}]
    pods = generated_stack("deployerpods", {"identity": "podIdentity", "services": services})
    # Printed before the next config of the same stack rewrites its stack file.
    pods_policy = _deployer_policy(pods.stack_file)
    fewer = generated_stack("deployerpods", {"identity": "podIdentity", "services": services[:1]})
    log = harness.front.log
    harness.reset()
    start = log.calls_mark()
    harness.deploy(pods)
    updates = log.calls_mark()
    # A namespace leaves: its role goes, and the controller's grant with it.
    harness.deploy(fewer)
    harness.doctor(fewer.stack_file, timeout=300)
    harness.reset()
    end = log.calls_mark()
    first, later = _deployer_calls(log, start, updates), _deployer_calls(log, updates, end)
    authorizer = Authorizer(ACCOUNT)
    refused = _refused(first, pods_policy, authorizer)
    refused += _refused(later, _deployer_policy(fewer.stack_file), authorizer)
    assert refused == []
    actions = {f"{call.service}:{call.operation}" for call in first + later}
    assert {
        "eks:CreatePodIdentityAssociation", "eks:DescribePodIdentityAssociation", "eks:DeletePodIdentityAssociation",
        "eks:ListPodIdentityAssociations", "eks:DescribeAddon", "iam:CreateRole", "iam:DeleteRole", "iam:PutRolePolicy",
    } <= actions, sorted(actions)
