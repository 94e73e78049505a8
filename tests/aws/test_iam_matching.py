"""Unit tests of the IAM wildcard matcher and policy evaluator the AWS tests rely on."""

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.aws.iam_matching import (
    UnsupportedPolicyElement,
    WebIdentityRequest,
    action_matches,
    allow_statements_naming,
    is_allowed,
    trust_admits,
    wildcard_match,
)

SECRET = "arn:aws:secretsmanager:us-east-1:123456789012:secret:dev/app/backend-api-AbC123"


@pytest.mark.parametrize(
    "pattern, value, expected",
    [
        # `*` matches any run, the empty one included, anywhere in the pattern.
        ("*", "", True),
        ("*", "anything/at:all", True),
        ("a*", "a", True),
        ("*a", "a", True),
        ("a*b", "ab", True),
        ("a*b", "a-x-b", True),
        ("a**b", "ab", True),
        ("a*b*c", "a-b-b-c", True),
        ("a*b", "a-b-c", False),
        # `?` is exactly one character: never none, never two.
        ("?", "", False),
        ("?", "x", True),
        ("?", "xy", False),
        ("a?", "a", False),
        ("a??", "abc", True),
        ("a??", "abcd", False),
        ("*?", "", False),
        ("?*", "x", True),
        # Whole-string match: no implicit prefix or suffix.
        ("abc", "abcd", False),
        ("bcd", "abcd", False),
        ("", "", True),
        ("", "a", False),
        # Case-sensitive.
        ("Backend", "backend", False),
        ("b?ckend", "bAckend", True),
        # Regular-expression metacharacters are literal.
        ("a.c", "abc", False),
        ("a.c", "a.c", True),
        ("a+", "aa", False),
        ("a+", "a+", True),
        ("a/b", "a/b", True),
        ("a/b", "a\\b", False),
        ("[ab]", "a", False),
        ("[ab]", "[ab]", True),
        ("(a|b)", "a", False),
        ("^a$", "a", False),
        ("a{2}", "aa", False),
        ("a\\d", "a1", False),
        ("a\\d", "a\\d", True),
        # `*` and `?` cross ':' and '/' (the broader reading; see the module docstring).
        ("arn:*:x", "arn:a:b:x", True),
        ("a?b", "a/b", True),
        ("a?b", "a:b", True),
        # Backtracking: the star must give back characters it first took.
        ("*-??????", "dev/app/api-v2-AbC123", True),
        ("*ab*ab", "abab-ab", True),
        ("*aab", "aaab", True),
    ],
)
def test_wildcard_match(pattern, value, expected):
    assert wildcard_match(pattern, value) is expected


def _reference(pattern: str, value: str) -> bool:
    """An independent statement of the same rules, through Python's regular expressions."""
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, re.DOTALL) is not None


@settings(max_examples=400, deadline=None)
@given(pattern=st.text(alphabet="ab*?.+/:-\\", max_size=9), value=st.text(alphabet="ab.+/:-\\?*", max_size=12))
def test_wildcard_match_agrees_with_a_regex_reference(pattern, value):
    assert wildcard_match(pattern, value) is _reference(pattern, value)


def test_secret_suffix_pattern_matches_exactly_one_name():
    pattern = "arn:aws:secretsmanager:us-east-1:123456789012:secret:dev/app/backend-api-??????"
    assert wildcard_match(pattern, SECRET)
    for other in (
        "dev/app/backend-api-v2-AbC123",
        "dev/app/backend-api/extra-AbC123",
        "dev/app/backend-ap-AbC123",
        "dev/app/backend-api-AbC12",
        "dev/app/backend-api-abcdef-AbC123",
        "dev/app/Backend-api-AbC123",
        "staging/app/backend-api-AbC123",
    ):
        assert not wildcard_match(pattern, SECRET.replace("dev/app/backend-api-AbC123", other)), other
    assert not wildcard_match(pattern, SECRET.replace("us-east-1", "us-west-2"))
    assert not wildcard_match(pattern, SECRET.replace("123456789012", "210987654321"))


@pytest.mark.parametrize(
    "pattern, expected",
    [
        ("secretsmanager:GetSecretValue", True),
        ("secretsmanager:getsecretvalue", True),
        ("SecretsManager:GetSecretValue", True),
        ("secretsmanager:Get*", True),
        ("secretsmanager:*", True),
        ("*", True),
        ("secretsmanager:GetSecretValu?", True),
        ("secretsmanager:Describe*", False),
        ("secretsmanager:GetSecretValues", False),
        ("secretsmanager:GetSecret", False),
        ("kms:*", False),
    ],
)
def test_action_matches(pattern, expected):
    assert action_matches(pattern, "secretsmanager:GetSecretValue") is expected


