"""The typed stack model: every key a stack may set under `eso-platform:`, with its defaults."""

import re
from typing import Annotated, Any, Literal, Optional

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic.alias_generators import to_camel

from components.chart_values import IDENTITY_ANNOTATION, MAX_CONCURRENCY_OVERRIDE, OPTIONAL_RECONCILERS, OptionalReconciler, reconciler_value
from components.iam_documents import DEFAULT_MANAGED_POLICIES_PER_ROLE, MAX_MANAGED_POLICIES_PER_ROLE
from stacks.durations import parse_go_duration

DEFAULT_REFRESH_CLASSES = {"rotating": "10m", "stable": "24h"}
MINIMUM_REFRESH_SECONDS = 60
DEFAULT_CHART_VERSION = "2.9.0"
# The chart versions the program is tested with: their values and CRD schemas are the ones it
# sets and relies on (../shared/reference/eso-<version>/), and the end-to-end suite runs their
# controller. The README's "Chart versions" table lists the same.
SUPPORTED_CHART_VERSIONS = ("2.9.0",)
CHART_NAME = "external-secrets"
CHART_REPOSITORY = "https://charts.external-secrets.io"
PATH_PLACEHOLDERS = ("env", "namespace", "service")

_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
# A Secret data key; '.' and '..' are refused by Kubernetes.
_SECRET_KEY = re.compile(r"(?!\.\.?$)[-._a-zA-Z0-9]+")
AWS_REGION_PATTERN = re.compile(r"[a-z]{2}(-[a-z]+)+-[0-9]")
_EKS_CLUSTER_NAME = re.compile(r"[0-9A-Za-z][A-Za-z0-9\-_]{0,99}")
_STACK_REFERENCE = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]*(/[A-Za-z0-9_-][A-Za-z0-9_.-]*){0,2}")
_KMS_KEY_ARN = re.compile(r"arn:aws(-[a-z]+)*:kms:[a-z]{2}(-[a-z]+)+-[0-9]:[0-9]{12}:key/[A-Za-z0-9-]+")
# A customer managed policy (account) or an AWS managed one ("aws"), with its optional path.
IAM_POLICY_ARN = re.compile(r"arn:aws(-[a-z]+)*:iam::([0-9]{12}|aws):policy(/[\x21-\x7e]*)?/[\w+=,.@-]{1,128}")
# IAM's path: "/" or "/" + printable ASCII + "/", at most 512 characters (CreateRole's Path).
_IAM_PATH = re.compile(r"/|/[\x21-\x7e]{1,510}/")
_EXACT_VERSION = re.compile(r"[0-9]+\.[0-9]+\.[0-9]+")
_KUBERNETES_VERSION = re.compile(r"1\.([0-9]{2})")
# The Secret guard and the admission guard are admissionregistration.k8s.io/v1
# ValidatingAdmissionPolicies, which Kubernetes serves from 1.30.
MINIMUM_KUBERNETES_MINOR = 30
# In EKS standard support on 2026-12-02, until 2027-03-27 (EKS's Kubernetes version lifecycle:
# 14 months of standard support from its EKS release on 2026-01-28).
DEFAULT_KUBERNETES_VERSION = "1.35"
# An HTTPS Helm repository or an OCI registry path: a host (DNS name or IPv4), an optional
# port and path; no credentials, query or fragment, which Helm would send to the server.
_CHART_REPOSITORY = re.compile(
    r"(?P<scheme>https|oci)://[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?(\.[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?)*"
    r"(:[0-9]{1,5})?(?P<path>(/[A-Za-z0-9._~-]+)*)/?"
)
_INSTANCE_TYPE = re.compile(r"[a-z0-9-]+\.[a-z0-9]+")
SECRET_PATH_PATTERN = re.compile(r"[A-Za-z0-9/_+=.@-]+")
# Namespaces of the cluster itself: no tenant secret belongs there.
SYSTEM_NAMESPACES = ("kube-system", "kube-public", "kube-node-lease")



def to_snake(camel: str) -> str:
    return re.sub(r"(?<!^)([A-Z])", r"_\1", camel).lower()


def _kubernetes_name(pattern: re.Pattern, limit: int, what: str, characters: str):
    def check(value: str) -> str:
        if len(value) > limit or not pattern.fullmatch(value):
            raise ValueError(
                f"{value!r} is not {what}: use at most {limit} {characters}, "
                "starting and ending with a letter or digit"
            )
        return value

    return check


