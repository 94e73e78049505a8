"""Preflight doctor: what a deploy needs in AWS that Pulumi does not manage, checked with boto3.

Secrets, the cluster's IAM OIDC provider, the deployed roles' trust and the KMS keys. Only
metadata is read: a secret's value never is (`DescribeSecret`, never `GetSecretValue`), so the
deploying identity needs no read of any secret; whether each secret arrives, and whole, is read
where it happens, off the ExternalSecrets (tools/doctor/delivery.py). boto3 honours
AWS_ENDPOINT_URL, so the same checks run against a local AWS stand-in.
"""

import json
import shutil
import subprocess
from typing import Any, Optional
from urllib.parse import unquote

import boto3
import botocore.session
from botocore.exceptions import BotoCoreError, ClientError

from components.iam_documents import STS_AUDIENCE, AwsIdentity, kms_key_region, trust_policy
from components.kubeconfig import exec_kubeconfig, with_deploying_identity
from stacks.access import role_specs
from stacks.model import MINIMUM_KUBERNETES_MINOR, kubernetes_floor_problem
from tools.doctor.delivery import cluster_access, delivery_checks
from tools.doctor.document_diff import policy_differences
from tools.doctor.findings import Check
from stacks.spec import Service, Stack
from stacks.tenancy import KUBECONFIG_OUTPUT, PLATFORM_OUTPUT, as_tenant, read_platform

_MISSING = {"ResourceNotFoundException", "NoSuchEntity", "NoSuchEntityException", "NotFoundException"}


class DoctorError(Exception):
    """The doctor cannot run at all (no credentials, no way to learn the cluster's issuer)."""


def _code(error: ClientError) -> str:
    return error.response.get("Error", {}).get("Code", "")


def _cannot_check(check: str, subject: str, error: ClientError, actions: str) -> Check:
    return Check(check, subject, "fail", f"cannot check: {_code(error)}", f"allow {actions} to the caller")


# The deploying identity ----------------------------------------------------------------------


def deploying_session(stack: Stack) -> boto3.Session:
    """A session as the Pulumi AWS provider runs (aws:profile, aws:assumeRoles and the files it
    reads), so the doctor looks in the account `pulumi up` deploys to.

    Raises DoctorError when that identity cannot be taken.
    """
    identity = stack.deploying_identity
    core = botocore.session.Session()
    for variable, path in (("config_file", identity.config_file), ("credentials_file", identity.credentials_file)):
        if path:
            core.set_config_variable(variable, path)
    if identity.profile:
        if identity.profile not in core.available_profiles:
            raise DoctorError(
                f"aws:profile: no AWS CLI profile {identity.profile!r} here; add it to "
                f"{core.get_config_variable('config_file')}, or run the doctor where `pulumi up` runs"
            )
        core.set_config_variable("profile", identity.profile)
    session = boto3.Session(botocore_session=core, region_name=stack.region)
    if identity.role_arn is None:
        return session
    try:
        credentials = session.client("sts").assume_role(
            RoleArn=identity.role_arn, RoleSessionName="eso-platform-doctor"
        )["Credentials"]
    except (BotoCoreError, ClientError) as error:
        raise DoctorError(f"aws:assumeRoles: cannot assume {identity.role_arn} with the current credentials ({error})") from None
    return boto3.Session(
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
        region_name=stack.region,
    )


# Cluster identity ------------------------------------------------------------------------------


def strip_scheme(issuer: str) -> str:
    return issuer.removeprefix("https://").rstrip("/")


def stack_output(stack: str, name: str, where: str, instead: str = "pass --oidc-issuer", secret: bool = False) -> str:
    """A stack's output, read with the Pulumi CLI; `where` says why and `instead` what else the
    user can do, for the error. A `secret` output is read in the clear: the kubeconfig is one,
    and the program's holds no credential."""
    pulumi = shutil.which("pulumi")
    if pulumi is None:
        raise DoctorError(f"{where}; install the Pulumi CLI (and log in), or {instead}")
    result = subprocess.run(
        [pulumi, "stack", "output", "--stack", stack, *(["--show-secrets"] if secret else []), name], capture_output=True, text=True, timeout=120
    )
    found = result.stdout.strip()
    if result.returncode != 0 or not found:
        reason = (result.stderr.strip().splitlines() or ["no output"])[-1]
        raise DoctorError(f"{where}, and `pulumi stack output` failed ({reason}); {instead}")
    return found


