"""The four IAM resource types the program uses, as terraform-provider-aws implements them.

Sources (hashicorp/terraform-provider-aws, the aws-sdk-go-v2 generation that pulumi-aws 7.x
bridges; files under internal/service/iam/):

* role.go: `resourceRole` schema, `resourceRoleCreate`, `resourceRoleRead` (+ `resourceRoleFlatten`),
  `resourceRoleUpdate`, `resourceRoleDelete` -> `deleteRole`.
* role_policy.go: `resourceRolePolicy` schema, `resourceRolePolicyPut` (Create and Update),
  `resourceRolePolicyRead`, `resourceRolePolicyDelete`, `createRolePolicyImportID` ("<role>:<name>").
* policy.go: `resourcePolicy` schema, `resourcePolicyCreate`, `resourcePolicyRead`,
  `resourcePolicyUpdate` -> `policyPruneVersions`, `resourcePolicyDelete`.
* role_policy_attachment.go: `resourceRolePolicyAttachment` schema, `...Create`, `...Read`,
  `...Delete`, `rolePolicyAttachmentImportID.create` ("<role>/<policy_arn>").

Tags go through the provider's transparent tagging (`@Tags(identifierAttribute=...)`):
TagRole/UntagRole by role name, TagPolicy/UntagPolicy by policy ARN, removed keys first.
"""

import re
import time
from typing import Any, Optional

from botocore.exceptions import ClientError

from components.resource_types import MANAGED_POLICY, POLICY_ATTACHMENT, ROLE, ROLE_POLICY
from e2e.aws_provider import documents
from e2e.aws_provider.model import (
    Field,
    ProviderError,
    ResourceType,
    name_prefix_from_name,
    read_tags,
    rfc3339,
    tags_all,
    terraform_name,
    with_force_new,
)

# internal/service/iam/consts.go propagationTimeout is 2 minutes; DeleteRole is retried on
# DeleteConflictException for that long. Kept short here (moto's state does not propagate) and
# module-level so a test can shorten it further.
DELETE_CONFLICT_RETRY_SECONDS = 10.0

# Replace keys: every input terraform marks ForceNew, per type (Pulumi names; terraform's in
# parentheses). A change to any other input is an in-place update.
#   role.go resourceRole: "name" ForceNew, "name_prefix" ForceNew, "path" ForceNew
ROLE_FORCE_NEW = ("name", "namePrefix", "path")
#   role_policy.go resourceRolePolicy: "name" ForceNew, "name_prefix" ForceNew, "role" ForceNew
ROLE_POLICY_FORCE_NEW = ("name", "namePrefix", "role")
#   policy.go resourcePolicy: "description" ForceNew, "name" ForceNew, "name_prefix" ForceNew, "path" ForceNew
POLICY_FORCE_NEW = ("description", "name", "namePrefix", "path")
#   role_policy_attachment.go resourceRolePolicyAttachment: "policy_arn" ForceNew, "role" ForceNew
ROLE_POLICY_ATTACHMENT_FORCE_NEW = ("policyArn", "role")

# internal/service/iam/role.go roleNameMaxLen / roleNamePrefixMaxLen; policy.go and
# role_policy.go use 128 (prefix: 128 - id.UniqueIDSuffixLength, which is 26).
ROLE_NAME_MAX = 64
POLICY_NAME_MAX = 128
UNIQUE_ID_SUFFIX_LENGTH = 26


# Validators (the ValidateFunc of each attribute); each gets the terraform name and the value.

def _resource_name(maximum: int):
    # internal/service/iam/validate.go validResourceName: length 1..max, `^[0-9A-Za-z_+=,.@-]+$`.
    def validate(key: str, value: Any) -> list[str]:
        if not isinstance(value, str) or not 1 <= len(value) <= maximum:
            return [f"expected length of {key} to be in the range (1 - {maximum}), got {value}"]
        if not re.fullmatch(r"[0-9A-Za-z_+=,.@-]+", value):
            return [f'invalid value for {key} (must only contain alphanumeric characters, underscores, and "+=,.@-")']
        return []
    return validate