def _matching(pattern: re.Pattern, example: str):
    def check(value: str) -> str:
        if not pattern.fullmatch(value):
            raise ValueError(f"{value!r} is not valid here; expected something like {example}")
        return value

    return check


def _refresh_interval(value: str) -> str:
    seconds = parse_go_duration(value)
    if seconds == 0:
        raise ValueError(f"{value!r} turns refreshing off; use an interval of at least 1m")
    if seconds < MINIMUM_REFRESH_SECONDS:
        raise ValueError(
            f"{value!r} is below the 1m minimum: each refresh is a billed Secrets Manager call"
        )
    return value


DnsLabel = Annotated[
    str,
    AfterValidator(_kubernetes_name(_DNS_LABEL, 63, "a DNS-1123 label", "lowercase letters, digits and '-'")),
]
KubernetesName = Annotated[
    str,
    AfterValidator(
        _kubernetes_name(_DNS_SUBDOMAIN, 253, "a valid Kubernetes name", "lowercase letters, digits, '-' and '.'")
    ),
]
AwsRegion = Annotated[str, AfterValidator(_matching(AWS_REGION_PATTERN, "us-east-1"))]
Duration = Annotated[str, AfterValidator(_refresh_interval)]
# `stack`, `project/stack` or `org/project/stack`, as a StackReference names a stack.
StackName = Annotated[str, AfterValidator(_matching(_STACK_REFERENCE, "acme/eks-cluster/dev"))]


class _Model(BaseModel):
    # Keys only as the stack file spells them: `refresh_interval` is a typo, not an alias.
    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, frozen=True)


def _supported_chart_version(value: str) -> str:
    supported = ", ".join(SUPPORTED_CHART_VERSIONS)
    if not _EXACT_VERSION.fullmatch(value):
        raise ValueError(f"{value!r} is not valid here; expected an exact version: {supported}")
    if value not in SUPPORTED_CHART_VERSIONS:
        raise ValueError(
            f"{value!r} is not a chart version this program is tested with; use {supported}. The "
            "program sets chart values and relies on CRDs that other versions may lack or read "
            "differently (charts before 2.5.0 have no rbac.serviceAccountTokenCreate and let the "
            "controller mint tokens for every ServiceAccount); see the README's Chart versions"
        )
    return value


def kubernetes_floor_problem(version: str) -> Optional[str]:
    """Why a cluster of this Kubernetes version cannot run the program's guards, if it cannot."""
    found = _KUBERNETES_VERSION.fullmatch(version)
    if found and int(found.group(1)) >= MINIMUM_KUBERNETES_MINOR:
        return None
    return (
        f"Kubernetes {version} is below 1.{MINIMUM_KUBERNETES_MINOR}, the first to serve "
        "admissionregistration.k8s.io/v1 ValidatingAdmissionPolicies, which the Secret guard and "
        "the admission guard are"
    )


def _kubernetes_version(value: str) -> str:
    if not _KUBERNETES_VERSION.fullmatch(value):
        raise ValueError(f"{value!r} is not valid here; expected a minor version like \"{DEFAULT_KUBERNETES_VERSION}\"")
    problem = kubernetes_floor_problem(value)
    if problem:
        raise ValueError(f"{problem}; use \"{DEFAULT_KUBERNETES_VERSION}\" or later")
    return value


class ClusterCreate(_Model):
    version: Annotated[str, AfterValidator(_kubernetes_version)] = Field(
        DEFAULT_KUBERNETES_VERSION,
        description=f"Kubernetes version of the new EKS cluster: 1.{MINIMUM_KUBERNETES_MINOR} or later.",
    )
    instance_type: Annotated[str, AfterValidator(_matching(_INSTANCE_TYPE, "t3.medium"))] = Field(
        "t3.medium", description="EC2 instance type of the default node group."
    )
    desired_capacity: int = Field(2, ge=1, le=100, strict=True, description="Nodes in the default node group.")