def _policy(*statements):
    return {"Version": "2012-10-17", "Statement": list(statements)}


def _allow(action, resource, **extra):
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def test_is_allowed_needs_an_allow_for_the_action_and_the_resource():
    read = _policy(_allow(["secretsmanager:DescribeSecret"], SECRET))
    assert not is_allowed([read], "secretsmanager:GetSecretValue", SECRET)
    wide = _policy(_allow("secretsmanager:Get*", "arn:aws:secretsmanager:*:123456789012:secret:dev/*"))
    assert is_allowed([wide], "secretsmanager:GetSecretValue", SECRET)
    assert not is_allowed([wide], "secretsmanager:GetSecretValue", SECRET.replace("dev/", "prod/"))
    assert not is_allowed([], "secretsmanager:GetSecretValue", SECRET)


def test_explicit_deny_wins_over_any_allow():
    documents = [
        _policy(_allow("secretsmanager:*", "*")),
        _policy({"Effect": "Deny", "Action": "secretsmanager:GetSecretValue", "Resource": SECRET}),
    ]
    assert not is_allowed(documents, "secretsmanager:GetSecretValue", SECRET)
    assert is_allowed(documents, "secretsmanager:DescribeSecret", SECRET)


def test_a_single_statement_object_is_read_like_a_list():
    assert is_allowed([{"Statement": _allow("secretsmanager:GetSecretValue", SECRET)}], "secretsmanager:GetSecretValue", SECRET)


@pytest.mark.parametrize(
    "statement",
    [
        {"Effect": "Allow", "NotAction": "kms:*", "Resource": "*"},
        {"Effect": "Allow", "Action": "secretsmanager:*", "NotResource": "arn:aws:s3:::x"},
        _allow("secretsmanager:*", "arn:aws:secretsmanager:*:*:secret:${aws:username}-??????"),
        _allow("secretsmanager:*", "*", Condition={"StringEquals": {"aws:ResourceTag/team": "a"}}),
        _allow("secretsmanager:*", "*", Principal="*"),
        {"Effect": "Maybe", "Action": "secretsmanager:*", "Resource": "*"},
    ],
)
def test_the_evaluator_refuses_what_it_does_not_model(statement):
    with pytest.raises(UnsupportedPolicyElement):
        is_allowed([_policy(statement)], "secretsmanager:GetSecretValue", SECRET)


def test_a_condition_on_an_unrelated_statement_is_no_obstacle():
    kms = _allow("kms:Decrypt", "arn:aws:kms:us-east-1:123456789012:key/k", Condition={"StringEquals": {"kms:ViaService": "x"}})
    documents = [_policy(_allow("secretsmanager:GetSecretValue", SECRET), kms)]
    assert is_allowed(documents, "secretsmanager:GetSecretValue", SECRET)


def test_allow_statements_naming_ignores_actions_and_denies():
    documents = [
        _policy(
            _allow("kms:Decrypt", "arn:aws:secretsmanager:*", Sid="Odd"),
            {"Effect": "Deny", "Action": "*", "Resource": "*", "Sid": "Fence"},
            _allow("s3:GetObject", "arn:aws:s3:::b/*"),
        )
    ]
    assert allow_statements_naming(documents, SECRET) == ["Odd"]
    assert allow_statements_naming(documents, "arn:aws:s3:::b/k") == ["2"]


ISSUER = "oidc.eks.us-east-1.amazonaws.com/id/ABC"
PROVIDER = f"arn:aws:iam::123456789012:oidc-provider/{ISSUER}"


def _trust(condition):
    return _policy(
        {
            "Effect": "Allow",
            "Principal": {"Federated": PROVIDER},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": condition,
        }
    )


def _request(sub, aud="sts.amazonaws.com", provider=PROVIDER):
    return WebIdentityRequest(provider, {f"{ISSUER}:sub": sub, f"{ISSUER}:aud": aud})


