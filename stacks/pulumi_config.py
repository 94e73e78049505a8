"""The stack model from the config Pulumi hands the program."""

import pulumi
from pulumi.runtime import config as runtime_config

from stacks.deploying_identity import AWS_IDENTITY_KEYS
from stacks.loading import PROJECT, ConfigError, load_stack
from stacks.spec import Stack


def project_values() -> dict[str, str]:
    """Every key set under `eso-platform:`, typos included, so unknown keys can be reported."""
    prefix = f"{PROJECT}:"
    merged = {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}
    return {key[len(prefix):]: value for key, value in sorted(merged.items()) if key.startswith(prefix)}


def stack_from_pulumi_config() -> Stack:
    """Validated before any resource is registered; bad config ends the run with pulumi.RunError."""
    try:
        values = project_values()
        secret_keys = [key for key in values if runtime_config.is_config_secret(f"{PROJECT}:{key}")]
        aws = pulumi.Config("aws")
        provider = {key: aws.get(key) for key in AWS_IDENTITY_KEYS if aws.get(key) is not None}
        return load_stack(values, aws.get("region"), secret_keys, aws_provider=provider)
    except ConfigError as error:
        raise pulumi.RunError(str(error)) from None
