"""Helm values for the external-secrets chart: pure functions, testable without any engine."""

import copy
from typing import Any, Optional

KEEP_ON_UNINSTALL = {"helm.sh/resource-policy": "keep"}


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """`override` merged into a copy of `base`; nested mappings merge, anything else replaces."""
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def service_monitor_values(monitoring_labels: dict[str, str]) -> dict[str, Any]:
    """The chart's ServiceMonitors, failing the install where their CRD is missing rather than
    being skipped silently (the chart's default)."""
    return {
        "enabled": True,
        "renderMode": "failIfMissing",
        # The scraped series name the ExternalSecret's namespace in `namespace`; without this,
        # Prometheus renames it to `exported_namespace` and puts the operator's namespace there.
        "honorLabels": True,
        "additionalLabels": dict(monitoring_labels),
    }


def operator_values(
    replicas: int,
    labels: dict[str, str],
    extra: dict[str, Any],
    service_monitor: bool = False,
    monitoring_labels: Optional[dict[str, str]] = None,
) -> dict[str, Any]:
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
    }
    if service_monitor:
        values["serviceMonitor"] = service_monitor_values(monitoring_labels or {})
    return deep_merge(values, extra)
