"""Kubeconfigs that reach an EKS cluster as the deploying AWS identity: pure functions."""

import json
import os
from dataclasses import dataclass
from typing import Any, Optional

import yaml

from components.iam_documents import AwsAccount, cluster_arn_of

EXEC_API_VERSION = "client.authentication.k8s.io/v1beta1"
# The AWS CLI's options that choose who signs the token: the global `--profile`, and `eks
# get-token`'s `--role-arn` and `--session-name` (awscli/customizations/eks/get_token.py). Its
# argparse takes an unambiguous prefix of an option, and both pulumi-eks
# (nodejs/eks/cluster/cluster.ts, generateKubeconfig) and `aws eks update-kubeconfig`
# (awscli/customizations/eks/update_kubeconfig.py, get_user_entry) write `--role`.
_IDENTITY_OPTIONS = ("--profile", "--role-arn", "--session-name")
# "--pr", "--ro", "--se": no other option of the AWS CLI or of `eks get-token` starts with these.
_SHORTEST_PREFIX = 4
_IDENTITY_ENV = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE", "AWS_ROLE_ARN")
_REGION = "--region"


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
    """A kubeconfig that authenticates with `aws eks get-token` as `identity`: it holds no credential.

    Its exec is the one `aws eks update-kubeconfig` writes.
    """
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
                            "apiVersion": EXEC_API_VERSION,
                            "command": "aws",
                            "args": [_REGION, region, "eks", "get-token", "--cluster-name", cluster_name, "--output", "json"],
                        }
                    },
                }
            ],
        },
        identity,
        region,
    )


def parsed_kubeconfig(kubeconfig: Any) -> dict[str, Any]:
    """A kubeconfig as a stack exports it: an object, JSON text or YAML text."""
    parsed = kubeconfig
    if isinstance(kubeconfig, str):
        try:
            parsed = yaml.safe_load(kubeconfig)
        except yaml.YAMLError as error:
            raise ValueError(f"the kubeconfig is neither JSON nor YAML: {error}") from None
    if parsed is None:
        raise ValueError("the kubeconfig is empty")
    if not isinstance(parsed, dict):
        raise ValueError(f"the kubeconfig is a {type(parsed).__name__}, not a mapping with clusters, contexts and users")
    return parsed


def with_deploying_identity(kubeconfig: Any, identity: DeployingIdentity, region: Optional[str] = None) -> str:
    """`kubeconfig` with every user's `aws eks get-token` run as `identity` only, and one `--region`
    (the kubeconfig's own, else `region`).

    Any other way of authenticating is refused: it would reach the cluster as someone else.
    """
    parsed = parsed_kubeconfig(kubeconfig)
    users = []
    for user in parsed.get("users") or []:
        found = (user.get("user") or {}).get("exec") or {}
        args = [str(arg) for arg in found.get("args") or []]
        if os.path.basename(str(found.get("command"))) != "aws" or not _runs_get_token(args):
            raise ValueError(
                f"kubeconfig user {user.get('name')!r} does not authenticate with `aws eks get-token`; "
                "the program reaches the cluster only as the deploying AWS identity"
            )
        env = [entry for entry in found.get("env") or [] if entry.get("name") not in _IDENTITY_ENV]
        env += identity.env()
        rewritten = {key: value for key, value in found.items() if key != "env"}
        kept = _without_identity_and_region(args)
        # The last one given, as the AWS CLI's argparse keeps it.
        chosen_region = _option_value(args, _REGION) or region
        rewritten["args"] = ([_REGION, chosen_region] if chosen_region else []) + kept + identity.get_token_args()
        if env:
            rewritten["env"] = env
        users.append({**user, "user": {**user["user"], "exec": rewritten}})
    return json.dumps({**parsed, "users": users}, sort_keys=True)


def _runs_get_token(args: list[str]) -> bool:
    # Global options may stand before `eks`, as both writers put `--region` there.
    return any(args[index:index + 2] == ["eks", "get-token"] for index in range(len(args)))


def _is_identity_option(name: str) -> bool:
    return len(name) >= _SHORTEST_PREFIX and any(option.startswith(name) for option in _IDENTITY_OPTIONS)


def _without_identity_and_region(args: list[str]) -> list[str]:
    """The args without identity options and `--region`, each with its value."""
    kept: list[str] = []
    index = 0
    while index < len(args):
        name, equals, _ = args[index].partition("=")
        if not (name.startswith("--") and (_is_identity_option(name) or name == _REGION)):
            kept.append(args[index])
        elif not equals:
            index += 1
        index += 1
    return kept


def eks_cluster_arn(kubeconfig: Any, account: AwsAccount) -> str:
    """The ARN of the EKS cluster that `kubeconfig`'s `aws eks get-token` names (its
    `--cluster-name`, or `--cluster-id` on Outposts, and `--region`), in `account` (the cluster's
    IAM OIDC provider's, or the deploying identity's)."""
    parsed = parsed_kubeconfig(kubeconfig)
    users = parsed.get("users") or [{}]
    current = next((c for c in parsed.get("contexts") or [] if c.get("name") == parsed.get("current-context")), None)
    wanted = ((current or {}).get("context") or {}).get("user")
    user = next((u for u in users if u.get("name") == wanted), users[0])
    args = [str(arg) for arg in ((user.get("user") or {}).get("exec") or {}).get("args") or []]
    region, name = _option_value(args, _REGION), _option_value(args, "--cluster-name") or _option_value(args, "--cluster-id")
    if not region or not name:
        raise ValueError(
            f"kubeconfig user {user.get('name')!r} names no {'--region' if not region else '--cluster-name'} "
            "for `aws eks get-token`; the program pins the Kubernetes providers to the cluster's ARN"
        )
    return cluster_arn_of(account, region, name)


def _option_value(args: list[str], option: str) -> Optional[str]:
    """The last value given to `option`, as `option value` or `option=value`."""
    found = None
    for index, arg in enumerate(args):
        if arg == option and index + 1 < len(args):
            found = args[index + 1]
        elif arg.startswith(f"{option}="):
            found = arg.split("=", 1)[1]
    return found