def _length(low: int, high: int):
    def validate(key: str, value: Any) -> list[str]:
        if not isinstance(value, str) or not low <= len(value) <= high:
            return [f"expected length of {key} to be in the range ({low} - {high}), got {value}"]
        return []
    return validate


def _int_between(low: int, high: int):
    def validate(key: str, value: Any) -> list[str]:
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            return [f"expected {key} to be in the range ({low} - {high}), got {value}"]
        return []
    return validate


def _description(key: str, value: Any) -> list[str]:
    # role.go "description": StringLenBetween(0, 1000) and no “ or ‘ characters.
    errors = _length(0, 1000)(key, value)
    if not errors and re.search("[“‘]", value):
        errors.append(f"invalid value for {key} (cannot contain specially formatted single or double quotes: [“‘])")
    return errors


def valid_arn(key: str, value: Any) -> list[str]:
    # internal/verify/validate.go ValidARN (arn.Parse, then a non-empty partition/service/resource).
    if not isinstance(value, str) or value == "":
        return []
    parts = value.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn":
        return [f'"{key}" ({value}) is an invalid ARN: arn: invalid prefix']
    if not parts[1]:
        return [f'"{key}" ({value}) is an invalid ARN: missing partition value']
    if not parts[2]:
        return [f'"{key}" ({value}) is an invalid ARN: missing service value']
    if not parts[5]:
        return [f'"{key}" ({value}) is an invalid ARN: missing resource value']
    return []


def _policy_path(key: str, value: Any) -> list[str]:
    # internal/service/iam/validate.go validPolicyPath: 1..512 characters, begins and ends with "/".
    errors = _length(1, 512)(key, value)
    if not errors and not (value.startswith("/") and value.endswith("/")):
        errors.append(f'"{key}" must begin and end with "/"')
    return errors


def _role_policy_role(key: str, value: Any) -> list[str]:
    # internal/service/iam/validate.go validRolePolicyRole: a role name (or, leniently, an ARN).
    if isinstance(value, str) and value.startswith("arn:"):
        return valid_arn(key, value)
    return _resource_name(ROLE_NAME_MAX)(key, value)


def _code(error: ClientError) -> str:
    return error.response.get("Error", {}).get("Code", "")


def _not_found(error: ClientError) -> bool:
    return _code(error) in ("NoSuchEntity", "NoSuchEntityException")


def _tag_list(tags: dict) -> list[dict]:
    return [{"Key": key, "Value": value} for key, value in sorted(tags.items())]


def _tag_changes(old: Optional[dict], new: Optional[dict]) -> tuple[list[str], dict]:
    """(keys to untag, tags to set), as the generated updateTags functions compute them."""
    old, new = old or {}, new or {}
    removed = sorted(key for key in old if key not in new)
    updated = {key: value for key, value in new.items() if old.get(key) != value}
    return removed, updated


def _paginate(client, operation: str, key: str, **kwargs) -> list:
    items: list = []
    for page in client.get_paginator(operation).paginate(**kwargs):
        items.extend(page.get(key, []))
    return items


def _document_to_set(prior: Optional[str], remote: str) -> str:
    """verify.PolicyToSet / LegacyPolicyToSet: keep the prior text when it is the same policy,
    so an equivalent rewrite in AWS is no drift; otherwise the remote document (normalized)."""
    if prior and documents.equivalent(prior, remote):
        return prior
    return remote


