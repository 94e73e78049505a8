"""The program's Pod Identity documents under moto's IAM API and parliament's lint.

The controller's policy keeps one finding: CREDENTIALS_EXPOSURE, parliament's community auditor
for actions that return credentials (sts:AssumeRole). Getting the namespace roles' credentials
is all the controller role is for; the namespace roles' trusts decide which it gets.
"""

import json

import pytest
from parliament import analyze_policy_string, expand_action

from tests.aws.iam_matching import AssumeRoleRequest, RoleSession, ServicePrincipal, assume_role_denial, is_allowed
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


# The program's documents judged as IAM judges them (tests.aws.iam_matching) ------------------

ACCOUNT = "123456789012"
CONTROLLER = f"arn:aws:iam::{ACCOUNT}:role/eso-prod-controller"


@pytest.fixture(scope="module")
def run():
    return pod_identity_run()


@pytest.fixture(scope="module")
def cluster(run) -> str:
    """prod's cluster comes from a stack reference, whose placeholder names it."""
    return run.outputs["podIdentity"]["clusterArn"]


def eks_tags(cluster: str) -> dict[str, str]:
    """The session tags EKS Pod Identity gives the controller's session."""
    return {
        "eks-cluster-arn": cluster,
        "eks-cluster-name": cluster.split(":cluster/", 1)[1],
        "kubernetes-namespace": "external-secrets",
        "kubernetes-service-account": "external-secrets",
    }


def documents(run) -> tuple[dict, dict]:
    """The trusts by role name, and the controller's own policy."""
    trusts = {role.inputs["name"]: json.loads(role.inputs["assumeRolePolicy"]) for role in run.of_type(ROLE)}
    (grant,) = [json.loads(p.inputs["policy"]) for p in run.of_type(ROLE_POLICY) if p.inputs["role"] == "eso-prod-controller"]
    return trusts, grant


def controller_session(cluster: str, **tags: str) -> RoleSession:
    session_tags = {**eks_tags(cluster), **tags}
    return RoleSession(CONTROLLER, "eks-cluster-external-secrets", session_tags, frozenset(session_tags))


def eso_request(role: str, namespace: str, caller: RoleSession, kind: str = "SecretStore") -> AssumeRoleRequest:
    """What ESO sends with sessionTagsPolicy: Simple for an ExternalSecret of `namespace`."""
    tags = {"esoNamespace": namespace, "esoStoreName": "aws-secretsmanager-us-east-1", "esoStoreKind": kind}
    return AssumeRoleRequest(f"arn:aws:iam::{ACCOUNT}:role/{role}", caller, tags)


def test_iam_lets_the_controller_assume_a_namespace_role_only_for_that_namespace(run, cluster):
    trusts, grant = documents(run)
    namespaces = sorted(name.split(".", 1)[1] for name in trusts if "." in name)
    assert len(namespaces) >= 2
    for namespace in namespaces:
        role = f"eso-prod.{namespace}"
        assert assume_role_denial(trusts[role], [grant], eso_request(role, namespace, controller_session(cluster))) is None, role
        for other in (n for n in namespaces if n != namespace):
            assert assume_role_denial(trusts[role], [grant], eso_request(role, other, controller_session(cluster))) is not None, (role, other)
    role, namespace = f"eso-prod.{namespaces[0]}", namespaces[0]
    refused = {
        "a ClusterSecretStore's session": eso_request(role, namespace, controller_session(cluster), kind="ClusterSecretStore"),
        "the controller of another cluster": eso_request(role, namespace, controller_session(cluster, **{"eks-cluster-arn": cluster + "-2"})),
        "another pod of the operator's namespace": eso_request(
            role, namespace, controller_session(cluster, **{"kubernetes-service-account": "external-secrets-webhook"})
        ),
        "another role of the account": eso_request(role, namespace, RoleSession(f"arn:aws:iam::{ACCOUNT}:role/ci", "ci", eks_tags(cluster))),
    }
    for case, request in refused.items():
        assert assume_role_denial(trusts[role], [grant], request) is not None, case


def test_eks_pod_identity_of_this_cluster_alone_gets_the_controller_role(run, cluster):
    trusts, _ = documents(run)
    trust = trusts["eso-prod-controller"]
    tags = eks_tags(cluster)
    eks = ServicePrincipal("pods.eks.amazonaws.com", cluster, ACCOUNT)
    assert assume_role_denial(trust, [], AssumeRoleRequest(CONTROLLER, eks, tags)) is None
    other = ServicePrincipal("pods.eks.amazonaws.com", cluster + "-2", ACCOUNT)
    assert assume_role_denial(trust, [], AssumeRoleRequest(CONTROLLER, other, tags)) is not None
    ec2 = ServicePrincipal("ec2.amazonaws.com", cluster, ACCOUNT)
    assert assume_role_denial(trust, [], AssumeRoleRequest(CONTROLLER, ec2, tags)) is not None


def test_the_controller_role_reads_no_secret_and_assumes_no_other_role(run):
    _, grant = documents(run)
    assert not is_allowed([grant], "secretsmanager:GetSecretValue", f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:prod/app/api-AbCdEf", {})
    assert not is_allowed([grant], "sts:AssumeRole", f"arn:aws:iam::{ACCOUNT}:role/eso-dev.payments", {})
    assert not is_allowed([grant], "sts:AssumeRole", f"arn:aws:iam::{ACCOUNT}:role/OrganizationAccountAccessRole", {})
