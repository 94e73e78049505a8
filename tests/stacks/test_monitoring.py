"""eso.monitoring: off by default; opted in, the chart's ServiceMonitors and a PrometheusRule."""

import copy

import pytest
import yaml

from components.alert_rules import rule_groups
from components.resource_types import RELEASE
from tools.cli import main
from tests.conftest import stack_values, write_stack_file
from tests.stacks.test_loading import dev_with, problems_of

PROMETHEUS_RULE = "kubernetes:monitoring.coreos.com/v1:PrometheusRule"


def with_monitoring(**monitoring):
    values = copy.deepcopy(stack_values("dev"))
    values["eso"] = {**values["eso"], "monitoring": monitoring}
    return values


def chart_values(run) -> dict:
    (release,) = run.of_type(RELEASE)
    return release.inputs["values"]


def test_monitoring_is_off_by_default(dev_run, prod_run):
    for run in (dev_run, prod_run):
        assert run.of_type(PROMETHEUS_RULE) == []
        assert "serviceMonitor" not in chart_values(run)


def test_alerts_deploy_a_prometheus_rule_and_the_service_monitors(run_stack):
    run = run_stack(with_monitoring(serviceMonitor=True, alerts=True, labels={"release": "kube-prometheus-stack"}))
    assert chart_values(run)["serviceMonitor"] == {
        "enabled": True,
        "renderMode": "failIfMissing",
        "honorLabels": True,
        "additionalLabels": {"release": "kube-prometheus-stack"},
    }
    (rule,) = run.of_type(PROMETHEUS_RULE)
    assert (rule.name, rule.parent) == ("eso-alerts", "eso")
    metadata = rule.inputs["metadata"]
    assert (metadata["name"], metadata["namespace"]) == ("external-secrets-alerts", "external-secrets")
    assert metadata["labels"]["release"] == "kube-prometheus-stack"
    assert metadata["labels"]["eso-platform/environment"] == "dev"
    assert rule.inputs["spec"] == {"groups": rule_groups()}


def test_monitoring_leaves_the_programs_other_chart_values_as_they_were(run_stack, dev_run):
    monitored = chart_values(run_stack(with_monitoring(serviceMonitor=True, alerts=True)))
    assert monitored.pop("serviceMonitor")["enabled"] is True
    assert monitored == chart_values(dev_run)
    assert monitored["extraEnv"] == [{"name": "AWS_EC2_METADATA_DISABLED", "value": "true"}]
    assert monitored["rbac"]["serviceAccountTokenCreate"] is False


def test_a_service_monitor_alone_deploys_no_rule(run_stack):
    run = run_stack(with_monitoring(serviceMonitor=True))
    assert chart_values(run)["serviceMonitor"]["enabled"] is True
    assert run.of_type(PROMETHEUS_RULE) == []


@pytest.mark.parametrize(
    "values, expected",
    [
        (with_monitoring(alerts=True), "eso.monitoring: alerts: true needs serviceMonitor: true"),
        (with_monitoring(serviceMonitor="yes"), "eso.monitoring.serviceMonitor: Input should be a valid boolean"),
        (with_monitoring(serviceMonitor=True, labels={"release": "kube prometheus"}), "eso.monitoring.labels.release: 'kube prometheus' is not valid here"),
        (with_monitoring(servicemonitor=True), "eso.monitoring.servicemonitor: unknown key; did you mean 'serviceMonitor'?"),
        (dev_with(eso={"values": {"serviceMonitor": {"enabled": True}}}), "eso: values.serviceMonitor.enabled: remove it; set eso.monitoring.serviceMonitor instead"),
        (dev_with(eso={"values": {"serviceMonitor": {"honorLabels": False}}}), "eso: values.serviceMonitor.honorLabels: remove it; the alerts need each ExternalSecret's own namespace label"),
        (
            dev_with(eso={"install": False, "monitoring": {"serviceMonitor": True, "alerts": True}}),
            "eso: monitoring.serviceMonitor: true needs install: true; with install: false the chart is someone else's",
        ),
    ],
)
def test_bad_monitoring_config_is_named(values, expected):
    problems = problems_of(values)
    assert any(expected in problem for problem in problems), problems


def test_the_plan_shows_what_monitoring_adds(capsys, tmp_path):
    path = write_stack_file(tmp_path / "Pulumi.monitored.yaml", with_monitoring(serviceMonitor=True, alerts=True))
    assert main(["plan", str(path)]) == 0
    text = capsys.readouterr().out
    assert "  ServiceMonitors for the controller's and webhook's metrics (needs the Prometheus Operator's CRDs)\n" in text
    assert "  PrometheusRule external-secrets-alerts: alerts ExternalSecretNotReady, ExternalSecretSyncErrors, SecretStoreNotReady\n" in text


def test_alert_rules_prints_the_rule_file(capsys):
    assert main(["alert-rules"]) == 0
    assert yaml.safe_load(capsys.readouterr().out) == {"groups": rule_groups()}
