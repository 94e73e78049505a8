"""Helm values for the external-secrets chart: pure functions, testable without any engine."""

import copy
from typing import Any

KEEP_ON_UNINSTALL = {"helm.sh/resource-policy": "keep"}
# Without it, a store with no `auth` falls back to the AWS SDK's default chain, which on EKS
# ends at the node's instance role. Nothing else in the pod is a credential source: the
# stack model refuses values that would add one.
NO_INSTANCE_METADATA = {"name": "AWS_EC2_METADATA_DISABLED", "value": "true"}


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """`override` merged into a copy of `base`; nested mappings merge, anything else replaces."""
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def operator_values(replicas: int, labels: dict[str, str], extra: dict[str, Any]) -> dict[str, Any]:
    """The program's chart values with the user's `extra` merged over them.

    The chart's own security contexts are left at their hardened defaults; the stack model
    refuses extra values that would switch them off.
    """
    highly_available = replicas > 1
    disruption_budget = {"enabled": highly_available, "minAvailable": 1}
    values = {
        "installCRDs": True,
        # Removing the release must never delete the CRDs: that would delete every
        # ExternalSecret and, through ownership, every Secret they created.
        "crds": {"annotations": dict(KEEP_ON_UNINSTALL)},
        "replicaCount": replicas,
        "leaderElect": highly_available,
        "podDisruptionBudget": disruption_budget,
        "webhook": {"replicaCount": replicas, "podDisruptionBudget": dict(disruption_budget)},
        "commonLabels": dict(labels),
        "extraEnv": [dict(NO_INSTANCE_METADATA)],
        "rbac": {
            # Each tenant grants the controller tokens for its own ServiceAccount only.
            "serviceAccountTokenCreate": False,
            # Otherwise every namespace editor could create a SecretStore of their own.
            "aggregateToEdit": False,
            "aggregateToAdmin": False,
        },
    }
    return deep_merge(values, extra)