class Role(ResourceType):
    token = ROLE
    tf_type = "aws_iam_role"
    # role.go resourceRole Schema (terraform names in Field.tf). Defaults cited there:
    # "force_detach_policies" Default false, "max_session_duration" Default 3600, "path" Default "/".
    fields = with_force_new(ROLE_FORCE_NEW, (
        Field("assumeRolePolicy", "assume_role_policy", "document", required=True, validate=documents.validation_errors),
        Field("description", "description", "string", validate=_description),
        Field("forceDetachPolicies", "force_detach_policies", "bool", default=False),
        Field("inlinePolicies", "inline_policy", "objects", computed=True),
        Field("managedPolicyArns", "managed_policy_arns", "set", computed=True),
        Field("maxSessionDuration", "max_session_duration", "int", default=3600, validate=_int_between(3600, 43200)),
        Field("name", "name", "string", computed=True, autoname=True, conflicts_with=("namePrefix",),
              validate=_resource_name(ROLE_NAME_MAX)),
        Field("namePrefix", "name_prefix", "string", computed=True, conflicts_with=("name",),
              validate=_resource_name(ROLE_NAME_MAX - UNIQUE_ID_SUFFIX_LENGTH)),
        Field("path", "path", "string", default="/", validate=_length(0, 512)),
        Field("permissionsBoundary", "permissions_boundary", "string", validate=valid_arn),
        Field("tags", "tags", "map"),
    ))
    computed_outputs = ("arn", "createDate", "uniqueId")
    # pulumi-aws provider/resources.go: "name": tfbridge.AutoName("name", 64, "-").
    autoname_maxlen = ROLE_NAME_MAX
    tagged = True

    def state_only(self, inputs: dict) -> dict:
        # force_detach_policies is never read from AWS; state keeps the configured value.
        return {"forceDetachPolicies": bool(inputs.get("forceDetachPolicies", False))}

    def create(self, aws, settings, inputs):
        iam = aws.client("iam")
        name = terraform_name(inputs.get("name"), inputs.get("namePrefix"))
        request: dict[str, Any] = {
            "AssumeRolePolicyDocument": documents.normalize(inputs["assumeRolePolicy"]),
            "Path": inputs.get("path", "/"),
            "RoleName": name,
        }
        tags = tags_all(settings, inputs.get("tags"))
        if tags:
            request["Tags"] = _tag_list(tags)
        if inputs.get("description"):
            request["Description"] = inputs["description"]
        if inputs.get("maxSessionDuration"):
            request["MaxSessionDuration"] = inputs["maxSessionDuration"]
        if inputs.get("permissionsBoundary"):
            request["PermissionsBoundary"] = inputs["permissionsBoundary"]
        try:
            iam.create_role(**request)
        except ClientError as error:
            raise ProviderError(f"creating IAM Role ({name}): {error}") from error
        for policy in inputs.get("inlinePolicies") or []:
            if not policy.get("name") or not policy.get("policy"):
                continue
            try:
                iam.put_role_policy(RoleName=name, PolicyName=policy["name"],
                                    PolicyDocument=documents.normalize(policy["policy"]))
            except ClientError as error:
                delete_role(iam, name, True, True, False)
                raise ProviderError(f"creating IAM Role ({name}): adding inline policy ({policy['name']}): {error}") from error
        for arn in inputs.get("managedPolicyArns") or []:
            try:
                iam.attach_role_policy(RoleName=name, PolicyArn=arn)
            except ClientError as error:
                raise ProviderError(f"creating IAM Role ({name}): attaching IAM Policy ({arn}): {error}") from error
        state = self.as_state({**inputs, **self.state_only(inputs)})
        outputs = self.read_back(aws, settings, name, state, f"reading IAM Role ({name}): empty result after create")
        return name, outputs

    def read(self, aws, settings, resource_id, state):
        iam = aws.client("iam")
        try:
            role = iam.get_role(RoleName=resource_id)["Role"]
        except ClientError as error:
            if _not_found(error):
                return None
            raise ProviderError(f"reading IAM Role ({resource_id}): {error}") from error
        tags, everything = read_tags(settings, role.get("Tags"))
        remote_trust = documents.from_aws(role.get("AssumeRolePolicyDocument")) or ""
        inline = self._read_inline(iam, resource_id)
        configured = state.get("inlinePolicies") or []
        if not _inline_equivalent(inline, configured):
            configured = inline
        managed = [p["PolicyArn"] for p in _paginate(iam, "list_attached_role_policies", "AttachedPolicies",
                                                     RoleName=resource_id)]
        return {
            "arn": role["Arn"],
            "assumeRolePolicy": _document_to_set(state.get("assumeRolePolicy"), remote_trust),
            "createDate": rfc3339(role.get("CreateDate")),
            "description": role.get("Description") or "",
            "forceDetachPolicies": bool(state.get("forceDetachPolicies", False)),
            "id": role["RoleName"],
            "inlinePolicies": configured,
            "managedPolicyArns": managed,
            "maxSessionDuration": role.get("MaxSessionDuration", 3600),
            "name": role["RoleName"],
            "namePrefix": name_prefix_from_name(role["RoleName"]),
            "path": role.get("Path", "/"),
            "permissionsBoundary": (role.get("PermissionsBoundary") or {}).get("PermissionsBoundaryArn") or "",
            "tags": tags,
            "tagsAll": everything,
            "uniqueId": role.get("RoleId", ""),
        }

    @staticmethod
    def _read_inline(iam, role_name: str) -> list[dict]:
        # role.go readRoleInlinePolicies (documents through LegacyPolicyNormalize).
        policies = []
        for name in _paginate(iam, "list_role_policies", "PolicyNames", RoleName=role_name):
            document = iam.get_role_policy(RoleName=role_name, PolicyName=name)["PolicyDocument"]
            policies.append({"name": name, "policy": documents.from_aws(document)})
        return policies

    def update(self, aws, settings, resource_id, state, planned, changed):
        iam = aws.client("iam")

        def call(what: str, operation, **kwargs):
            try:
                operation(**kwargs)
            except ClientError as error:
                raise ProviderError(f"updating IAM Role ({resource_id}) {what}: {error}") from error

        if "assumeRolePolicy" in changed:
            call("assume role policy", iam.update_assume_role_policy, RoleName=resource_id,
                 PolicyDocument=documents.normalize(planned["assumeRolePolicy"]))
        if "description" in changed:
            # role.go: UpdateRoleDescription (not UpdateRole) for the description.
            call("description", iam.update_role_description, RoleName=resource_id,
                 Description=planned.get("description") or "")
        if "maxSessionDuration" in changed:
            # terraform sends UpdateRole with MaxSessionDuration alone, which leaves AWS's
            # description as it is; moto's UpdateRole instead sets the description to whatever
            # the request carries (none: cleared), so the planned description rides along to
            # end with the state AWS would have.
            extra = {"Description": planned["description"]} if planned.get("description") else {}
            call("MaxSessionDuration", iam.update_role, RoleName=resource_id,
                 MaxSessionDuration=planned.get("maxSessionDuration") or 3600, **extra)
        if "permissionsBoundary" in changed:
            if planned.get("permissionsBoundary"):
                call("permissions boundary", iam.put_role_permissions_boundary, RoleName=resource_id,
                     PermissionsBoundary=planned["permissionsBoundary"])
            else:
                call("permissions boundary", iam.delete_role_permissions_boundary, RoleName=resource_id)
        if "inlinePolicies" in changed:
            old = state.get("inlinePolicies") or []
            new = planned.get("inlinePolicies") or []
            for policy in old:
                if policy not in new and policy.get("name"):
                    _ignore_missing(lambda p=policy: iam.delete_role_policy(RoleName=resource_id, PolicyName=p["name"]))
            for policy in new:
                if policy not in old and policy.get("name") and policy.get("policy"):
                    call("inline policy", iam.put_role_policy, RoleName=resource_id, PolicyName=policy["name"],
                         PolicyDocument=documents.normalize(policy["policy"]))
        if "managedPolicyArns" in changed:
            old = set(state.get("managedPolicyArns") or [])
            new = set(planned.get("managedPolicyArns") or [])
            for arn in sorted(old - new):
                _ignore_missing(lambda a=arn: iam.detach_role_policy(RoleName=resource_id, PolicyArn=a))
            for arn in sorted(new - old):
                call("managed policy", iam.attach_role_policy, RoleName=resource_id, PolicyArn=arn)
        if "tagsAll" in changed or "tags" in changed:
            removed, updated = _tag_changes(state.get("tagsAll"), planned.get("tagsAll"))
            if removed:
                call("tags", iam.untag_role, RoleName=resource_id, TagKeys=removed)
            if updated:
                call("tags", iam.tag_role, RoleName=resource_id, Tags=_tag_list(updated))
        outputs = self.read_back(aws, settings, resource_id, self.as_state({**state, **planned}), f"reading IAM Role ({resource_id}): not found after update")
        return outputs

    def delete(self, aws, settings, resource_id, state):
        # role.go resourceRoleDelete: inline/managed policies are removed only when state has
        # some (inline_policy / managed_policy_arns non-empty) or force_detach_policies is set.
        has_inline = len(state.get("inlinePolicies") or []) > 0
        has_managed = len(state.get("managedPolicyArns") or []) > 0
        force = bool(state.get("forceDetachPolicies", False))
        try:
            delete_role(aws.client("iam"), resource_id, force, has_inline, has_managed)
        except ClientError as error:
            raise ProviderError(f"deleting IAM Role ({resource_id}): {error}") from error