class ClusterConfig(_Model):
    name: Optional[Annotated[str, AfterValidator(_matching(_EKS_CLUSTER_NAME, "platform-dev"))]] = Field(
        None, description="An existing EKS cluster, looked up by name in aws:region."
    )
    stack_reference: Optional[StackName] = Field(
        None,
        description="A stack that exports kubeconfig and oidcProviderArn.",
    )
    create: Optional[ClusterCreate] = Field(
        None, description="Create a new EKS cluster (pulumi-eks) with an IAM OIDC provider."
    )

    @model_validator(mode="after")
    def _exactly_one_form(self) -> "ClusterConfig":
        chosen = [form for form in ("name", "stackReference", "create") if getattr(self, to_snake(form)) is not None]
        if len(chosen) != 1:
            found = "none" if not chosen else " and ".join(chosen)
            raise ValueError(f"set exactly one of name, stackReference or create (found {found})")
        return self

    @property
    def form(self) -> Literal["name", "stackReference", "create"]:
        if self.name is not None:
            return "name"
        return "stackReference" if self.stack_reference is not None else "create"


# Chart values a stack may not set: the program owns them, or they are the chart's hardening.
# Setting any key under one of these paths, or replacing a parent of one, is refused.
_HARDENING = "the chart's hardened defaults must stay"
_NO_AMBIENT_IDENTITY = (
    "ESO's pods have no AWS identity of their own: an ExternalSecret reads only as its tenant's role"
)
_CONTROLLER_ACCOUNT = (
    "the controller runs as the chart's ServiceAccount external-secrets in eso.namespace, with no AWS "
    "identity; each tenant's token grant names that account"
)
_SHARED_POD = "a container in the controller's pod shares its Kubernetes identity, which can request tenants' tokens"
_AWS_ENDPOINTS = "it can redirect the STS and Secrets Manager endpoints the controller sends tenants' tokens to"
_PROGRAM_OBJECTS = (
    "namespace editors and admins may not create SecretStores; tenants' ESO objects are the program's, "
    "grant a team its own explicitly"
)
_RECONCILERS = "set eso.reconcilers instead: the program turns off the reconcilers its objects do not need"
_LONG_LIVED_TOKEN = "it adds a long-lived token Secret for the component's ServiceAccount, in place of short-lived ones"
# kube2iam and kiam hand a pod the role named in this annotation through instance metadata.
KUBE2IAM_ROLE_ANNOTATION = "iam.amazonaws.com/role"
PROGRAM_OWNED_VALUES: dict[tuple[str, ...], str] = {
    ("installCRDs",): "the program installs the CRDs",
    ("crds", "annotations"): "it keeps the CRDs, and every synced Secret, when the release is removed",
    ("replicaCount",): "set eso.replicas instead",
    ("leaderElect",): "it follows eso.replicas",
    ("securityContext",): _HARDENING,
    ("podSecurityContext",): _HARDENING,
    ("hostNetwork",): _HARDENING,
    ("hostUsers",): _HARDENING,
    ("global", "compatibility"): _HARDENING,
    ("webhook", "securityContext"): _HARDENING,
    ("webhook", "podSecurityContext"): _HARDENING,
    ("webhook", "hostNetwork"): _HARDENING,
    ("certController", "securityContext"): _HARDENING,
    ("certController", "podSecurityContext"): _HARDENING,
    ("certController", "hostNetwork"): _HARDENING,
    ("concurrent",): "set eso.concurrency instead (by default it follows the number of ExternalSecrets)",
    ("rbac", "serviceAccountTokenCreate"): (
        "the controller may request tokens only for tenant ServiceAccounts, through each tenant's Role"
    ),
    ("rbac", "aggregateToEdit"): _PROGRAM_OBJECTS,
    ("rbac", "aggregateToAdmin"): _PROGRAM_OBJECTS,
    ("serviceAccount",): _CONTROLLER_ACCOUNT,
    ("fullnameOverride",): _CONTROLLER_ACCOUNT,
    ("nameOverride",): _CONTROLLER_ACCOUNT,
    ("namespaceOverride",): _CONTROLLER_ACCOUNT,
    ("extraEnv",): _NO_AMBIENT_IDENTITY + " (the program sets AWS_EC2_METADATA_DISABLED=true here)",
    ("extraArgs",): (
        "flags change how the controller authenticates and what it reconciles "
        "(the program sets --client-qps and --client-burst here; they follow eso.concurrency)"
    ),
    ("extraVolumes",): _NO_AMBIENT_IDENTITY,
    ("extraVolumeMounts",): _NO_AMBIENT_IDENTITY,
    ("extraContainers",): _SHARED_POD,
    ("extraInitContainers",): _SHARED_POD,
    ("podSpecExtra",): _SHARED_POD,
    ("podAnnotations", KUBE2IAM_ROLE_ANNOTATION): _NO_AMBIENT_IDENTITY,
    ("podAnnotations", IDENTITY_ANNOTATION): "it follows identity, and restarts the controller when that changes",
    ("global", "podAnnotations", KUBE2IAM_ROLE_ANNOTATION): _NO_AMBIENT_IDENTITY,
    ("hostAliases",): _AWS_ENDPOINTS,
    ("global", "hostAliases"): _AWS_ENDPOINTS,
    ("dnsPolicy",): _AWS_ENDPOINTS,
    ("dnsConfig",): _AWS_ENDPOINTS,
    ("extraObjects",): "objects installed with the release could grant what the program withholds",
    ("genericTargets",): "it grants the controller rights over kinds of objects other than Secrets",
    ("metrics", "listen", "auth"): _LONG_LIVED_TOKEN,
    ("webhook", "serviceAccount"): _NO_AMBIENT_IDENTITY,
    ("webhook", "extraEnv"): _NO_AMBIENT_IDENTITY,
    ("webhook", "extraVolumes"): _NO_AMBIENT_IDENTITY,
    ("webhook", "extraVolumeMounts"): _NO_AMBIENT_IDENTITY,
    ("webhook", "podAnnotations", KUBE2IAM_ROLE_ANNOTATION): _NO_AMBIENT_IDENTITY,
    ("certController", "metrics", "listen", "auth"): _LONG_LIVED_TOKEN,
    ("certController", "serviceAccount"): _NO_AMBIENT_IDENTITY,
    ("certController", "extraEnv"): _NO_AMBIENT_IDENTITY,
    ("certController", "extraVolumes"): _NO_AMBIENT_IDENTITY,
    ("certController", "extraVolumeMounts"): _NO_AMBIENT_IDENTITY,
    ("certController", "podAnnotations", KUBE2IAM_ROLE_ANNOTATION): _NO_AMBIENT_IDENTITY,
    **{(reconciler_value(kind),): _RECONCILERS for kind in OPTIONAL_RECONCILERS},
    ("serviceMonitor", "enabled"): "set eso.monitoring.serviceMonitor instead",
    ("serviceMonitor", "honorLabels"): "the alerts need each ExternalSecret's own namespace label",
    ("serviceMonitor", "additionalLabels"): "set eso.monitoring.labels instead",
}


