"""The alerts watch series the real controller exposes: every metric and label a rule reads is in
its /metrics, once a sync error has happened (the error counter has no series before one)."""

import re

import pytest
import requests

from components.alert_rules import WATCHED_METRICS, alert_rules
from e2e.processes import wait_until
from e2e.world import ESO_API

pytestmark = pytest.mark.timeout(300)
_SERIES = re.compile(r"^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?P<labels>.*)\})? ")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="')


def exposed(metrics_url: str) -> dict[str, set[str]]:
    """Metric name to the label names its series carry, read off the controller's /metrics."""
    found: dict[str, set[str]] = {}
    for line in requests.get(metrics_url, timeout=5).text.splitlines():
        match = _SERIES.match(line)
        if match and not line.startswith("#"):
            found.setdefault(match["name"], set()).update(_LABEL.findall(match["labels"] or ""))
    return found


def watched(expression: str) -> dict[str, set[str]]:
    """Metric name to the label names a rule's expression selects or groups by."""
    labels = set(re.findall(r"([a-z_]+)\s*=~?\s*\"", expression))
    for group in re.findall(r"by\s*\(([^)]*)\)", expression):
        labels |= {label.strip() for label in group.split(",") if label.strip()}
    return {metric: labels for metric in WATCHED_METRICS if re.search(rf"\b{metric}\b", expression)}


def test_every_alert_watches_series_the_controller_exposes(harness, generated_stack):
    plan = generated_stack("mtr", {"services": [{"name": "one", "namespace": "mtr"}]})
    harness.deploy(plan)
    harness.wait_ready([("mtr", "one")])
    harness.admin.apply({
        "apiVersion": ESO_API, "kind": "ExternalSecret",
        "metadata": {"name": "denied", "namespace": "mtr"},
        "spec": {"refreshInterval": "1h", "target": {"name": "denied"},
                 "secretStoreRef": {"kind": "SecretStore", "name": "aws-secretsmanager-us-east-1"},
                 "dataFrom": [{"extract": {"key": "mtr/app/someone-else"}}]},
    })
    harness.wait_for_failure("mtr", "denied", "AccessDeniedException")
    wait_until(lambda: "externalsecret_sync_calls_error" in exposed(harness.controller.metrics_url), 60, "the error counter exposed")
    series = exposed(harness.controller.metrics_url)
    for rule in alert_rules():
        for metric, labels in watched(rule["expr"]).items():
            assert metric in series, f"{rule['alert']} watches {metric}, which the controller does not expose"
            assert labels <= series[metric], f"{rule['alert']}: {metric} has no label {labels - series[metric]}"
    assert all(any(watched(rule["expr"])) for rule in alert_rules())
