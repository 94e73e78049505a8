"""The program's IAM documents under an IAM API (moto), and what they grant and trust.

moto proves IAM accepts each document; `iam_matching` (documented and unit-tested there)
decides what each grants, against secrets created in moto with the ARNs Secrets Manager mints.
"""

import copy
import json
import re

import pytest
from botocore.exceptions import ClientError
from moto.core import DEFAULT_ACCOUNT_ID

from tools.plan.engine import PLACEHOLDER_ACCOUNT
from tests.aws.iam_matching import is_allowed
from tests.aws.secret_requests import ATTACKER_REQUESTS, ESO_READ, READ_VALUE
from tests.aws.moto_world import (
    ATTACHED_POLICIES_QUOTA,
    INLINE_POLICIES_QUOTA,
    MANAGED_POLICY,
    MANAGED_POLICY_QUOTA,
    POLICY_ATTACHMENT,
    PLACEHOLDER_SECRET_STRING,
    ROLE,
    ROLE_NAME_QUOTA,
    ROLE_POLICY,
    TRUST_POLICY_QUOTA,
    SecretRef,
    World,
    adversarial_secrets,
    admitted_subjects,
    candidate_subjects,
    compact_length,
    coverage_problems,
    create_iam,
    create_secrets,
    expected_reads,
    namespace_roles,
    per_namespace_trust_problems,
    service_secrets,
    subject,
)
from tests.conftest import crowded_services, stack_values

SERVICE_ACCOUNT = "external-secret-operator"
SECRET_ARN = r"arn:aws:secretsmanager:{region}:123456789012:secret:{name}-[A-Za-z0-9]{{6}}"


def _real_secrets(run) -> set[SecretRef]:
    return {ref for refs in service_secrets(run).values() for ref in refs}


def _world(session, *runs, adversarial=True) -> World:
    """Every run's roles and policies, its services' secrets and (optionally) adversarial secrets."""
    world = World()
    real = set().union(*(_real_secrets(run) for run in runs))
    for run in runs:
        create_iam(session, run, world)
    create_secrets(session, real, world)
    if adversarial:
        for run in runs:
            create_secrets(session, adversarial_secrets(run, real), world)
    return world


def _expected(*runs) -> dict[str, set[SecretRef]]:
    expected: dict[str, set[SecretRef]] = {}
    for run in runs:
        expected.update(expected_reads(run))
    return expected


def test_moto_account_is_the_programs_placeholder_account(aws, dev_run, prod_run):
    # The program's ARNs use the placeholder account; the moto ARNs compared with them must too.
    assert DEFAULT_ACCOUNT_ID == PLACEHOLDER_ACCOUNT == "123456789012"
    assert aws.client("sts").get_caller_identity()["Account"] == PLACEHOLDER_ACCOUNT
    for run in (dev_run, prod_run):
        for role_arn in namespace_roles(run).values():
            assert role_arn.split(":")[4] == PLACEHOLDER_ACCOUNT


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_iam_accepts_every_role_and_policy(aws, request, stack):
    run = request.getfixturevalue(f"{stack}_run")
    roles = run.of_type(ROLE)
    assert roles and len(run.of_type(ROLE_POLICY)) == len(roles)
    world = _world(aws, run, adversarial=False)
    iam = aws.client("iam")
    assert {role["RoleName"] for role in iam.list_roles()["Roles"]} == {role.inputs["name"] for role in roles}
    by_name = {role.name: role for role in world.roles.values()}
    for role in roles:
        created = by_name[role.inputs["name"]]
        # IAM stored exactly the documents the program rendered.
        assert created.trust == json.loads(role.inputs["assumeRolePolicy"])
        # IAM's quotas, which moto does not enforce.
        assert len(created.name) <= ROLE_NAME_QUOTA
        assert compact_length(created.trust) <= TRUST_POLICY_QUOTA
        assert sum(compact_length(policy) for policy in created.policies) <= INLINE_POLICIES_QUOTA
    for policy in run.of_type(ROLE_POLICY):
        assert json.loads(policy.inputs["policy"]) in by_name[policy.inputs["role"]].policies
    # Each namespace's ServiceAccount names the ARN IAM minted for a role that exists.
    assert set(namespace_roles(run).values()) == set(world.roles)
    # Each service's secret exists in its own region, under the ARN shape IRSA grants match.
    for ref, arn in world.secrets.items():
        assert re.fullmatch(SECRET_ARN.format(region=re.escape(ref.region), name=re.escape(ref.name)), arn), arn
        value = aws.client("secretsmanager", region_name=ref.region).get_secret_value(SecretId=arn)
        assert value["SecretString"] == PLACEHOLDER_SECRET_STRING


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_each_namespace_role_trusts_only_its_namespace_service_account(aws, request, stack):
    run = request.getfixturevalue(f"{stack}_run")
    world = _world(aws, run, adversarial=False)
    candidates = candidate_subjects(run, SERVICE_ACCOUNT)
    problems = []
    for namespace, role_arn in namespace_roles(run).items():
        assert run.outputs["namespaces"][namespace]["serviceAccount"] == SERVICE_ACCOUNT
        problems += per_namespace_trust_problems(world, world.roles[role_arn], namespace, SERVICE_ACCOUNT, candidates)
    assert problems == []


