"""The admission rule that keeps ESO off Secrets it did not create: pure manifests (admissionregistration.k8s.io/v1)."""

from typing import Any

from components.admission_objects import denying_binding, validating_admission_policy

ADOPT_ANNOTATION = "eso-platform/adopt"
# ESO labels every Secret an ExternalSecret writes, whatever its creationPolicy; with Owner
# it also adds an ownerReference.
ESO_MANAGED_LABEL = "reconcile.external-secrets.io/managed"


def _cel_string(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _metadata_entry_is(field: str, key: str, value: str) -> str:
    return (
        f"has(oldObject.metadata.{field}) && {_cel_string(key)} in oldObject.metadata.{field} && "
        f"oldObject.metadata.{field}[{_cel_string(key)}] == {_cel_string(value)}"
    )


def secret_guard_policy(
    name: str, controller_username: str, adoptable: list[str], labels: dict[str, str]
) -> dict[str, Any]:
    """Refuses the ESO controller's updates of a Secret no ExternalSecret has written yet,
    unless the Secret is `adoptable` (`<namespace>/<name>`) or annotated eso-platform/adopt=true.

    Creating a Secret and updating ESO's own are untouched. The denial's message lands in the
    ExternalSecret's status and events, where the team that owns it looks.
    """
    adoptable_list = "[" + ", ".join(_cel_string(entry) for entry in sorted(adoptable)) + "]"
    spec = {
        "failurePolicy": "Fail",
        "matchConstraints": {
            "resourceRules": [
                {"apiGroups": [""], "apiVersions": ["v1"], "operations": ["UPDATE"], "resources": ["secrets"]}
            ]
        },
        "matchConditions": [
            {
                "name": "external-secrets-controller",
                "expression": f"request.userInfo.username == {_cel_string(controller_username)}",
            }
        ],
        "variables": [
            {"name": "writtenByEso", "expression": _metadata_entry_is("labels", ESO_MANAGED_LABEL, "true")},
            {
                "name": "ownedByExternalSecret",
                "expression": "has(oldObject.metadata.ownerReferences) && oldObject.metadata.ownerReferences.exists("
                "r, r.kind == 'ExternalSecret' && r.apiVersion.startsWith('external-secrets.io/'))",
            },
            {"name": "annotatedForAdoption", "expression": _metadata_entry_is("annotations", ADOPT_ANNOTATION, "true")},
            {
                "name": "adoptedByConfig",
                "expression": f"(request.namespace + '/' + request.name) in {adoptable_list}",
            },
        ],
        "validations": [
            {
                "expression": "variables.writtenByEso || variables.ownedByExternalSecret || "
                "variables.annotatedForAdoption || variables.adoptedByConfig",
                "messageExpression": "'eso-platform refuses to overwrite Secret ' + request.namespace + '/' + "
                "request.name + ': no ExternalSecret wrote it. To take it over, set adopt: true on its service "
                f"in the stack config, or annotate it {ADOPT_ANNOTATION}=true; otherwise choose another secretName.'",
                "reason": "Forbidden",
            }
        ],
    }
    return validating_admission_policy(name, spec, labels)


def secret_guard_binding(name: str, policy_name: Any, namespaces: list[str], labels: dict[str, str]) -> dict[str, Any]:
    """Applies the policy in exactly the stack's tenant namespaces."""
    return denying_binding(
        name, policy_name, {"key": "kubernetes.io/metadata.name", "operator": "In", "values": sorted(namespaces)}, labels
    )