def program_owned_overrides(values: dict[str, Any]) -> list[str]:
    """`values` paths that would set, or replace a parent of, a value in PROGRAM_OWNED_VALUES."""
    problems = []
    for path, why in PROGRAM_OWNED_VALUES.items():
        node: Any = values
        for depth, part in enumerate(path):
            if part not in node:
                break
            if depth == len(path) - 1 or not isinstance(node[part], dict):
                problems.append(f"values.{'.'.join(path[: depth + 1])}: remove it; {why}")
                break
            node = node[part]
    return problems


_LABEL_NAME = re.compile(r"([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?")
_LABEL_VALUE = re.compile(r"([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?")
LabelName = Annotated[str, AfterValidator(_matching(_LABEL_NAME, "release or prometheus.io/team"))]
LabelValue = Annotated[str, AfterValidator(_matching(_LABEL_VALUE, "kube-prometheus-stack (at most 63 characters)"))]


class MonitoringConfig(_Model):
    """Prometheus Operator objects: opt-in, since the program cannot know offline whether the
    cluster has the Operator's CRDs."""

    service_monitor: bool = Field(
        False, strict=True, description="The chart's ServiceMonitors for the controller and webhook metrics."
    )
    alerts: bool = Field(
        False, strict=True, description="A PrometheusRule alerting on ExternalSecrets and SecretStores that are not Ready."
    )
    labels: dict[LabelName, LabelValue] = Field(
        default_factory=dict,
        description="Labels your Prometheus selects ServiceMonitors and PrometheusRules by, e.g. release: kube-prometheus-stack.",
    )

    @model_validator(mode="after")
    def _alerts_need_the_metrics(self) -> "MonitoringConfig":
        if self.alerts and not self.service_monitor:
            raise ValueError(
                "alerts: true needs serviceMonitor: true; without it Prometheus scrapes no ESO metric "
                "and the alerts can never fire"
            )
        return self


