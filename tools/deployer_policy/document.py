"""The least-privilege IAM policy of the identity that deploys a stack: a pure function.

It allows what `pulumi preview`, `up`, `refresh` and `destroy` of the program call in AWS, and
what the doctor reads, on the stack's own resources only; it never allows a secret's value to
be read or decrypted, and says so with explicit denies that outrank any broader policy the
identity also has.

The calls, by the pulumi-aws 7 resource or data source that makes them (terraform-provider-aws
internal/service/iam/role.go, role_policy.go, policy.go, role_policy_attachment.go,
openid_connect_provider_data_source.go, internal/service/eks/cluster_data_source.go; the
stand-in provider in e2e/aws_provider makes the same calls, and e2e/test_deployer_policy.py
judges every one it makes against this document). `sts:GetCallerIdentity`, which the provider
and the doctor call first, needs no permission.
"""

from typing import Any

from components.iam_documents import DNS_SUFFIXES, AwsAccount, partition_of_region, role_arn
from components.irsa import MANAGED_POLICY_PATH
from stacks.access import controller_role_name, role_name_patterns
from stacks.spec import Stack

# aws.iam.Role: resourceRoleCreate (tags in the request: TagRole), resourceRoleRead (its tags come
# with GetRole; its inline and attached policies too), resourceRoleUpdate, resourceRoleDelete ->
# deleteRole (which lists the role's instance profiles first; the program's roles are in none, so
# it never removes one).
ROLE_ACTIONS = (
    "iam:GetRole",
    "iam:ListRolePolicies",
    "iam:GetRolePolicy",
    "iam:ListAttachedRolePolicies",
    "iam:ListInstanceProfilesForRole",
    "iam:UpdateAssumeRolePolicy",
    "iam:UpdateRole",
    "iam:UpdateRoleDescription",
    "iam:TagRole",
    "iam:UntagRole",
    # aws.iam.RolePolicy: resourceRolePolicyPut, resourceRolePolicyDelete.
    "iam:DeleteRolePolicy",
    # aws.iam.RolePolicyAttachment: ...Delete.
    "iam:DetachRolePolicy",
    "iam:DeleteRole",
)
# What a permissions boundary, when the stack sets one, must accompany.
BOUNDED_ROLE_ACTIONS = ("iam:CreateRole", "iam:PutRolePermissionsBoundary", "iam:PutRolePolicy")
# aws.iam.Policy: resourcePolicyCreate (tags in the request, which IAM authorizes as TagPolicy),
# resourcePolicyRead (its default version; its tags come with GetPolicy, and the program's policies
# always have some, so ListPolicyTags is never needed), resourcePolicyUpdate -> policyPruneVersions
# (CreatePolicyVersion as default: SetDefaultPolicyVersion serves only
# delay_after_policy_creation_in_ms, which the program never sets), resourcePolicyDelete (its
# versions first).
POLICY_ACTIONS = (
    "iam:CreatePolicy",
    "iam:GetPolicy",
    "iam:GetPolicyVersion",
    "iam:ListPolicyVersions",
    "iam:CreatePolicyVersion",
    "iam:DeletePolicyVersion",
    "iam:TagPolicy",
    "iam:UntagPolicy",
    "iam:DeletePolicy",
)
SECRET_READS = ("secretsmanager:GetSecretValue", "secretsmanager:BatchGetSecretValue")
# aws.eks.PodIdentityAssociation (internal/service/eks/pod_identity_association.go: Create with
# tags, Read, Update, Delete; tags changed through TagResource/UntagResource), and the doctor's
# ListPodIdentityAssociations and DescribeAddon. EKS authorizes Create and List on the cluster,
# the others on the association (Service Authorization Reference, Amazon EKS).
ASSOCIATION_ACTIONS = (
    "eks:DescribePodIdentityAssociation",
    "eks:UpdatePodIdentityAssociation",
    "eks:DeletePodIdentityAssociation",
    "eks:TagResource",
    "eks:UntagResource",
)


