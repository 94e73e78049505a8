"""Trust and permission documents, without any engine."""

import json

import pytest

from components.iam_documents import (
    INLINE_POLICY_LIMIT,
    AwsIdentity,
    PolicyTooLargeError,
    SecretGrant,
    permission_policy,
    render,
    secret_arn_pattern,
    trust_policy,
)

PROVIDER = "arn:aws:iam::111122223333:oidc-provider/oidc.eks.eu-west-1.amazonaws.com/id/ABC123"
IDENTITY = AwsIdentity.from_oidc_provider_arn(PROVIDER)


def test_identity_is_read_off_the_provider_arn():
    assert IDENTITY == AwsIdentity("aws", "111122223333", PROVIDER, "oidc.eks.eu-west-1.amazonaws.com/id/ABC123")
    gov = AwsIdentity.from_oidc_provider_arn("arn:aws-us-gov:iam::111122223333:oidc-provider/x.example/id/1")
    assert gov.partition == "aws-us-gov"


@pytest.mark.parametrize("bad", ["", "arn:aws:iam::111122223333:role/x", "arn:aws:s3:::bucket/oidc-provider/x"])
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


def test_permission_names_each_secret_in_its_region_and_kms_only_via_secrets_manager():
    document = permission_policy(
        IDENTITY,
        [SecretGrant("eu-west-1", "prod/app/b"), SecretGrant("us-east-1", "prod/app/a")],
        ["arn:aws:kms:eu-west-1:111122223333:key/k1"],
    )
    read, decrypt = document["Statement"]
    assert read["Resource"] == [
        "arn:aws:secretsmanager:eu-west-1:111122223333:secret:prod/app/b-??????",
        "arn:aws:secretsmanager:us-east-1:111122223333:secret:prod/app/a-??????",
    ]
    assert "secretsmanager:GetSecretValue" in read["Action"]
    assert not any(action.endswith("*") for action in read["Action"])
    assert decrypt["Condition"]["StringLike"] == {"kms:EncryptionContext:SecretARN": read["Resource"]}
    assert decrypt["Condition"]["StringEquals"]["kms:ViaService"] == [
        "secretsmanager.eu-west-1.amazonaws.com",
        "secretsmanager.us-east-1.amazonaws.com",
    ]


def test_render_is_compact_and_refuses_oversized_documents():
    document = permission_policy(IDENTITY, [SecretGrant("eu-west-1", "p")], [])
    text = render(document, INLINE_POLICY_LIMIT, "policy")
    assert json.loads(text) == document and " " not in text
    with pytest.raises(PolicyTooLargeError, match=rf"^policy of role r is {len(text)} characters, over IAM's limit of 100$"):
        render(document, 100, "policy of role r")