def _inline_equivalent(read: list[dict], configured: list[dict]) -> bool:
    # role.go inlinePoliciesEquivalent (including its "one empty {} policy" special case).
    if not read and not configured:
        return True
    if not read and len(configured) == 1 and documents.equivalent("{}", configured[0].get("policy") or "{}"):
        return True
    if len(read) != len(configured):
        return False
    by_name = {policy.get("name"): policy.get("policy") for policy in configured}
    return all(p["name"] in by_name and documents.equivalent(p["policy"], by_name[p["name"]] or "") for p in read)


def _ignore_missing(operation) -> None:
    try:
        operation()
    except ClientError as error:
        if not _not_found(error):
            raise


def delete_role(iam, role_name: str, force_detach: bool, has_inline: bool, has_managed: bool) -> None:
    """role.go deleteRole: out of its instance profiles; then, if force_detach or the state
    manages them, detach every managed policy and delete every inline policy; then DeleteRole,
    retried while AWS answers DeleteConflict; a role already gone is success."""
    try:
        profiles = _paginate(iam, "list_instance_profiles_for_role", "InstanceProfiles", RoleName=role_name)
    except ClientError as error:
        if _not_found(error):
            return
        raise
    for profile in profiles:
        _ignore_missing(lambda p=profile: iam.remove_role_from_instance_profile(
            InstanceProfileName=p["InstanceProfileName"], RoleName=role_name))
    if force_detach or has_managed:
        try:
            for policy in _paginate(iam, "list_attached_role_policies", "AttachedPolicies", RoleName=role_name):
                _ignore_missing(lambda p=policy: iam.detach_role_policy(RoleName=role_name, PolicyArn=p["PolicyArn"]))
        except ClientError as error:
            if not _not_found(error):
                raise
    if force_detach or has_inline:
        try:
            for name in _paginate(iam, "list_role_policies", "PolicyNames", RoleName=role_name):
                _ignore_missing(lambda n=name: iam.delete_role_policy(RoleName=role_name, PolicyName=n))
        except ClientError as error:
            if not _not_found(error):
                raise
    deadline = time.monotonic() + DELETE_CONFLICT_RETRY_SECONDS
    while True:
        try:
            iam.delete_role(RoleName=role_name)
            return
        except ClientError as error:
            if _not_found(error):
                return
            if _code(error) == "DeleteConflict" and time.monotonic() < deadline:
                time.sleep(0.5)
                continue
            raise