def with_platform_operator(stack: Stack) -> Stack:
    """A tenant stack with the operator its platform stack exports, read with the Pulumi CLI."""
    where = f"platform: the operator's namespace and account are stack {stack.platform}'s output {PLATFORM_OUTPUT}"
    try:
        values = json.loads(stack_output(stack.platform, PLATFORM_OUTPUT, where, "deploy the platform stack first"))
    except ValueError:
        raise DoctorError(f"{where}, and it is not an object; deploy the platform stack with this release") from None
    platform, problems = read_platform(stack.platform, {PLATFORM_OUTPUT: values, KUBECONFIG_OUTPUT: ""})
    if platform is None:
        raise DoctorError(problems[0])
    return as_tenant(stack, platform)


def issuer_of_provider(arn: str, where: str) -> str:
    try:
        return strip_scheme(AwsIdentity.from_oidc_provider_arn(arn).issuer)
    except ValueError:
        raise DoctorError(f"{where}, but it is {arn!r}, not an IAM OIDC provider ARN; pass --oidc-issuer") from None


def _version_check(name: str, region: str, version: Optional[str]) -> Check:
    subject = f"{name} ({region})"
    problem = kubernetes_floor_problem(version or "unknown")
    if problem:
        # EKS upgrades one minor version at a time.
        return Check(
            "cluster-version", subject, "fail", problem,
            "upgrade the cluster, a minor version at a time: aws eks update-cluster-version "
            f"--region {region} --name {name} --kubernetes-version 1.{MINIMUM_KUBERNETES_MINOR}",
        )
    return Check("cluster-version", subject, "pass", f"Kubernetes {version} (1.{MINIMUM_KUBERNETES_MINOR} or later)")


def _cluster_with_issuer(session: boto3.Session, region: str, issuer: str) -> Check:
    """The version check of the EKS cluster in `region` whose OIDC issuer is `issuer`."""
    eks = session.client("eks", region_name=region)
    subject = f"issuer {issuer}"
    try:
        names = [name for page in eks.get_paginator("list_clusters").paginate() for name in page["clusters"]]
        for name in names:
            described = eks.describe_cluster(name=name)["cluster"]
            if strip_scheme(described.get("identity", {}).get("oidc", {}).get("issuer") or "") == issuer:
                return _version_check(name, region, described.get("version"))
    except ClientError as error:
        return _cannot_check("cluster-version", subject, error, "eks:ListClusters, eks:DescribeCluster")
    return Check(
        "cluster-version", subject, "fail", f"no EKS cluster in {region} has this OIDC issuer",
        "check that the cluster stack's oidcProviderArn belongs to a cluster in aws:region",
    )


def _cluster_stack_output(stack: Stack, stack_name: str, what: str, output: str) -> tuple[str, str]:
    """Which stack's `output` holds the cluster's `what` in the forms that read it off a stack
    (cluster.stackReference, cluster.create), and the words that say so, for errors."""
    if stack.cluster.form == "stackReference":
        reference = stack.cluster.stack_reference
        return reference, f"cluster.stackReference: the {what} is stack {reference}'s output {output}"
    return stack_name, f"cluster.create: the {what} is this stack's output {output}, there after its first `pulumi up`"


def described_cluster(session: boto3.Session, region: str, name: str) -> tuple[Optional[dict[str, Any]], Optional[Check]]:
    """The cluster as EKS describes it, or the failed `cluster` check that says why there is none."""
    subject = f"{name} ({region})"
    try:
        return session.client("eks", region_name=region).describe_cluster(name=name)["cluster"], None
    except ClientError as error:
        if _code(error) in _MISSING:
            return None, Check("cluster", subject, "fail", "no EKS cluster of this name in this region",
                               "correct cluster.name or aws:region in the stack file")
        return None, _cannot_check("cluster", subject, error, "eks:DescribeCluster")


