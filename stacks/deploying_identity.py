"""Who the Pulumi AWS provider runs as, from its `aws:` config, so the cluster is reached as the same."""

import json
import re
from collections.abc import Mapping
from typing import Optional

from components.kubeconfig import DeployingIdentity

# The `aws:` keys that decide who the AWS provider runs as.
AWS_IDENTITY_KEYS = (
    "profile",
    "assumeRoles",
    "assumeRole",
    "sharedConfigFiles",
    "sharedCredentialsFiles",
    "accessKey",
    "assumeRoleWithWebIdentity",
)
_IAM_ROLE_ARN = re.compile(r"arn:aws(-[a-z]+)*:iam::[0-9]{12}:role/[\w+=,.@/-]+")


def deploying_identity(provider: Mapping[str, str], problems: list[str]) -> DeployingIdentity:
    """The identity the AWS provider runs as, in the terms `aws eks get-token` understands.

    What it cannot express is refused: the kubeconfig would reach the cluster as someone else.
    """
    as_profile = "put it in an AWS CLI profile (~/.aws/config) and set aws:profile to that profile"
    for key, what in (
        ("accessKey", "static access keys"),
        ("assumeRoleWithWebIdentity", "a web identity"),
    ):
        if provider.get(key):
            problems.append(f"aws:{key}: the kubeconfig's `aws eks get-token` cannot use {what}; {as_profile}")
    if provider.get("assumeRole"):
        problems.append("aws:assumeRole: pulumi-aws 7 reads aws:assumeRoles, a list; set aws:assumeRoles instead")
    role_arn = None
    roles = _json_list(provider.get("assumeRoles"), "aws:assumeRoles", problems)
    if len(roles) > 1:
        problems.append(
            f"aws:assumeRoles: lists {len(roles)} roles, but `aws eks get-token` assumes one; "
            "chain them in an AWS CLI profile (source_profile) and set aws:profile instead"
        )
    elif roles:
        role = roles[0] if isinstance(roles[0], dict) else {}
        role_arn = role.get("roleArn")
        if not isinstance(role_arn, str) or not _IAM_ROLE_ARN.fullmatch(role_arn):
            problems.append("aws:assumeRoles[0].roleArn: required, an IAM role ARN like arn:aws:iam::123456789012:role/deployer")
            role_arn = None
        if role.get("externalId"):
            problems.append(f"aws:assumeRoles[0].externalId: `aws eks get-token` cannot pass an external ID; {as_profile}")
    files = {}
    for key in ("sharedConfigFiles", "sharedCredentialsFiles"):
        listed = _json_list(provider.get(key), f"aws:{key}", problems)
        if len(listed) > 1:
            problems.append(f"aws:{key}: lists {len(listed)} files, but the AWS CLI reads one; merge them into one")
        files[key] = listed[0] if len(listed) == 1 and isinstance(listed[0], str) else None
    return DeployingIdentity(
        profile=provider.get("profile") or None,
        role_arn=role_arn,
        config_file=files["sharedConfigFiles"],
        credentials_file=files["sharedCredentialsFiles"],
    )


def _json_list(text: Optional[str], key: str, problems: list[str]) -> list:
    if not text:
        return []
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        value = None
    if not isinstance(value, list):
        problems.append(f"{key}: must be a YAML list")
        return []
    return value
