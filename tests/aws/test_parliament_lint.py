"""Every IAM document the program generates, linted with parliament.

Permission policies must lint clean, with the community auditors on. Trust policies keep two
findings, asserted exactly below, because parliament lints identity policies only:

* MALFORMED "Statement contains neither Resource nor NotResource": a trust policy must not
  have a Resource (IAM rejects one: see test_moto_iam.test_moto_rejects_what_iam_rejects).
  parliament stops analysing the statement at this point, so it audits neither the trust
  statement's action nor its conditions; those are checked by the action check below, by
  moto's trust-policy validator and by the exact trust assertions in test_moto_iam.
* UNKNOWN_FEDERATION_SOURCE for the cluster's OIDC provider ARN: parliament 1.6.4 knows SAML
  providers and four public web-identity providers, not IAM OIDC providers
  (`arn:aws:iam::<account>:oidc-provider/<issuer>`), which is what EKS IRSA federates with.

`ignore_private_auditors` would change nothing: both findings come from parliament's core
statement checks, and parliament 1.6.4 ships no private auditors.
"""

import json

import pytest
from parliament import analyze_policy_string, expand_action

from tests.aws.moto_world import ROLE, ROLE_POLICY, federated_provider
from tests.conftest import stack_values

STACKS = [
    ("dev", "per-namespace"),
    ("prod", "per-namespace"),
    ("dev", "shared"),
    ("dev", "shared-wildcard"),
    ("prod", "shared"),
    ("prod", "shared-wildcard"),
]
NO_RESOURCE = ("MALFORMED", "Statement contains neither Resource nor NotResource")


def _run(request, run_stack, stack, mode):
    if mode == "per-namespace":
        return request.getfixturevalue(f"{stack}_run")
    values = stack_values(stack)
    values["irsa"] = {**values["irsa"], "mode": mode}
    return run_stack(values, stack=stack)


def findings(text: str) -> list[tuple[str, str]]:
    policy = analyze_policy_string(text, include_community_auditors=True)
    return sorted((f.issue, f.detail if isinstance(f.detail, str) else json.dumps(f.detail, sort_keys=True)) for f in policy.findings)


@pytest.mark.parametrize("stack, mode", STACKS)
def test_permission_policies_have_no_findings(request, run_stack, stack, mode):
    run = _run(request, run_stack, stack, mode)
    policies = run.of_type(ROLE_POLICY)
    assert policies
    assert {policy.inputs["role"]: findings(policy.inputs["policy"]) for policy in policies} == {
        policy.inputs["role"]: [] for policy in policies
    }


@pytest.mark.parametrize("stack, mode", STACKS)
def test_trust_policies_have_only_the_findings_parliament_cannot_avoid(request, run_stack, stack, mode):
    run = _run(request, run_stack, stack, mode)
    roles = run.of_type(ROLE)
    assert roles
    for role in roles:
        text = role.inputs["assumeRolePolicy"]
        provider = federated_provider(json.loads(text))
        # Both are false positives for an IRSA trust policy; see the module docstring.
        assert findings(text) == sorted([NO_RESOURCE, ("UNKNOWN_FEDERATION_SOURCE", provider)]), role.inputs["name"]
        for statement in json.loads(text)["Statement"]:
            # The action check parliament skipped: a real STS action, and only that one.
            assert expand_action(statement["Action"]) == [{"service": "sts", "action": "AssumeRoleWithWebIdentity"}]


# Negative controls: the lint finds real mistakes in documents of this shape --------------


def test_parliament_flags_mistakes_in_the_programs_documents(prod_run):
    policy = json.loads(next(p.inputs["policy"] for p in prod_run.of_type(ROLE_POLICY) if p.inputs["role"] == "eso-prod.payments"))
    read, decrypt, *_ = policy["Statement"]
    assert decrypt["Action"] == "kms:Decrypt"

    def issues(mutate):
        document = json.loads(json.dumps(policy))
        mutate(*document["Statement"][:2])
        return {issue for issue, _ in findings(json.dumps(document))}

    assert issues(lambda r, d: r["Action"].append("secretsmanager:GetSecretValu")) == {"UNKNOWN_ACTION"}
    assert issues(lambda r, d: r.update(Resource=[x.replace(":secretsmanager:", ":secretmanager:") for x in r["Resource"]])) == {"RESOURCE_MISMATCH"}
    assert issues(lambda r, d: d.update(Resource=read["Resource"])) == {"RESOURCE_MISMATCH"}
    assert issues(lambda r, d: d["Condition"].update(StringEquals={"kms:ViaServic": "secretsmanager.eu-west-1.amazonaws.com"})) == {
        "UNKNOWN_CONDITION_FOR_ACTION"
    }
    assert issues(lambda r, d: d.update(Sid="Decrypt through Secrets Manager")) == {"INVALID_SID"}

    trust = json.loads(prod_run.of_type(ROLE)[0].inputs["assumeRolePolicy"])
    trust["Statement"][0]["Principal"] = {"AWS": "*"}
    # With a different principal the trust findings change, so the exact assertion above fails.
    assert findings(json.dumps(trust)) == [NO_RESOURCE]
