"""The doctor under `identity: podIdentity`: the cluster, its Pod Identity Agent add-on, the
controller's association, and the trust of every role as the program writes it."""

import json
from typing import Any, Optional

import boto3
from botocore.exceptions import ClientError

from components.cluster import POD_IDENTITY_AGENT
from components.iam_documents import AwsAccount, PodIdentityPrincipal, controller_trust_policy, pod_identity_trust_policy, role_arn
from stacks.access import controller_role_name, role_specs
from stacks.program import controller_account
from stacks.spec import Stack
from tools.doctor.checks import (
    _MISSING,
    DoctorError,
    _cannot_check,
    _code,
    _version_check,
    described_cluster,
    role_trust_check,
    stack_output,
)
from tools.doctor.findings import Check

def pod_identity_cluster(
    session: boto3.Session, stack: Stack, stack_name: str
) -> tuple[Optional[str], list[Check], Optional[dict[str, Any]]]:
    """The cluster's ARN, the checks that found it, and the cluster as EKS describes it."""
    if stack.cluster.form == "name":
        name = stack.cluster.name
    else:
        where = f"cluster.{stack.cluster.form}: the cluster's ARN is this stack's output podIdentity, there after its first `pulumi up`"
        try:
            name = json.loads(stack_output(stack_name, "podIdentity", where, "run `pulumi up` first"))["clusterArn"].split(":cluster/", 1)[1]
        except (ValueError, KeyError, TypeError, IndexError):
            raise DoctorError(f"{where}, but it holds no clusterArn; run `pulumi up` first") from None
    described, failure = described_cluster(session, stack.region, name)
    if described is None:
        return None, [failure], None
    checks = [Check("cluster", f"{name} ({stack.region})", "pass", described["arn"]), _version_check(name, stack.region, described.get("version"))]
    return described["arn"], checks, described


def check_agent(session: boto3.Session, stack: Stack, cluster_name: str) -> Check:
    """EKS gives pods Pod Identity credentials only through the agent add-on (EKS User Guide,
    "Set up the Amazon EKS Pod Identity Agent")."""
    subject = f"{cluster_name} {POD_IDENTITY_AGENT}"
    fix = f"aws eks create-addon --region {stack.region} --cluster-name {cluster_name} --addon-name {POD_IDENTITY_AGENT}"
    try:
        addon = session.client("eks", region_name=stack.region).describe_addon(clusterName=cluster_name, addonName=POD_IDENTITY_AGENT)["addon"]
    except ClientError as error:
        if _code(error) in _MISSING:
            return Check("pod-identity-agent", subject, "fail", "the add-on is not installed: no pod gets Pod Identity credentials", fix)
        return _cannot_check("pod-identity-agent", subject, error, "eks:DescribeAddon")
    status = addon.get("status", "")
    if status != "ACTIVE":
        return Check("pod-identity-agent", subject, "fail", f"the add-on is {status}, not ACTIVE",
                     f"aws eks describe-addon --region {stack.region} --cluster-name {cluster_name} --addon-name {POD_IDENTITY_AGENT} shows its health issues")
    return Check("pod-identity-agent", subject, "pass", f"ACTIVE, version {addon.get('addonVersion', 'unknown')}")


def check_association(session: boto3.Session, stack: Stack, cluster_name: str, controller_role: str, deployed: bool) -> Check:
    """Exactly one association for the controller's ServiceAccount, to the controller role."""
    account = controller_account(stack)
    subject = f"{cluster_name} {account.namespace}/{account.name}"
    try:
        found = session.client("eks", region_name=stack.region).list_pod_identity_associations(
            clusterName=cluster_name, namespace=account.namespace, serviceAccount=account.name
        )["associations"]
    except ClientError as error:
        return _cannot_check("pod-identity-association", subject, error, "eks:ListPodIdentityAssociations and eks:DescribePodIdentityAssociation")
    if not found:
        if not deployed:
            return Check("pod-identity-association", subject, "skip", "not deployed yet; `pulumi up` creates it")
        return Check("pod-identity-association", subject, "fail", "no association: the controller has no AWS credentials",
                     "`pulumi up --refresh` creates it again")
    if len(found) > 1:
        ids = ", ".join(sorted(a["associationId"] for a in found))
        return Check("pod-identity-association", subject, "fail", f"{len(found)} associations ({ids}): EKS allows one",
                     "delete the associations the stack did not create, then `pulumi up --refresh`")
    (association,) = found
    described = session.client("eks", region_name=stack.region).describe_pod_identity_association(
        clusterName=cluster_name, associationId=association["associationId"]
    )["association"]
    if described.get("roleArn") != controller_role:
        return Check("pod-identity-association", subject, "fail",
                     f"gives the controller {described.get('roleArn')}, not {controller_role}", "`pulumi up --refresh` sets it back")
    if described.get("disableSessionTags") or described.get("targetRoleArn"):
        return Check("pod-identity-association", subject, "fail",
                     "disables session tags or names a target role: the namespace roles trust only the tagged controller session",
                     "`pulumi up --refresh` sets it back")
    return Check("pod-identity-association", subject, "pass", f"{association['associationId']} gives the controller {controller_role}")


def pod_identity_checks(session: boto3.Session, stack: Stack, cluster_arn: str, partition: str, account_id: str) -> list[Check]:
    account = AwsAccount(partition, account_id)
    cluster_name = cluster_arn.split(":cluster/", 1)[1]
    controller = controller_account(stack)
    controller_name = controller_role_name(stack.environment)
    controller_role = role_arn(account, stack.irsa.role_path, controller_name)
    controller_trust = role_trust_check(
        session, controller_name, controller_trust_policy(account, cluster_arn), f"EKS Pod Identity of {cluster_arn}"
    )
    # Whether the role exists (its trust was read): before the first `up` the association is not there yet.
    deployed = controller_trust.status == "pass" or controller_trust.detail.startswith("trust policy drifted")
    principal = PodIdentityPrincipal(controller_role, cluster_arn, controller.namespace, controller.name)
    checks = [
        check_agent(session, stack, cluster_name),
        check_association(session, stack, cluster_name, controller_role, deployed),
        controller_trust,
    ]
    for spec in role_specs(stack):
        expected = pod_identity_trust_policy(account, principal, list(spec.namespaces))
        checks.append(role_trust_check(session, spec.role_name, expected, f"{controller_role} for esoNamespace {', '.join(spec.namespaces)}"))
    return checks
