"""ValidatingAdmissionPolicies and their denying bindings as plain dicts (admissionregistration.k8s.io/v1)."""

from typing import Any, Optional

ADMISSION_API_VERSION = "admissionregistration.k8s.io/v1"


def validating_admission_policy(name: str, spec: dict[str, Any], labels: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": ADMISSION_API_VERSION,
        "kind": "ValidatingAdmissionPolicy",
        "metadata": {"name": name, "labels": dict(labels)},
        "spec": spec,
    }


def denying_binding(
    name: str, policy_name: Any, namespace_expression: Optional[dict[str, Any]], labels: dict[str, str]
) -> dict[str, Any]:
    """Binds `policy_name` to the namespaces `namespace_expression` selects, or everywhere
    without one; failures deny."""
    spec: dict[str, Any] = {"policyName": policy_name, "validationActions": ["Deny"]}
    if namespace_expression is not None:
        spec["matchResources"] = {"namespaceSelector": {"matchExpressions": [namespace_expression]}}
    return {
        "apiVersion": ADMISSION_API_VERSION,
        "kind": "ValidatingAdmissionPolicyBinding",
        "metadata": {"name": name, "labels": dict(labels)},
        "spec": spec,
    }
