"""Where a stack's secrets live, checked against its partition and its KMS keys."""

from typing import Any, Optional

from components.iam_documents import kms_key_region, partition_of_region
from stacks.model import AWS_REGION_PATTERN

NAMED_SERVICES = 3


def boundary_problems(boundary: Optional[str], aws_region: Optional[str]) -> list[str]:
    """A permissions boundary in the stack's partition: IAM refuses another partition's policy."""
    if not boundary or not aws_region:
        return []
    partition, home = boundary.split(":")[1], partition_of_region(aws_region)
    if partition == home:
        return []
    return [
        f"irsa.permissionsBoundary: {boundary} is in partition {partition}, but aws:region {aws_region} "
        f"is in {home}; use a policy of the {home} partition"
    ]


def region_problems(services: list[Any], keys: list[str], aws_region: Optional[str]) -> list[str]:
    """Secrets and KMS keys in the stack's partition, and a listed key in every region with secrets.

    `services` as the stack file has them, so a service with another problem still counts where
    its secret is; `keys` the validated irsa.kmsKeyArns; `aws_region` None when not a region.
    """
    services_of_region: dict[str, list[str]] = {}
    problems = []
    for index, entry in enumerate(services):
        region = entry.get("region", aws_region) if isinstance(entry, dict) else None
        if not isinstance(region, str) or not AWS_REGION_PATTERN.fullmatch(region):
            continue
        services_of_region.setdefault(region, []).append(f"services[{index}] ({entry.get('name', '?')})")
        if aws_region and partition_of_region(region) != partition_of_region(aws_region):
            problems.append(
                f"services[{index}].region: {region} is in partition {partition_of_region(region)}, but aws:region "
                f"{aws_region} is in {partition_of_region(aws_region)}; a role reads only its own partition's secrets"
            )
    for index, key in enumerate(keys):
        partition, region = key.split(":")[1], kms_key_region(key)
        if partition != partition_of_region(region):
            problems.append(
                f"irsa.kmsKeyArns[{index}]: {key} names partition {partition}, but {region} is in "
                f"{partition_of_region(region)}"
            )
        elif services and region not in services_of_region:
            problems.append(
                f"irsa.kmsKeyArns[{index}]: {key} is in {region}, where no service keeps a secret, so no role "
                "may use it; remove it or correct its region"
            )
    if not keys:
        return problems
    key_regions = {kms_key_region(key) for key in keys}
    for region, where in sorted(services_of_region.items()):
        if region not in key_regions:
            problems.append(
                f"irsa.kmsKeyArns: no key in {region}, where {_first_few(where)} keep their secrets: KMS keys are "
                f"regional, so those secrets would not decrypt; {_missing_key_fix(keys, region)}"
            )
    return problems


def _missing_key_fix(keys: list[str], region: str) -> str:
    """A multi-Region key's replica ARNs share its `mrk-` id, so the missing replica can be named."""
    replicas = sorted(
        {f"arn:{partition_of_region(region)}:kms:{region}:{key.split(':')[4]}:{key.split(':')[5]}"
         for key in keys if key.split(":")[5].startswith("key/mrk-")}
    )
    if replicas:
        return f"add the replica of each multi-Region key that encrypts them there, e.g. {' or '.join(replicas)}"
    return f"add the ARN of the key in {region} that encrypts them"


def _first_few(services: list[str]) -> str:
    if len(services) <= NAMED_SERVICES:
        return ", ".join(services)
    return f"{', '.join(services[:NAMED_SERVICES])} and {len(services) - NAMED_SERVICES} more"