class EsoConfig(_Model):
    install: bool = Field(
        True,
        strict=True,
        description="Install the operator's chart; false manages only roles and tenants on a cluster whose ESO someone else installed.",
    )
    chart_version: Annotated[str, AfterValidator(_supported_chart_version)] = Field(
        DEFAULT_CHART_VERSION,
        description="Exact version of the external-secrets Helm chart, one of SUPPORTED_CHART_VERSIONS.",
    )
    chart_repository: str = Field(
        CHART_REPOSITORY,
        description="Where the chart comes from: an HTTPS Helm repository (a private mirror) or an "
        "oci:// registry path holding the chart external-secrets.",
    )
    namespace: DnsLabel = Field("external-secrets", description="Namespace of the operator.")
    on_remove: Literal["uninstall", "keep"] = Field(
        "uninstall",
        description="What removing the release from the stack (pulumi destroy, or install: false) does: "
        "uninstall it, or keep it installed and running, for another manager to take over. The engine "
        "applies the value the last `pulumi up` deployed: deploy keep before removing the release.",
    )
    controller_service_account: Optional[KubernetesName] = Field(
        None,
        description="With install: false, the ServiceAccount the installed controller runs as, in "
        "eso.namespace (default external-secrets). The chart names it <release>-external-secrets "
        "unless the release name contains external-secrets: for a release named eso, eso-external-secrets.",
    )
    replicas: int = Field(1, ge=1, le=10, strict=True, description="Controller replicas; >1 adds leader election and a PDB.")
    concurrency: Optional[int] = Field(
        None,
        ge=1,
        le=MAX_CONCURRENCY_OVERRIDE,
        strict=True,
        description="ExternalSecrets the controller reconciles at once (--concurrent); "
        "default one per 100 ExternalSecrets, from 1 to 16.",
    )
    reconcilers: list[OptionalReconciler] = Field(
        default_factory=list,
        description="Reconcilers of the chart to run besides those of ExternalSecrets, SecretStores and "
        "ClusterSecretStores: each widens what the controller does (warned), and the admission guard "
        "judges its objects in managed namespaces. Default none.",
    )
    values: dict[str, Any] = Field(
        default_factory=dict, description="Extra chart values, deep-merged over the program's."
    )
    monitoring: MonitoringConfig = Field(
        default_factory=MonitoringConfig, description="Opt-in ServiceMonitor and alerts (Prometheus Operator)."
    )

    @field_validator("chart_repository")
    @classmethod
    def _chart_repository(cls, value: str) -> str:
        if value.startswith("http://"):
            raise ValueError(
                f"{value!r} is plain HTTP: anyone on the path could change the chart the cluster runs; "
                "serve the repository over HTTPS, or use an oci:// registry"
            )
        found = _CHART_REPOSITORY.fullmatch(value)
        if not found:
            raise ValueError(
                f"{value!r} is not a chart repository; expected an HTTPS Helm repository such as "
                f"{CHART_REPOSITORY} or an OCI registry path such as oci://ghcr.io/external-secrets/charts "
                "(no credentials, query or fragment)"
            )
        if found["scheme"] == "oci" and not found["path"]:
            raise ValueError(f"{value!r} names no repository path; expected oci://<registry>/<path>, e.g. oci://ghcr.io/external-secrets/charts")
        return value

    @model_validator(mode="after")
    def _owned_values_and_monitoring(self) -> "EsoConfig":
        problems = program_owned_overrides(self.values)
        # alerts needs serviceMonitor (see MonitoringConfig), so this covers both.
        if self.monitoring.service_monitor and not self.install:
            problems.append(
                "monitoring.serviceMonitor: true needs install: true; with install: false the chart is "
                "someone else's: enable serviceMonitor in that release's values, and load "
                "`python -m stacks alert-rules` into your Prometheus"
            )
        if self.controller_service_account is not None and self.install:
            problems.append(
                "controllerServiceAccount: only with install: false; the chart this program installs runs "
                "the controller as external-secrets, and the values that would rename it are refused"
            )
        problems += self._reconciler_problems()
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def _reconciler_problems(self) -> list[str]:
        problems = []
        if self.reconcilers and not self.install:
            problems.append(
                "reconcilers: only with install: true; with install: false the chart is someone else's: "
                "set its process* values in that release"
            )
        if len(set(self.reconcilers)) != len(self.reconcilers):
            problems.append("reconcilers: each kind once; remove the repeated ones")
        if "ClusterPushSecret" in self.reconcilers and "PushSecret" not in self.reconcilers:
            problems.append(
                "reconcilers: ClusterPushSecret needs PushSecret (a ClusterPushSecret works through the "
                "PushSecrets it creates, and the chart refuses one without the other); add PushSecret"
            )
        crds = self.values.get("crds", {})
        for kind in self.reconcilers:
            if isinstance(crds, dict) and crds.get(f"create{kind}") is False:
                problems.append(
                    f"reconcilers: {kind} needs its CRD, and values.crds.create{kind} is false; remove one of them"
                )
        return problems