def deployer_policy(stack: Stack, account: str) -> dict[str, Any]:
    """The policy of the identity that deploys `stack` into `account`.

    Raises ValueError for a stack whose cluster the program creates: its EC2, Auto Scaling and
    EKS resources are pulumi-eks's, not scoped here.
    """
    if stack.cluster.form == "create":
        raise ValueError(
            "cluster.create: the new cluster's VPC, nodes and EKS resources are pulumi-eks's, which this "
            "policy does not scope; deploy the cluster from a stack of its own and reference it with "
            "cluster.stackReference, then print this stack's policy"
        )
    partition = partition_of_region(stack.region)
    iam = f"arn:{partition}:iam::{account}"
    roles = [f"{iam}:role{stack.irsa.role_path}{pattern}" for pattern in role_name_patterns(stack.environment)]
    policies = [f"{iam}:policy{MANAGED_POLICY_PATH}{pattern}-secret-reads-*" for pattern in role_name_patterns(stack.environment)]
    boundary = stack.irsa.permissions_boundary
    regions = sorted({s.region for s in stack.services} | {arn.split(":")[3] for arn in stack.irsa.kms_key_arns} | {stack.region})

    if stack.cluster.form == "name":
        cluster = [
            # aws.eks.getCluster; the doctor too.
            {"Sid": "ReadTheCluster", "Effect": "Allow", "Action": "eks:DescribeCluster",
             "Resource": f"arn:{partition}:eks:{stack.region}:{account}:cluster/{stack.cluster.name}"},
            # aws.iam.getOpenIdConnectProvider by url lists the providers to find the issuer's.
            {"Sid": "FindTheClustersOidcProvider", "Effect": "Allow", "Action": "iam:ListOpenIDConnectProviders", "Resource": "*"},
        ]
    else:
        # The doctor finds the cluster whose issuer is the stack's among the region's clusters.
        cluster = [
            {"Sid": "FindTheCluster", "Effect": "Allow", "Action": "eks:DescribeCluster",
             "Resource": f"arn:{partition}:eks:{stack.region}:{account}:cluster/*"},
            {"Sid": "ListTheClusters", "Effect": "Allow", "Action": "eks:ListClusters", "Resource": "*"},
        ]
    if stack.pod_identity:
        clusters = f"arn:{partition}:eks:{stack.region}:{account}:cluster/{stack.cluster.name or '*'}"
        associations = f"arn:{partition}:eks:{stack.region}:{account}:podidentityassociation/{stack.cluster.name or '*'}/*"
        cluster += [
            {"Sid": "AssociateTheController", "Effect": "Allow",
             "Action": ["eks:CreatePodIdentityAssociation", "eks:ListPodIdentityAssociations", "eks:TagResource"], "Resource": clusters},
            {"Sid": "ManageTheControllersAssociation", "Effect": "Allow", "Action": list(ASSOCIATION_ACTIONS), "Resource": associations},
            {"Sid": "CheckThePodIdentityAgent", "Effect": "Allow", "Action": "eks:DescribeAddon",
             "Resource": f"arn:{partition}:eks:{stack.region}:{account}:addon/{stack.cluster.name or '*'}/eks-pod-identity-agent/*"},
            # EKS creates an association only for whoever may pass its role.
            {"Sid": "PassTheControllerRole", "Effect": "Allow", "Action": "iam:PassRole",
             "Resource": role_arn(AwsAccount(partition, account), stack.irsa.role_path, controller_role_name(stack.environment))},
        ]
    statements: list[dict[str, Any]] = [
        *cluster,
        {"Sid": "ReadTheClustersOidcProvider", "Effect": "Allow", "Action": "iam:GetOpenIDConnectProvider",
         "Resource": f"{iam}:oidc-provider/oidc.eks.{stack.region}.{DNS_SUFFIXES[partition]}/id/*"},
        {"Sid": "ManageTheStacksRoles", "Effect": "Allow", "Action": list(ROLE_ACTIONS)
         + ([] if boundary else [*BOUNDED_ROLE_ACTIONS, "iam:DeleteRolePermissionsBoundary"]), "Resource": roles},
        *([{"Sid": "CreateTheStacksRolesWithinTheBoundary", "Effect": "Allow", "Action": list(BOUNDED_ROLE_ACTIONS),
            "Resource": roles, "Condition": {"StringEquals": {"iam:PermissionsBoundary": boundary}}}] if boundary else []),
        # Only the stack's own managed policies can be attached: never an AWS managed one.
        {"Sid": "AttachOnlyTheStacksPolicies", "Effect": "Allow", "Action": "iam:AttachRolePolicy", "Resource": roles,
         "Condition": {"ArnLike": {"iam:PolicyARN": policies},
                       **({"StringEquals": {"iam:PermissionsBoundary": boundary}} if boundary else {})}},
        {"Sid": "ManageTheStacksPolicies", "Effect": "Allow", "Action": list(POLICY_ACTIONS), "Resource": policies},
        # The doctor: metadata only, of every path the stack's template can give a secret.
        {"Sid": "DescribeTheStacksSecrets", "Effect": "Allow", "Action": "secretsmanager:DescribeSecret",
         "Resource": [f"arn:{partition}:secretsmanager:{region}:{account}:secret:{stack.secret_path_pattern}" for region in regions]},
        {"Sid": "DescribeKeys", "Effect": "Allow", "Action": "kms:DescribeKey",
         "Resource": [f"arn:{partition}:kms:{region}:{account}:key/*" for region in regions]},
        {"Sid": "NeverReadASecret", "Effect": "Deny", "Action": list(SECRET_READS), "Resource": "*"},
        {"Sid": "NeverDecryptThroughSecretsManager", "Effect": "Deny", "Action": "kms:Decrypt", "Resource": "*",
         "Condition": {"StringLike": {"kms:ViaService": f"secretsmanager.*.{DNS_SUFFIXES[partition]}"}}},
        *([{"Sid": "NeverDecryptWithTheSecretsKeys", "Effect": "Deny", "Action": "kms:Decrypt",
            "Resource": sorted(set(stack.irsa.kms_key_arns))}] if stack.irsa.kms_key_arns else []),
        # A trust edited to name this identity would still not let it act as ESO.
        {"Sid": "NeverActAsTheStacksRoles", "Effect": "Deny", "Action": ["sts:AssumeRole", "sts:TagSession"], "Resource": roles},
        *([{"Sid": "KeepTheBoundary", "Effect": "Deny", "Action": "iam:DeleteRolePermissionsBoundary", "Resource": roles}]
          if boundary else []),
    ]
    return {"Version": "2012-10-17", "Statement": statements}
