"""Kubeconfigs run as the deploying identity, without any engine."""

import json

import pytest

from components.kubeconfig import DeployingIdentity, exec_kubeconfig, with_deploying_identity

DEPLOYER = "arn:aws:iam::123456789012:role/deployer"


def exec_of(kubeconfig: str) -> dict:
    (user,) = json.loads(kubeconfig)["users"]
    return user["user"]["exec"]


def test_without_provider_config_get_token_uses_the_default_chain_like_the_provider():
    command = exec_of(exec_kubeconfig("platform", "eu-west-1", "https://k8s.example", "Q0E="))
    assert command == {
        "apiVersion": "client.authentication.k8s.io/v1beta1",
        "command": "aws",
        "args": ["eks", "get-token", "--cluster-name", "platform", "--region", "eu-west-1"],
    }


def test_profile_role_and_files_are_carried_as_flags_and_file_variables():
    identity = DeployingIdentity("platform", DEPLOYER, "/etc/aws/config", "/etc/aws/credentials")
    command = exec_of(exec_kubeconfig("platform", "eu-west-1", "https://k8s.example", "Q0E=", identity))
    assert command["args"] == [
        "eks", "get-token", "--cluster-name", "platform", "--region", "eu-west-1",
        "--profile", "platform", "--role-arn", DEPLOYER,
    ]
    assert command["env"] == [
        {"name": "AWS_CONFIG_FILE", "value": "/etc/aws/config"},
        {"name": "AWS_SHARED_CREDENTIALS_FILE", "value": "/etc/aws/credentials"},
    ]


def test_another_programs_identity_choices_are_replaced_and_the_rest_kept():
    made_elsewhere = {
        "apiVersion": "v1",
        "clusters": [{"name": "c", "cluster": {"server": "https://k8s.example"}}],
        "users": [
            {
                "name": "aws",
                "user": {
                    "exec": {
                        "apiVersion": "client.authentication.k8s.io/v1beta1",
                        "command": "aws",
                        "args": ["eks", "get-token", "--cluster-name", "c", "--role-arn", "arn:aws:iam::1:role/admin",
                                 "--profile=cluster-owner", "--output", "json"],
                        "env": [{"name": "AWS_PROFILE", "value": "cluster-owner"}, {"name": "KUBERNETES_EXEC_INFO", "value": "{}"}],
                    }
                },
            }
        ],
    }
    rewritten = json.loads(with_deploying_identity(json.dumps(made_elsewhere), DeployingIdentity(profile="platform")))
    command = rewritten["users"][0]["user"]["exec"]
    assert command["args"] == ["eks", "get-token", "--cluster-name", "c", "--output", "json", "--profile", "platform"]
    assert command["env"] == [{"name": "KUBERNETES_EXEC_INFO", "value": "{}"}]
    assert rewritten["clusters"] == made_elsewhere["clusters"]
    default_chain = exec_of(with_deploying_identity(made_elsewhere, DeployingIdentity()))
    assert "--profile" not in default_chain["args"] and "--role-arn" not in default_chain["args"]
    assert default_chain["env"] == [{"name": "KUBERNETES_EXEC_INFO", "value": "{}"}]


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
