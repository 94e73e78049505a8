"""One IAM role that ESO assumes through the cluster's OIDC provider (IRSA)."""

from dataclasses import dataclass, field
from typing import Optional

import pulumi
import pulumi_aws as aws

from components.iam_documents import (
    INLINE_POLICY_LIMIT,
    MANAGED_POLICY_LIMIT,
    TRUST_POLICY_LIMIT,
    AwsIdentity,
    SecretGrant,
    permission_policy,
    render,
    trust_policy,
)

MANAGED_POLICY_PATH = "/eso-platform/"


@dataclass(frozen=True)
class IrsaRoleArgs:
    role_name: str
    oidc_provider_arn: pulumi.Input[str]
    subjects: list[str]
    grants: list[SecretGrant]
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


def boundary_of_account(boundary: str, identity: AwsIdentity) -> str:
    """`boundary`, if IAM can attach it to a role of `identity`'s account: a policy of that
    account, or an AWS managed one."""
    account = boundary.split(":")[4]
    if account not in (identity.account_id, "aws"):
        # A RunError ends the update with this message alone, no traceback.
        raise pulumi.RunError(
            f"irsa.permissionsBoundary: {boundary} is a policy of account {account}, but the roles are "
            f"created in {identity.account_id}, the OIDC provider's account; use a policy of "
            f"{identity.account_id} or an AWS managed policy"
        )
    return boundary


class IrsaRole(pulumi.ComponentResource):
    role_arn: pulumi.Output[str]
    role_name: pulumi.Output[str]
    # What ESO objects should wait for: until these exist the role can read nothing (the inline
    # policy, or every managed policy's attachment).
    read_grants: list[pulumi.Resource]

    def __init__(self, name: str, args: IrsaRoleArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("eso-platform:irsa:IrsaRole", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        identity = pulumi.Output.from_input(args.oidc_provider_arn).apply(AwsIdentity.from_oidc_provider_arn)
        role = aws.iam.Role(
            f"{name}-role",
            name=args.role_name,
            description="External Secrets Operator reads Secrets Manager through IRSA",
            assume_role_policy=identity.apply(
                lambda ident: render(
                    trust_policy(ident, args.subjects, args.wildcard_service_account),
                    TRUST_POLICY_LIMIT,
                    f"trust policy of role {args.role_name}",
                )
            ),
            max_session_duration=3600,
            path=args.path,
            permissions_boundary=identity.apply(lambda ident: boundary_of_account(args.permissions_boundary, ident))
            if args.permissions_boundary
            else None,
            tags=args.tags,
            opts=child,
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
