"""Trust and permission documents, without any engine."""

import json
import re

import pytest
from botocore.loaders import Loader

from components.iam_documents import (
    DNS_SUFFIXES,
    INLINE_POLICY_LIMIT,
    MANAGED_POLICY_LIMIT,
    AwsIdentity,
    PolicyTooLargeError,
    ReadPolicyLayout,
    SecretGrant,
    compact,
    partition_of_region,
    permission_policy,
    read_policy_layout,
    render,
    secret_arn_pattern,
    secrets_manager_service,
    spread_grants,
    trust_policy,
)

PROVIDER = "arn:aws:iam::111122223333:oidc-provider/oidc.eks.eu-west-1.amazonaws.com/id/ABC123"
IDENTITY = AwsIdentity.from_oidc_provider_arn(PROVIDER)


def test_identity_is_read_off_the_provider_arn():
    assert IDENTITY == AwsIdentity("aws", "111122223333", PROVIDER, "oidc.eks.eu-west-1.amazonaws.com/id/ABC123")
    gov = AwsIdentity.from_oidc_provider_arn("arn:aws-us-gov:iam::111122223333:oidc-provider/x.example/id/1")
    assert gov.partition == "aws-us-gov"


@pytest.mark.parametrize("bad", ["", "arn:aws:iam::111122223333:role/x", "arn:aws:s3:::bucket/oidc-provider/x",
                                 "nra:aws:iam::111122223333:oidc-provider/x", "arn:aws:iam::111122223333:oidc-provider/"])
def test_other_arns_are_not_provider_arns(bad):
    with pytest.raises(ValueError, match="is not an IAM OIDC provider ARN"):
        AwsIdentity.from_oidc_provider_arn(bad)


def test_secret_arn_pattern_allows_only_the_random_suffix():
    assert secret_arn_pattern(IDENTITY, SecretGrant("eu-west-1", "dev/app/api")) == (
        "arn:aws:secretsmanager:eu-west-1:111122223333:secret:dev/app/api-??????"
    )


def test_trust_pins_one_subject_and_the_audience_with_string_equals():
    document = trust_policy(IDENTITY, ["system:serviceaccount:backend:eso"])
    (statement,) = document["Statement"]
    assert statement["Principal"] == {"Federated": PROVIDER}
    assert statement["Condition"] == {
        "StringEquals": {
            "oidc.eks.eu-west-1.amazonaws.com/id/ABC123:aud": "sts.amazonaws.com",
            "oidc.eks.eu-west-1.amazonaws.com/id/ABC123:sub": "system:serviceaccount:backend:eso",
        }
    }


def test_shared_trust_lists_subjects_sorted():
    document = trust_policy(IDENTITY, ["system:serviceaccount:b:eso", "system:serviceaccount:a:eso"])
    condition = document["Statement"][0]["Condition"]["StringEquals"]
    assert condition["oidc.eks.eu-west-1.amazonaws.com/id/ABC123:sub"] == [
        "system:serviceaccount:a:eso",
        "system:serviceaccount:b:eso",
    ]


def test_wildcard_trust_is_string_like_on_sub_only():
    condition = trust_policy(IDENTITY, [], wildcard_service_account="eso")["Statement"][0]["Condition"]
    assert condition == {
        "StringEquals": {"oidc.eks.eu-west-1.amazonaws.com/id/ABC123:aud": "sts.amazonaws.com"},
        "StringLike": {"oidc.eks.eu-west-1.amazonaws.com/id/ABC123:sub": "system:serviceaccount:*:eso"},
    }


