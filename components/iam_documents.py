"""IAM documents for IRSA and EKS Pod Identity: pure functions from names to policy JSON,
testable without any engine."""

import hashlib
import json
from dataclasses import dataclass
from typing import Any, Optional

STS_AUDIENCE = "sts.amazonaws.com"
POD_IDENTITY_SERVICE = "pods.eks.amazonaws.com"
# Passing session tags needs sts:TagSession beside sts:AssumeRole, in the trust and in the
# caller's own policy (IAM User Guide, "Passing session tags in AWS STS").
ASSUME_WITH_TAGS = ("sts:AssumeRole", "sts:TagSession")
# The tags ESO 2.9.0 sets on a session with `sessionTagsPolicy: Simple`, in place of any the store
# names: the namespace of the ExternalSecret being synced and the store's kind
# (providers/v1/aws/provider.go, buildSessionTags).
ESO_NAMESPACE_TAG = "esoNamespace"
ESO_STORE_KIND_TAG = "esoStoreKind"
# ESO 2.9.0's Secrets Manager provider reads an ExternalSecret's remote ref with this one call,
# passing `VersionStage` (`AWSCURRENT` unless the ref names a `version`; a `uuid/` version becomes
# a `VersionId` instead): providers/v1/aws/secretsmanager/secretsmanager.go, `fetch` and
# `constructSecretValue`. DescribeSecret serves only PushSecret and a `metadataPolicy` of `Fetch`,
# GetResourcePolicy only PushSecret, and ListSecretVersionIds is never called.
READ_ACTION = "secretsmanager:GetSecretValue"
CURRENT_VERSION_STAGE = "AWSCURRENT"
# Whoever holds the role reads only what ESO reads: the current version, never an earlier one
# by stage (`AWSPREVIOUS`) or by id. IAM keys both on what the request names.
CURRENT_VERSION_ONLY = {
    "StringEquals": {"secretsmanager:VersionStage": CURRENT_VERSION_STAGE},
    "Null": {"secretsmanager:VersionId": "true"},
}
# IAM quotas, counted without white space: the default trust-policy length, the
# aggregate size of a role's inline policies and the size of one customer-managed policy.
TRUST_POLICY_LIMIT = 2048
INLINE_POLICY_LIMIT = 10240
MANAGED_POLICY_LIMIT = 6144
# Managed policies attached to one role: IAM's default quota, and the highest it can be raised to.
DEFAULT_MANAGED_POLICIES_PER_ROLE = 10
MAX_MANAGED_POLICIES_PER_ROLE = 20
# Secrets Manager appends '-' and six random characters to every secret's ARN.
SECRET_SUFFIX_PATTERN = "-??????"


# Each partition's DNS suffix, as in botocore's endpoints data: the host part of the service
# names KMS sees in `kms:ViaService`.
DNS_SUFFIXES = {
    "aws": "amazonaws.com",
    "aws-cn": "amazonaws.com.cn",
    "aws-us-gov": "amazonaws.com",
    "aws-iso": "c2s.ic.gov",
    "aws-iso-b": "sc2s.sgov.gov",
    "aws-iso-e": "cloud.adc-e.uk",
    "aws-iso-f": "csp.hci.ic.gov",
    "aws-eusc": "amazonaws.eu",
}

# Region name prefixes of every partition but `aws`, the more specific first.
_REGION_PREFIXES = (
    ("us-gov-", "aws-us-gov"),
    ("us-isob-", "aws-iso-b"),
    ("us-isof-", "aws-iso-f"),
    ("us-iso-", "aws-iso"),
    ("eu-isoe-", "aws-iso-e"),
    ("eusc-", "aws-eusc"),
    ("cn-", "aws-cn"),
)


def partition_of_region(region: str) -> str:
    return next((partition for prefix, partition in _REGION_PREFIXES if region.startswith(prefix)), "aws")


class PolicyTooLargeError(ValueError):
    """A generated document is over an IAM size limit."""


@dataclass(frozen=True)
class AwsAccount:
    """Where the roles and the secrets live."""

    partition: str
    account_id: str

    @classmethod
    def from_arn(cls, arn: str) -> "AwsAccount":
        parts = arn.split(":", 5)
        if len(parts) != 6 or parts[0] != "arn" or not parts[4]:
            raise ValueError(f"{arn!r} is not the ARN of an account's resource")
        return cls(partition=parts[1], account_id=parts[4])


@dataclass(frozen=True)
class AwsIdentity(AwsAccount):
    """Where the roles live, all read off the cluster's IAM OIDC provider ARN."""

    oidc_provider_arn: str
    issuer: str

    @classmethod
    def from_oidc_provider_arn(cls, arn: str) -> "AwsIdentity":
        parts = arn.split(":", 5)
        if len(parts) != 6 or parts[0] != "arn" or parts[2] != "iam" or not parts[5].startswith("oidc-provider/") or parts[5] == "oidc-provider/":
            raise ValueError(f"{arn!r} is not an IAM OIDC provider ARN")
        return cls(
            partition=parts[1],
            account_id=parts[4],
            oidc_provider_arn=arn,
            issuer=parts[5].removeprefix("oidc-provider/"),
        )


