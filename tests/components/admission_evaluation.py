"""The admission guard's policies judged as the API server judges them, with a pure-Python CEL.

What is modelled, from the ValidatingAdmissionPolicy documentation: a policy concerns a
request when a resource rule names the object's group, version, resource and operation; its
binding applies when the namespace's labels match the binding's namespace selector, and always
for cluster-scoped objects, and always without a selector; validations run in order and the
first one that is not `true` (false, or an error, since the policies fail closed) denies. The
`object`, `namespaceObject` (null for cluster-scoped objects) and `request` variables are bound
(`request` with the fields of an AdmissionRequest the policies read: `operation`, `resource`,
`subResource`, `name`, `namespace`, `userInfo.username`): the policies use no other. Every
Namespace carries `kubernetes.io/metadata.name`, as the API server sets it.

cel-python (CEL's reference semantics) evaluates the expressions; the API server's own CEL
is proven against them in the end-to-end suite.
"""

import re
from typing import Any, Mapping, Optional

import celpy

PLURALS = {"Pod": "pods", "SecretStore": "secretstores", "ClusterSecretStore": "clustersecretstores", "ExternalSecret": "externalsecrets", "PushSecret": "pushsecrets"}  # pragma: allowlist secret
_RULE = re.compile(r"eso-platform admission rule ([a-z-]+): ")
_ENVIRONMENT = celpy.Environment()


def admission_request(
    obj: Mapping[str, Any],
    operation: str = "CREATE",
    resource: Optional[tuple[str, str, str]] = None,
    sub_resource: str = "",
    name: Optional[str] = None,
    username: str = "kubernetes-admin",
) -> dict[str, Any]:
    """The request that carries `obj`; `resource` (group, version, plural) defaults to the
    object's own, `name` to its name (a subresource's request names its parent)."""
    if resource is None:
        group, _, version = obj["apiVersion"].rpartition("/")
        resource = (group, version, PLURALS[obj["kind"]])
    group, version, plural = resource
    return {
        "operation": operation,
        "resource": {"group": group, "version": version, "resource": plural},
        "subResource": sub_resource,
        "name": obj["metadata"].get("name", "") if name is None else name,
        "namespace": obj["metadata"].get("namespace", ""),
        "userInfo": {"username": username},
    }


def _concerns(policy: Mapping[str, Any], request: Mapping[str, Any]) -> bool:
    resource = request["resource"]
    plural = resource["resource"] + (f"/{request['subResource']}" if request["subResource"] else "")
    return any(
        resource["group"] in rule["apiGroups"]
        and resource["version"] in rule["apiVersions"]
        and plural in rule["resources"]
        and request["operation"] in rule["operations"]
        for rule in policy["spec"]["matchConstraints"]["resourceRules"]
    )


def _selects(selector: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    for expression in selector.get("matchExpressions", []):
        present = expression["key"] in labels and labels[expression["key"]] in expression["values"]
        if present != (expression["operator"] == "In"):
            return False
    return all(labels.get(key) == value for key, value in selector.get("matchLabels", {}).items())


def _binds(binding: Mapping[str, Any], obj: Mapping[str, Any], namespace: Optional[Mapping[str, Any]]) -> bool:
    if namespace is None:
        return True
    selector = binding["spec"].get("matchResources", {}).get("namespaceSelector", {})
    return _selects(selector, namespace["metadata"].get("labels", {}))


def evaluate(
    expression: str,
    obj: Mapping[str, Any],
    namespace: Optional[Mapping[str, Any]] = None,
    request: Optional[Mapping[str, Any]] = None,
) -> Any:
    program = _ENVIRONMENT.program(_ENVIRONMENT.compile(expression))
    variables = {"object": celpy.json_to_cel(obj), "namespaceObject": celpy.json_to_cel(namespace)}
    if request is not None:
        variables["request"] = celpy.json_to_cel(dict(request))
    return program.evaluate(variables)


def namespace_object(name: str, labels: Mapping[str, str], annotations: Mapping[str, str]) -> dict[str, Any]:
    labels = {"kubernetes.io/metadata.name": name, **labels}
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels, "annotations": dict(annotations)}}


def first_denial(
    policy: Mapping[str, Any],
    obj: Mapping[str, Any],
    namespace: Optional[Mapping[str, Any]] = None,
    request: Optional[Mapping[str, Any]] = None,
) -> Optional[str]:
    """The rule name of the policy's first validation that does not admit `obj`, or None."""
    for validation in policy["spec"]["validations"]:
        try:
            result = evaluate(validation["expression"], obj, namespace, request)
        except celpy.CELEvalError as error:
            result = error
        # cel-python returns some evaluation errors as values rather than raising them.
        admitted = isinstance(result, celpy.celtypes.BoolType) and bool(result)
        if not admitted:
            return _RULE.match(validation["message"]).group(1)
    return None


def denials(
    manifests: list[Mapping[str, Any]],
    obj: Mapping[str, Any],
    namespaces: Mapping[str, Mapping[str, Any]],
    operation: str = "CREATE",
    request: Optional[Mapping[str, Any]] = None,
) -> list[str]:
    """The rules that deny `obj`, one per bound policy that denies it. `namespaces`: the
    Namespace objects by name; `request`: the request carrying it (`admission_request`), by
    default its own create or `operation`."""
    request = admission_request(obj, operation) if request is None else request
    name = obj["metadata"].get("namespace")
    namespace = None if name is None else namespaces.get(name, namespace_object(name, {}, {}))
    policies = {m["metadata"]["name"]: m for m in manifests if m["kind"] == "ValidatingAdmissionPolicy"}
    found = []
    for binding in (m for m in manifests if m["kind"] == "ValidatingAdmissionPolicyBinding"):
        assert binding["spec"]["validationActions"] == ["Deny"]
        policy = policies[binding["spec"]["policyName"]]
        if _concerns(policy, request) and _binds(binding, obj, namespace):
            rule = first_denial(policy, obj, namespace, request)
            if rule is not None:
                found.append(rule)
    return found
