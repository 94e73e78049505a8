"""Which resources a change of the stack config replaces: the providers' replacement rules
held against the resources of two plans.

A resource keeps its identity (type, name, parent: its URN) across the change and changes an
input its provider cannot update in place. A resource whose identity changes is not replaced
but deleted and another created; the plan lists those apart.
"""

from dataclasses import dataclass
from typing import Any, Iterable, Optional

from components import resource_types as types

# pulumi-aws takes ForceNew from terraform-provider-aws's schemas, internal/service/iam/:
# role.go ("name", "name_prefix", "path"), role_policy.go ("name", "name_prefix", "role"),
# policy.go ("description", "name", "name_prefix", "path"), role_policy_attachment.go
# ("policy_arn", "role"); the stand-in provider (e2e/aws_provider/iam.py) enforces the same.
AWS_REPLACING_INPUTS: dict[str, tuple[str, ...]] = {
    types.ROLE: ("name", "namePrefix", "path"),
    types.ROLE_POLICY: ("name", "namePrefix", "role"),
    types.MANAGED_POLICY: ("description", "name", "namePrefix", "path"),
    types.POLICY_ATTACHMENT: ("policyArn", "role"),
}
# pulumi-kubernetes (provider/pkg/provider/diff.go): every object is replaced when
# .metadata.name or .metadata.namespace changes, a RoleBinding also on .roleRef; a Helm
# release (helm_release.go, Diff) on .name and .namespace.
_OBJECT_IDENTITY = ("metadata.name", "metadata.namespace")
KUBERNETES_REPLACING_INPUTS: dict[str, tuple[str, ...]] = {
    **{
        kind: _OBJECT_IDENTITY
        for kind in (
            types.NAMESPACE,
            types.NAMESPACE_PATCH,
            types.SERVICE_ACCOUNT,
            types.TOKEN_ROLE,
            types.SECRET_STORE,
            types.EXTERNAL_SECRET,
            types.ADMISSION_POLICY,
            types.ADMISSION_BINDING,
            types.PROMETHEUS_RULE,
        )
    },
    types.TOKEN_ROLE_BINDING: (*_OBJECT_IDENTITY, "roleRef"),
    types.RELEASE: ("name", "namespace"),
}
REPLACING_INPUTS = {**AWS_REPLACING_INPUTS, **KUBERNETES_REPLACING_INPUTS}


@dataclass(frozen=True)
class Replacement:
    type: str
    name: str
    inputs: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        return {"type": self.type, "name": self.name, "inputs": list(self.inputs)}


@dataclass(frozen=True)
class ResourceChanges:
    replaced: list[Replacement]
    # Identities (type, name) only one side has.
    deleted: list[tuple[str, str]]
    created: list[tuple[str, str]]


def _at(inputs: Any, path: str) -> Any:
    for key in path.split("."):
        if not isinstance(inputs, dict):
            return None
        inputs = inputs.get(key)
    return inputs


def _identity(resource: dict[str, Any]) -> tuple[str, str, Any]:
    return resource["type"], resource["name"], resource.get("parent")


def _deleted_first(resource_type: str, before: dict[str, Any], after: dict[str, Any]) -> bool:
    """Whether the replacement deletes the old resource first. pulumi-terraform-bridge
    (pkg/tfbridge/provider.go Diff, nameRequiresDeleteBeforeReplace) does for a resource whose
    name the program sets; pulumi-kubernetes (provider.go Diff) when the new object keeps the
    old one's name and namespace; a Helm release never does."""
    if resource_type in AWS_REPLACING_INPUTS:
        return bool(after.get("name"))
    if resource_type == types.RELEASE:
        return False
    return all(_at(before, path) == _at(after, path) for path in _OBJECT_IDENTITY)


def _replaced_by_unknown(resource_type: str, key: str) -> bool:
    """Whether the provider replaces a resource whose top-level input `key` is unknown: an
    unknown `metadata` hides a Kubernetes object's name; an AWS input replaces if it is ForceNew."""
    if resource_type in AWS_REPLACING_INPUTS:
        return key in AWS_REPLACING_INPUTS[resource_type]
    return key in {path.split(".", 1)[0] for path in KUBERNETES_REPLACING_INPUTS.get(resource_type, ())}


