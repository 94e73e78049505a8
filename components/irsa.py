"""One IAM role that ESO assumes through the cluster's OIDC provider (IRSA)."""

from dataclasses import dataclass, field
from typing import Optional

import pulumi
import pulumi_aws as aws

from components.iam_documents import (
    INLINE_POLICY_LIMIT,
    TRUST_POLICY_LIMIT,
    AwsIdentity,
    SecretGrant,
    permission_policy,
    render,
    trust_policy,
)


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


class IrsaRole(pulumi.ComponentResource):
    role_arn: pulumi.Output[str]
    role_name: pulumi.Output[str]
    # What ESO objects should wait for: until it exists the role can read nothing.
    read_policy: aws.iam.RolePolicy

    def __init__(self, name: str, args: IrsaRoleArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("eso-platform:irsa:IrsaRole", name, None, opts)
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
            tags=args.tags,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.read_policy = aws.iam.RolePolicy(
            f"{name}-read-secrets",
            name="read-secrets",
            role=role.id,
            policy=identity.apply(
                lambda ident: render(
                    permission_policy(ident, args.grants, args.kms_key_arns),
                    INLINE_POLICY_LIMIT,
                    f"permission policy of role {args.role_name}",
                )
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.role_arn = role.arn
        self.role_name = role.name
        self.register_outputs({"roleArn": self.role_arn, "roleName": self.role_name})
