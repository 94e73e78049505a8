"""Helm values for the external-secrets chart: pure functions, testable without any engine."""

import copy
import math
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any, Literal, Optional, get_args

KEEP_ON_UNINSTALL = {"helm.sh/resource-policy": "keep"}
# Without it, a store with no `auth` falls back to the AWS SDK's default chain, which on EKS
# ends at the node's instance role. Nothing else in the pod is a credential source: the
# stack model refuses values that would add one.
NO_INSTANCE_METADATA = {"name": "AWS_EC2_METADATA_DISABLED", "value": "true"}

# Chart 2.9.0 runs each of these reconcilers by default, and the program's objects need none
# (ExternalSecrets and SecretStores are all it makes). Off, a kind leaves the controller's RBAC
# and, but for ClusterGenerator (RBAC only), the controller gets --enable-<kind>-reconciler=false:
# templates/deployment.yaml and templates/rbac.yaml of the chart. Its CRD stays installed.
OptionalReconciler = Literal["PushSecret", "ClusterPushSecret", "ClusterExternalSecret", "ClusterGenerator"]
OPTIONAL_RECONCILERS: tuple[OptionalReconciler, ...] = get_args(OptionalReconciler)


def reconciler_value(kind: str) -> str:
    """The chart value that turns `kind`'s reconciler on or off."""
    return f"process{kind}"


def reconciler_values(enabled: Collection[str]) -> dict[str, bool]:
    """The chart's switch for each optional reconciler: on only if `enabled` names its kind."""
    return {reconciler_value(kind): kind in enabled for kind in OPTIONAL_RECONCILERS}


# The controller's sizing. Measured with the real controller on 2 cores, a force-sync of 1,000
# ExternalSecrets took 108 s at --concurrent=1 (about 0.1 s a reconcile, mostly waiting on the
# Kubernetes API, STS and Secrets Manager) and 44 s at 8: about 23 reconciles a second, what the
# client's default 50 QPS allows at two API calls a reconcile. So: one worker per 100
# ExternalSecrets (about 10 s of work each), and 25 QPS of Kubernetes client per worker, never
# below ESO's defaults.
EXTERNAL_SECRETS_PER_WORKER = 100
MAX_DERIVED_CONCURRENCY = 16
MAX_CONCURRENCY_OVERRIDE = 64
CLIENT_QPS_PER_WORKER = 25
DEFAULT_CLIENT_QPS = 50
BURST_PER_QPS = 2


@dataclass(frozen=True)
class ControllerSizing:
    concurrent: int
    client_qps: int
    client_burst: int


def controller_sizing(external_secrets: int, concurrency: Optional[int] = None) -> ControllerSizing:
    """Workers for `external_secrets` (or the `concurrency` a stack sets), and the client rate
    that keeps them busy."""
    if concurrency is None:
        concurrency = max(1, min(MAX_DERIVED_CONCURRENCY, math.ceil(external_secrets / EXTERNAL_SECRETS_PER_WORKER)))
    qps = max(DEFAULT_CLIENT_QPS, CLIENT_QPS_PER_WORKER * concurrency)
    return ControllerSizing(concurrency, qps, BURST_PER_QPS * qps)


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


IDENTITY_ANNOTATION = "eso-platform/aws-identity"


def operator_values(
    replicas: int,
    labels: dict[str, str],
    extra: dict[str, Any],
    sizing: Optional[ControllerSizing] = None,
    service_monitor: bool = False,
    monitoring_labels: Optional[dict[str, str]] = None,
    reconcilers: Collection[str] = (),
    pod_identity: bool = False,
) -> dict[str, Any]:
    """The program's chart values with the user's `extra` merged over them.

    The chart's own security contexts are left at their hardened defaults; the stack model
    refuses extra values that would switch them off.
    """
    sizing = sizing or controller_sizing(0)
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
        "concurrent": sizing.concurrent,
        "extraArgs": {"client-qps": sizing.client_qps, "client-burst": sizing.client_burst},
        "extraEnv": [dict(NO_INSTANCE_METADATA)],
        "rbac": {
            # Each tenant grants the controller tokens for its own ServiceAccount only.
            "serviceAccountTokenCreate": False,
            # Otherwise every namespace editor could create a SecretStore of their own.
            "aggregateToEdit": False,
            "aggregateToAdmin": False,
        },
        **reconciler_values(reconcilers),
    }
    if service_monitor:
        values["serviceMonitor"] = service_monitor_values(monitoring_labels or {})
    if pod_identity:
        # EKS gives a pod its Pod Identity credentials when the pod is created: switching
        # identity changes the pod template, so the controller restarts with, or without, them.
        values["podAnnotations"] = {IDENTITY_ANNOTATION: "pod-identity"}
    return deep_merge(values, extra)