def cluster_issuer(
    session: boto3.Session, stack: Stack, given: Optional[str], stack_name: str
) -> tuple[Optional[str], list[Check], Optional[dict[str, Any]]]:
    """The cluster's OIDC issuer (without https://), the checks of the cluster that found it, and
    the cluster as EKS describes it when it was looked up by name."""
    if given:
        return strip_scheme(given), [], None
    cluster = stack.cluster
    if cluster.form != "name":
        source, where = _cluster_stack_output(stack, stack_name, "issuer", "oidcProviderArn")
        issuer = issuer_of_provider(stack_output(source, "oidcProviderArn", where), where)
        return issuer, [_cluster_with_issuer(session, stack.region, issuer)], None
    subject = f"{cluster.name} ({stack.region})"
    described, failure = described_cluster(session, stack.region, cluster.name)
    if described is None:
        return None, [failure], None
    version = _version_check(cluster.name, stack.region, described.get("version"))
    issuer = described.get("identity", {}).get("oidc", {}).get("issuer")
    if not issuer:
        return None, [
            Check("cluster", subject, "fail", "the cluster has no OIDC issuer", "use an EKS cluster with an OIDC issuer (EKS 1.13 or later)"),
            version,
        ], described
    return strip_scheme(issuer), [Check("cluster", subject, "pass", f"issuer https://{strip_scheme(issuer)}"), version], described


def caller_account(session: boto3.Session) -> tuple[str, str]:
    """The partition and account of the caller, where the stack's roles live."""
    try:
        caller = session.client("sts").get_caller_identity()
    except (BotoCoreError, ClientError) as error:
        raise DoctorError(f"cannot reach AWS with the current credentials ({error})") from None
    return caller["Arn"].split(":")[1], caller["Account"]


def check_oidc_provider(session: boto3.Session, identity: AwsIdentity) -> Check:
    arn = identity.oidc_provider_arn
    try:
        provider = session.client("iam").get_open_id_connect_provider(OpenIDConnectProviderArn=arn)
    except ClientError as error:
        if _code(error) in _MISSING:
            return Check(
                "oidc-provider", arn, "fail", f"no IAM OIDC provider for the issuer https://{identity.issuer}",
                f"aws iam create-open-id-connect-provider --url https://{identity.issuer} --client-id-list {STS_AUDIENCE}",
            )
        return _cannot_check("oidc-provider", arn, error, "iam:GetOpenIDConnectProvider")
    audiences = provider.get("ClientIDList", [])
    if STS_AUDIENCE not in audiences:
        return Check(
            "oidc-provider", arn, "fail",
            f"does not list the audience {STS_AUDIENCE} (lists {', '.join(audiences) or 'none'})",
            f"aws iam add-client-id-to-open-id-connect-provider --open-id-connect-provider-arn {arn} --client-id {STS_AUDIENCE}",
        )
    return Check("oidc-provider", arn, "pass", f"exists and lists {STS_AUDIENCE}")


# Roles -----------------------------------------------------------------------------------------


def _document(value: Any) -> dict[str, Any]:
    return json.loads(unquote(value)) if isinstance(value, str) else value


def role_trust_check(session: boto3.Session, role_name: str, expected: dict[str, Any], trusts: str) -> Check:
    """The role, if it exists, trusts exactly `expected`, what the program would write; `trusts`
    says whom, for a pass."""
    try:
        role = session.client("iam").get_role(RoleName=role_name)["Role"]
    except ClientError as error:
        if _code(error) in _MISSING:
            return Check("role-trust", role_name, "skip", "not deployed yet; `pulumi up` creates it")
        return _cannot_check("role-trust", role_name, error, "iam:GetRole")
    differences = policy_differences(expected, _document(role["AssumeRolePolicyDocument"]))
    if differences:
        return Check(
            "role-trust", role_name, "fail", "trust policy drifted: " + "; ".join(differences),
            "`pulumi up --refresh` writes the generated trust policy back (a plain `pulumi up` "
            "does not see changes made outside Pulumi)",
        )
    return Check("role-trust", role_name, "pass", trusts)


