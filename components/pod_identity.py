"""The controller's EKS Pod Identity: a role that may only assume the namespace roles, and the
association that gives it to the chart's controller ServiceAccount."""

from dataclasses import dataclass, field
from typing import Optional

import pulumi
import pulumi_aws as aws

from components.iam_documents import (
    INLINE_POLICY_LIMIT,
    TRUST_POLICY_LIMIT,
    AwsAccount,
    controller_permission_policy,
    controller_trust_policy,
    render,
    role_arn,
)
from components.irsa import program_role


@dataclass(frozen=True)
class ControllerIdentityArgs:
    role_name: str
    cluster_arn: pulumi.Input[str]
    cluster_name: pulumi.Input[str]
    # The controller's ServiceAccount, which the association names.
    namespace: str
    service_account: str
    # The names of the namespace roles: the only roles the controller may assume. Their ARNs
    # follow from the names, so the grant needs no role to exist first.
    namespace_role_names: list[str]
    path: str = "/"
    permissions_boundary: Optional[str] = None
    tags: dict[str, str] = field(default_factory=dict)


class ControllerIdentity(pulumi.ComponentResource):
    role_arn: pulumi.Output[str]
    association_id: pulumi.Output[str]
    # What the controller needs before it can act: the association (for its pod) and its grant.
    ready: list[pulumi.Resource]

    def __init__(self, name: str, args: ControllerIdentityArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("eso-platform:pod_identity:ControllerIdentity", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        account = pulumi.Output.from_input(args.cluster_arn).apply(AwsAccount.from_arn)
        trust = pulumi.Output.all(account, args.cluster_arn).apply(
            lambda parts: render(controller_trust_policy(parts[0], parts[1]), TRUST_POLICY_LIMIT, f"trust policy of role {args.role_name}")
        )
        role = program_role(
            f"{name}-role",
            args.role_name,
            "External Secrets Operator's controller: assumes the namespace roles, nothing else",
            trust,
            account,
            args.path,
            args.permissions_boundary,
            args.tags,
            child,
        )
        # A stack with no services has no namespace role, and IAM refuses a statement on none.
        grants = [aws.iam.RolePolicy(
            f"{name}-assume-namespace-roles",
            name="assume-namespace-roles",
            role=role.id,
            policy=account.apply(
                lambda found: render(
                    controller_permission_policy([role_arn(found, args.path, n) for n in args.namespace_role_names]),
                    INLINE_POLICY_LIMIT,
                    f"permission policy of role {args.role_name}",
                )
            ),
            opts=child,
        )] if args.namespace_role_names else []
        association = aws.eks.PodIdentityAssociation(
            f"{name}-association",
            cluster_name=args.cluster_name,
            namespace=args.namespace,
            service_account=args.service_account,
            role_arn=role.arn,
            tags=args.tags,
            opts=child,
        )
        self.role_arn = role.arn
        self.association_id = association.association_id
        self.ready = [association, *grants]
        self.register_outputs({"roleArn": self.role_arn, "associationId": self.association_id})
