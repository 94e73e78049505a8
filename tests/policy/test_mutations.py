"""Each guardrail fires on a copy of the real program's inputs with one change, and only it fires."""

import base64

import pytest

import pulumi_kubernetes as k8s
import pulumi_aws as aws

from policy.rules import violations
from tools.plan.engine import record
from tests.conftest import Mocks
from components.resource_types import EXTERNAL_SECRET, MANAGED_POLICY, RELEASE, ROLE
from components.resource_types import KUBERNETES_SECRET as K8S_SECRET
from components.resource_types import POLICY_ATTACHMENT as ATTACHMENT
from tests.policy.helpers import (
    CHART_PINNED,
    CUSTOMER_MANAGED,
    K8S_SECRET_DATA,
    READ_SCOPE,
    REFRESH,
    SECRET_VERSION,
    SECRET_VERSION_VALUE,
    TRUST,
    WILDCARD_TRUST,
    edit_document,
    first_of,
    first_role_policy,
    fired,
    mutated,
)

ARN_PREFIX = "arn:aws:secretsmanager:us-east-1:123456789012:secret:"


# --- 1. Secrets Manager reads -------------------------------------------------------------------


@pytest.mark.parametrize(
    "resource",
    [
        "*",
        ARN_PREFIX + "*",
        ARN_PREFIX + "dev/app/*",
        ARN_PREFIX + "dev/app/backend-api*",
        ARN_PREFIX + "dev/app/backend-?pi-??????",  # '?' inside the name
        ARN_PREFIX + "dev/app/backend-api-?????",  # five, not six: the last one is in the name
        "arn:aws:secretsmanager:*:123456789012:secret:dev/app/backend-api-??????",
        "arn:aws:secretsmanager:us-east-1:*",
        "arn:aws:*",
    ],
)
def test_widened_read_resource_fires(dev_run, resource):
    policy = first_role_policy(dev_run)

    def widen(document):
        document["Statement"][0]["Resource"] = resource

    found = fired(policy, mutated(policy, lambda inputs: edit_document(inputs, "policy", widen)))
    assert list(found) == [READ_SCOPE]
    assert len(found[READ_SCOPE]) == 1 and repr(resource) in found[READ_SCOPE][0]


def test_one_widened_resource_among_narrow_ones_is_named(dev_run):
    policy = dev_run.named("irsa-backend-read-secrets")

    def add(document):
        document["Statement"][0]["Resource"].append(ARN_PREFIX + "dev/app/*")

    found = fired(policy, mutated(policy, lambda inputs: edit_document(inputs, "policy", add)))
    assert list(found) == [READ_SCOPE]
    [message] = found[READ_SCOPE]
    assert "dev/app/*" in message and "backend-api" not in message
    assert "wildcard in the secret name 'dev/app/*'" in message
    assert "secretsmanager:GetSecretValue" in message


def test_all_secretsmanager_actions_on_every_resource_fires(dev_run):
    policy = first_role_policy(dev_run)

    def widen(document):
        document["Statement"][0].update(Action="secretsmanager:*", Resource="*")

    found = fired(policy, mutated(policy, lambda inputs: edit_document(inputs, "policy", widen)))
    assert list(found) == [READ_SCOPE]
    [message] = found[READ_SCOPE]
    # The message lists the read actions the wildcard grants, BatchGetSecretValue included.
    assert "secretsmanager:BatchGetSecretValue" in message and "secretsmanager:GetSecretValue" in message
    assert "Resource '*' matches every secret" in message


@pytest.mark.parametrize("action", ["*", "secretsmanager:Get*", "SecretsManager:getsecretvalue", "secrets*:*Value"])
def test_action_wildcards_and_case_that_cover_a_read_fire(dev_run, action):
    policy = first_role_policy(dev_run)

    def widen(document):
        document["Statement"][0].update(Action=[action], Resource="*")

    assert list(fired(policy, mutated(policy, lambda i: edit_document(i, "policy", widen)))) == [READ_SCOPE]


