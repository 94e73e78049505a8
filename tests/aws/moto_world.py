"""Creates what a program run registered in moto's IAM and Secrets Manager, and judges it.

Documents are read back from moto after creation, so every check judges what the IAM API
stored, not only what the program meant to send.
"""

import json
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

import boto3

from components.manifests import ROLE_ARN_ANNOTATION
from components.resource_types import MANAGED_POLICY, POLICY_ATTACHMENT, ROLE, ROLE_POLICY, SERVICE_ACCOUNT
from tools.plan.engine import ProgramRun
from tests.aws.iam_matching import WebIdentityRequest, allow_statements_naming, is_allowed, trust_admits
from tests.aws.secret_requests import ESO_READ, READ_VALUE

STS_AUDIENCE = "sts.amazonaws.com"
# Obviously not a secret: every secret created in moto holds this.
PLACEHOLDER_SECRET_STRING = json.dumps({"placeholder": "not-a-secret"})
# Any 40 hex digits: moto checks the length only, and nothing here verifies tokens.
PLACEHOLDER_THUMBPRINT = "0" * 40
# IAM quotas the mock does not enforce, counted as IAM counts them (no white space).
TRUST_POLICY_QUOTA = 2048
INLINE_POLICIES_QUOTA = 10240
MANAGED_POLICY_QUOTA = 6144
ATTACHED_POLICIES_QUOTA = 10
ROLE_NAME_QUOTA = 64


@dataclass(frozen=True, order=True)
class SecretRef:
    region: str
    name: str


@dataclass
class CreatedRole:
    name: str
    arn: str
    trust: dict[str, Any]
    # Every identity policy of the role: its inline ones, then its attached managed ones.
    policies: list[dict[str, Any]]
    inline_count: int = 0


@dataclass
class World:
    """What exists in moto: roles by ARN, secrets with their ARNs, OIDC providers' URLs by ARN."""

    roles: dict[str, CreatedRole] = field(default_factory=dict)
    secrets: dict[SecretRef, str] = field(default_factory=dict)
    providers: dict[str, str] = field(default_factory=dict)


def _document(value: Any) -> dict[str, Any]:
    # boto3 decodes IAM policy documents into dicts; accept text too.
    return json.loads(value) if isinstance(value, str) else value


def compact_length(document: Mapping[str, Any]) -> int:
    return len(json.dumps(document, separators=(",", ":")))


def federated_provider(trust: Mapping[str, Any]) -> str:
    (statement,) = trust["Statement"]
    return statement["Principal"]["Federated"]


def issuer_of(provider_arn: str) -> str:
    return provider_arn.split(":oidc-provider/", 1)[1]


def service_secrets(run: ProgramRun) -> dict[str, set[SecretRef]]:
    """Each namespace's secrets, from the run's `services` output (`namespace/name` keys)."""
    found: dict[str, set[SecretRef]] = {}
    for key, service in run.outputs["services"].items():
        namespace = key.split("/", 1)[0]
        found.setdefault(namespace, set()).add(SecretRef(service["region"], service["secretPath"]))
    return found


def namespace_roles(run: ProgramRun) -> dict[str, str]:
    """Each namespace's role ARN, as its ServiceAccount's IRSA annotation names it (what EKS
    uses), after checking the `namespaces` output agrees."""
    bound = {}
    for account in run.of_type(SERVICE_ACCOUNT):
        metadata = account.inputs["metadata"]
        bound[metadata["namespace"]] = metadata["annotations"][ROLE_ARN_ANNOTATION]
    reported = {namespace: value["roleArn"] for namespace, value in run.outputs["namespaces"].items()}
    assert bound == reported, (bound, reported)
    return bound


def expected_reads(run: ProgramRun) -> dict[str, set[SecretRef]]:
    """Role ARN -> the secrets of every namespace whose ServiceAccount is bound to it."""
    secrets = service_secrets(run)
    expected: dict[str, set[SecretRef]] = {}
    for namespace, role_arn in namespace_roles(run).items():
        expected.setdefault(role_arn, set()).update(secrets[namespace])
    return expected