class IrsaConfig(_Model):
    mode: Literal["per-namespace", "shared", "shared-wildcard"] = Field(
        "per-namespace", description="per-namespace: one role per namespace; shared: one role for all."
    )
    service_account_name: KubernetesName = Field(
        "external-secret-operator",
        description="Name of the ServiceAccount in each tenant namespace that the role trusts.",
    )
    @field_validator("service_account_name")
    @classmethod
    def _not_the_default_account(cls, value: str) -> str:
        if value == "default":
            raise ValueError(
                "'default' is the ServiceAccount every pod runs as: each pod would get the role; "
                "use a dedicated name such as external-secret-operator"
            )
        return value

    kms_key_arns: list[Annotated[str, AfterValidator(_matching(_KMS_KEY_ARN, "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"))]] = Field(
        default_factory=list,
        description="Customer-managed KMS keys of the secrets: adds kms:Decrypt via Secrets Manager only.",
    )
    permissions_boundary: Optional[
        Annotated[str, AfterValidator(_matching(IAM_POLICY_ARN, "arn:aws:iam::123456789012:policy/eso-boundary"))]
    ] = Field(
        None,
        description="A managed policy set as the permissions boundary of every role the program "
        "creates, for accounts whose service control policies require one on iam:CreateRole; in "
        "the roles' account (or AWS managed) and aws:region's partition.",
    )
    role_path: Annotated[
        str, AfterValidator(_matching(_IAM_PATH, "/ or /platform/eso/ (IAM's path: begins and ends with /, printable ASCII, at most 512 characters)"))
    ] = Field("/", description="The IAM path of every role the program creates; changing it replaces the roles.")
    managed_policies_per_role: int = Field(
        DEFAULT_MANAGED_POLICIES_PER_ROLE,
        ge=1,
        le=MAX_MANAGED_POLICIES_PER_ROLE,
        strict=True,
        description="Customer-managed policies a role may hold its grants in when they do not fit "
        "inline: IAM's quota 'Managed policies per role' (default 10, at most 20).",
    )


class AdmissionConfig(_Model):
    enabled: bool = Field(
        True,
        strict=True,
        description="Register the admission guard (ValidatingAdmissionPolicies; Kubernetes 1.30 or later).",
    )
    allow_static_credentials_in: list[DnsLabel] = Field(
        default_factory=list,
        description="Namespaces, none of them managed, where an AWS SecretStore may use auth.secretRef (long-lived keys).",
    )
    cluster_rules: Optional[Literal["define", "require"]] = Field(
        None,
        description="The cluster-wide policies exist once per cluster. define: this stack registers them; "
        "require: another stack of the cluster does, and this one reads them at deploy (missing: the "
        "deployment fails naming them). Default: as the last deployment had it; for a new stack, define "
        "with eso.install: true, require with false.",
    )

    @model_validator(mode="after")
    def _listed_once_and_only_when_enabled(self) -> "AdmissionConfig":
        repeated = sorted({ns for ns in self.allow_static_credentials_in if self.allow_static_credentials_in.count(ns) > 1})
        if repeated:
            raise ValueError(f"allowStaticCredentialsIn lists {', '.join(repeated)} more than once")
        if not self.enabled and self.allow_static_credentials_in:
            raise ValueError("allowStaticCredentialsIn has no effect with enabled: false; remove it")
        if not self.enabled and self.cluster_rules is not None:
            raise ValueError("clusterRules has no effect with enabled: false; remove it")
        return self