def test_each_role_reads_exactly_its_namespace_secrets(aws, dev_run, prod_run):
    # Both stacks in one account: a dev role must not read prod's secrets, nor the reverse.
    world = _world(aws, dev_run, prod_run)
    expected = _expected(dev_run, prod_run)
    assert len(expected) == len(dev_run.of_type(ROLE)) + len(prod_run.of_type(ROLE))
    adversarial = set(world.secrets) - _real_secrets(dev_run) - _real_secrets(prod_run)
    # The named adversaries are really in the account (the generator is not vacuous).
    for ref in (
        SecretRef("us-west-2", "dev/app/payments-ledger-v2"),
        SecretRef("us-east-1", "dev/app/backend-api-v2"),
        SecretRef("us-east-1", "dev/app/backend-api/extra"),
        SecretRef("us-east-1", "dev/app/backend-api-abcdef"),
        SecretRef("us-east-1", "staging/app/backend-api"),
        SecretRef("us-east-1", "prod/app/web-v2"),
        SecretRef("eu-central-1", "dev/app/backend-api"),
        SecretRef("us-east-1", "DEV/APP/BACKEND-API"),
    ):
        assert ref in adversarial, ref
    assert coverage_problems(world, expected) == []


def test_each_role_reads_its_secrets_only_as_eso_reads_them(aws, dev_run, prod_run):
    """The request ESO makes is allowed on every granted secret; whatever else a holder of the
    role could ask about that secret (an earlier version, a version by id, its metadata, a write)
    is denied."""
    world = _world(aws, dev_run, prod_run)
    checked = 0
    for role_arn, own in _expected(dev_run, prod_run).items():
        role = world.roles[role_arn]
        for ref in own:
            secret_arn = world.secrets[ref]
            assert is_allowed(role.policies, READ_VALUE, secret_arn, ESO_READ), (role.name, secret_arn)
            for what, (action, context) in ATTACKER_REQUESTS.items():
                assert not is_allowed(role.policies, action, secret_arn, context), (role.name, what)
            checked += 1
    assert checked == len(_real_secrets(dev_run) | _real_secrets(prod_run))


PREFIX_SHARING = {
    # `api` and `api-v2` in different namespaces, then `api-v2` plus six characters shaped like
    # Secrets Manager's random suffix, and a shorter `ap` in another region.
    "default-template": {
        "aws:region": "us-east-1",
        "environment": "test",
        "cluster": {"name": "platform-test"},
        "services": [
            {"name": "api", "namespace": "a"},
            {"name": "api-v2", "namespace": "b"},
            {"name": "api-v2-abcdef", "namespace": "a-b"},
            {"name": "ap", "namespace": "ab", "region": "us-west-2"},
        ],
    },
    # The namespace in the path: `test-a-b`, `test-a-b-c`, `test-a-b-c-d`, namespaces a, a-b, a-b-c.
    "namespace-in-path": {
        "aws:region": "us-east-1",
        "environment": "test",
        "cluster": {"name": "platform-test"},
        "secretPathTemplate": "{env}-{namespace}-{service}",
        "services": [
            {"name": "b", "namespace": "a"},
            {"name": "c", "namespace": "a-b"},
            {"name": "d", "namespace": "a-b-c"},
        ],
    },
}