@dataclass(frozen=True)
class SecretGrant:
    region: str
    path: str


def secrets_manager_service(partition: str, region: str) -> str:
    """The `kms:ViaService` value of Secrets Manager in `region`."""
    if partition not in DNS_SUFFIXES:
        raise ValueError(f"unknown AWS partition {partition!r}; known: {', '.join(DNS_SUFFIXES)}")
    return f"secretsmanager.{region}.{DNS_SUFFIXES[partition]}"


def kms_key_region(key_arn: str) -> str:
    return key_arn.split(":")[3]


def service_account_subject(namespace: str, service_account: str) -> str:
    return f"system:serviceaccount:{namespace}:{service_account}"


def secret_arn_pattern(identity: AwsAccount, grant: SecretGrant) -> str:
    """The one ARN pattern that matches the secret named `grant.path` and no other secret."""
    return (
        f"arn:{identity.partition}:secretsmanager:{grant.region}:{identity.account_id}"
        f":secret:{grant.path}{SECRET_SUFFIX_PATTERN}"
    )


def trust_policy(
    identity: AwsIdentity, subjects: list[str], wildcard_service_account: Optional[str] = None
) -> dict[str, Any]:
    """Web-identity trust for exactly `subjects`, or any namespace's `wildcard_service_account`."""
    if wildcard_service_account is not None:
        conditions = {
            "StringEquals": {f"{identity.issuer}:aud": STS_AUDIENCE},
            "StringLike": {
                f"{identity.issuer}:sub": service_account_subject("*", wildcard_service_account)
            },
        }
    else:
        subject = sorted(subjects) if len(subjects) > 1 else subjects[0]
        conditions = {
            "StringEquals": {
                f"{identity.issuer}:aud": STS_AUDIENCE,
                f"{identity.issuer}:sub": subject,
            }
        }
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "ExternalSecretsServiceAccounts",
                "Effect": "Allow",
                "Principal": {"Federated": identity.oidc_provider_arn},
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": conditions,
            }
        ],
    }


def cluster_arn_of(identity: AwsAccount, region: str, cluster_name: str) -> str:
    return f"arn:{identity.partition}:eks:{region}:{identity.account_id}:cluster/{cluster_name}"


def role_arn(identity: AwsAccount, path: str, name: str) -> str:
    return f"arn:{identity.partition}:iam::{identity.account_id}:role{path}{name}"


def account_root(identity: AwsAccount) -> str:
    return f"arn:{identity.partition}:iam::{identity.account_id}:root"


def controller_trust_policy(identity: AwsAccount, cluster_arn: str) -> dict[str, Any]:
    """The controller role's trust: EKS Pod Identity, for this cluster only (EKS User Guide,
    "Create the IAM role": the service principal, both actions, and the confused-deputy
    conditions on the cluster)."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "EksPodIdentityOfThisCluster",
                "Effect": "Allow",
                "Principal": {"Service": POD_IDENTITY_SERVICE},
                "Action": list(ASSUME_WITH_TAGS),
                "Condition": {
                    "StringEquals": {"aws:SourceAccount": identity.account_id},
                    "ArnEquals": {"aws:SourceArn": cluster_arn},
                },
            }
        ],
    }


def controller_permission_policy(namespace_role_arns: list[str]) -> dict[str, Any]:
    """All the controller role may do: assume the stack's namespace roles, tagging the session."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "AssumeNamespaceRoles",
                "Effect": "Allow",
                "Action": list(ASSUME_WITH_TAGS),
                "Resource": sorted(set(namespace_role_arns)),
            }
        ],
    }


@dataclass(frozen=True)
class PodIdentityPrincipal:
    """The controller's Pod Identity session, as EKS tags it."""

    controller_role_arn: str
    cluster_arn: str
    namespace: str
    service_account: str


def pod_identity_trust_policy(identity: AwsAccount, principal: PodIdentityPrincipal, namespaces: list[str]) -> dict[str, Any]:
    """A namespace role's trust under Pod Identity: only the controller's session, tagged by ESO
    with the namespace of the ExternalSecret it syncs (`sessionTagsPolicy: Simple`), and by EKS
    with the controller's cluster, namespace and ServiceAccount.

    The principal is the account, narrowed by `aws:PrincipalArn`: IAM turns a role named as
    principal into that role's unique id, so a controller role deleted and created again under
    the same ARN would no longer match, with no change a preview could show."""
    tenant = sorted(namespaces) if len(namespaces) > 1 else namespaces[0]
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "ExternalSecretsControllerForItsNamespace",
                "Effect": "Allow",
                "Principal": {"AWS": account_root(identity)},
                "Action": list(ASSUME_WITH_TAGS),
                "Condition": {
                    "ArnEquals": {"aws:PrincipalArn": principal.controller_role_arn},
                    "StringEquals": {
                        f"aws:RequestTag/{ESO_NAMESPACE_TAG}": tenant,
                        f"aws:RequestTag/{ESO_STORE_KIND_TAG}": "SecretStore",
                        "aws:PrincipalTag/eks-cluster-arn": principal.cluster_arn,
                        "aws:PrincipalTag/kubernetes-namespace": principal.namespace,
                        "aws:PrincipalTag/kubernetes-service-account": principal.service_account,
                    },
                },
            }
        ],
    }


