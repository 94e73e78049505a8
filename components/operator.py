"""The External Secrets Operator: its namespace, the pinned upstream Helm chart and, opted in,
its alerting rules."""

from dataclasses import dataclass, field
from typing import Any, Optional

import pulumi
import pulumi_kubernetes as k8s

from components.alert_rules import prometheus_rule
from components.chart_values import ControllerSizing, operator_values
from components.custom_resources import custom_resource
from components.labels import project_labels
from components.namespaces import adopted_namespace

RELEASE_NAME = "external-secrets"
# The chart names the controller's ServiceAccount after the release (it contains the chart's
# name). The values that could rename it are program-owned, so tenants bind exactly this account.
CONTROLLER_SERVICE_ACCOUNT = RELEASE_NAME


def release_id(namespace: str) -> str:
    """The release's ID as pulumi-kubernetes reads and imports it: `<namespace>/<name>`."""
    return f"{namespace}/{RELEASE_NAME}"


def chart_source(chart: str, repository: str) -> dict[str, Any]:
    """The release's chart arguments: Helm takes an OCI chart as one reference, and a chart of an
    HTTPS repository by name with the repository beside it."""
    if repository.startswith("oci://"):
        return {"chart": f"{repository.rstrip('/')}/{chart}"}
    return {"chart": chart, "repository_opts": k8s.helm.v3.RepositoryOptsArgs(repo=repository)}


@dataclass(frozen=True)
class OperatorArgs:
    namespace: str
    chart: str
    chart_version: str
    # An HTTPS Helm repository, or an oci:// registry path that holds `chart`.
    repository: str
    replicas: int = 1
    # Workers and client rate of the controller; None: ESO's own defaults.
    sizing: Optional[ControllerSizing] = None
    extra_values: dict[str, Any] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    # Adopts an existing namespace instead of failing; see ClusterAccess.namespace_provider.
    namespace_provider: Optional[pulumi.ProviderResource] = None
    # The namespace's claim (see components.labels.STACK_LABEL), with its labels.
    namespace_annotations: dict[str, str] = field(default_factory=dict)
    namespace_labels: dict[str, str] = field(default_factory=dict)
    # The last deployment labelled the namespace through the Namespace resource itself.
    labelled_by_namespace: bool = False
    # Prometheus Operator objects; the cluster must have its CRDs.
    service_monitor: bool = False
    alerts: bool = False
    monitoring_labels: dict[str, str] = field(default_factory=dict)
    # Kinds of components.chart_values.OPTIONAL_RECONCILERS to run; the others are off.
    reconcilers: list[str] = field(default_factory=list)
    # Removing the release from the stack (destroy, or not installing it any more) leaves it
    # installed and running, for another manager; otherwise it is uninstalled.
    keep_on_removal: bool = False
    # The release of this name in `namespace` exists, left running by this stack: import it.
    take_back: bool = False
    # The controller runs with EKS Pod Identity credentials; its release waits for `wait_for`
    # (the association, which must exist when the controller's pod is created).
    pod_identity: bool = False
    wait_for: list[pulumi.Resource] = field(default_factory=list)


class Operator(pulumi.ComponentResource):
    release: k8s.helm.v3.Release
    # What ESO objects wait for: the release, and its alerts, which then watch their first sync.
    ready: list[pulumi.Resource]
    namespace: pulumi.Output[str]
    chart_version: pulumi.Output[str]

    def __init__(self, name: str, args: OperatorArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("eso-platform:operator:Operator", name, None, opts)
        namespace = adopted_namespace(
            f"{name}-namespace",
            args.namespace,
            {**args.labels, **args.namespace_labels},
            args.namespace_annotations,
            self,
            args.namespace_provider,
            args.labelled_by_namespace,
        )
        self.release = k8s.helm.v3.Release(
            f"{name}-chart",
            name=RELEASE_NAME,
            **chart_source(args.chart, args.repository),
            version=args.chart_version,
            namespace=namespace,
            # Helm sets app.kubernetes.io/managed-by on every object it renders.
            values=operator_values(
                args.replicas,
                project_labels(args.labels),
                args.extra_values,
                args.sizing,
                args.service_monitor,
                args.monitoring_labels,
                args.reconcilers,
                args.pod_identity,
            ),
            # Wait until the controller and its webhook are ready: ESO objects are
            # rejected by the webhook before then.
            skip_await=False,
            atomic=True,
            cleanup_on_fail=True,
            timeout=600,
            # The engine deletes with the options the last deployment recorded, so a handover
            # needs keep_on_removal deployed before the release leaves the stack.
            opts=pulumi.ResourceOptions(
                parent=self,
                retain_on_delete=args.keep_on_removal,
                import_=release_id(args.namespace) if args.take_back else None,
                depends_on=list(args.wait_for),
            ),
        )
        self.ready = [self.release]
        if args.alerts:
            rule = prometheus_rule(
                "external-secrets-alerts", namespace, {**args.labels, **args.monitoring_labels}
            )
            self.ready.append(custom_resource(f"{name}-alerts", rule, pulumi.ResourceOptions(parent=self)))
        self.namespace = namespace
        self.chart_version = self.release.version
        self.register_outputs({"namespace": self.namespace, "chartVersion": self.chart_version})