def test_not_resource_and_not_action_count_as_too_wide(dev_run):
    policy = first_role_policy(dev_run)

    def not_resource(document):
        statement = document["Statement"][0]
        statement["NotResource"] = statement.pop("Resource")

    def not_action(document):
        statement = document["Statement"][0]
        del statement["Action"]
        statement.update(NotAction="iam:*", Resource="*")

    for change in (not_resource, not_action):
        found = fired(policy, mutated(policy, lambda i: edit_document(i, "policy", change)))
        assert list(found) == [READ_SCOPE], change.__name__


@pytest.mark.parametrize(
    "statement",
    [
        {"Effect": "Deny", "Action": "secretsmanager:*", "Resource": "*"},
        {"Effect": "Allow", "Action": "kms:Decrypt", "Resource": "*"},
        {"Effect": "Allow", "Action": "secretsmanager:ListSecrets", "Resource": "*"},
        {"Effect": "Allow", "NotAction": "secretsmanager:*", "Resource": "*"},
        {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": "arn:aws:s3:::bucket/*"},
        {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": ARN_PREFIX + "dev/app/x-AbCdEf"},
    ],
)
def test_statements_that_grant_no_wide_secret_read_pass(dev_run, statement):
    policy = first_role_policy(dev_run)
    inputs = mutated(policy, lambda i: edit_document(i, "policy", lambda d: d["Statement"].append(statement)))
    assert fired(policy, inputs) == {}


# --- 2. Web-identity trust ----------------------------------------------------------------------


def _condition(document):
    return document["Statement"][0]["Condition"]


def _key(document, suffix):
    issuer = document["Statement"][0]["Principal"]["Federated"].split("oidc-provider/")[1]
    return f"{issuer}:{suffix}"


def _trust_findings(registration, change):
    return fired(registration, mutated(registration, lambda i: edit_document(i, "assumeRolePolicy", change)))


def test_trust_without_sub_fires(dev_run):
    role = first_of(dev_run, ROLE)
    found = _trust_findings(role, lambda d: _condition(d)["StringEquals"].pop(_key(d, "sub")))
    assert list(found) == [TRUST]
    assert [":sub is not pinned" in m for m in found[TRUST]] == [True]


def test_trust_without_aud_fires(dev_run):
    role = first_of(dev_run, ROLE)
    found = _trust_findings(role, lambda d: _condition(d)["StringEquals"].pop(_key(d, "aud")))
    assert list(found) == [TRUST]
    assert [":aud is not pinned" in m for m in found[TRUST]] == [True]


def test_trust_without_any_condition_fires_for_both_keys(dev_run):
    role = first_of(dev_run, ROLE)
    found = _trust_findings(role, lambda d: d["Statement"][0].pop("Condition"))
    assert list(found) == [TRUST] and len(found[TRUST]) == 2


@pytest.mark.parametrize(
    "subject",
    [
        "system:serviceaccount:*:*",
        "system:serviceaccount:back*:external-secret-operator",
        "system:serviceaccount:backend:*",
        "system:serviceaccount:*:external-secret-*",
        "system:serviceaccount:?:external-secret-operator",
        "*",
    ],
)
def test_trust_with_another_stringlike_subject_is_mandatory(dev_run, subject):
    role = first_of(dev_run, ROLE)

    def loosen(document):
        sub = _key(document, "sub")
        _condition(document)["StringEquals"].pop(sub)
        _condition(document)["StringLike"] = {sub: subject}

    found = _trust_findings(role, loosen)
    assert list(found) == [TRUST]
    assert len(found[TRUST]) == 1 and subject in found[TRUST][0]


def test_the_shared_wildcard_form_is_advisory_not_mandatory(dev_run):
    role = first_of(dev_run, ROLE)

    def shared_wildcard(document):
        sub = _key(document, "sub")
        _condition(document)["StringEquals"].pop(sub)
        _condition(document)["StringLike"] = {sub: "system:serviceaccount:*:external-secret-operator"}

    assert list(_trust_findings(role, shared_wildcard)) == [WILDCARD_TRUST]


def test_shared_wildcard_role_with_a_wider_subject_becomes_mandatory(wildcard_run):
    role = wildcard_run.named("irsa-shared-role")
    assert list(fired(role, role.inputs)) == [WILDCARD_TRUST]

    def widen(document):
        _condition(document)["StringLike"] = {_key(document, "sub"): "system:serviceaccount:*:*"}

    assert list(_trust_findings(role, widen)) == [TRUST]


def test_shared_wildcard_role_without_aud_is_both_mandatory_and_advisory(wildcard_run):
    role = wildcard_run.named("irsa-shared-role")
    found = _trust_findings(role, lambda d: _condition(d)["StringEquals"].pop(_key(d, "aud")))
    assert sorted(found) == sorted([TRUST, WILDCARD_TRUST])


def test_conditions_on_another_issuer_do_not_pin_this_one(dev_run):
    role = first_of(dev_run, ROLE)

    def other_issuer(document):
        conditions = _condition(document)["StringEquals"]
        for key in list(conditions):
            conditions[key.replace("oidc.eks.us-east-1", "oidc.eks.eu-west-1")] = conditions.pop(key)

    found = _trust_findings(role, other_issuer)
    assert list(found) == [TRUST] and len(found[TRUST]) == 2


def test_web_identity_trust_of_any_principal_fires(dev_run):
    role = first_of(dev_run, ROLE)
    found = _trust_findings(role, lambda d: d["Statement"][0].update(Principal="*"))
    assert list(found) == [TRUST]


def test_stringequals_with_a_subject_list_pins_it(dev_run):
    role = first_of(dev_run, ROLE)

    def listed(document):
        sub = _key(document, "sub")
        _condition(document)["StringEquals"][sub] = ["system:serviceaccount:a:b", "system:serviceaccount:c:d"]

    assert _trust_findings(role, listed) == {}


# --- 3. and 4. Secret values in the program -----------------------------------------------------


@pytest.fixture(scope="module")
def leaking_run():
    """A program that puts secret values into Pulumi the two ways the pack forbids, as the engine
    receives them (the SDKs mark these values secret, so the run records them redacted)."""
    value = "-".join(["not", "a", "real", "value"])
    encoded = base64.b64encode(value.encode()).decode()

    def build():
        k8s.core.v1.Secret("with-data", data={"API_KEY": encoded})
        k8s.core.v1.Secret("with-string-data", string_data={"API_KEY": value})
        k8s.core.v1.Secret("metadata-only", metadata={"name": "token"}, type="kubernetes.io/service-account-token")
        aws.secretsmanager.SecretVersion("with-string", secret_id="dev/app/web", secret_string=value)
        aws.secretsmanager.SecretVersion("with-binary", secret_id="dev/app/web", secret_binary=encoded)

    return record(build, "test", Mocks())


@pytest.mark.parametrize("name,prop", [("with-data", "data"), ("with-string-data", "stringData")])
def test_kubernetes_secret_with_literal_values_fires(leaking_run, name, prop):
    secret = leaking_run.named(name)
    assert secret.type == K8S_SECRET
    found = fired(secret, secret.inputs)
    assert list(found) == [K8S_SECRET_DATA]
    assert [m.startswith(prop + " ") for m in found[K8S_SECRET_DATA]] == [True]


def test_kubernetes_secret_without_values_passes(leaking_run):
    secret = leaking_run.named("metadata-only")
    assert fired(secret, secret.inputs) == {}
    assert fired(secret, {**secret.inputs, "data": {}, "stringData": None}) == {}


@pytest.mark.parametrize("name,prop", [("with-string", "secretString"), ("with-binary", "secretBinary")])
def test_secret_version_with_a_value_fires(leaking_run, name, prop):
    version = leaking_run.named(name)
    assert version.type == SECRET_VERSION
    found = fired(version, version.inputs)
    assert list(found) == [SECRET_VERSION_VALUE]
    assert [m.startswith(prop + " ") for m in found[SECRET_VERSION_VALUE]] == [True]


def test_secret_version_without_a_value_passes(leaking_run):
    version = leaking_run.named("with-string")
    assert fired(version, {k: v for k, v in version.inputs.items() if k != "secretString"}) == {}


# --- 5. ExternalSecret refresh interval ---------------------------------------------------------


@pytest.mark.parametrize("interval", ["30s", "0", "0s", "59s", "59.9s", "0m", "10 minutes", "1d", "-1m", ""])
def test_refresh_interval_below_a_minute_or_invalid_fires(dev_run, interval):
    external_secret = first_of(dev_run, EXTERNAL_SECRET)
    found = fired(external_secret, mutated(external_secret, lambda i: i["spec"].update(refreshInterval=interval)))
    assert list(found) == [REFRESH]
    assert repr(interval) in found[REFRESH][0]


@pytest.mark.parametrize("interval", ["1m", "60s", "1h", "1h30m", "0.5h", "+2m"])
def test_refresh_interval_of_a_minute_or_more_passes(dev_run, interval):
    external_secret = first_of(dev_run, EXTERNAL_SECRET)
    assert fired(external_secret, mutated(external_secret, lambda i: i["spec"].update(refreshInterval=interval))) == {}


@pytest.mark.parametrize("interval", ["0", "0s", "0m", "0h0m"])
def test_a_zero_refresh_interval_is_reported_as_refreshing_off(dev_run, interval):
    external_secret = first_of(dev_run, EXTERNAL_SECRET)
    found = fired(external_secret, mutated(external_secret, lambda i: i["spec"].update(refreshInterval=interval)))
    assert [("turns refreshing off" in m) for m in found[REFRESH]] == [True]


def test_a_short_refresh_interval_is_reported_as_below_the_minimum(dev_run):
    external_secret = first_of(dev_run, EXTERNAL_SECRET)
    found = fired(external_secret, mutated(external_secret, lambda i: i["spec"].update(refreshInterval="30s")))
    assert [("below the 1m minimum" in m) for m in found[REFRESH]] == [True]


def test_missing_refresh_interval_means_the_default_hour_and_passes(dev_run):
    external_secret = first_of(dev_run, EXTERNAL_SECRET)
    assert fired(external_secret, mutated(external_secret, lambda i: i["spec"].pop("refreshInterval"))) == {}


def test_numeric_refresh_interval_fires(dev_run):
    external_secret = first_of(dev_run, EXTERNAL_SECRET)
    found = fired(external_secret, mutated(external_secret, lambda i: i["spec"].update(refreshInterval=600)))
    assert list(found) == [REFRESH]


# --- 6. The ESO chart version -------------------------------------------------------------------


def test_release_without_version_fires(dev_run):
    release = first_of(dev_run, RELEASE)
    found = fired(release, mutated(release, lambda i: i.pop("version")))
    assert list(found) == [CHART_PINNED] and "no version" in found[CHART_PINNED][0]


@pytest.mark.parametrize("version", ["^2.9.0", "~2.9.0", "2.x", "2.9.x", "*", "latest", "", ">=2.9.0", "2.9", "2.9.0 || 3.0.0", " 2.9.0"])
def test_release_with_a_range_or_no_exact_version_fires(dev_run, version):
    release = first_of(dev_run, RELEASE)
    found = fired(release, mutated(release, lambda i: i.update(version=version)))
    assert list(found) == [CHART_PINNED]


@pytest.mark.parametrize("version", ["2.9.0", "0.10.7", "1.0.0-rc.1"])
def test_release_with_an_exact_version_passes(dev_run, version):
    release = first_of(dev_run, RELEASE)
    assert fired(release, mutated(release, lambda i: i.update(version=version))) == {}


@pytest.mark.parametrize("chart", ["external-secrets/external-secrets", "oci://ghcr.io/external-secrets/charts/external-secrets"])
def test_other_spellings_of_the_eso_chart_are_checked(dev_run, chart):
    release = first_of(dev_run, RELEASE)
    found = fired(release, mutated(release, lambda i: i.update(chart=chart, version="^2.9.0")))
    assert list(found) == [CHART_PINNED]


def test_helm_v4_chart_is_checked_and_other_charts_are_not(dev_run):
    release = first_of(dev_run, RELEASE)
    unpinned = mutated(release, lambda i: i.update(version="^2.9.0"))
    assert list(fired(release, unpinned)) == [CHART_PINNED]
    assert list(violations("kubernetes:helm.sh/v4:Chart", unpinned)) == [CHART_PINNED]
    assert violations(RELEASE, {**unpinned, "chart": "cert-manager"}) == {}
    assert violations(RELEASE, {**unpinned, "chart": "my-external-secrets"}) == {}


# --- Neighbours of the named types that carry the same risk ------------------------------------


def test_a_secret_patch_and_a_write_only_secret_string_are_covered_too():
    value = "-".join(["not", "a", "real", "value"])
    assert list(violations("kubernetes:core/v1:SecretPatch", {"stringData": {"API_KEY": value}})) == [K8S_SECRET_DATA]
    write_only = {"secretStringWo": value, "secretStringWoVersion": 1}
    assert list(violations(SECRET_VERSION, write_only)) == [SECRET_VERSION_VALUE]


@pytest.mark.parametrize(
    "type_token,path",
    [
        ("kubernetes:external-secrets.io/v1beta1:ExternalSecret", ("spec",)),
        ("kubernetes:external-secrets.io/v1:ClusterExternalSecret", ("spec", "externalSecretSpec")),
    ],
)
def test_other_external_secret_kinds_and_versions_are_checked(type_token, path):
    def props(interval):
        node = {"refreshInterval": interval}
        for key in reversed(path):
            node = {key: node}
        return node

    assert list(violations(type_token, props("30s"))) == [REFRESH]
    assert violations(type_token, props("1h")) == {}


# --- 7. Attached managed policies -----------------------------------------------------------


def test_a_widened_managed_policy_of_the_program_fires(split_run):
    policy = first_of(split_run, MANAGED_POLICY)

    def widen(document):
        document["Statement"][0]["Resource"].append(ARN_PREFIX + "prod/app/*")

    found = fired(policy, mutated(policy, lambda inputs: edit_document(inputs, "policy", widen)))
    assert list(found) == [READ_SCOPE]


@pytest.mark.parametrize(
    "policy_arn",
    [
        "arn:aws:iam::aws:policy/SecretsManagerReadWrite",
        "arn:aws-us-gov:iam::aws:policy/AdministratorAccess",
        "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
    ],
)
def test_attaching_an_aws_managed_policy_fires(split_run, policy_arn):
    attachment = first_of(split_run, ATTACHMENT)
    found = fired(attachment, mutated(attachment, lambda inputs: inputs.update(policyArn=policy_arn)))
    assert list(found) == [CUSTOMER_MANAGED]
    assert policy_arn in found[CUSTOMER_MANAGED][0]
    role = first_of(split_run, ROLE)
    found = fired(role, mutated(role, lambda inputs: inputs.update(managedPolicyArns=[policy_arn])))
    assert list(found) == [CUSTOMER_MANAGED]


def test_customer_managed_attachments_pass(split_run):
    attachment = first_of(split_run, ATTACHMENT)
    assert attachment.inputs["policyArn"].startswith("arn:aws:iam::123456789012:policy/eso-platform/")
    assert fired(attachment, attachment.inputs) == {}
    # An account's own policy named like an AWS one is still the account's.
    own = "arn:aws:iam::123456789012:policy/SecretsManagerReadWrite"
    assert fired(attachment, mutated(attachment, lambda inputs: inputs.update(policyArn=own))) == {}