class RolePolicy(ResourceType):
    token = ROLE_POLICY
    tf_type = "aws_iam_role_policy"
    fields = with_force_new(ROLE_POLICY_FORCE_NEW, (
        Field("name", "name", "string", computed=True, autoname=True, conflicts_with=("namePrefix",),
              validate=_resource_name(POLICY_NAME_MAX)),
        Field("namePrefix", "name_prefix", "string", computed=True, conflicts_with=("name",),
              validate=_resource_name(POLICY_NAME_MAX - UNIQUE_ID_SUFFIX_LENGTH)),
        Field("policy", "policy", "document", required=True, validate=documents.validation_errors),
        Field("role", "role", "string", required=True, validate=_role_policy_role),
    ))

    @staticmethod
    def parse_id(resource_id: str) -> tuple[str, str]:
        # role_policy.go rolePolicyParseID.
        role, sep, name = resource_id.partition(":")
        if not sep:
            raise ProviderError("role_policy id must be of the form <role name>:<policy name>")
        return role, name

    def _put(self, aws, role: str, name: str, policy: str) -> None:
        try:
            aws.client("iam").put_role_policy(RoleName=role, PolicyName=name, PolicyDocument=documents.normalize(policy))
        except ClientError as error:
            raise ProviderError(f"putting IAM Role ({role}) Policy ({name}): {error}") from error

    def create(self, aws, settings, inputs):
        name = terraform_name(inputs.get("name"), inputs.get("namePrefix"))
        self._put(aws, inputs["role"], name, inputs["policy"])
        resource_id = f"{inputs['role']}:{name}"
        outputs = self.read_back(aws, settings, resource_id, self.as_state(inputs), f"waiting for IAM Role Policy ({resource_id}) create: not found")
        return resource_id, outputs

    def read(self, aws, settings, resource_id, state):
        role, name = self.parse_id(resource_id)
        try:
            document = aws.client("iam").get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]
        except ClientError as error:
            if _not_found(error):
                return None
            raise ProviderError(f"reading IAM Role Policy ({resource_id}): {error}") from error
        return {
            "id": resource_id,
            "name": name,
            "namePrefix": name_prefix_from_name(name),
            "policy": _document_to_set(state.get("policy"), documents.from_aws(document)),
            "role": role,
        }

    def update(self, aws, settings, resource_id, state, planned, changed):
        role, name = self.parse_id(resource_id)
        self._put(aws, role, name, planned["policy"])
        outputs = self.read_back(aws, settings, resource_id, self.as_state(planned), f"reading IAM Role Policy ({resource_id}): not found after update")
        return outputs

    def delete(self, aws, settings, resource_id, state):
        role, name = self.parse_id(resource_id)
        try:
            aws.client("iam").delete_role_policy(RoleName=role, PolicyName=name)
        except ClientError as error:
            if not _not_found(error):
                raise ProviderError(f"deleting IAM Role Policy ({resource_id}): {error}") from error