def create_oidc_providers(session: boto3.Session, run: ProgramRun, world: World) -> None:
    """The OIDC provider each trust policy federates with, created as EKS would register it
    (none for a Pod Identity trust, which names the account or the EKS service instead)."""
    iam = session.client("iam")
    for role in run.of_type(ROLE):
        trust = json.loads(role.inputs["assumeRolePolicy"])
        if "Federated" not in trust["Statement"][0]["Principal"]:
            continue
        provider_arn = federated_provider(trust)
        if provider_arn in world.providers:
            continue
        created = iam.create_open_id_connect_provider(
            Url=f"https://{issuer_of(provider_arn)}",
            ClientIDList=[STS_AUDIENCE],
            ThumbprintList=[PLACEHOLDER_THUMBPRINT],
        )["OpenIDConnectProviderArn"]
        assert created == provider_arn, "the trust policy names a provider ARN IAM would not mint for its issuer"
        world.providers[provider_arn] = iam.get_open_id_connect_provider(OpenIDConnectProviderArn=created)["Url"]


def create_iam(session: boto3.Session, run: ProgramRun, world: World) -> dict[str, CreatedRole]:
    """Every Role and RolePolicy the run registered, created through the IAM API; returns the
    created roles by ARN, each with its documents as IAM returns them."""
    iam = session.client("iam")
    create_oidc_providers(session, run, world)
    names = {}
    for role in run.of_type(ROLE):
        inputs = role.inputs
        boundary = {"PermissionsBoundary": inputs["permissionsBoundary"]} if "permissionsBoundary" in inputs else {}
        created = iam.create_role(
            RoleName=inputs["name"],
            Path=inputs["path"],
            AssumeRolePolicyDocument=inputs["assumeRolePolicy"],
            Description=inputs["description"],
            MaxSessionDuration=int(inputs["maxSessionDuration"]),
            Tags=[{"Key": key, "Value": value} for key, value in sorted(inputs["tags"].items())],
            **boundary,
        )["Role"]
        # moto 5.2.5's CreateRole stores the trust policy unchecked; UpdateAssumeRolePolicy runs
        # its trust-policy validator (grammar, Version, actions STS allows, no Resource).
        iam.update_assume_role_policy(RoleName=inputs["name"], PolicyDocument=inputs["assumeRolePolicy"])
        names[inputs["name"]] = created["Arn"]
    for policy in run.of_type(ROLE_POLICY):
        # The `role` input is the Role's id, which is its name (what the AWS provider uses too).
        iam.put_role_policy(
            RoleName=policy.inputs["role"], PolicyName=policy.inputs["name"], PolicyDocument=policy.inputs["policy"]
        )
    policy_arns = set()
    for policy in run.of_type(MANAGED_POLICY):
        inputs = policy.inputs
        policy_arns.add(
            iam.create_policy(
                PolicyName=inputs["name"], Path=inputs["path"], PolicyDocument=inputs["policy"], Description=inputs["description"]
            )["Policy"]["Arn"]
        )
    for attachment in run.of_type(POLICY_ATTACHMENT):
        # The ARN the program attaches is the one IAM minted for a policy of this run.
        assert attachment.inputs["policyArn"] in policy_arns, attachment.inputs["policyArn"]
        iam.attach_role_policy(RoleName=attachment.inputs["role"], PolicyArn=attachment.inputs["policyArn"])
    created_roles = {}
    for name, arn in names.items():
        stored = iam.get_role(RoleName=name)["Role"]
        policy_names = iam.list_role_policies(RoleName=name)["PolicyNames"]
        policies = [
            _document(iam.get_role_policy(RoleName=name, PolicyName=policy_name)["PolicyDocument"])
            for policy_name in policy_names
        ]
        for attached in iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]:
            version = iam.get_policy(PolicyArn=attached["PolicyArn"])["Policy"]["DefaultVersionId"]
            policies.append(
                _document(iam.get_policy_version(PolicyArn=attached["PolicyArn"], VersionId=version)["PolicyVersion"]["Document"])
            )
        created_roles[arn] = CreatedRole(
            name, stored["Arn"], _document(stored["AssumeRolePolicyDocument"]), policies, len(policy_names)
        )
    world.roles.update(created_roles)
    return created_roles


def create_secrets(session: boto3.Session, refs: Iterable[SecretRef], world: World) -> None:
    clients: dict[str, Any] = {}
    for ref in sorted(set(refs) - set(world.secrets)):
        client = clients.setdefault(ref.region, session.client("secretsmanager", region_name=ref.region))
        world.secrets[ref] = client.create_secret(Name=ref.name, SecretString=PLACEHOLDER_SECRET_STRING)["ARN"]


# A region no committed service uses, for "same name, other region" secrets.
OTHER_REGION = "eu-central-1"
ENVIRONMENTS = ("dev", "staging", "prod", "test")