def check_role_trust(session: boto3.Session, stack: Stack, identity: AwsIdentity) -> list[Check]:
    """Each role of the stack's role plan that exists trusts exactly what the program would write."""
    return [
        role_trust_check(
            session, spec.role_name, trust_policy(identity, list(spec.subjects), spec.wildcard_service_account),
            f"trusts {identity.oidc_provider_arn} for {', '.join(spec.subjects)}",
        )
        for spec in role_specs(stack)
    ]


# Secrets ---------------------------------------------------------------------------------------


def _undeclared_key(session: boto3.Session, region: str, kms_key_id: Optional[str], declared: tuple[str, ...]) -> Optional[str]:
    """The customer-managed key a secret is encrypted with, when irsa.kmsKeyArns does not list it
    (the role then has no kms:Decrypt on it). AWS-managed keys need no grant."""
    if not kms_key_id:
        return None
    metadata = session.client("kms", region_name=region).describe_key(KeyId=kms_key_id)["KeyMetadata"]
    if metadata.get("KeyManager") == "AWS" or metadata["Arn"] in declared:
        return None
    return metadata["Arn"]


def check_secret(session: boto3.Session, service: Service, kms_key_arns: tuple[str, ...] = ()) -> Check:
    """The secret's metadata: it exists, is not scheduled for deletion, and the role may decrypt
    it. Its content is judged by ESO, which reads it (the external-secret check)."""
    subject = f"{service.secret_path} ({service.region})"
    client = session.client("secretsmanager", region_name=service.region)
    wanted = service.keys or ()
    example = f"a JSON object{' with the keys ' + ', '.join(wanted) if wanted else ''}"
    try:
        described = client.describe_secret(SecretId=service.secret_path)
        if described.get("DeletedDate"):
            return Check("secret", subject, "fail", "is scheduled for deletion",
                         f"aws secretsmanager restore-secret --region {service.region} --secret-id {service.secret_path}")
        undeclared = _undeclared_key(session, service.region, described.get("KmsKeyId"), kms_key_arns)
    except ClientError as error:
        if _code(error) in _MISSING:
            return Check(
                "secret", subject, "fail", "does not exist",
                f"aws secretsmanager create-secret --region {service.region} --name {service.secret_path} "
                f"--secret-string file://{service.name}.json ({example})",
            )
        return _cannot_check("secret", subject, error, "secretsmanager:DescribeSecret and kms:DescribeKey")
    if undeclared:
        return Check("secret", subject, "fail",
                     f"is encrypted with the customer-managed KMS key {undeclared}, which irsa.kmsKeyArns does not list: "
                     "the role cannot decrypt it", f"add {undeclared} to irsa.kmsKeyArns, then `pulumi up`")
    return Check("secret", subject, "pass", "exists, not scheduled for deletion, its KMS key usable by the role")


# KMS -------------------------------------------------------------------------------------------


def check_kms_key(session: boto3.Session, key_arn: str) -> Check:
    try:
        metadata = session.client("kms", region_name=kms_key_region(key_arn)).describe_key(KeyId=key_arn)["KeyMetadata"]
    except ClientError as error:
        if _code(error) in _MISSING:
            return Check("kms-key", key_arn, "fail", "does not exist", "correct or remove it in irsa.kmsKeyArns")
        return _cannot_check("kms-key", key_arn, error, "kms:DescribeKey")
    state = metadata.get("KeyState", "")
    if state == "Enabled":
        return Check("kms-key", key_arn, "pass", "enabled")
    fixes = {
        "Disabled": f"aws kms enable-key --key-id {key_arn}",
        "PendingDeletion": f"aws kms cancel-key-deletion --key-id {key_arn}, then aws kms enable-key --key-id {key_arn}",
    }
    return Check("kms-key", key_arn, "fail", f"is {state}, not Enabled: secrets encrypted with it cannot be read",
                 fixes.get(state, "make the key usable again, or move the secrets to another key"))