class Policy(ResourceType):
    token = MANAGED_POLICY
    tf_type = "aws_iam_policy"
    # policy.go resourcePolicy Schema: "path" Default "/".
    fields = with_force_new(POLICY_FORCE_NEW, (
        Field("delayAfterPolicyCreationInMs", "delay_after_policy_creation_in_ms", "int"),
        Field("description", "description", "string"),
        Field("name", "name", "string", computed=True, autoname=True, conflicts_with=("namePrefix",),
              validate=_resource_name(POLICY_NAME_MAX)),
        Field("namePrefix", "name_prefix", "string", computed=True, conflicts_with=("name",),
              validate=_resource_name(POLICY_NAME_MAX - UNIQUE_ID_SUFFIX_LENGTH)),
        Field("path", "path", "string", default="/", validate=_policy_path),
        Field("policy", "policy", "document", required=True, validate=documents.validation_errors),
        Field("tags", "tags", "map"),
    ))
    computed_outputs = ("arn", "attachmentCount", "policyId")
    tagged = True

    def state_only(self, inputs: dict) -> dict:
        return {"delayAfterPolicyCreationInMs": inputs.get("delayAfterPolicyCreationInMs")}

    def create(self, aws, settings, inputs):
        iam = aws.client("iam")
        name = terraform_name(inputs.get("name"), inputs.get("namePrefix"))
        request: dict[str, Any] = {
            "Description": inputs.get("description") or "",
            "Path": inputs.get("path", "/"),
            "PolicyDocument": documents.normalize(inputs["policy"]),
            "PolicyName": name,
        }
        tags = tags_all(settings, inputs.get("tags"))
        if tags:
            request["Tags"] = _tag_list(tags)
        try:
            arn = iam.create_policy(**request)["Policy"]["Arn"]
        except ClientError as error:
            raise ProviderError(f"creating IAM Policy ({name}): {error}") from error
        outputs = self.read_back(aws, settings, arn, self.as_state({**inputs, **self.state_only(inputs)}), f"reading IAM Policy ({arn}): empty result after create")
        return arn, outputs

    def read(self, aws, settings, resource_id, state):
        iam = aws.client("iam")
        try:
            policy = iam.get_policy(PolicyArn=resource_id)["Policy"]
            version = iam.get_policy_version(PolicyArn=resource_id, VersionId=policy["DefaultVersionId"])["PolicyVersion"]
        except ClientError as error:
            if _not_found(error):
                return None
            raise ProviderError(f"reading IAM Policy ({resource_id}): {error}") from error
        aws_tags = policy.get("Tags")
        if aws_tags is None:
            aws_tags = _paginate(iam, "list_policy_tags", "Tags", PolicyArn=resource_id)
        tags, everything = read_tags(settings, aws_tags)
        return {
            "arn": policy["Arn"],
            "attachmentCount": policy.get("AttachmentCount", 0),
            "delayAfterPolicyCreationInMs": state.get("delayAfterPolicyCreationInMs"),
            "description": policy.get("Description") or "",
            "id": policy["Arn"],
            "name": policy["PolicyName"],
            "namePrefix": name_prefix_from_name(policy["PolicyName"]),
            "path": policy.get("Path", "/"),
            "policy": _document_to_set(state.get("policy"), documents.from_aws(version["Document"])),
            "policyId": policy.get("PolicyId", ""),
            "tags": tags,
            "tagsAll": everything,
        }

    def update(self, aws, settings, resource_id, state, planned, changed):
        iam = aws.client("iam")
        if "tagsAll" in changed or "tags" in changed:
            removed, updated = _tag_changes(state.get("tagsAll"), planned.get("tagsAll"))
            try:
                if removed:
                    iam.untag_policy(PolicyArn=resource_id, TagKeys=removed)
                if updated:
                    iam.tag_policy(PolicyArn=resource_id, Tags=_tag_list(updated))
            except ClientError as error:
                raise ProviderError(f"updating tags of IAM Policy ({resource_id}): {error}") from error
        # policy.go: d.HasChangesExcept("delay_after_policy_creation_in_ms", "tags", "tags_all").
        if changed - {"delayAfterPolicyCreationInMs", "tags", "tagsAll"}:
            prune_policy_versions(iam, resource_id)
            document = documents.normalize(planned["policy"])
            delay = planned.get("delayAfterPolicyCreationInMs")
            try:
                if delay:
                    version = iam.create_policy_version(PolicyArn=resource_id, PolicyDocument=document,
                                                        SetAsDefault=False)["PolicyVersion"]["VersionId"]
                    time.sleep(delay / 1000)
                    iam.set_default_policy_version(PolicyArn=resource_id, VersionId=version)
                else:
                    iam.create_policy_version(PolicyArn=resource_id, PolicyDocument=document, SetAsDefault=True)
            except ClientError as error:
                raise ProviderError(f"updating IAM Policy ({resource_id}): {error}") from error
        outputs = self.read_back(aws, settings, resource_id, self.as_state({**state, **planned}), f"reading IAM Policy ({resource_id}): not found after update")
        return outputs

    def delete(self, aws, settings, resource_id, state):
        iam = aws.client("iam")
        try:
            versions = _paginate(iam, "list_policy_versions", "Versions", PolicyArn=resource_id)
        except ClientError as error:
            if _not_found(error):
                return
            raise ProviderError(f"reading IAM Policy ({resource_id}) versions: {error}") from error
        try:
            for version in versions:
                if not version.get("IsDefaultVersion"):
                    iam.delete_policy_version(PolicyArn=resource_id, VersionId=version["VersionId"])
            iam.delete_policy(PolicyArn=resource_id)
        except ClientError as error:
            if not _not_found(error):
                raise ProviderError(f"deleting IAM Policy ({resource_id}): {error}") from error


