"""Secrets Manager requests as IAM judges them: the one ESO 2.9.0 makes for the program's
ExternalSecrets, and what else someone holding a namespace's role could ask for.

The condition keys are those the AWS Service Authorization Reference lists for
`secretsmanager:GetSecretValue` (`secretsmanager:VersionStage`, `secretsmanager:VersionId`: each
present only when the request names it; parliament 1.6.4 ships that reference as
`iam_definition.json`). ESO's request: `providers/v1/aws/secretsmanager/secretsmanager.go`,
`fetch` (the version defaults to `AWSCURRENT`) and `constructSecretValue` (a `uuid/` version
becomes `VersionId`, any other `VersionStage`).
"""

from collections.abc import Mapping
from typing import Any

from tests.aws.iam_matching import RequestContext

READ_VALUE = "secretsmanager:GetSecretValue"
# Request members that IAM turns into condition keys of the same name.
_CONDITION_MEMBERS = ("VersionStage", "VersionId")

ESO_READ: RequestContext = {"secretsmanager:VersionStage": "AWSCURRENT"}

# (action, context) of each request the role must refuse although it names a granted secret.
ATTACKER_REQUESTS: dict[str, tuple[str, RequestContext]] = {
    "the previous version by stage": (READ_VALUE, {"secretsmanager:VersionStage": "AWSPREVIOUS"}),
    "a rotation's pending version by stage": (READ_VALUE, {"secretsmanager:VersionStage": "AWSPENDING"}),
    "a version by id": (READ_VALUE, {"secretsmanager:VersionId": "a1b2c3d4-5678-90ab-cdef-EXAMPLE11111"}),
    "a version by id with the current stage": (
        READ_VALUE,
        {"secretsmanager:VersionStage": "AWSCURRENT", "secretsmanager:VersionId": "a1b2c3d4-5678-90ab-cdef-EXAMPLE11111"},
    ),
    "the value with no version named": (READ_VALUE, {}),
    "the metadata, tags and version ids": ("secretsmanager:DescribeSecret", {}),
    "the list of versions": ("secretsmanager:ListSecretVersionIds", {}),
    "the resource policy": ("secretsmanager:GetResourcePolicy", {}),
    "a new value": ("secretsmanager:PutSecretValue", {}),
}


def request_context(body: Mapping[str, Any]) -> dict[str, str]:
    """The condition keys a Secrets Manager request body carries."""
    return {f"secretsmanager:{member}": str(body[member]) for member in _CONDITION_MEMBERS if member in body}