def adversarial_secrets(run: ProgramRun, real: set[SecretRef]) -> set[SecretRef]:
    """Names crafted to be caught by a pattern that is a little too wide: each service's name
    extended (`-v2`, `/extra`, `-abcdef` shaped like Secrets Manager's suffix, one letter more),
    cut short by a letter, upper-cased, in another environment, and in another region."""
    environment = run.outputs["environment"]
    found = set()
    for ref in real:
        name = ref.name
        variants = {name + "-v2", name + "/extra", name + "-abcdef", name + "x", name[:-1], name.upper()}
        if name.startswith(environment):
            variants |= {other + name[len(environment):] for other in ENVIRONMENTS if other != environment}
        found |= {SecretRef(ref.region, variant) for variant in variants}
        found.add(SecretRef(OTHER_REGION if ref.region != OTHER_REGION else "us-east-2", name))
    return found - real


def coverage_problems(world: World, expected: Mapping[str, set[SecretRef]]) -> list[str]:
    """For each role in `expected` (by ARN) and each secret in the world: it may read the
    secret (GetSecretValue) exactly when the secret is one of its own, and no Allow statement
    of it names any other secret, whatever the action."""
    problems = []
    for role_arn, own in expected.items():
        role = world.roles[role_arn]
        for ref, secret_arn in sorted(world.secrets.items()):
            allowed = is_allowed(role.policies, READ_VALUE, secret_arn, ESO_READ)
            if ref in own and not allowed:
                problems.append(f"{role.name} cannot read its own secret {secret_arn}")
            if ref not in own:
                if allowed:
                    problems.append(f"{role.name} can read {secret_arn}, which is not its namespace's")
                naming = allow_statements_naming(role.policies, secret_arn)
                if naming:
                    problems.append(f"{role.name} statements {naming} name {secret_arn}")
    missing = {ref for refs in expected.values() for ref in refs} - set(world.secrets)
    if missing:
        problems.append(f"secrets never created: {sorted(missing)}")
    return problems


def subject(namespace: str, service_account: str) -> str:
    return f"system:serviceaccount:{namespace}:{service_account}"


def candidate_subjects(run: ProgramRun, service_account: str) -> set[str]:
    """Every ServiceAccount a role might wrongly trust: the configured name, `default` and the
    operator's own, in every tenant namespace, the operator's namespace and system ones."""
    namespaces = set(run.outputs["namespaces"]) | {run.outputs["operator"]["namespace"], "default", "kube-system", "attacker"}
    names = {service_account, "default", "external-secrets", service_account + "-x"}
    return {subject(namespace, name) for namespace in namespaces for name in names}


def admitted_subjects(world: World, role: CreatedRole, candidates: Iterable[str], audience: str = STS_AUDIENCE) -> set[str]:
    provider = federated_provider(role.trust)
    issuer = world.providers[provider]
    return {
        candidate
        for candidate in candidates
        if trust_admits(role.trust, WebIdentityRequest(provider, {f"{issuer}:sub": candidate, f"{issuer}:aud": audience}))
    }


def per_namespace_trust_problems(world: World, role: CreatedRole, namespace: str, service_account: str, candidates: set[str]) -> list[str]:
    """The per-namespace trust, exactly: one Allow statement, the cluster's registered OIDC
    provider, sts:AssumeRoleWithWebIdentity, and StringEquals on aud and on the one subject;
    and, evaluated, it admits only that subject, and only with the STS audience."""
    problems = []
    statements = role.trust.get("Statement")
    if not isinstance(statements, list) or len(statements) != 1:
        return [f"{role.name}: expected exactly one trust statement, got {statements!r}"]
    statement = {key: value for key, value in statements[0].items() if key != "Sid"}
    provider = statement.get("Principal", {}).get("Federated")
    if provider not in world.providers:
        return [f"{role.name}: trusts {provider!r}, which is no OIDC provider in IAM"]
    issuer = world.providers[provider]
    expected = {
        "Effect": "Allow",
        "Principal": {"Federated": provider},
        "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {
            "StringEquals": {f"{issuer}:aud": STS_AUDIENCE, f"{issuer}:sub": subject(namespace, service_account)}
        },
    }
    if statement != expected:
        problems.append(f"{role.name}: trust statement {statement!r} is not {expected!r}")
    own = subject(namespace, service_account)
    admitted = admitted_subjects(world, role, candidates | {own})
    if admitted != {own}:
        problems.append(f"{role.name}: admits {sorted(admitted)}, expected only {own}")
    wrong_audience = admitted_subjects(world, role, {own}, audience="https://kubernetes.default.svc")
    if wrong_audience:
        problems.append(f"{role.name}: admits a token whose audience is not {STS_AUDIENCE}")
    return problems
