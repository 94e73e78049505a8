"""Prometheus alerting rules for ESO: pure functions, as a PrometheusRule and as a plain rule file.

The metric names and labels are those the ESO 2.9 controller registers
(pkg/controllers/externalsecret/esmetrics and pkg/controllers/secretstore/ssmetrics): each
series carries the object's `name` and `namespace`, and the condition gauges `condition` and
`status`. They keep their own `namespace` label only because the ServiceMonitor honours the
scraped labels (see chart_values.operator_values).
"""

from typing import Any

import pulumi
import yaml

PROMETHEUS_RULE_API_VERSION = "monitoring.coreos.com/v1"
GROUP_NAME = "eso-platform.external-secrets"
# Every series a rule below reads, as the controller names it.
WATCHED_METRICS = (
    "externalsecret_status_condition",
    "externalsecret_sync_calls_error",
    "secretstore_status_condition",
)
NOT_READY_FOR = "10m"
SYNC_ERROR_WINDOW = "15m"


def _runbook(*steps: str) -> str:
    return " ".join(f"{number}. {step}" for number, step in enumerate(steps, start=1))


def alert_rules() -> list[dict[str, Any]]:
    return [
        {
            "alert": "ExternalSecretNotReady",
            "expr": 'externalsecret_status_condition{condition="Ready",status="False"} == 1',
            "for": NOT_READY_FOR,
            "labels": {"severity": "warning"},
            "annotations": {
                "summary": "ExternalSecret {{ $labels.namespace }}/{{ $labels.name }} has not been Ready for 10 minutes",
                "description": "Its Kubernetes Secret is missing or stale; pods that start now get old or no values.",
                "runbook": _runbook(
                    "kubectl -n {{ $labels.namespace }} describe externalsecret {{ $labels.name }} and read the "
                    "SecretSyncedError event.",
                    "Run `python -m stacks doctor <stack>`: it names a missing or non-JSON secret, a missing key, "
                    "a drifted role trust, a missing OIDC provider or a disabled KMS key, with the fix.",
                    "After the fix, `pulumi config set forceSync \"$(date +%s)\" && pulumi up` syncs every "
                    "ExternalSecret now.",
                ),
            },
        },
        {
            "alert": "ExternalSecretSyncErrors",
            "expr": (
                f"sum by (namespace, name) (increase(externalsecret_sync_calls_error[{SYNC_ERROR_WINDOW}])) > 0"
            ),
            "for": SYNC_ERROR_WINDOW,
            "labels": {"severity": "warning"},
            "annotations": {
                "summary": "ExternalSecret {{ $labels.namespace }}/{{ $labels.name }} keeps failing to sync",
                "description": "Its sync errors have kept rising for 15 minutes, even if it becomes Ready in between.",
                "runbook": _runbook(
                    "kubectl -n {{ $labels.namespace }} get events --field-selector "
                    "involvedObject.name={{ $labels.name }} for the provider's error.",
                    "Throttling (ThrottlingException) means too short a refreshInterval; access errors mean the "
                    "role's trust or grants: run `python -m stacks doctor <stack>`.",
                ),
            },
        },
        {
            "alert": "SecretStoreNotReady",
            "expr": 'secretstore_status_condition{condition="Ready",status="False"} == 1',
            "for": NOT_READY_FOR,
            "labels": {"severity": "critical"},
            "annotations": {
                "summary": "SecretStore {{ $labels.namespace }}/{{ $labels.name }} has not been Ready for 10 minutes",
                "description": "No ExternalSecret of the namespace can sync through it.",
                "runbook": _runbook(
                    "kubectl -n {{ $labels.namespace }} describe secretstore {{ $labels.name }}.",
                    "InvalidProviderConfig or AccessDenied: run `python -m stacks doctor <stack>` for the role's "
                    "trust and the cluster's OIDC provider.",
                ),
            },
        },
    ]


def rule_groups() -> list[dict[str, Any]]:
    return [{"name": GROUP_NAME, "rules": alert_rules()}]


def rule_file() -> str:
    """The rules as a Prometheus rule file, for `promtool` or a Prometheus without the Operator."""
    return yaml.safe_dump({"groups": rule_groups()}, sort_keys=False, width=1000)


def prometheus_rule(name: str, namespace: "pulumi.Input[str]", labels: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": PROMETHEUS_RULE_API_VERSION,
        "kind": "PrometheusRule",
        "metadata": {"name": name, "namespace": namespace, "labels": dict(labels)},
        "spec": {"groups": rule_groups()},
    }