@pytest.mark.parametrize("config", sorted(PREFIX_SHARING))
def test_namespaces_whose_secret_names_share_prefixes_are_isolated(aws, run_stack, config):
    run = run_stack(PREFIX_SHARING[config])
    world = _world(aws, run)
    expected = expected_reads(run)
    assert len(expected) == len({service.split("/")[0] for service in run.outputs["services"]})
    assert coverage_problems(world, expected) == []
    candidates = candidate_subjects(run, SERVICE_ACCOUNT)
    roles = namespace_roles(run)
    problems = []
    for namespace, role_arn in roles.items():
        problems += per_namespace_trust_problems(world, world.roles[role_arn], namespace, SERVICE_ACCOUNT, candidates)
    assert problems == []
    if config == "default-template":
        # Both ways, spelled out for the pair with a shared prefix.
        api = world.secrets[SecretRef("us-east-1", "test/app/api")]
        api_v2 = world.secrets[SecretRef("us-east-1", "test/app/api-v2")]
        role_a, role_b = world.roles[roles["a"]], world.roles[roles["b"]]
        assert is_allowed(role_a.policies, READ_VALUE, api, ESO_READ)
        assert not is_allowed(role_a.policies, READ_VALUE, api_v2, ESO_READ)
        assert is_allowed(role_b.policies, READ_VALUE, api_v2, ESO_READ)
        assert not is_allowed(role_b.policies, READ_VALUE, api, ESO_READ)


@pytest.mark.parametrize("stack", ["dev", "prod"])
@pytest.mark.parametrize("mode", ["shared", "shared-wildcard"])
def test_shared_modes_are_accepted_and_grant_what_they_document(aws, run_stack, stack, mode):
    values = stack_values(stack)
    values["irsa"] = {**values["irsa"], "mode": mode}
    run = run_stack(values, stack=stack)
    world = _world(aws, run)
    (role,) = world.roles.values()
    # One role for every namespace, reading every service secret of the stack and nothing else.
    assert set(namespace_roles(run).values()) == {role.arn}
    assert coverage_problems(world, expected_reads(run)) == []
    candidates = candidate_subjects(run, SERVICE_ACCOUNT)
    if mode == "shared":
        assert admitted_subjects(world, role, candidates) == {subject(ns, SERVICE_ACCOUNT) for ns in run.outputs["namespaces"]}
        assert not any("shared-wildcard" in warning for warning in run.warnings)
    else:
        # The documented risk: that ServiceAccount name in ANY namespace, and only that name.
        admitted = admitted_subjects(world, role, candidates)
        assert admitted == {c for c in candidates if c.endswith(f":{SERVICE_ACCOUNT}")}
        assert subject("attacker", SERVICE_ACCOUNT) in admitted
        assert any("ANY" in warning for warning in run.warnings)
    assert not admitted_subjects(world, role, candidates, audience="https://kubernetes.default.svc")


# Negative controls: each check above can fail -------------------------------------------


def test_moto_rejects_what_iam_rejects(aws, dev_run):
    iam = aws.client("iam")
    role = dev_run.of_type(ROLE)[0].inputs
    policy = next(p.inputs for p in dev_run.of_type(ROLE_POLICY) if p.inputs["role"] == role["name"])
    # moto 5.2.5's CreateRole stores any trust document unchecked, hence the extra
    # UpdateAssumeRolePolicy call in create_iam (if this starts failing, moto now validates).
    iam.create_role(RoleName=role["name"], AssumeRolePolicyDocument='{"not": "a policy"}')

    def trust_error(mutate):
        document = json.loads(role["assumeRolePolicy"])
        mutate(document["Statement"][0])
        with pytest.raises(ClientError) as error:
            iam.update_assume_role_policy(RoleName=role["name"], PolicyDocument=json.dumps(document))
        return error.value.response["Error"]["Code"]

    assert trust_error(lambda s: s.update(Resource="*")) == "MalformedPolicyDocument"
    assert trust_error(lambda s: s.update(Action="sts:AssumeRoleWithWebIdentiy")) == "MalformedPolicyDocument"
    assert trust_error(lambda s: s.update(Effect="Permit")) == "MalformedPolicyDocument"
    iam.update_assume_role_policy(RoleName=role["name"], PolicyDocument=role["assumeRolePolicy"])

    def policy_error(mutate):
        document = json.loads(policy["policy"])
        mutate(document)
        with pytest.raises(ClientError) as error:
            iam.put_role_policy(RoleName=role["name"], PolicyName="read-secrets", PolicyDocument=json.dumps(document))
        return error.value.response["Error"]["Code"]

    assert policy_error(lambda d: d.update(Version="2012-10-18")) == "MalformedPolicyDocument"
    assert policy_error(lambda d: d["Statement"][0].update(Resource="dev/app/backend-api-??????")) == "MalformedPolicyDocument"
    assert policy_error(lambda d: d["Statement"][0].update(Action="GetSecretValue")) == "MalformedPolicyDocument"
    assert policy_error(lambda d: d["Statement"].append(dict(d["Statement"][0]))) == "MalformedPolicyDocument"