def test_trust_string_equals_admits_exactly_the_listed_subjects():
    trust = _trust({"StringEquals": {f"{ISSUER}:aud": "sts.amazonaws.com", f"{ISSUER}:sub": ["system:serviceaccount:a:eso", "system:serviceaccount:b:eso"]}})
    assert trust_admits(trust, _request("system:serviceaccount:a:eso"))
    assert trust_admits(trust, _request("system:serviceaccount:b:eso"))
    assert not trust_admits(trust, _request("system:serviceaccount:c:eso"))
    assert not trust_admits(trust, _request("system:serviceaccount:a:eso2"))
    assert not trust_admits(trust, _request("system:serviceaccount:a:eso", aud="other"))
    assert not trust_admits(trust, _request("system:serviceaccount:a:eso", provider=PROVIDER + "X"))
    # A claim the condition names but the token lacks fails the condition.
    assert not trust_admits(trust, WebIdentityRequest(PROVIDER, {f"{ISSUER}:sub": "system:serviceaccount:a:eso"}))
    # Condition keys are case-insensitive.
    assert trust_admits(trust, WebIdentityRequest(PROVIDER, {f"{ISSUER}:SUB": "system:serviceaccount:a:eso", f"{ISSUER}:Aud": "sts.amazonaws.com"}))


def test_trust_string_like_uses_wildcards_and_string_equals_does_not():
    like = _trust({"StringLike": {f"{ISSUER}:sub": "system:serviceaccount:*:eso"}})
    equals = _trust({"StringEquals": {f"{ISSUER}:sub": "system:serviceaccount:*:eso"}})
    assert trust_admits(like, _request("system:serviceaccount:anything:eso"))
    assert not trust_admits(equals, _request("system:serviceaccount:anything:eso"))
    assert trust_admits(equals, _request("system:serviceaccount:*:eso"))


def test_trust_refuses_unmodelled_operators():
    with pytest.raises(UnsupportedPolicyElement):
        trust_admits(_trust({"ForAnyValue:StringLike": {f"{ISSUER}:sub": "*"}}), _request("x"))


CURRENT_ONLY = _allow(
    "secretsmanager:GetSecretValue",
    SECRET,
    Condition={"StringEquals": {"secretsmanager:VersionStage": "AWSCURRENT"}, "Null": {"secretsmanager:VersionId": "true"}},
)


@pytest.mark.parametrize(
    "context, expected",
    [
        ({"secretsmanager:VersionStage": "AWSCURRENT"}, True),
        # Condition keys are case-insensitive; values are not.
        ({"SecretsManager:versionstage": "AWSCURRENT"}, True),
        ({"secretsmanager:VersionStage": "awscurrent"}, False),
        ({"secretsmanager:VersionStage": "AWSPREVIOUS"}, False),
        # A key the request does not carry fails StringEquals, and a present one fails Null "true".
        ({}, False),
        ({"secretsmanager:VersionStage": "AWSCURRENT", "secretsmanager:VersionId": "v1"}, False),
        ({"secretsmanager:VersionId": "v1"}, False),
    ],
)
def test_conditions_are_judged_against_the_requests_keys(context, expected):
    assert is_allowed([_policy(CURRENT_ONLY)], "secretsmanager:GetSecretValue", SECRET, context) is expected


def test_null_false_needs_the_key_present():
    statement = _allow("secretsmanager:GetSecretValue", SECRET, Condition={"Null": {"secretsmanager:VersionId": "false"}})
    assert is_allowed([_policy(statement)], "secretsmanager:GetSecretValue", SECRET, {"secretsmanager:VersionId": "v1"})
    assert not is_allowed([_policy(statement)], "secretsmanager:GetSecretValue", SECRET, {})


@pytest.mark.parametrize(
    "condition",
    [{"StringNotEquals": {"secretsmanager:VersionStage": "AWSPREVIOUS"}}, {"Null": {"secretsmanager:VersionId": "yes"}}],
)
def test_conditions_it_does_not_model_are_refused_even_with_a_context(condition):
    with pytest.raises(UnsupportedPolicyElement):
        is_allowed([_policy(_allow("secretsmanager:GetSecretValue", SECRET, Condition=condition))],
                   "secretsmanager:GetSecretValue", SECRET, {"secretsmanager:VersionStage": "AWSCURRENT"})


def test_a_conditional_statement_is_not_judged_without_the_requests_context():
    with pytest.raises(UnsupportedPolicyElement):
        is_allowed([_policy(CURRENT_ONLY)], "secretsmanager:GetSecretValue", SECRET)