class ServiceConfig(_Model):
    name: DnsLabel = Field(description="Service name: the {service} of the secret path.")
    namespace: DnsLabel = Field(description="Namespace the Kubernetes Secret is created in.")
    sensitivity_class: str = Field("stable", alias="class", description="Refresh class, see refreshClasses.")
    refresh_interval: Optional[Duration] = Field(None, description="Overrides the class's interval.")
    secret_name: Optional[KubernetesName] = Field(None, description="Kubernetes Secret name; default the service name.")
    keys: Optional[list[Annotated[str, AfterValidator(_matching(_SECRET_KEY, "DATABASE_URL"))]]] = Field(
        None, min_length=1, description="Only these JSON properties; default all of them."
    )
    region: Optional[AwsRegion] = Field(None, description="Region of the secret; default aws:region.")
    renamed_from: Optional[DnsLabel] = Field(
        None,
        description="The name the service was first deployed under: its ExternalSecret and Secret keep that name.",
    )
    on_remove: Literal["delete", "keep"] = Field(
        "delete", description="What removing the service does to its Secret: delete it, or keep it (ESO creationPolicy Orphan)."
    )
    adopt: bool = Field(
        False, strict=True, description="Take over a Secret of the target name that was not created by an ExternalSecret."
    )
    protect: Optional[bool] = Field(
        None, strict=True,
        description="Protect the service's ExternalSecret from deletion (Pulumi's protect); default protectExternalSecrets.",
    )

    @model_validator(mode="after")
    def _not_renamed_from_itself(self) -> "ServiceConfig":
        if self.renamed_from == self.name:
            raise ValueError(f"renamedFrom is the service's own name {self.name!r}; remove renamedFrom")
        return self

    @model_validator(mode="after")
    def _unique_keys(self) -> "ServiceConfig":
        if self.keys is not None:
            repeated = sorted({key for key in self.keys if self.keys.count(key) > 1})
            if repeated:
                raise ValueError(f"keys lists {', '.join(repeated)} more than once")
        return self


class StackConfig(_Model):
    """Everything under the `eso-platform:` namespace of a stack's config."""

    environment: DnsLabel = Field(description="First segment of every secret path, e.g. dev.")
    platform: Optional[StackName] = Field(
        None,
        description="Makes this a tenant stack of the named platform stack: its namespaces use that "
        "stack's cluster, operator and cluster-wide guards, read through a StackReference, and it sets "
        "no cluster, eso, identity or admission of its own.",
    )
    cluster: Optional[ClusterConfig] = Field(
        None, description="Exactly one of name, stackReference or create; a tenant stack has none."
    )
    eso: EsoConfig = Field(default_factory=EsoConfig, description="The operator's chart.")
    identity: Literal["irsa", "podIdentity"] = Field(
        "irsa",
        description="How ESO gets AWS credentials. irsa: each namespace's ServiceAccount assumes its "
        "role through the cluster's IAM OIDC provider. podIdentity: the controller gets an EKS Pod "
        "Identity role that may only assume the namespace roles, each SecretStore names its "
        "namespace's role, and IAM admits a session only for the namespace ESO tags it with "
        "(sessionTagsPolicy: Simple); needs the eks-pod-identity-agent add-on and the admission guard.",
    )
    irsa: IrsaConfig = Field(default_factory=IrsaConfig, description="How roles are shared.")
    admission: AdmissionConfig = Field(
        default_factory=AdmissionConfig, description="The admission guard that keeps every ESO store on IRSA."
    )
    secret_path_template: str = Field(
        "{env}/app/{service}", description="Secret path; placeholders {env}, {namespace}, {service}."
    )
    refresh_classes: dict[DnsLabel, Duration] = Field(
        default_factory=dict, description="Merged over rotating: 10m, stable: 24h."
    )
    force_sync: str = Field("", max_length=253, description="A new value makes every ExternalSecret sync now.")
    protect_external_secrets: bool = Field(
        False, strict=True,
        description="Protect every ExternalSecret from deletion: removing a service or `pulumi destroy` stops, "
        "naming them, until protect is turned off and deployed.",
    )
    services: list[ServiceConfig] = Field(default_factory=list, description="The secrets to deliver.")
