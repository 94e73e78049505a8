"""Each AWS call the front saw, as IAM authorizes it: the action, the resource ARN and the
condition keys the request carries, per AWS's Service Authorization Reference (the resource
type each action names; `iam:PolicyARN` for AttachRolePolicy, `iam:PermissionsBoundary` for
the calls that create or change a role with a boundary). `sts:GetCallerIdentity` is authorized
for every caller ("No permissions are required", its API reference). EKS Pod Identity: Create
and List on the cluster, the others on the association, DescribeAddon on the add-on (whose ARN
ends in an id the request does not carry: any id stands for it); creating or updating an
association with a role also needs `iam:PassRole` of that role (EKS User Guide, "Assign an IAM
role to a Kubernetes service account").

A call this table does not know raises UnknownCall: a new call of the provider or the doctor
fails the test that judges the calls until it is mapped, never passes unjudged.
"""

from dataclasses import dataclass, field
from typing import Any, Optional

from e2e.aws_front import PLACEHOLDER_SUFFIX, AwsCall

ROLE_NAMED = {
    "CreateRole", "GetRole", "DeleteRole", "UpdateRole", "UpdateRoleDescription", "UpdateAssumeRolePolicy",
    "TagRole", "UntagRole", "ListRoleTags", "PutRolePolicy", "GetRolePolicy", "DeleteRolePolicy", "ListRolePolicies",
    "AttachRolePolicy", "DetachRolePolicy", "ListAttachedRolePolicies", "ListInstanceProfilesForRole",
    "PutRolePermissionsBoundary", "DeleteRolePermissionsBoundary",
}
POLICY_NAMED = {
    "GetPolicy", "GetPolicyVersion", "ListPolicyTags", "ListPolicyVersions", "CreatePolicyVersion",
    "SetDefaultPolicyVersion", "DeletePolicyVersion", "TagPolicy", "UntagPolicy", "DeletePolicy",
}
ANY_RESOURCE = {("iam", "ListOpenIDConnectProviders"), ("eks", "ListClusters")}
ON_THE_CLUSTER = {"CreatePodIdentityAssociation", "ListPodIdentityAssociations"}
ON_THE_ASSOCIATION = {"DescribePodIdentityAssociation", "UpdatePodIdentityAssociation", "DeletePodIdentityAssociation"}
ON_THE_ARN = {"TagResource", "UntagResource", "ListTagsForResource"}
# Stands for the id an add-on's ARN ends in.
ADDON_ID = "0a1b2c3d-0000-0000-0000-000000000000"


class UnknownCall(Exception):
    pass


@dataclass(frozen=True)
class Authorization:
    action: str
    resource: str
    context: dict[str, str]


@dataclass
class Authorizer:
    """Judges calls in the order they were made, remembering each role's path and boundary from
    the calls that created or changed it (a role may be gone by the time the calls are judged)."""

    account: str
    role_paths: dict[str, str] = field(default_factory=dict)
    boundaries: dict[str, str] = field(default_factory=dict)

    def _role(self, name: str) -> str:
        if name not in self.role_paths:
            raise UnknownCall(f"role {name} was not created by a call the front saw: its path is unknown")
        return f"arn:aws:iam::{self.account}:role{self.role_paths[name]}{name}"

    def authorizations(self, call: AwsCall) -> list[Authorization]:
        """Every authorization IAM makes for `call`: one, or with a role passed, two."""
        found = self.authorization(call)
        passed = call.params.get("roleArn") if call.service == "eks" and call.operation in ON_THE_CLUSTER | ON_THE_ASSOCIATION else None
        return [*([found] if found else []), *([Authorization("iam:PassRole", passed, {})] if passed else [])]

    def authorization(self, call: AwsCall) -> Optional[Authorization]:
        """How IAM authorizes `call`, or None for a call no permission governs."""
        service, operation, params = call.service, call.operation, call.params
        if (service, operation) == ("sts", "GetCallerIdentity"):
            return None
        # The signing names of these five services are their IAM prefixes.
        action = f"{service}:{operation}"
        if (service, operation) in ANY_RESOURCE:
            return Authorization(action, "*", {})
        if service == "iam" and operation in ROLE_NAMED:
            name = params["RoleName"]
            context: dict[str, Any] = {}
            if operation == "CreateRole":
                self.role_paths[name] = params.get("Path", "/")
                if params.get("PermissionsBoundary"):
                    self.boundaries[name] = params["PermissionsBoundary"]
            if operation == "PutRolePermissionsBoundary":
                self.boundaries[name] = params["PermissionsBoundary"]
            if name in self.boundaries:
                context["iam:PermissionsBoundary"] = self.boundaries[name]
            if operation == "AttachRolePolicy":
                context["iam:PolicyARN"] = params["PolicyArn"]
            return Authorization(action, self._role(name), context)
        if service == "iam" and operation == "CreatePolicy":
            return Authorization(action, f"arn:aws:iam::{self.account}:policy{params.get('Path', '/')}{params['PolicyName']}", {})
        if service == "iam" and operation in POLICY_NAMED:
            return Authorization(action, params["PolicyArn"], {})
        if service == "iam" and operation == "GetOpenIDConnectProvider":
            return Authorization(action, params["OpenIDConnectProviderArn"], {})
        eks = f"arn:aws:eks:{call.region}:{self.account}"
        if service == "eks" and (operation == "DescribeCluster" or operation in ON_THE_CLUSTER):
            return Authorization(action, f"{eks}:cluster/{params['name']}", {})
        if service == "eks" and operation in ON_THE_ASSOCIATION:
            return Authorization(action, f"{eks}:podidentityassociation/{params['name']}/{params['associationId']}", {})
        if service == "eks" and operation in ON_THE_ARN:
            return Authorization(action, params["resourceArn"], {})
        if service == "eks" and operation == "DescribeAddon":
            return Authorization(action, f"{eks}:addon/{params['name']}/{params['addonName']}/{ADDON_ID}", {})
        if service == "secretsmanager" and "SecretId" in params:
            secret = params["SecretId"]
            arn = secret if secret.startswith("arn:") else f"arn:aws:secretsmanager:{call.region}:{self.account}:secret:{secret}{PLACEHOLDER_SUFFIX}"
            return Authorization(action, arn, {})
        if service == "kms" and "KeyId" in params:
            key = params["KeyId"]
            return Authorization(action, key if key.startswith("arn:") else f"arn:aws:kms:{call.region}:{self.account}:key/{key}", {})
        raise UnknownCall(f"{service} {operation} {sorted(params)}: not mapped to an IAM authorization")