def _with_policy(world: World, role_name: str, mutate) -> World:
    """A copy of `world` in which `role_name`'s first policy is mutated."""
    changed = copy.deepcopy(world)
    role = next(r for r in changed.roles.values() if r.name == role_name)
    mutate(role.policies[0]["Statement"][0])
    return changed


def test_coverage_check_catches_a_grant_too_wide_or_too_narrow(aws, dev_run):
    world = _world(aws, dev_run)
    expected = expected_reads(dev_run)
    assert coverage_problems(world, expected) == []

    def star_suffix(statement):
        statement["Resource"] = [r.replace("-??????", "*") for r in statement["Resource"]]

    problems = coverage_problems(_with_policy(world, "eso-dev.payments", star_suffix), expected)
    assert any("dev/app/payments-ledger-v2-" in p for p in problems)
    assert any("dev/app/payments/extra-" in p for p in problems)

    def prefix_grant(statement):
        statement["Action"] = "secretsmanager:Get*"
        statement["Resource"] = "arn:aws:secretsmanager:us-east-1:123456789012:secret:dev/app/backend-*"

    problems = coverage_problems(_with_policy(world, "eso-dev.backend", prefix_grant), expected)
    assert any("dev/app/backend-api-v2-" in p for p in problems)

    def any_region(statement):
        statement["Resource"] = [r.replace(":us-east-1:", ":*:") for r in statement["Resource"]]

    problems = coverage_problems(_with_policy(world, "eso-dev.frontend", any_region), expected)
    assert any("eu-central-1" in p and "dev/app/web-" in p for p in problems)

    def drop_one(statement):
        statement["Resource"] = statement["Resource"][1:]

    problems = coverage_problems(_with_policy(world, "eso-dev.backend", drop_one), expected)
    assert any("cannot read its own secret" in p for p in problems)

    def describe_only(statement):
        statement["Action"] = ["secretsmanager:DescribeSecret"]

    assert any("cannot read" in p for p in coverage_problems(_with_policy(world, "eso-dev.frontend", describe_only), expected))


def test_trust_check_catches_a_wider_or_broken_trust(aws, dev_run):
    world = _world(aws, dev_run, adversarial=False)
    candidates = candidate_subjects(dev_run, SERVICE_ACCOUNT)
    role = next(r for r in world.roles.values() if r.name == "eso-dev.backend")
    assert per_namespace_trust_problems(world, role, "backend", SERVICE_ACCOUNT, candidates) == []
    issuer = world.providers[role.trust["Statement"][0]["Principal"]["Federated"]]

    def problems_after(mutate):
        changed = copy.deepcopy(role)
        mutate(changed.trust["Statement"][0])
        return per_namespace_trust_problems(world, changed, "backend", SERVICE_ACCOUNT, candidates)

    def wildcard_namespace(statement):
        condition = statement["Condition"]
        sub = condition["StringEquals"].pop(f"{issuer}:sub")
        condition["StringLike"] = {f"{issuer}:sub": sub.replace(":backend:", ":*:")}

    assert any("admits" in p for p in problems_after(wildcard_namespace))
    assert any("audience" in p for p in problems_after(lambda s: s["Condition"]["StringEquals"].pop(f"{issuer}:aud")))
    assert problems_after(
        lambda s: s["Condition"]["StringEquals"].update({f"{issuer}:sub": subject("frontend", SERVICE_ACCOUNT)})
    )
    assert problems_after(lambda s: s["Principal"].update(Federated="arn:aws:iam::123456789012:oidc-provider/elsewhere"))
    assert problems_after(lambda s: s.update(Action=["sts:AssumeRoleWithWebIdentity", "sts:TagSession"]))