def prune_policy_versions(iam, arn: str) -> Optional[str]:
    """policy.go policyPruneVersions: with 5 versions (IAM's maximum), delete the oldest one
    that is not the default, so one more can be created. Returns the deleted version id."""
    versions = _paginate(iam, "list_policy_versions", "Versions", PolicyArn=arn)
    if len(versions) < 5:
        return None
    oldest = None
    for version in versions:
        if version.get("IsDefaultVersion"):
            continue
        if oldest is None or version["CreateDate"] < oldest["CreateDate"]:
            oldest = version
    if oldest is None:
        return None
    try:
        iam.delete_policy_version(PolicyArn=arn, VersionId=oldest["VersionId"])
    except ClientError as error:
        raise ProviderError(f"deleting IAM Policy ({arn}) version ({oldest['VersionId']}): {error}") from error
    return oldest["VersionId"]


class RolePolicyAttachment(ResourceType):
    token = POLICY_ATTACHMENT
    tf_type = "aws_iam_role_policy_attachment"
    fields = with_force_new(ROLE_POLICY_ATTACHMENT_FORCE_NEW, (
        Field("policyArn", "policy_arn", "string", required=True, validate=valid_arn),
        Field("role", "role", "string", required=True),
    ))
    # pulumi-aws provider/resources.go, "aws_iam_role_policy_attachment": DeleteBeforeReplace: true
    # ("a create followed by a delete actually deletes the same attachment we just created").
    delete_before_replace = True

    @staticmethod
    def parse_id(resource_id: str) -> tuple[str, str]:
        # role_policy_attachment.go rolePolicyAttachmentImportID.Parse: "<role-name>/<policy_arn>".
        role, sep, arn = resource_id.partition("/")
        if not sep or not role or not arn:
            raise ProviderError(f'unexpected format for Import ID ("{resource_id}"), expected <role-name>/<policy_arn>')
        return role, arn

    def create(self, aws, settings, inputs):
        role, arn = inputs["role"], inputs["policyArn"]
        try:
            aws.client("iam").attach_role_policy(RoleName=role, PolicyArn=arn)
        except ClientError as error:
            raise ProviderError(f"attaching IAM Policy ({arn}) to IAM Role ({role}): {error}") from error
        # role_policy_attachment.go Create: d.SetId(createRolePolicyAttachmentImportID(d)), which is
        # "<role>/<policy_arn>" since terraform-provider-aws v6 (before, id.PrefixedUniqueId("<role>-")).
        resource_id = f"{role}/{arn}"
        outputs = self.read_back(aws, settings, resource_id, inputs, f"reading IAM Role Policy Attachment ({role}:{arn}): not found after create")
        return resource_id, outputs

    def read(self, aws, settings, resource_id, state):
        if state.get("role") and state.get("policyArn"):
            role, arn = state["role"], state["policyArn"]
        else:
            role, arn = self.parse_id(resource_id)
        try:
            attached = _paginate(aws.client("iam"), "list_attached_role_policies", "AttachedPolicies", RoleName=role)
        except ClientError as error:
            if _not_found(error):
                return None
            raise ProviderError(f"reading IAM Role Policy Attachment ({role}:{arn}): {error}") from error
        if not any(policy["PolicyArn"] == arn for policy in attached):
            return None
        return {"id": resource_id, "policyArn": arn, "role": role}

    def update(self, aws, settings, resource_id, state, planned, changed):
        raise ProviderError(f"{self.token} has no update: every input is ForceNew")

    def delete(self, aws, settings, resource_id, state):
        role = state.get("role") or self.parse_id(resource_id)[0]
        arn = state.get("policyArn") or self.parse_id(resource_id)[1]
        try:
            aws.client("iam").detach_role_policy(RoleName=role, PolicyArn=arn)
        except ClientError as error:
            if not _not_found(error):
                raise ProviderError(f"detaching IAM Policy ({arn}) from IAM Role ({role}): {error}") from error
