"""The alerting rules as pure documents: what each watches, for how long, and its runbook."""

import re

import yaml

from components.alert_rules import WATCHED_METRICS, alert_rules, prometheus_rule, rule_file, rule_groups

# A PromQL metric name: an identifier followed by a selector or a range, outside any quotes.
_METRIC = re.compile(r"\b([a-z_][a-z0-9_]*)\s*[{\[]")


def _alert(name: str) -> dict:
    (rule,) = [rule for rule in alert_rules() if rule["alert"] == name]
    return rule


def test_the_three_alerts_of_the_issue():
    assert [rule["alert"] for rule in alert_rules()] == ["ExternalSecretNotReady", "ExternalSecretSyncErrors", "SecretStoreNotReady"]
    not_ready = _alert("ExternalSecretNotReady")
    assert not_ready["expr"] == 'externalsecret_status_condition{condition="Ready",status="False"} == 1'
    assert not_ready["for"] == "10m"
    assert "increase(externalsecret_sync_calls_error[15m])" in _alert("ExternalSecretSyncErrors")["expr"]
    store = _alert("SecretStoreNotReady")
    assert store["expr"] == 'secretstore_status_condition{condition="Ready",status="False"} == 1'
    assert store["labels"]["severity"] == "critical"


def test_every_alert_has_a_severity_a_summary_and_a_runbook():
    for rule in alert_rules():
        assert rule["labels"]["severity"] in ("warning", "critical"), rule["alert"]
        annotations = rule["annotations"]
        assert set(annotations) == {"summary", "description", "runbook"}, rule["alert"]
        assert "{{ $labels.namespace }}" in annotations["summary"] and "{{ $labels.name }}" in annotations["summary"]
        assert annotations["runbook"].startswith("1. ") and "python -m stacks doctor" in annotations["runbook"]


def test_rules_watch_only_the_series_the_controller_registers_and_each_of_them():
    watched = {name for rule in alert_rules() for name in _METRIC.findall(re.sub(r'"[^"]*"', '""', rule["expr"]))}
    assert watched - {"by"} == set(WATCHED_METRICS)


def test_the_rule_file_is_the_prometheus_rule_spec():
    assert yaml.safe_load(rule_file()) == {"groups": rule_groups()}
    document = prometheus_rule("external-secrets-alerts", "external-secrets", {"release": "kube-prometheus-stack"})
    assert (document["apiVersion"], document["kind"]) == ("monitoring.coreos.com/v1", "PrometheusRule")
    assert document["metadata"] == {
        "name": "external-secrets-alerts",
        "namespace": "external-secrets",
        "labels": {"release": "kube-prometheus-stack"},
    }
    assert document["spec"] == {"groups": rule_groups()}