# Tag values are limited to 256 characters: a shared role must not list its namespaces in one.
def test_a_validated_shared_stack_with_many_namespaces_is_accepted_by_iam(aws, run_stack):
    namespaces = [f"team-{index:02d}-apps" for index in range(20)]
    run = run_stack(
        {
            "aws:region": "us-east-1",
            "environment": "test",
            "cluster": {"name": "platform-test"},
            "irsa": {"mode": "shared"},
            "services": [{"name": f"svc-{index:02d}", "namespace": namespace} for index, namespace in enumerate(namespaces)],
        }
    )
    assert len(run.of_type(ROLE)) == 1  # the loader accepted the stack
    create_iam(aws, run, World())


# Exact grants past the inline limit ---------------------------------------------------------


def crowded_values(count: int) -> dict:
    """prod (with its KMS keys, whose conditions list every ARN again) and `count` services with the
    longest names there are in namespace crowded. Every region of prod's keys keeps a secret."""
    values = stack_values("prod")
    values["services"] = crowded_services(count)
    values["services"] += [
        {"name": "web", "namespace": "frontend"},
        {"name": "reports", "namespace": "frontend", "region": "eu-west-1"},
        {"name": "ledger", "namespace": "crowded", "region": "us-west-2"},
    ]
    return values


def test_split_grants_are_accepted_by_iam_and_together_read_exactly_the_namespace_secrets(aws, run_stack):
    run = run_stack(crowded_values(40), stack="prod")
    world = _world(aws, run)
    iam = aws.client("iam")
    crowded = next(role for role in world.roles.values() if role.name == "eso-prod.crowded")
    attached = iam.list_attached_role_policies(RoleName="eso-prod.crowded")["AttachedPolicies"]
    assert 2 <= len(attached) == len(run.of_type(MANAGED_POLICY)) == len(run.of_type(POLICY_ATTACHMENT))
    assert len(attached) <= ATTACHED_POLICIES_QUOTA
    assert crowded.inline_count == 0 and len(crowded.policies) == len(attached)
    for policy in crowded.policies:
        assert compact_length(policy) <= MANAGED_POLICY_QUOTA
        # No managed policy alone reads everything: the grants really are spread.
        assert len(policy["Statement"][0]["Resource"]) < 41
    frontend = next(role for role in world.roles.values() if role.name == "eso-prod.frontend")
    assert frontend.inline_count == 1 and len(frontend.policies) == 1
    # The union of the attached policies reads every secret of the namespace and nothing else,
    # adversarial look-alikes included; the other role is untouched by the split.
    assert coverage_problems(world, expected_reads(run)) == []
    # Negative control: without one of its policies the role misses exactly that policy's secrets.
    remaining = copy.deepcopy(crowded.policies)
    removed = remaining.pop()
    own = expected_reads(run)[crowded.arn]
    unreadable = [ref for ref in own if not is_allowed(remaining, READ_VALUE, world.secrets[ref], ESO_READ)]
    assert len(unreadable) == len(removed["Statement"][0]["Resource"]) > 0


def test_a_role_path_and_a_permissions_boundary_are_what_iam_stores_and_the_service_accounts_name(aws, run_stack):
    boundary = aws.client("iam").create_policy(
        PolicyName="eso-boundary", Path="/security/",
        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": ["secretsmanager:GetSecretValue", "kms:Decrypt"], "Resource": "*"}]}),
    )["Policy"]["Arn"]
    run = run_stack({**stack_values("dev"), "irsa": {"rolePath": "/platform/eso/", "permissionsBoundary": boundary}})
    world = _world(aws, run, adversarial=False)
    iam = aws.client("iam")
    for role in run.of_type(ROLE):
        stored = iam.get_role(RoleName=role.inputs["name"])["Role"]
        assert stored["Path"] == "/platform/eso/"
        assert stored["PermissionsBoundary"] == {"PermissionsBoundaryType": "PermissionsBoundaryPolicy", "PermissionsBoundaryArn": boundary}
    # The ServiceAccounts name the ARNs IAM minted, path included.
    assert set(namespace_roles(run).values()) == set(world.roles)
    assert all(":role/platform/eso/eso-dev." in arn for arn in world.roles)