def permission_policy(
    identity: AwsAccount, grants: list[SecretGrant], kms_key_arns: list[str]
) -> dict[str, Any]:
    """Reads of the current version of exactly the granted secrets, and decryption only through
    Secrets Manager."""
    secret_arns = sorted({secret_arn_pattern(identity, grant) for grant in grants})
    statements: list[dict[str, Any]] = [
        {
            "Sid": "ReadServiceSecrets",
            "Effect": "Allow",
            "Action": [READ_ACTION],
            "Resource": secret_arns,
            "Condition": {operator: dict(tests) for operator, tests in CURRENT_VERSION_ONLY.items()},
        }
    ]
    # KMS keys are regional and Secrets Manager uses a key in the secret's own region: each
    # region's keys decrypt only through that region's Secrets Manager, only that region's secrets.
    for region in sorted({grant.region for grant in grants}):
        keys = sorted({arn for arn in kms_key_arns if kms_key_region(arn) == region})
        if not keys:
            continue
        statements.append(
            {
                "Sid": "DecryptThroughSecretsManager" + "".join(part.capitalize() for part in region.split("-")),
                "Effect": "Allow",
                "Action": "kms:Decrypt",
                "Resource": keys,
                # Secrets Manager puts the secret's ARN in the encryption context: a shared
                # key then decrypts only the secrets this role may read anyway.
                "Condition": {
                    "StringEquals": {"kms:ViaService": secrets_manager_service(identity.partition, region)},
                    "StringLike": {
                        "kms:EncryptionContext:SecretARN": sorted(
                            {secret_arn_pattern(identity, grant) for grant in grants if grant.region == region}
                        )
                    },
                },
            }
        )
    return {"Version": "2012-10-17", "Statement": statements}


def compact(document: dict[str, Any]) -> str:
    """The document as IAM counts it: no white space."""
    return json.dumps(document, separators=(",", ":"), sort_keys=True)


def render(document: dict[str, Any], limit: int, what: str) -> str:
    """The document as IAM stores it (no white space), refused when over `limit` characters."""
    text = compact(document)
    if len(text) > limit:
        raise PolicyTooLargeError(
            f"{what} is {len(text)} characters, over IAM's limit of {limit}"
        )
    return text


@dataclass(frozen=True)
class ReadPolicyLayout:
    """Where a role's read grants live: one inline policy, or buckets of them, one
    customer-managed policy each (an empty bucket has none). Every bucket is exact; together
    they hold every grant once."""

    inline: bool
    buckets: tuple[tuple[SecretGrant, ...], ...]


def _fits(identity: AwsAccount, grants: list[SecretGrant], kms_key_arns: list[str], limit: int) -> bool:
    return len(compact(permission_policy(identity, grants, kms_key_arns))) <= limit


def _hash(grant: SecretGrant) -> int:
    return int.from_bytes(hashlib.sha256(f"{grant.region}/{grant.path}".encode()).digest()[:8], "big")


def spread_grants(grants: list[SecretGrant], count: int) -> tuple[tuple[SecretGrant, ...], ...]:
    """`grants` in `count` buckets (a power of two) by a hash of each secret, in their order.

    A grant stays in its bucket whatever else is added or removed, so a service added or removed
    changes one policy; and with twice the buckets a grant of bucket b goes to b or b + count,
    so doubling moves grants only to new, higher buckets (and halving only to lower ones).
    """
    buckets: list[list[SecretGrant]] = [[] for _ in range(count)]
    for grant in grants:
        buckets[_hash(grant) % count].append(grant)
    return tuple(tuple(bucket) for bucket in buckets)


def read_policy_layout(
    identity: AwsAccount, grants: list[SecretGrant], kms_key_arns: list[str]
) -> ReadPolicyLayout:
    """Inline when the whole permission policy fits a role's inline quota, otherwise the fewest
    buckets, a power of two, whose customer-managed policies each fit MANAGED_POLICY_LIMIT.

    Raises PolicyTooLargeError when one grant alone is over that limit.
    """
    if _fits(identity, grants, kms_key_arns, INLINE_POLICY_LIMIT):
        return ReadPolicyLayout(inline=True, buckets=(tuple(grants),))
    for grant in grants:
        if not _fits(identity, [grant], kms_key_arns, MANAGED_POLICY_LIMIT):
            raise PolicyTooLargeError(
                f"the permission policy for the one secret {grant.path} is over IAM's limit of {MANAGED_POLICY_LIMIT}"
            )
    count = 2
    while True:
        buckets = spread_grants(grants, count)
        if all(_fits(identity, list(bucket), kms_key_arns, MANAGED_POLICY_LIMIT) for bucket in buckets):
            return ReadPolicyLayout(inline=False, buckets=buckets)
        count *= 2
