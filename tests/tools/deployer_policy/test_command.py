"""`python -m stacks deployer-policy`: the deploying identity's policy reaches the stack's own
roles, managed policies, cluster and secrets' metadata, and nothing else; it never reads or
decrypts a secret. Judged with the project's IAM matcher, accepted by moto's IAM, linted by
parliament. That it allows every call the engine and the doctor make is e2e/test_deployer_policy.py."""

import json

import pytest
from parliament import analyze_policy_string

from components.iam_documents import SecretGrant, AwsIdentity, secret_arn_pattern
from stacks.access import role_name
from tests.aws.iam_matching import is_allowed
from tests.conftest import PROJECT_ROOT, pod_identity_values, stack_values, write_stack_file
from tools.cli import main
from tools.stack_files import load_stack_file

ACCOUNT = "123456789012"
BOUNDARY = f"arn:aws:iam::{ACCOUNT}:policy/eso-boundary"


def printed(capsys, stack: str) -> dict:
    assert main(["deployer-policy", stack, "--account", ACCOUNT]) == 0
    return json.loads(capsys.readouterr().out)


# What else a deploy role may carry (an administrator's broad grant): the policy's denies still hold.
BROAD = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": ["secretsmanager:*", "kms:*", "sts:*", "iam:*"], "Resource": "*"},
]}


def allowed(policy: dict, action: str, resource: str, **context: str) -> bool:
    return is_allowed([policy], action, resource, context)


def allowed_beside_broad(policy: dict, action: str, resource: str, **context: str) -> bool:
    return is_allowed([policy, BROAD], action, resource, context)


def role_arn(name: str, path: str = "/") -> str:
    return f"arn:aws:iam::{ACCOUNT}:role{path}{name}"


def secret_arns(stack: str) -> list[str]:
    identity = AwsIdentity("aws", ACCOUNT, "", "")
    return [secret_arn_pattern(identity, SecretGrant(s.region, s.secret_path)).replace("??????", "AbCdEf")
            for s in load_stack_file(PROJECT_ROOT / f"Pulumi.{stack}.yaml").services]


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_no_secret_of_the_stack_can_be_read_or_decrypted(capsys, stack):
    policy = printed(capsys, stack)
    for arn in secret_arns(stack):
        assert allowed(policy, "secretsmanager:DescribeSecret", arn)
        for read in ("secretsmanager:GetSecretValue", "secretsmanager:BatchGetSecretValue"):
            assert not allowed_beside_broad(policy, read, arn)
    region_keys = stack_values(stack)["irsa"].get("kmsKeyArns", [])
    for key in region_keys or [f"arn:aws:kms:us-east-1:{ACCOUNT}:key/any"]:
        service = f"secretsmanager.{key.split(':')[3]}.amazonaws.com"
        assert not allowed_beside_broad(policy, "kms:Decrypt", key, **{"kms:ViaService": service})
        assert allowed(policy, "kms:DescribeKey", key)
    for key in region_keys:
        assert not allowed_beside_broad(policy, "kms:Decrypt", key)
    # Another key (the state's awskms key) stays the broad grant's to give.
    assert allowed_beside_broad(policy, "kms:Decrypt", f"arn:aws:kms:us-east-1:{ACCOUNT}:key/state")


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_it_manages_the_stacks_roles_and_no_other(capsys, stack):
    policy = printed(capsys, stack)
    environment = stack_values(stack)["environment"]
    other = "prod" if environment == "dev" else "dev"
    own = [role_name(environment, "backend"), role_name(environment, "a-namespace-onboarded-later"), role_name(environment, None)]
    for name in own:
        for action in ("iam:CreateRole", "iam:PutRolePolicy", "iam:UpdateAssumeRolePolicy", "iam:DeleteRole", "iam:TagRole"):
            assert allowed(policy, action, role_arn(name)), (action, name)
        assert not allowed_beside_broad(policy, "sts:AssumeRole", role_arn(name)), "a trust edited by the deployer would not let it act as ESO"
    for name in (role_name(other, "backend"), role_name(other, None), f"eso-{environment}2.backend", "platform-deployer",
                 "OrganizationAccountAccessRole"):
        assert not any(allowed(policy, action, role_arn(name)) for action in ("iam:CreateRole", "iam:PutRolePolicy", "iam:GetRole")), name
    assert not allowed(policy, "iam:PutRolePolicy", role_arn(own[0], "/elsewhere/"))


def test_only_the_stacks_own_managed_policies_can_be_attached(capsys):
    policy = printed(capsys, "dev")
    role = role_arn("eso-dev.backend")
    own = f"arn:aws:iam::{ACCOUNT}:policy/eso-platform/eso-dev.backend-secret-reads-3"
    assert allowed(policy, "iam:AttachRolePolicy", role, **{"iam:PolicyARN": own})
    assert allowed(policy, "iam:CreatePolicyVersion", own) and allowed(policy, "iam:DeletePolicy", own)
    for foreign in ("arn:aws:iam::aws:policy/AdministratorAccess", f"arn:aws:iam::{ACCOUNT}:policy/eso-platform/eso-prod.backend-secret-reads-1",
                    f"arn:aws:iam::{ACCOUNT}:policy/eso-dev.backend-secret-reads-1"):
        assert not allowed(policy, "iam:AttachRolePolicy", role, **{"iam:PolicyARN": foreign}), foreign
        assert not allowed(policy, "iam:CreatePolicyVersion", foreign), foreign


