"""One IAM role that ESO assumes: through the cluster's OIDC provider (IRSA), or from the
controller's EKS Pod Identity session."""

from dataclasses import dataclass, field
from typing import Optional

import pulumi
import pulumi_aws as aws

from components.iam_documents import (
    INLINE_POLICY_LIMIT,
    MANAGED_POLICY_LIMIT,
    TRUST_POLICY_LIMIT,
    AwsAccount,
    AwsIdentity,
    PodIdentityPrincipal,
    SecretGrant,
    permission_policy,
    pod_identity_trust_policy,
    render,
    trust_policy,
)


@dataclass(frozen=True)
class PodIdentityTrust:
    """Under Pod Identity: the controller's session the role trusts, for `namespaces` only."""

    controller_role_arn: pulumi.Input[str]
    cluster_arn: pulumi.Input[str]
    controller_namespace: str
    controller_service_account: str
    namespaces: list[str]


MANAGED_POLICY_PATH = "/eso-platform/"


@dataclass(frozen=True)
class IrsaRoleArgs:
    role_name: str
    # Exactly one of the two: IRSA's provider and subjects, or the Pod Identity trust.
    oidc_provider_arn: Optional[pulumi.Input[str]]
    subjects: list[str]
    grants: list[SecretGrant]
    pod_identity: Optional[PodIdentityTrust] = None
    kms_key_arns: list[str] = field(default_factory=list)
    # Set only in the shared-wildcard mode: trusts this ServiceAccount name in every namespace.
    wildcard_service_account: Optional[str] = None
    tags: dict[str, str] = field(default_factory=dict)
    # IAM's path of the role, and the managed policy set as its permissions boundary, if any.
    path: str = "/"
    permissions_boundary: Optional[str] = None
    # Empty: `grants` go into one inline policy. Otherwise `grants` did not fit inline, and each
    # non-empty bucket (see spread_grants) becomes one customer-managed policy attached to the role.
    managed_policy_buckets: list[tuple[SecretGrant, ...]] = field(default_factory=list)

    def __post_init__(self):
        if self.managed_policy_buckets:
            spread = sorted((g for bucket in self.managed_policy_buckets for g in bucket), key=repr)
            if spread != sorted(self.grants, key=repr):
                raise ValueError(f"the managed policies of role {self.role_name} must hold exactly its grants, once")


def boundary_of_account(boundary: str, identity: AwsAccount) -> str:
    """`boundary`, if IAM can attach it to a role of `identity`'s account: a policy of that
    account, or an AWS managed one."""
    account = boundary.split(":")[4]
    if account not in (identity.account_id, "aws"):
        # A RunError ends the update with this message alone, no traceback.
        raise pulumi.RunError(
            f"irsa.permissionsBoundary: {boundary} is a policy of account {account}, but the roles are "
            f"created in {identity.account_id}, the cluster's account; use a policy of "
            f"{identity.account_id} or an AWS managed policy"
        )
    return boundary


def program_role(
    resource_name: str,
    role_name: str,
    description: str,
    trust: pulumi.Input[str],
    account: pulumi.Output[AwsAccount],
    path: str,
    permissions_boundary: Optional[str],
    tags: dict[str, str],
    opts: pulumi.ResourceOptions,
) -> aws.iam.Role:
    """A role of the program: one-hour sessions, at the stack's path, within its boundary."""
    return aws.iam.Role(
        resource_name,
        name=role_name,
        description=description,
        assume_role_policy=trust,
        max_session_duration=3600,
        path=path,
        permissions_boundary=account.apply(lambda found: boundary_of_account(permissions_boundary, found))
        if permissions_boundary
        else None,
        tags=tags,
        opts=opts,
    )


class IrsaRole(pulumi.ComponentResource):
    role_arn: pulumi.Output[str]
    role_name: pulumi.Output[str]
    # What ESO objects should wait for: until these exist the role can read nothing (the inline
    # policy, or every managed policy's attachment).
    read_grants: list[pulumi.Resource]

    def __init__(self, name: str, args: IrsaRoleArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("eso-platform:irsa:IrsaRole", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        what = f"trust policy of role {args.role_name}"
        pod_identity = args.pod_identity
        if pod_identity is None:
            identity = pulumi.Output.from_input(args.oidc_provider_arn).apply(AwsIdentity.from_oidc_provider_arn)
            trust = identity.apply(
                lambda ident: render(trust_policy(ident, args.subjects, args.wildcard_service_account), TRUST_POLICY_LIMIT, what)
            )
        else:
            identity = pulumi.Output.from_input(pod_identity.cluster_arn).apply(AwsAccount.from_arn)

            def pod_identity_trust(controller_role_arn: str, cluster_arn: str) -> str:
                principal = PodIdentityPrincipal(
                    controller_role_arn, cluster_arn, pod_identity.controller_namespace, pod_identity.controller_service_account
                )
                document = pod_identity_trust_policy(AwsAccount.from_arn(cluster_arn), principal, pod_identity.namespaces)
                return render(document, TRUST_POLICY_LIMIT, what)

            trust = pulumi.Output.all(pod_identity.controller_role_arn, pod_identity.cluster_arn).apply(
                lambda arns: pod_identity_trust(*arns)
            )
        role = program_role(
            f"{name}-role",
            args.role_name,
            "External Secrets Operator reads Secrets Manager through "
            + ("IRSA" if pod_identity is None else "its EKS Pod Identity session"),
            trust,
            identity,
            args.path,
            args.permissions_boundary,
            args.tags,
            child,
        )

        def document(grants: list[SecretGrant], limit: int, what: str) -> pulumi.Output[str]:
            return identity.apply(
                lambda ident: render(permission_policy(ident, grants, args.kms_key_arns), limit, what)
            )

        if not args.managed_policy_buckets:
            self.read_grants = [
                aws.iam.RolePolicy(
                    f"{name}-read-secrets",
                    name="read-secrets",
                    role=role.id,
                    policy=document(args.grants, INLINE_POLICY_LIMIT, f"permission policy of role {args.role_name}"),
                    opts=child,
                )
            ]
        else:
            self.read_grants = []
            # Highest bucket first: when the buckets double, a grant moves only to a higher one,
            # which then holds it before the lower one lets it go (halving deletes the higher ones,
            # and deletes come last).
            for number in range(len(args.managed_policy_buckets), 0, -1):
                bucket = args.managed_policy_buckets[number - 1]
                if not bucket:
                    continue
                policy_name = f"{args.role_name}-secret-reads-{number}"
                policy = aws.iam.Policy(
                    f"{name}-secret-reads-{number}",
                    name=policy_name,
                    path=MANAGED_POLICY_PATH,
                    # Constant: `description` is ForceNew, and a policy that stays must never be replaced.
                    description=f"Exact secret reads of role {args.role_name}",
                    policy=document(list(bucket), MANAGED_POLICY_LIMIT, f"managed policy {policy_name}"),
                    tags=args.tags,
                    opts=pulumi.ResourceOptions(parent=self, depends_on=list(self.read_grants)),
                )
                self.read_grants.append(
                    aws.iam.RolePolicyAttachment(
                        f"{name}-secret-reads-{number}-attachment",
                        role=role.name,
                        policy_arn=policy.arn,
                        opts=child,
                    )
                )
        self.role_arn = role.arn
        self.role_name = role.name
        self.register_outputs({"roleArn": self.role_arn, "roleName": self.role_name})