def test_each_regions_keys_decrypt_only_through_that_regions_secrets_manager_and_secrets():
    mrk_eu, mrk_us = (f"arn:aws:kms:{region}:111122223333:key/mrk-1" for region in ("eu-west-1", "us-east-1"))
    single_us = "arn:aws:kms:us-east-1:111122223333:key/k2"
    document = permission_policy(
        IDENTITY,
        [SecretGrant("eu-west-1", "prod/app/b"), SecretGrant("us-east-1", "prod/app/a"), SecretGrant("us-east-1", "prod/app/c")],
        [single_us, mrk_eu, mrk_us, "arn:aws:kms:ap-south-1:111122223333:key/no-secret-there"],
    )
    read, eu, us = document["Statement"]
    arn_of = "arn:aws:secretsmanager:{}:111122223333:secret:prod/app/{}-??????"
    assert read["Resource"] == [arn_of.format("eu-west-1", "b"), arn_of.format("us-east-1", "a"), arn_of.format("us-east-1", "c")]
    assert "secretsmanager:GetSecretValue" in read["Action"]
    assert not any(action.endswith("*") for action in read["Action"])
    assert eu == {
        "Sid": "DecryptThroughSecretsManagerEuWest1",
        "Effect": "Allow",
        "Action": "kms:Decrypt",
        "Resource": [mrk_eu],
        "Condition": {
            "StringEquals": {"kms:ViaService": "secretsmanager.eu-west-1.amazonaws.com"},
            "StringLike": {"kms:EncryptionContext:SecretARN": [arn_of.format("eu-west-1", "b")]},
        },
    }
    assert us["Sid"] == "DecryptThroughSecretsManagerUsEast1"
    assert us["Resource"] == [single_us, mrk_us]
    assert us["Condition"] == {
        "StringEquals": {"kms:ViaService": "secretsmanager.us-east-1.amazonaws.com"},
        "StringLike": {"kms:EncryptionContext:SecretARN": [arn_of.format("us-east-1", "a"), arn_of.format("us-east-1", "c")]},
    }
    assert "ap-south-1" not in json.dumps(document)


@pytest.mark.parametrize(
    "partition, region, via_service",
    [
        ("aws", "us-east-1", "secretsmanager.us-east-1.amazonaws.com"),
        ("aws-cn", "cn-north-1", "secretsmanager.cn-north-1.amazonaws.com.cn"),
        ("aws-us-gov", "us-gov-west-1", "secretsmanager.us-gov-west-1.amazonaws.com"),
    ],
)
def test_via_service_uses_the_partitions_dns_suffix(partition, region, via_service):
    identity = AwsIdentity.from_oidc_provider_arn(
        f"arn:{partition}:iam::111122223333:oidc-provider/oidc.eks.{region}.{DNS_SUFFIXES[partition]}/id/ABC"
    )
    key = f"arn:{partition}:kms:{region}:111122223333:key/k1"
    read, decrypt = permission_policy(identity, [SecretGrant(region, "prod/app/a")], [key])["Statement"]
    assert read["Resource"] == [f"arn:{partition}:secretsmanager:{region}:111122223333:secret:prod/app/a-??????"]
    assert decrypt["Resource"] == [key]
    assert decrypt["Condition"]["StringEquals"] == {"kms:ViaService": via_service}


def test_partitions_and_their_dns_suffixes_are_botocores():
    partitions = Loader().load_data("endpoints")["partitions"]
    assert DNS_SUFFIXES == {p["partition"]: p["dnsSuffix"] for p in partitions}
    for partition in partitions:
        for region in partition["regions"]:
            assert re.fullmatch(partition["regionRegex"], region)
            assert partition_of_region(region) == partition["partition"], region


def test_an_unknown_partition_is_refused_rather_than_guessed():
    with pytest.raises(ValueError, match="unknown AWS partition 'aws-mars'"):
        secrets_manager_service("aws-mars", "mars-north-1")


def test_render_is_compact_and_refuses_oversized_documents():
    document = permission_policy(IDENTITY, [SecretGrant("eu-west-1", "p")], [])
    text = render(document, INLINE_POLICY_LIMIT, "policy")
    assert json.loads(text) == document and " " not in text
    with pytest.raises(PolicyTooLargeError, match=rf"^policy of role r is {len(text)} characters, over IAM's limit of 100$"):
        render(document, 100, "policy of role r")


KMS = ["arn:aws:kms:eu-west-1:111122223333:key/k1"]


def size(grants, kms=()) -> int:
    return len(compact(permission_policy(IDENTITY, list(grants), list(kms))))


def exactly(target: int, with_kms: bool) -> tuple[list[SecretGrant], list[str]]:
    """Grants (and KMS keys) whose permission policy is exactly `target` characters: whole
    grants up to about 200 characters short, then the last path padded. With KMS each path
    counts twice, so an odd remainder goes into the key's id."""

    def last(padding: int) -> SecretGrant:
        return SecretGrant("eu-west-1", "prod/app/z" + "z" * padding)

    def keys(extra: int) -> list[str]:
        return [KMS[0] + "1" * extra] if with_kms else []

    grants: list[SecretGrant] = []
    while size(grants + [last(0)], keys(0)) + 200 < target:
        grants.append(SecretGrant("eu-west-1", f"prod/app/service-{len(grants):03d}"))
    per_character = size(grants + [last(1)], keys(0)) - size(grants + [last(0)], keys(0))
    padding, odd = divmod(target - size(grants + [last(0)], keys(0)), per_character)
    result = grants + [last(padding)], keys(odd)
    assert size(*result) == target
    return result


