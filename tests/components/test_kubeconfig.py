"""Kubeconfigs run as the deploying identity, without any engine."""

import json
from typing import Optional

import pytest
import yaml

from tests.conftest import AWS_CLI_KUBECONFIG, PULUMI_EKS_KUBECONFIG
from components.iam_documents import AwsIdentity
from components.kubeconfig import DeployingIdentity, eks_cluster_arn, exec_kubeconfig, with_deploying_identity


DEPLOYER = "arn:aws:iam::123456789012:role/deployer"


def exec_of(kubeconfig: str) -> dict:
    (user,) = json.loads(kubeconfig)["users"]
    return user["user"]["exec"]


def test_without_provider_config_get_token_uses_the_default_chain_like_the_provider():
    command = exec_of(exec_kubeconfig("platform", "eu-west-1", "https://k8s.example", "Q0E="))
    assert command == {
        "apiVersion": "client.authentication.k8s.io/v1beta1",
        "command": "aws",
        "args": ["--region", "eu-west-1", "eks", "get-token", "--cluster-name", "platform", "--output", "json"],
    }


def test_profile_role_and_files_are_carried_as_flags_and_file_variables():
    identity = DeployingIdentity("platform", DEPLOYER, "/etc/aws/config", "/etc/aws/credentials")
    command = exec_of(exec_kubeconfig("platform", "eu-west-1", "https://k8s.example", "Q0E=", identity))
    assert command["args"] == [
        "--region", "eu-west-1", "eks", "get-token", "--cluster-name", "platform", "--output", "json",
        "--profile", "platform", "--role-arn", DEPLOYER,
    ]
    assert command["env"] == [
        {"name": "AWS_CONFIG_FILE", "value": "/etc/aws/config"},
        {"name": "AWS_SHARED_CREDENTIALS_FILE", "value": "/etc/aws/credentials"},
    ]


EXEC_INFO = {"name": "KUBERNETES_EXEC_INFO", "value": '{"apiVersion": "client.authentication.k8s.io/v1beta1"}'}


@pytest.mark.parametrize("exported", [PULUMI_EKS_KUBECONFIG, json.loads(PULUMI_EKS_KUBECONFIG)], ids=["kubeconfigJson", "kubeconfig object"])
def test_pulumi_eks_kubeconfig_runs_as_the_deploying_identity_instead_of_its_role_and_profile(exported):
    rewritten = json.loads(with_deploying_identity(exported, DeployingIdentity(profile="platform"), "us-east-1"))
    command = rewritten["users"][0]["user"]["exec"]
    assert command["args"] == [
        "--region", "eu-west-1", "eks", "get-token", "--cluster-name", "platform-eksCluster-1a2b3c4",
        "--output", "json", "--profile", "platform",
    ]
    assert command["env"] == [EXEC_INFO]
    source = json.loads(PULUMI_EKS_KUBECONFIG)
    assert {key: rewritten[key] for key in ("clusters", "contexts", "current-context")} == {
        key: source[key] for key in ("clusters", "contexts", "current-context")
    }


@pytest.mark.parametrize("exported", [AWS_CLI_KUBECONFIG, yaml.safe_load(AWS_CLI_KUBECONFIG), json.dumps(yaml.safe_load(AWS_CLI_KUBECONFIG))],
                         ids=["YAML text", "object", "JSON text"])
def test_aws_cli_kubeconfig_loses_its_role_and_aws_profile_and_keeps_its_region(exported):
    command = exec_of(with_deploying_identity(exported, DeployingIdentity(role_arn=DEPLOYER), "us-east-1"))
    assert command == {
        "apiVersion": "client.authentication.k8s.io/v1beta1",
        "command": "aws",
        "args": ["--region", "eu-west-1", "eks", "get-token", "--cluster-name", "platform", "--output", "json",
                 "--role-arn", DEPLOYER],
    }
    default_chain = exec_of(with_deploying_identity(exported, DeployingIdentity()))
    assert default_chain["args"] == ["--region", "eu-west-1", "eks", "get-token", "--cluster-name", "platform", "--output", "json"]
    assert "env" not in default_chain


def kubeconfig_running(args: list[str], env: Optional[list[dict]] = None, command: str = "aws") -> dict:
    exec_ = {"apiVersion": "client.authentication.k8s.io/v1beta1", "command": command, "args": args}
    return {"users": [{"name": "u", "user": {"exec": {**exec_, **({"env": env} if env else {})}}}]}