def _referable_names(resource_type: str, inputs: dict[str, Any]) -> tuple[set[str], Optional[str]]:
    """The names others refer to a resource by, and the namespace they must share with it: a
    role's and a managed policy's are unique in the account; inline policies and attachments
    are referred to by nothing; a Kubernetes object by its name within its namespace."""
    if resource_type in (types.ROLE, types.MANAGED_POLICY):
        return {inputs["name"]} if isinstance(inputs.get("name"), str) else set(), None
    if resource_type in AWS_REPLACING_INPUTS:
        return set(), None
    name = _at(inputs, "metadata.name")
    return ({name} if isinstance(name, str) else set()), _at(inputs, "metadata.namespace")


def _refers_to(value: Any, names: set[str]) -> bool:
    if isinstance(value, dict):
        return any(_refers_to(item, names) for item in value.values())
    if isinstance(value, list):
        return any(_refers_to(item, names) for item in value)
    return isinstance(value, str) and any(value == name or value.endswith("/" + name) for name in names)


def _dependent_replacements(
    replaced: dict[tuple, tuple[str, ...]], old: dict[tuple, dict], new: dict[tuple, dict]
) -> dict[tuple, tuple[str, ...]]:
    """The engine's dependent replacements (pkg/resource/deploy/step_generator.go,
    calculateDependentReplacements): a resource replaced delete-first takes its dependents with
    it when the provider, given every input that takes a value from it as unknown, replaces them.
    An input takes a value from a resource when its property dependencies name it (a `depends_on`
    alone changes no input); in plans written before those were listed, when the resource depends
    on it and the input holds its name or ARN."""
    found = dict(replaced)
    pending = [identity for identity in replaced if _deleted_first(identity[0], old[identity]["inputs"], new[identity]["inputs"])]
    while pending:
        root = pending.pop()
        names, namespace = _referable_names(root[0], new[root]["inputs"])
        for identity, resource in new.items():
            if identity in found or identity == root or identity not in old:
                continue
            if namespace is not None and _at(resource["inputs"], "metadata.namespace") != namespace:
                continue
            # Plans written before dependencies were listed leave the names alone to decide.
            if "dependencies" in resource and root[1] not in resource["dependencies"]:
                continue
            if "propertyDependencies" in resource:
                unknown = tuple(
                    key for key, sources in resource["propertyDependencies"].items()
                    if root[1] in sources and _replaced_by_unknown(identity[0], key)
                )
            else:
                unknown = tuple(
                    key for key, value in resource["inputs"].items()
                    if _refers_to(value, names) and _replaced_by_unknown(identity[0], key)
                )
            if unknown:
                found[identity] = unknown
                if _deleted_first(identity[0], old[identity]["inputs"], resource["inputs"]):
                    pending.append(identity)
    return found


def resource_changes(before: Iterable[dict[str, Any]], after: Iterable[dict[str, Any]]) -> ResourceChanges:
    """`before` and `after`: resources as a JSON plan lists them (type, name, parent, inputs,
    dependencies)."""
    old = {_identity(resource): resource for resource in before}
    new = {_identity(resource): resource for resource in after}
    replaced = {}
    for identity in sorted(old.keys() & new.keys(), key=str):
        paths = REPLACING_INPUTS.get(identity[0], ())
        changed = tuple(path for path in paths if _at(old[identity]["inputs"], path) != _at(new[identity]["inputs"], path))
        if changed:
            replaced[identity] = changed
    replaced = _dependent_replacements(replaced, old, new)
    return ResourceChanges(
        replaced=[Replacement(identity[0], identity[1], inputs) for identity, inputs in sorted(replaced.items(), key=str)],
        deleted=sorted(identity[:2] for identity in old.keys() - new.keys()),
        created=sorted(identity[:2] for identity in new.keys() - old.keys()),
    )