@pytest.mark.parametrize("with_kms", [False, True], ids=["no-kms", "kms"])
def test_grants_stay_inline_exactly_up_to_the_inline_limit(with_kms):
    grants, kms = exactly(INLINE_POLICY_LIMIT, with_kms)
    assert read_policy_layout(IDENTITY, grants, kms) == ReadPolicyLayout(inline=True, buckets=(tuple(grants),))
    grants, kms = exactly(INLINE_POLICY_LIMIT + 1, with_kms)
    layout = read_policy_layout(IDENTITY, grants, kms)
    assert not layout.inline and len(layout.buckets) in (2, 4)
    assert sorted((grant for bucket in layout.buckets for grant in bucket), key=repr) == sorted(grants, key=repr)


def many(count: int, start: int = 0) -> list[SecretGrant]:
    return [SecretGrant("eu-west-1" if i % 3 else "us-east-1", f"prod/app/service-{i:04d}") for i in range(start, start + count)]


def test_managed_buckets_are_the_fewest_power_of_two_that_fit_each_exact():
    grants = many(400)
    layout = read_policy_layout(IDENTITY, grants, KMS)
    count = len(layout.buckets)
    assert not layout.inline and count & (count - 1) == 0
    assert sorted((g for bucket in layout.buckets for g in bucket), key=repr) == sorted(grants, key=repr)
    for bucket in layout.buckets:
        document = permission_policy(IDENTITY, list(bucket), KMS)
        assert len(compact(document)) <= MANAGED_POLICY_LIMIT
        # Each bucket names exactly its own secrets, in reads and in its key region's KMS condition alike.
        arns = sorted(secret_arn_pattern(IDENTITY, grant) for grant in bucket)
        assert document["Statement"][0]["Resource"] == arns
        (decrypt,) = document["Statement"][1:]
        assert decrypt["Condition"]["StringLike"]["kms:EncryptionContext:SecretARN"] == [
            arn for arn in arns if ":eu-west-1:" in arn
        ]
    # Half as many would not have fitted.
    assert any(size(bucket, KMS) > MANAGED_POLICY_LIMIT for bucket in spread_grants(grants, count // 2))


def test_a_grant_added_or_removed_changes_one_bucket_and_doubling_moves_grants_only_up():
    grants = many(300)
    before = spread_grants(grants, 8)
    added = spread_grants(grants + many(1, start=300), 8)
    assert sum(a != b for a, b in zip(before, added)) == 1
    removed = spread_grants(grants[1:], 8)
    assert sum(a != b for a, b in zip(before, removed)) == 1
    doubled = spread_grants(grants, 16)
    for index, bucket in enumerate(before):
        assert set(bucket) == set(doubled[index]) | set(doubled[index + 8])


def test_a_layout_for_the_longest_arns_fits_any_other_partition():
    grants = [SecretGrant("us-east-1", f"prod/app/{'s' * (i % 50)}-{i:04d}") for i in range(500)]
    gov = AwsIdentity.from_oidc_provider_arn("arn:aws-us-gov:iam::111122223333:oidc-provider/x/id/1")
    layout = read_policy_layout(gov, grants, [])
    assert all(size(bucket) <= MANAGED_POLICY_LIMIT for bucket in layout.buckets)
    assert len(read_policy_layout(IDENTITY, grants, []).buckets) <= len(layout.buckets)


def test_a_grant_that_cannot_fit_any_policy_is_refused():
    keys = [f"arn:aws:kms:eu-west-1:111122223333:key/{index:040d}" for index in range(200)]
    grants = many(200) + [SecretGrant("eu-west-1", "prod/app/a")]
    with pytest.raises(PolicyTooLargeError, match="the permission policy for the one secret prod/app/service-0001 is over IAM's limit of 6144"):
        read_policy_layout(IDENTITY, grants, keys)