@pytest.mark.parametrize(
    "identity_args",
    [
        ["--role-arn", "arn:aws:iam::1:role/admin", "--session-name", "them"],
        ["--role=arn:aws:iam::1:role/admin", "--profile=cluster-owner"],
        ["--rol", "arn:aws:iam::1:role/admin", "--prof", "cluster-owner", "--session-name=them"],
        ["--role-arn=arn:aws:iam::1:role/admin", "--pro=cluster-owner"],
    ],
)
def test_every_spelling_of_another_identity_is_dropped(identity_args):
    source = kubeconfig_running(
        ["eks", "get-token", "--cluster-name", "c", *identity_args, "--output", "json"],
        env=[{"name": "AWS_PROFILE", "value": "cluster-owner"}, {"name": "AWS_ROLE_ARN", "value": "arn:aws:iam::1:role/x"}],
    )
    command = exec_of(with_deploying_identity(source, DeployingIdentity(profile="platform"), "us-east-1"))
    assert command["args"] == ["--region", "us-east-1", "eks", "get-token", "--cluster-name", "c", "--output", "json",
                               "--profile", "platform"]
    assert "env" not in command


def test_one_region_is_kept_the_last_one_given_as_the_cli_reads_it():
    source = kubeconfig_running(["--region", "eu-west-1", "eks", "get-token", "--cluster-name", "c", "--region=eu-central-1"])
    command = exec_of(with_deploying_identity(source, DeployingIdentity(), "us-east-1"))
    assert command["args"] == ["--region", "eu-central-1", "eks", "get-token", "--cluster-name", "c"]


def test_an_absolute_path_to_the_aws_cli_is_still_the_aws_cli():
    source = kubeconfig_running(["eks", "get-token", "--cluster-name", "c"], command="/usr/local/bin/aws")
    command = exec_of(with_deploying_identity(source, DeployingIdentity(), "us-east-1"))
    assert command["command"] == "/usr/local/bin/aws"


@pytest.mark.parametrize(
    "text, message",
    [
        ("clusters: [unclosed", "the kubeconfig is neither JSON nor YAML"),
        ("- just\n- a list\n", "the kubeconfig is a list, not a mapping"),
        ("", "the kubeconfig is empty"),
    ],
)
def test_text_that_is_no_kubeconfig_is_refused_with_what_it_is(text, message):
    with pytest.raises(ValueError, match=message):
        with_deploying_identity(text, DeployingIdentity())


@pytest.mark.parametrize(
    "user",
    [
        {"name": "static", "user": {"token": "placeholder"}},  # pragma: allowlist secret
        {"name": "authenticator", "user": {"exec": {"command": "aws-iam-authenticator", "args": ["token", "-i", "c"]}}},
        {"name": "other-aws", "user": {"exec": {"command": "aws", "args": ["sts", "get-caller-identity"]}}},
    ],
)
def test_any_other_way_in_is_refused(user):
    with pytest.raises(ValueError, match=f"kubeconfig user '{user['name']}' does not authenticate with `aws eks get-token`"):
        with_deploying_identity({"users": [user]}, DeployingIdentity())


PROVIDER = "arn:aws:iam::123456789012:oidc-provider/oidc.eks.eu-west-1.amazonaws.com/id/ABC"


@pytest.mark.parametrize(
    "exported, arn",
    [
        (PULUMI_EKS_KUBECONFIG, "arn:aws:eks:eu-west-1:123456789012:cluster/platform-eksCluster-1a2b3c4"),
        (AWS_CLI_KUBECONFIG, "arn:aws:eks:eu-west-1:123456789012:cluster/platform"),
        (exec_kubeconfig("platform", "us-gov-west-1", "https://k8s.example", "Q0E="), "arn:aws-us-gov:eks:us-gov-west-1:210987654321:cluster/platform"),
    ],
    ids=["pulumi-eks", "aws-cli", "written here"],
)
def test_the_cluster_arn_is_read_off_the_get_token_command(exported, arn):
    provider = PROVIDER if ":aws:" in arn else "arn:aws-us-gov:iam::210987654321:oidc-provider/oidc.example/id/1"
    account = AwsIdentity.from_oidc_provider_arn(provider)
    assert eks_cluster_arn(with_deploying_identity(exported, DeployingIdentity()), account) == arn


def test_a_kubeconfig_naming_no_cluster_has_no_arn():
    source = kubeconfig_running(["--region", "eu-west-1", "eks", "get-token"])
    with pytest.raises(ValueError, match="kubeconfig user 'u' names no --cluster-name"):
        eks_cluster_arn(source, AwsIdentity.from_oidc_provider_arn(PROVIDER))
