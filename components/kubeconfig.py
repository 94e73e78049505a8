"""Kubeconfigs that reach an EKS cluster as the deploying AWS identity: pure functions."""

import json
from dataclasses import dataclass
from typing import Any, Optional

# What selects an identity in an `aws` exec; replaced by the deploying identity's own.
_IDENTITY_FLAGS = ("--profile", "--role-arn")
_IDENTITY_ENV = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE", "AWS_ROLE_ARN")


@dataclass(frozen=True)
class DeployingIdentity:
    """Who the Pulumi AWS provider runs as, carried into the kubeconfig's `aws eks get-token`."""

    profile: Optional[str] = None
    role_arn: Optional[str] = None
    config_file: Optional[str] = None
    credentials_file: Optional[str] = None

    def get_token_args(self) -> list[str]:
        # Flags, not AWS_PROFILE: the AWS CLI prefers access keys in its environment to
        # AWS_PROFILE, but never to --profile.
        args = ["--profile", self.profile] if self.profile else []
        return args + (["--role-arn", self.role_arn] if self.role_arn else [])

    def env(self) -> list[dict[str, str]]:
        files = (("AWS_CONFIG_FILE", self.config_file), ("AWS_SHARED_CREDENTIALS_FILE", self.credentials_file))
        return [{"name": name, "value": value} for name, value in files if value]


def exec_kubeconfig(
    cluster_name: str, region: str, endpoint: str, ca_data: str, identity: DeployingIdentity = DeployingIdentity()
) -> str:
    """A kubeconfig that authenticates with `aws eks get-token` as `identity`: it holds no credential."""
    return with_deploying_identity(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {"name": cluster_name, "cluster": {"server": endpoint, "certificate-authority-data": ca_data}}
            ],
            "contexts": [{"name": cluster_name, "context": {"cluster": cluster_name, "user": cluster_name}}],
            "current-context": cluster_name,
            "users": [
                {
                    "name": cluster_name,
                    "user": {
                        "exec": {
                            "apiVersion": "client.authentication.k8s.io/v1beta1",
                            "command": "aws",
                            "args": ["eks", "get-token", "--cluster-name", cluster_name, "--region", region],
                        }
                    },
                }
            ],
        },
        identity,
    )


def with_deploying_identity(kubeconfig: Any, identity: DeployingIdentity) -> str:
    """`kubeconfig` (text or parsed) with every user's `aws eks get-token` run as `identity` only.

    Any other way of authenticating is refused: it would reach the cluster as someone else.
    """
    parsed = json.loads(kubeconfig) if isinstance(kubeconfig, str) else kubeconfig
    users = []
    for user in parsed.get("users") or []:
        found = (user.get("user") or {}).get("exec") or {}
        args = list(found.get("args") or [])
        if found.get("command") != "aws" or args[:2] != ["eks", "get-token"]:
            raise ValueError(
                f"kubeconfig user {user.get('name')!r} does not authenticate with `aws eks get-token`; "
                "the program reaches the cluster only as the deploying AWS identity"
            )
        env = [entry for entry in found.get("env") or [] if entry.get("name") not in _IDENTITY_ENV]
        env += identity.env()
        rewritten = {key: value for key, value in found.items() if key != "env"}
        rewritten["args"] = _without_identity_flags(args) + identity.get_token_args()
        if env:
            rewritten["env"] = env
        users.append({**user, "user": {**user["user"], "exec": rewritten}})
    return json.dumps({**parsed, "users": users}, sort_keys=True)


def _without_identity_flags(args: list[str]) -> list[str]:
    kept: list[str] = []
    value_of_dropped_flag = False
    for arg in args:
        if value_of_dropped_flag:
            value_of_dropped_flag = False
        elif arg in _IDENTITY_FLAGS:
            value_of_dropped_flag = True
        elif not arg.startswith(tuple(f"{flag}=" for flag in _IDENTITY_FLAGS)):
            kept.append(arg)
    return kept