def test_with_a_permissions_boundary_every_role_must_carry_it(capsys, tmp_path):
    values = stack_values("dev")
    values["irsa"] = {**values["irsa"], "permissionsBoundary": BOUNDARY, "rolePath": "/eso/"}
    policy = printed(capsys, str(write_stack_file(tmp_path / "Pulumi.bounded.yaml", values)))
    role = role_arn("eso-dev.backend", "/eso/")
    for action in ("iam:CreateRole", "iam:PutRolePolicy", "iam:PutRolePermissionsBoundary"):
        assert allowed(policy, action, role, **{"iam:PermissionsBoundary": BOUNDARY}), action
        assert not allowed(policy, action, role), f"{action} without the boundary"
        assert not allowed(policy, action, role, **{"iam:PermissionsBoundary": f"arn:aws:iam::{ACCOUNT}:policy/wider"}), action
    assert not allowed_beside_broad(policy, "iam:DeleteRolePermissionsBoundary", role, **{"iam:PermissionsBoundary": BOUNDARY})
    assert not allowed(policy, "iam:CreateRole", role_arn("eso-dev.backend"), **{"iam:PermissionsBoundary": BOUNDARY}), "another path"


def test_the_cluster_is_read_by_name_or_found_by_its_issuer(capsys):
    dev, prod = printed(capsys, "dev"), printed(capsys, "prod")
    named = f"arn:aws:eks:us-east-1:{ACCOUNT}:cluster/platform-dev"
    assert allowed(dev, "eks:DescribeCluster", named) and not allowed(dev, "eks:DescribeCluster", named + "-other")
    assert not allowed(dev, "eks:ListClusters", "*") and allowed(dev, "iam:ListOpenIDConnectProviders", "*")
    # cluster.stackReference: the doctor finds the cluster whose issuer is the stack's.
    assert allowed(prod, "eks:ListClusters", "*") and allowed(prod, "eks:DescribeCluster", f"arn:aws:eks:us-east-1:{ACCOUNT}:cluster/any")
    assert not allowed(prod, "eks:DescribeCluster", f"arn:aws:eks:eu-west-1:{ACCOUNT}:cluster/any")
    provider = f"arn:aws:iam::{ACCOUNT}:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE"
    assert allowed(dev, "iam:GetOpenIDConnectProvider", provider)
    assert not allowed(dev, "iam:CreateOpenIDConnectProvider", provider)


# What parliament finds, and why each is the point of the policy: it reads actions, not
# resources, so it cannot see that they reach only the stack's roles and policies, which are
# attached to ESO's roles alone, which this identity is denied acting as (NeverActAsTheStacksRoles).
EXPECTED_FINDINGS = [
    ("PERMISSIONS_MANAGEMENT_ACTIONS", None),
    ("PRIVILEGE_ESCALATION", "CreateNewPolicyVersion"),
]


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_the_policy_is_one_iam_accepts_and_parliament_finds_only_its_purpose(capsys, aws, stack):
    text = json.dumps(printed(capsys, stack))
    findings = analyze_policy_string(text, include_community_auditors=True).findings
    assert sorted((f.issue, f.location.get("type")) for f in findings) == EXPECTED_FINDINGS
    aws.client("iam").put_role_policy(RoleName=_deploy_role(aws), PolicyName="deployer", PolicyDocument=text)


def _deploy_role(aws) -> str:
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "sts:AssumeRole"}]}
    aws.client("iam").create_role(RoleName="platform-deployer", AssumeRolePolicyDocument=json.dumps(trust))
    return "platform-deployer"


def test_a_stack_that_creates_its_cluster_or_bad_arguments_exit_2(capsys, tmp_path):
    values = {**stack_values("dev"), "cluster": {"create": {}}}
    path = str(write_stack_file(tmp_path / "Pulumi.created.yaml", values))
    assert main(["deployer-policy", path, "--account", ACCOUNT]) == 2
    assert "cluster.create: the new cluster's VPC, nodes and EKS resources are pulumi-eks's" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exited:
        main(["deployer-policy", "dev", "--account", "12345"])
    assert exited.value.code == 2 and "is not a 12-digit AWS account id" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exited:
        main(["deployer-policy", "dev"])
    assert exited.value.code == 2 and "--account" in capsys.readouterr().err


def test_under_pod_identity_it_manages_the_controllers_association_and_passes_only_its_role(capsys, tmp_path):
    policy = printed(capsys, str(write_stack_file(tmp_path / "Pulumi.pods.yaml", pod_identity_values("dev"))))
    cluster = f"arn:aws:eks:us-east-1:{ACCOUNT}:cluster/platform-dev"
    association = f"arn:aws:eks:us-east-1:{ACCOUNT}:podidentityassociation/platform-dev/a-0123456789abcdefg"
    assert allowed(policy, "eks:CreatePodIdentityAssociation", cluster) and allowed(policy, "eks:ListPodIdentityAssociations", cluster)
    assert not allowed(policy, "eks:CreatePodIdentityAssociation", cluster + "-other")
    for action in ("eks:DescribePodIdentityAssociation", "eks:UpdatePodIdentityAssociation", "eks:DeletePodIdentityAssociation"):
        assert allowed(policy, action, association), action
        assert not allowed(policy, action, association.replace("/platform-dev/", "/other/")), action
    assert allowed(policy, "eks:DescribeAddon", f"arn:aws:eks:us-east-1:{ACCOUNT}:addon/platform-dev/eks-pod-identity-agent/8ac1")
    assert allowed(policy, "iam:PassRole", role_arn("eso-dev-controller"))
    assert not allowed(policy, "iam:PassRole", role_arn("eso-dev.backend"))
    assert not allowed_beside_broad(policy, "sts:AssumeRole", role_arn("eso-dev-controller"))
    assert allowed(policy, "iam:CreateRole", role_arn("eso-dev-controller"))
    # IRSA stacks get none of it.
    assert not allowed(printed(capsys, "dev"), "eks:CreatePodIdentityAssociation", cluster)
