"""The read-scope and trust checks read every shape an IAM document may take in the inputs."""

import json

import pytest

from policy.rules import violations
from components.resource_types import ROLE, ROLE_POLICY
from tests.policy.helpers import READ_SCOPE, TRUST, first_of, first_role_policy

WIDE_STATEMENT = {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": "*"}


def narrow_document(run) -> dict:
    return json.loads(first_role_policy(run).inputs["policy"])


def test_an_already_parsed_document_is_checked(dev_run):
    document = narrow_document(dev_run)
    assert violations(ROLE_POLICY, {"policy": document}) == {}
    document["Statement"].append(WIDE_STATEMENT)
    assert list(violations(ROLE_POLICY, {"policy": document})) == [READ_SCOPE]


def test_a_single_statement_object_and_string_elements_are_checked():
    document = {"Version": "2012-10-17", "Statement": WIDE_STATEMENT}
    assert list(violations(ROLE_POLICY, {"policy": json.dumps(document)})) == [READ_SCOPE]
    document["Statement"] = {**WIDE_STATEMENT, "Resource": "arn:aws:secretsmanager:us-east-1:1:secret:a/b-??????"}
    assert violations(ROLE_POLICY, {"policy": json.dumps(document)}) == {}


@pytest.mark.parametrize(
    "type_token", ["aws:iam/policy:Policy", "aws:iam/userPolicy:UserPolicy", "aws:iam/groupPolicy:GroupPolicy"]
)
def test_every_identity_policy_resource_is_checked(dev_run, type_token):
    document = narrow_document(dev_run)
    assert violations(type_token, {"policy": json.dumps(document)}) == {}
    document["Statement"].append(WIDE_STATEMENT)
    found = violations(type_token, {"policy": json.dumps(document)})
    assert list(found) == [READ_SCOPE] and len(found[READ_SCOPE]) == 1


def test_inline_policies_of_a_role_are_checked(dev_run):
    role = first_of(dev_run, ROLE)
    narrow = first_role_policy(dev_run).inputs["policy"]
    wide = json.dumps({"Version": "2012-10-17", "Statement": [WIDE_STATEMENT]})
    ok = {**role.inputs, "inlinePolicies": [{"name": "read", "policy": narrow}]}
    assert violations(ROLE, ok) == {}
    bad = {**role.inputs, "inlinePolicies": [{"name": "read", "policy": narrow}, {"name": "all", "policy": wide}]}
    found = violations(ROLE, bad)
    assert list(found) == [READ_SCOPE]
    assert [m.startswith("inlinePolicies[1].policy") for m in found[READ_SCOPE]] == [True]


def test_a_policy_that_is_not_json_is_a_violation():
    found = violations(ROLE_POLICY, {"policy": "{not json"})
    assert list(found) == [READ_SCOPE] and "not valid JSON" in found[READ_SCOPE][0]


def test_an_already_parsed_trust_document_is_checked(dev_run):
    role = first_of(dev_run, ROLE)
    trust = json.loads(role.inputs["assumeRolePolicy"])
    assert violations(ROLE, {**role.inputs, "assumeRolePolicy": trust}) == {}
    del trust["Statement"][0]["Condition"]
    assert list(violations(ROLE, {**role.inputs, "assumeRolePolicy": trust})) == [TRUST]


def test_condition_keys_are_matched_without_case(dev_run):
    role = first_of(dev_run, ROLE)
    trust = json.loads(role.inputs["assumeRolePolicy"])
    equals = trust["Statement"][0]["Condition"]["StringEquals"]
    for key in list(equals):
        equals[key.upper()] = equals.pop(key)
    assert violations(ROLE, {**role.inputs, "assumeRolePolicy": json.dumps(trust)}) == {}


def test_trust_without_web_identity_is_not_this_rules_business():
    service_trust = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}],
    }
    assert violations(ROLE, {"assumeRolePolicy": json.dumps(service_trust)}) == {}