# All of it -------------------------------------------------------------------------------------


def cluster_kubeconfig(
    session: boto3.Session, stack: Stack, stack_name: str, described: Optional[dict[str, Any]] = None
) -> str:
    """The kubeconfig the program reaches the cluster with, as the deploying identity; with
    cluster.name built from `described` (the cluster as EKS describes it), looked up when not given.

    Raises DoctorError when it cannot be had.
    """
    cluster, identity = stack.cluster, stack.deploying_identity
    if cluster.form == "name":
        if described is None:
            try:
                described = session.client("eks", region_name=stack.region).describe_cluster(name=cluster.name)["cluster"]
            except ClientError as error:
                raise DoctorError(f"cluster.name: cannot describe {cluster.name} for its endpoint ({_code(error)})") from None
        return exec_kubeconfig(cluster.name, stack.region, described.get("endpoint", ""),
                               (described.get("certificateAuthority") or {}).get("data", ""), identity)
    source, where = _cluster_stack_output(stack, stack_name, "kubeconfig", "kubeconfig")
    return with_deploying_identity(stack_output(source, "kubeconfig", where, "pass --kubeconfig", secret=True), identity, stack.region)


def run_checks(
    session: boto3.Session, stack: Stack, stack_name: str, oidc_issuer: Optional[str] = None,
    kubeconfig: Optional[str] = None,
) -> list[Check]:
    """Every check of the stack, in the order a deploy depends on them. `kubeconfig` (its text)
    replaces the one the program would use, still run as the deploying identity.

    Raises DoctorError when the doctor cannot run at all.
    """
    partition, account = caller_account(session)
    if stack.pod_identity:
        # Imported here: that module builds on this one's checks.
        from tools.doctor.pod_identity import pod_identity_checks, pod_identity_cluster

        cluster_arn, checks, described = pod_identity_cluster(session, stack, stack_name)
        if cluster_arn is not None:
            checks += pod_identity_checks(session, stack, cluster_arn, partition, account)
        return _secrets_and_delivery(session, stack, stack_name, kubeconfig, described, checks)
    issuer, checks, described = cluster_issuer(session, stack, oidc_issuer, stack_name)
    if issuer is None:
        checks += [
            Check("oidc-provider", stack.cluster.name or "", "skip", "needs the cluster's issuer"),
            *(Check("role-trust", spec.role_name, "skip", "needs the cluster's issuer") for spec in role_specs(stack)),
        ]
    else:
        identity = AwsIdentity.from_oidc_provider_arn(f"arn:{partition}:iam::{account}:oidc-provider/{issuer}")
        checks.append(check_oidc_provider(session, identity))
        checks += check_role_trust(session, stack, identity)
    return _secrets_and_delivery(session, stack, stack_name, kubeconfig, described, checks)


def _secrets_and_delivery(
    session: boto3.Session, stack: Stack, stack_name: str, kubeconfig: Optional[str],
    described: Optional[dict[str, Any]], checks: list[Check],
) -> list[Check]:
    declared = tuple(stack.irsa.kms_key_arns)
    checks += [check_secret(session, service, declared) for service in sorted(stack.services, key=lambda s: s.secret_path)]
    checks += [check_kms_key(session, arn) for arn in sorted(set(stack.irsa.kms_key_arns))]
    try:
        reached = with_deploying_identity(kubeconfig, stack.deploying_identity, stack.region) if kubeconfig else \
            cluster_kubeconfig(session, stack, stack_name, described)
    except (DoctorError, ValueError) as error:
        api, access = None, Check("cluster-access", stack.cluster.name or stack_name, "fail", str(error),
                                  "make the cluster reachable as `pulumi up` reaches it, or pass --kubeconfig")
    else:
        api, access = cluster_access(reached, stack.cluster.name or stack_name)
    return checks + delivery_checks(api, access, stack)
