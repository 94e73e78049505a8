"""Unit tests of the IAM wildcard matcher and policy evaluator the AWS tests rely on."""

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.aws.iam_matching import (
    AssumeRoleRequest,
    RoleSession,
    ServicePrincipal,
    TransitiveTagConflict,
    UnsupportedPolicyElement,
    WebIdentityRequest,
    action_matches,
    allow_statements_naming,
    assume_role_denial,
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


# sts:AssumeRole by a role session and by a service -----------------------------------------

ROOT = "arn:aws:iam::123456789012:root"
CONTROLLER = "arn:aws:iam::123456789012:role/eso-controller"
TENANT = "arn:aws:iam::123456789012:role/eso-dev.api"
CLUSTER_ARN = "arn:aws:eks:us-east-1:123456789012:cluster/platform-dev"
EKS_TAGS = {"eks-cluster-arn": CLUSTER_ARN, "kubernetes-namespace": "external-secrets", "kubernetes-service-account": "external-secrets"}
ESO_TAGS = {"esoNamespace": "api", "esoStoreName": "aws", "esoStoreKind": "SecretStore"}
BOTH = ["sts:AssumeRole", "sts:TagSession"]
MAY_ASSUME = _policy(_allow(BOTH, TENANT))


def _tenant_trust(principal=ROOT, actions=BOTH, **condition):
    return _policy({
        "Effect": "Allow",
        "Principal": {"AWS": principal},
        "Action": actions,
        "Condition": condition or {
            "ArnEquals": {"aws:PrincipalArn": CONTROLLER},
            "StringEquals": {
                "aws:RequestTag/esoNamespace": "api",
                "aws:RequestTag/esoStoreKind": "SecretStore",
                "aws:PrincipalTag/eks-cluster-arn": CLUSTER_ARN,
                "aws:PrincipalTag/kubernetes-namespace": "external-secrets",
            },
        },
    })


def _by_controller(tags=ESO_TAGS, session_tags=EKS_TAGS, role=CONTROLLER, **extra):
    return AssumeRoleRequest(TENANT, RoleSession(role, "eks-platform-dev-pod", session_tags), tags, **extra)


def test_a_tagged_session_assumes_a_role_whose_trust_pins_its_tags():
    assert assume_role_denial(_tenant_trust(), [MAY_ASSUME], _by_controller()) is None


@pytest.mark.parametrize(
    "request_, reason",
    [
        (_by_controller(tags={**ESO_TAGS, "esoNamespace": "billing"}), "does not allow sts:AssumeRole"),
        (_by_controller(tags={k: v for k, v in ESO_TAGS.items() if k != "esoNamespace"}), "does not allow sts:AssumeRole"),
        (_by_controller(session_tags={**EKS_TAGS, "kubernetes-namespace": "default"}), "does not allow sts:AssumeRole"),
        (_by_controller(session_tags={}), "does not allow sts:AssumeRole"),
        (_by_controller(role="arn:aws:iam::123456789012:role/other"), "does not allow sts:AssumeRole"),
    ],
    ids=["other-request-tag", "missing-request-tag", "other-principal-tag", "untagged-session", "other-role"],
)
def test_the_trust_conditions_refuse_what_they_do_not_pin(request_, reason):
    assert reason in assume_role_denial(_tenant_trust(), [MAY_ASSUME], request_)


def test_principal_tags_are_the_roles_iam_tags_overridden_by_the_session_tags_in_any_case():
    session_only = {k: v for k, v in EKS_TAGS.items() if k != "kubernetes-namespace"}
    from_role = _by_controller(session_tags=session_only, caller_role_tags={"kubernetes-namespace": "external-secrets"})
    assert assume_role_denial(_tenant_trust(), [MAY_ASSUME], from_role) is None
    overridden = _by_controller(caller_role_tags={"Kubernetes-Namespace": "default"})
    assert assume_role_denial(_tenant_trust(), [MAY_ASSUME], overridden) is None
    assert RoleSession(CONTROLLER, "s", {"Team": "a"}).principal_tags({"team": "b", "x": "1"}) == {"x": "1", "Team": "a"}


def test_passing_tags_needs_sts_tag_session_in_the_trust():
    trust = _tenant_trust(actions="sts:AssumeRole")
    assert "does not allow sts:TagSession" in assume_role_denial(trust, [MAY_ASSUME], _by_controller())
    untagged = _tenant_trust(actions="sts:AssumeRole", ArnEquals={"aws:PrincipalArn": CONTROLLER})
    assert assume_role_denial(untagged, [MAY_ASSUME], _by_controller(tags={})) is None
    assert "sts:TagSession" in assume_role_denial(untagged, [MAY_ASSUME], _by_controller(tags={}, transitive_tag_keys=("x",)))


def test_a_trust_naming_the_account_needs_the_callers_identity_policy_for_each_action():
    assert "no identity-based policy allows the sts:AssumeRole" in assume_role_denial(_tenant_trust(), [], _by_controller())
    assume_only = _policy(_allow("sts:AssumeRole", TENANT))
    assert "no identity-based policy allows the sts:TagSession" in assume_role_denial(_tenant_trust(), [assume_only], _by_controller())
    other_role = _policy(_allow(BOTH, TENANT + "-v2"))
    assert "no identity-based policy" in assume_role_denial(_tenant_trust(), [other_role], _by_controller())


@pytest.mark.parametrize("principal", [CONTROLLER, "arn:aws:sts::123456789012:assumed-role/eso-controller/eks-platform-dev-pod"])
def test_a_trust_naming_the_role_or_the_session_needs_no_identity_policy_in_the_same_account(principal):
    assert assume_role_denial(_tenant_trust(principal), [], _by_controller()) is None
    denied = _policy({"Effect": "Deny", "Action": "sts:*", "Resource": "*"})
    assert "explicitly denies" in assume_role_denial(_tenant_trust(principal), [denied], _by_controller())
    across = AssumeRoleRequest(TENANT, RoleSession("arn:aws:iam::210987654321:role/eso-controller", "s", EKS_TAGS), ESO_TAGS)
    trust = _tenant_trust("arn:aws:iam::210987654321:role/eso-controller", StringEquals={"aws:PrincipalAccount": "210987654321"})
    assert "no identity-based policy" in assume_role_denial(trust, [], across)
    assert assume_role_denial(trust, [MAY_ASSUME], across) is None


def test_the_bare_account_id_is_the_account_and_another_account_is_no_match():
    assert assume_role_denial(_tenant_trust("123456789012"), [MAY_ASSUME], _by_controller()) is None
    assert "trust policy" in assume_role_denial(_tenant_trust("arn:aws:iam::210987654321:root"), [MAY_ASSUME], _by_controller())


def test_a_deny_in_the_trust_wins():
    trust = _tenant_trust()
    trust["Statement"].append({"Effect": "Deny", "Principal": {"AWS": ROOT}, "Action": "sts:TagSession",
                               "Condition": {"StringEquals": {"aws:RequestTag/esoStoreKind": "SecretStore"}}})
    assert "does not allow sts:TagSession" in assume_role_denial(trust, [MAY_ASSUME], _by_controller())


def test_string_like_and_arn_like_use_wildcards():
    trust = _tenant_trust(ArnLike={"aws:PrincipalArn": "arn:aws:iam::123456789012:role/eso-*"},
                          StringLike={"aws:RequestTag/esoNamespace": "a?i"})
    assert assume_role_denial(trust, [MAY_ASSUME], _by_controller()) is None
    assert assume_role_denial(trust, [MAY_ASSUME], _by_controller(role="arn:aws:iam::123456789012:role/other")) is not None


def test_tag_keys_are_judged_with_set_operators():
    only_eso = _tenant_trust(**{"ForAllValues:StringEquals": {"aws:TagKeys": list(ESO_TAGS)}})
    assert assume_role_denial(only_eso, [MAY_ASSUME], _by_controller()) is None
    assert assume_role_denial(only_eso, [MAY_ASSUME], _by_controller(tags={**ESO_TAGS, "extra": "x"})) is not None
    # ForAllValues holds when the request passes no tags at all.
    assert assume_role_denial(only_eso, [MAY_ASSUME], _by_controller(tags={})) is None
    any_eso = _tenant_trust(**{"ForAnyValue:StringLike": {"aws:TagKeys": "eso*"}})
    assert assume_role_denial(any_eso, [MAY_ASSUME], _by_controller(tags={"extra": "x", "esoNamespace": "api"})) is None
    assert assume_role_denial(any_eso, [MAY_ASSUME], _by_controller(tags={"extra": "x"})) is not None
    # ForAnyValue never holds when the key is absent.
    assert assume_role_denial(any_eso, [MAY_ASSUME], _by_controller(tags={})) is not None
    transitive = _tenant_trust(**{"ForAllValues:StringEquals": {"sts:TransitiveTagKeys": ["esoNamespace"]}})
    assert assume_role_denial(transitive, [MAY_ASSUME], _by_controller(transitive_tag_keys=("esoNamespace",))) is None
    assert assume_role_denial(transitive, [MAY_ASSUME], _by_controller(transitive_tag_keys=("esoStoreName",))) is not None


@pytest.mark.parametrize(
    "condition",
    [{"StringEquals": {"aws:TagKeys": "esoNamespace"}}, {"ForAnyValue:StringEquals": {"aws:RequestTag/esoNamespace": "api"}},
     {"StringNotEquals": {"aws:RequestTag/esoNamespace": "api"}}],
    ids=["plain-on-multivalued", "set-on-single-valued", "unmodelled-operator"],
)
def test_operators_on_the_wrong_kind_of_key_are_refused(condition):
    with pytest.raises(UnsupportedPolicyElement):
        assume_role_denial(_tenant_trust(**condition), [MAY_ASSUME], _by_controller())


@pytest.mark.parametrize("principal", ["*", {"AWS": "*"}, {"CanonicalUser": "x"}])
def test_trust_principals_it_does_not_model_are_refused(principal):
    trust = _policy({"Effect": "Allow", "Principal": principal, "Action": BOTH})
    with pytest.raises(UnsupportedPolicyElement):
        assume_role_denial(trust, [MAY_ASSUME], _by_controller())


POD_IDENTITY = ServicePrincipal("pods.eks.amazonaws.com", CLUSTER_ARN, "123456789012")
CONTROLLER_TRUST = _policy({
    "Effect": "Allow",
    "Principal": {"Service": "pods.eks.amazonaws.com"},
    "Action": BOTH,
    "Condition": {"StringEquals": {"aws:SourceAccount": "123456789012"}, "ArnEquals": {"aws:SourceArn": CLUSTER_ARN}},
})


def _by_eks(caller=POD_IDENTITY, tags=EKS_TAGS):
    return AssumeRoleRequest(CONTROLLER, caller, tags)


def test_a_service_principal_is_judged_on_the_trust_and_its_source_alone():
    assert assume_role_denial(CONTROLLER_TRUST, [], _by_eks()) is None
    other_cluster = ServicePrincipal("pods.eks.amazonaws.com", CLUSTER_ARN.replace("platform-dev", "other"), "123456789012")
    assert assume_role_denial(CONTROLLER_TRUST, [], _by_eks(other_cluster)) is not None
    assert assume_role_denial(CONTROLLER_TRUST, [], _by_eks(ServicePrincipal("pods.eks.amazonaws.com"))) is not None
    assert assume_role_denial(CONTROLLER_TRUST, [], _by_eks(ServicePrincipal("ec2.amazonaws.com", CLUSTER_ARN, "123456789012"))) is not None
    assume_only = _policy({**CONTROLLER_TRUST["Statement"][0], "Action": "sts:AssumeRole"})
    assert "sts:TagSession" in assume_role_denial(assume_only, [], _by_eks())
    assert assume_role_denial(assume_only, [], _by_eks(tags={})) is None


def test_a_role_session_is_not_a_service_nor_a_service_a_role_session():
    assert assume_role_denial(CONTROLLER_TRUST, [MAY_ASSUME], AssumeRoleRequest(CONTROLLER, RoleSession(TENANT, "s"), {})) is not None
    assert assume_role_denial(_tenant_trust(), [MAY_ASSUME], AssumeRoleRequest(TENANT, POD_IDENTITY, ESO_TAGS)) is not None


def test_a_web_identity_is_not_admitted_by_an_aws_or_service_principal():
    assert not trust_admits(_tenant_trust(), _request("system:serviceaccount:a:eso"))
    assert not trust_admits(CONTROLLER_TRUST, _request("system:serviceaccount:a:eso"))


def test_transitive_tags_pass_down_a_chain_and_cannot_be_passed_again():
    first = RoleSession(CONTROLLER, "eks-pod", EKS_TAGS, frozenset(EKS_TAGS))
    second = first.chained(TENANT, "eso", ESO_TAGS)
    assert dict(second.tags) == EKS_TAGS | ESO_TAGS
    assert second.transitive_keys == frozenset(EKS_TAGS)
    assert second.arn == "arn:aws:sts::123456789012:assumed-role/eso-dev.api/eso"
    third = second.chained("arn:aws:iam::123456789012:role/third", "t", {})
    assert dict(third.tags) == EKS_TAGS
    for clashing in ({"kubernetes-namespace": "api"}, {"Kubernetes-Namespace": "external-secrets"}):
        with pytest.raises(TransitiveTagConflict):
            first.chained(TENANT, "eso", clashing)
    # Tags that are not transitive stop at the session that was given them.
    assert dict(RoleSession(CONTROLLER, "s", {"a": "1"}).chained(TENANT, "t", {"a": "2"}).tags) == {"a": "2"}
    marked = RoleSession(CONTROLLER, "s").chained(TENANT, "t", {"a": "1"}, ["a"])
    assert marked.transitive_keys == frozenset({"a"})
