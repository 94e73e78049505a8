"""Bad stack config: every problem named by its field, all at once, before any resource exists."""

import copy
import json
import re

from typing import Optional

import pulumi
import pytest

from components.iam_documents import AwsIdentity, SecretGrant, compact, permission_policy
from components.kubeconfig import DeployingIdentity
from stacks.access import role_specs
from tools.plan.engine import RecordingMonitor, run_program
from stacks.loading import ConfigError, load_stack
from tests.conftest import Mocks, as_pulumi_config, crowded_services, stack_values


def problems_of(values) -> list[str]:
    config = as_pulumi_config(values)
    region = config.pop("aws:region", None)
    project = {key.removeprefix("eso-platform:"): text for key, text in config.items()}
    with pytest.raises(ConfigError) as raised:
        load_stack(project, region)
    return raised.value.problems


def dev_with(**changes):
    values = copy.deepcopy(stack_values("dev"))
    values.update(changes)
    return values


def with_service(index: int, **fields):
    values = dev_with()
    values["services"][index].update(fields)
    return values


def test_committed_stacks_load():
    for stack in ("dev", "prod"):
        values = as_pulumi_config(stack_values(stack))
        region = values.pop("aws:region")
        loaded = load_stack({k.removeprefix("eso-platform:"): v for k, v in values.items()}, region)
        assert loaded.services


@pytest.mark.parametrize(
    "values, expected",
    [
        (with_service(3, refreshInterval="10 minutes"), "services[3].refreshInterval: '10 minutes' is not a duration like 10m or 1h30m"),
        (with_service(0, refreshInterval="1d"), "services[0].refreshInterval: '1d' is not a duration"),
        (with_service(0, refreshInterval="0"), "services[0].refreshInterval: '0' turns refreshing off"),
        (with_service(0, refreshInterval="0s"), "services[0].refreshInterval: '0s' turns refreshing off"),
        (with_service(0, refreshInterval="30s"), "services[0].refreshInterval: '30s' is below the 1m minimum"),
        (with_service(1, name="Backend_Worker"), "services[1].name: 'Backend_Worker' is not a DNS-1123 label"),
        (with_service(1, namespace="-backend"), "services[1].namespace: '-backend' is not a DNS-1123 label"),
        (with_service(2, name="x" * 64), "is not a DNS-1123 label"),
        (with_service(1, **{"class": "rotatin"}), "services[1].class: 'rotatin' is not a refresh class; use one of rotating, stable"),
        (with_service(1, secretName="Backend Worker"), "services[1].secretName: 'Backend Worker' is not a valid Kubernetes name"),
        (with_service(0, keys=["DATABASE_URL", "DATABASE_URL"]), "services[0]: keys lists DATABASE_URL more than once"),
        (with_service(0, keys=["has space"]), "services[0].keys[0]: 'has space' is not valid here"),
        (with_service(0, keys=[]), "services[0].keys: List should have at least 1 item"),
        (with_service(3, region="us-west"), "services[3].region: 'us-west' is not valid here; expected something like us-east-1"),
        (with_service(0, refreshIntreval="10m"), "services[0].refreshIntreval: unknown key; did you mean 'refreshInterval'?"),
        (dev_with(servics=[]), "eso-platform:servics: unknown key; did you mean 'services'?"),
        (dev_with(eso={"controllerServiceAccount": "eso-external-secrets"}), "eso: controllerServiceAccount: only with install: false; the chart this program installs runs the controller as external-secrets"),
        (dev_with(eso={"install": False, "controllerServiceAccount": "Eso"}), "eso.controllerServiceAccount: 'Eso' is not"),
        (dev_with(eso={"replica": 2}), "eso.replica: unknown key; did you mean 'replicas'?"),
        (dev_with(eso={"replicas": 0}), "eso.replicas: Input should be greater than or equal to 1"),
        (dev_with(eso={"chartVersion": "^2.9"}), "eso.chartVersion: '^2.9' is not valid here; expected an exact version: 2.9.0"),
        (dev_with(eso={"chartVersion": "2.4.1"}), "eso.chartVersion: '2.4.1' is not a chart version this program is tested with; use 2.9.0. The program sets chart values and relies on CRDs that other versions may lack or read differently (charts before 2.5.0 have no rbac.serviceAccountTokenCreate"),
        (dev_with(eso={"chartVersion": "2.10.0"}), "eso.chartVersion: '2.10.0' is not a chart version this program is tested with; use 2.9.0."),
        (dev_with(eso={"chartRepository": "http://charts.example.com"}), "eso.chartRepository: 'http://charts.example.com' is plain HTTP: anyone on the path could change the chart the cluster runs; serve the repository over HTTPS, or use an oci:// registry"),
        (dev_with(eso={"chartRepository": "https://reader@charts.example.com"}), "eso.chartRepository: 'https://reader@charts.example.com' is not a chart repository; expected an HTTPS Helm repository such as https://charts.external-secrets.io or an OCI registry path"),
        (dev_with(eso={"chartRepository": "https://charts.example.com/?token=x"}), "is not a chart repository"),
        (dev_with(eso={"chartRepository": "charts.example.com"}), "is not a chart repository"),
        (dev_with(eso={"chartRepository": "oci://registry.example.com"}), "eso.chartRepository: 'oci://registry.example.com' names no repository path; expected oci://<registry>/<path>"),
        (dev_with(eso={"values": {"replicaCount": 3}}), "eso: values.replicaCount: remove it; set eso.replicas instead"),
        (dev_with(eso={"values": {"securityContext": {"runAsNonRoot": False}}}), "eso: values.securityContext: remove it; the chart's hardened defaults must stay"),
        (dev_with(eso={"values": {"crds": None}}), "eso: values.crds: remove it; it keeps the CRDs"),
        (dev_with(eso={"values": {"webhook": {"podSecurityContext": {"enabled": False}}}}), "values.webhook.podSecurityContext: remove it"),
        (dev_with(eso={"values": {"global": {"compatibility": {"openshift": {}}}}}), "values.global.compatibility: remove it"),
        (dev_with(eso={"values": {"serviceAccount": {"annotations": {"eks.amazonaws.com/role-arn": "x"}}}}), "values.serviceAccount: remove it; the controller runs as the chart's ServiceAccount external-secrets"),
        (dev_with(eso={"replicas": True}), "eso.replicas: Input should be a valid integer"),
        (dev_with(eso={"replicas": "2"}), "eso.replicas: Input should be a valid integer"),
        (dev_with(**{"aws:region": "*"}), "aws:region: '*' is not an AWS region like us-east-1"),
        (dev_with(secretPathTemplate="{env}/app/{service!x}"), "secretPathTemplate: {service} has a conversion or format spec"),
        (dev_with(secretPathTemplate="{env}/app/{service:.1}"), "secretPathTemplate: {service} has a conversion or format spec"),
        (dev_with(secretPathTemplate="app/{service}"), "secretPathTemplate: 'app/{service}' has no {env}; without it two environments share secrets"),  # pragma: allowlist secret
        (with_service(0, refreshInterval="\u0661\u0660m"), "is not a duration like 10m"),
        (with_service(0, refreshInterval="2562048h"), "is longer than Go's longest duration"),
        (with_service(0, keys=[".."]), "services[0].keys[0]: '..' is not valid here"),
        (with_service(0, namespace="kube-system"), "services[0].namespace: 'kube-system' belongs to the cluster itself"),
        (dev_with(irsa={"serviceAccountName": "default"}), "irsa.serviceAccountName: 'default' is the ServiceAccount every pod runs as"),
        (dev_with(cluster={"create": {"instanceType": ""}}), "cluster.create.instanceType: '' is not valid here"),
        (dev_with(eso={"values": {"crds": {"annotations": {"helm.sh/resource-policy": "delete"}}}}), "values.crds.annotations: remove it"),
        (dev_with(irsa={"permissionsBoundary": "arn:aws:iam::123456789012:role/boundary"}), "irsa.permissionsBoundary: 'arn:aws:iam::123456789012:role/boundary' is not valid here; expected something like arn:aws:iam::123456789012:policy/eso-boundary"),
        (dev_with(irsa={"permissionsBoundary": "arn:aws-cn:iam::123456789012:policy/eso-boundary"}), "irsa.permissionsBoundary: arn:aws-cn:iam::123456789012:policy/eso-boundary is in partition aws-cn, but aws:region us-east-1 is in aws; use a policy of the aws partition"),
        (dev_with(irsa={"rolePath": "platform/eso"}), "irsa.rolePath: 'platform/eso' is not valid here; expected something like / or /platform/eso/ (IAM's path: begins and ends with /"),
        (dev_with(irsa={"rolePath": "//"}), "irsa.rolePath: '//' is not valid here"),
        (dev_with(irsa={"rolePath": "/a b/"}), "irsa.rolePath: '/a b/' is not valid here"),
        (dev_with(irsa={"rolePath": "/" + "p" * 511 + "/"}), "is not valid here"),
        (dev_with(irsa={"mode": "wildcard"}), "irsa.mode: Input should be 'per-namespace', 'shared' or 'shared-wildcard'"),
        (dev_with(irsa={"kmsKeyArns": ["*"]}), "irsa.kmsKeyArns[0]: '*' is not valid here"),
        (dev_with(irsa={"kmsKeyArns": ["arn:aws:kms:us-east-1:123456789012:alias/app"]}), "irsa.kmsKeyArns[0]"),
        (dev_with(refreshClasses={"rotating": "5 minutes"}), "refreshClasses.rotating: '5 minutes' is not a duration"),
        (dev_with(secretPathTemplate="{env}/app/shared"), "secretPathTemplate: '{env}/app/shared' has no {service}"),
        (dev_with(secretPathTemplate="{env}/{team}/{service}"), "secretPathTemplate: unknown placeholder {team}"),
        (dev_with(secretPathTemplate="{env}/app /{service}"), "secretPathTemplate: renders 'dev/app /backend-api' for services[0]"),
        (dev_with(cluster={}), "cluster: set exactly one of name, stackReference or create (found none)"),
        (dev_with(cluster={"name": "a", "create": {}}), "cluster: set exactly one of name, stackReference or create (found name and create)"),
        (dev_with(cluster={"stackReference": "acme/eks/dev", "name": "x"}), "(found name and stackReference)"),
        (dev_with(cluster={"create": {"version": "1.35", "instance": "t3.small"}}), "cluster.create.instance: unknown key; did you mean 'instanceType'?"),
        (dev_with(cluster={"create": {"version": "1.29"}}), "cluster.create.version: Kubernetes 1.29 is below 1.30, the first to serve admissionregistration.k8s.io/v1 ValidatingAdmissionPolicies, which the Secret guard and the admission guard are; use \"1.35\" or later"),
        (dev_with(cluster={"create": {"version": "1.9"}}), "cluster.create.version: '1.9' is not valid here; expected a minor version like \"1.35\""),
        (dev_with(cluster={"create": {"version": "1.30.2"}}), "cluster.create.version: '1.30.2' is not valid here"),
        (dev_with(forceSync="x" * 254), "forceSync: String should have at most 253 characters"),
        (dev_with(environment="Dev"), "environment: 'Dev' is not a DNS-1123 label"),
        (dev_with(cluster="platform-dev"), "cluster: must be a YAML mapping or list, not the text 'platform-dev'"),
        (dev_with(irsa={"managedPoliciesPerRole": 21}), "irsa.managedPoliciesPerRole: Input should be less than or equal to 20"),
        (dev_with(irsa={"managedPoliciesPerRole": 0}), "irsa.managedPoliciesPerRole: Input should be greater than or equal to 1"),
        (dev_with(eso={"concurrency": 0}), "eso.concurrency: Input should be greater than or equal to 1"),
        (dev_with(eso={"concurrency": 65}), "eso.concurrency: Input should be less than or equal to 64"),
        (dev_with(eso={"values": {"concurrent": 4}}), "eso: values.concurrent: remove it; set eso.concurrency instead"),
        (dev_with(eso={"values": {"extraArgs": {"client-qps": 5}}}), "eso: values.extraArgs: remove it"),
        (dev_with(admission={"enabled": "no"}), "admission.enabled: Input should be a valid boolean"),
        (dev_with(admission={"enable": False}), "admission.enable: unknown key; did you mean 'enabled'?"),
        (dev_with(admission={"allowStaticCredentialsIn": ["Legacy"]}), "admission.allowStaticCredentialsIn[0]: 'Legacy' is not a DNS-1123 label"),
        (dev_with(admission={"allowStaticCredentialsIn": ["legacy", "legacy"]}), "admission: allowStaticCredentialsIn lists legacy more than once"),
        (dev_with(admission={"enabled": False, "allowStaticCredentialsIn": ["legacy"]}), "admission: allowStaticCredentialsIn has no effect with enabled: false; remove it"),
        (dev_with(admission={"allowStaticCredentialsIn": ["legacy", "payments"]}), "admission.allowStaticCredentialsIn[1]: 'payments' is a namespace eso-platform manages, where stores authenticate only as its managed ServiceAccount; remove it"),
        (dev_with(admission="off"), "admission: must be a YAML mapping or list, not the text 'off'"),
        (dev_with(admission={"clusterRules": "own"}), "admission.clusterRules: Input should be 'define' or 'require'"),
        (dev_with(admission={"enabled": False, "clusterRules": "define"}), "admission: clusterRules has no effect with enabled: false; remove it"),
        (
            dev_with(eso={"install": False}, admission={"allowStaticCredentialsIn": ["legacy"]}),
            "admission.allowStaticCredentialsIn: a cluster-wide rule, and this stack requires the cluster-wide policies "
            "that another stack of the cluster defines (eso.install: false); list the namespaces in that stack's config, "
            "or set admission.clusterRules: define if no other stack of this cluster defines them",
        ),
        (
            dev_with(admission={"clusterRules": "require", "allowStaticCredentialsIn": ["legacy"]}),
            "admission.allowStaticCredentialsIn: a cluster-wide rule",
        ),
    ],
)
def test_each_bad_input_names_its_field(values, expected):
    problems = problems_of(values)
    assert any(expected in problem for problem in problems), problems


@pytest.mark.parametrize(
    "values, path, reason",
    [
        ({"serviceAccount": {"name": "node-role-account"}}, "serviceAccount", "the controller runs as the chart's ServiceAccount external-secrets"),
        ({"serviceAccount": {"create": False}}, "serviceAccount", "the controller runs as the chart's ServiceAccount external-secrets"),
        ({"fullnameOverride": "eso"}, "fullnameOverride", "each tenant's token grant names that account"),
        ({"namespaceOverride": "kube-system"}, "namespaceOverride", "each tenant's token grant names that account"),
        ({"extraEnv": [{"name": "AWS_EC2_METADATA_DISABLED", "value": "false"}]}, "extraEnv", "AWS_EC2_METADATA_DISABLED=true"),
        ({"extraEnv": [{"name": "AWS_ROLE_ARN", "value": "arn:aws:iam::123456789012:role/node"}]}, "extraEnv", "no AWS identity of their own"),
        ({"extraArgs": {"enable-cluster-store-reconciler": "true"}}, "extraArgs", "flags change how the controller authenticates"),
        ({"extraVolumes": [{"name": "aws", "secret": {"secretName": "aws-credentials"}}]}, "extraVolumes", "no AWS identity of their own"),
        ({"extraVolumeMounts": [{"name": "aws", "mountPath": "/.aws"}]}, "extraVolumeMounts", "no AWS identity of their own"),
        ({"extraContainers": [{"name": "proxy", "image": "x"}]}, "extraContainers", "shares its Kubernetes identity"),
        ({"extraInitContainers": [{"name": "init", "image": "x"}]}, "extraInitContainers", "shares its Kubernetes identity"),
        ({"podSpecExtra": {"serviceAccountName": "other"}}, "podSpecExtra", "shares its Kubernetes identity"),
        ({"podAnnotations": {"iam.amazonaws.com/role": "node"}}, "podAnnotations.iam.amazonaws.com/role", "no AWS identity of their own"),
        ({"global": {"podAnnotations": {"iam.amazonaws.com/role": "node"}}}, "global.podAnnotations.iam.amazonaws.com/role", "no AWS identity of their own"),
        ({"hostAliases": [{"ip": "10.0.0.1", "hostnames": ["sts.us-east-1.amazonaws.com"]}]}, "hostAliases", "redirect the STS and Secrets Manager endpoints"),
        ({"dnsConfig": {"nameservers": ["10.0.0.1"]}}, "dnsConfig", "redirect the STS and Secrets Manager endpoints"),
        ({"rbac": {"serviceAccountTokenCreate": True}}, "rbac.serviceAccountTokenCreate", "tokens only for tenant ServiceAccounts"),
        ({"rbac": {"aggregateToEdit": True}}, "rbac.aggregateToEdit", "namespace editors and admins may not create SecretStores"),
        ({"rbac": {"aggregateToAdmin": True}}, "rbac.aggregateToAdmin", "namespace editors and admins may not create SecretStores"),
        ({"rbac": None}, "rbac", "tokens only for tenant ServiceAccounts"),
        ({"extraObjects": [{"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding"}]}, "extraObjects", "could grant what the program withholds"),
        ({"genericTargets": {"enabled": True}}, "genericTargets", "rights over kinds of objects other than Secrets"),
        ({"processPushSecret": True}, "processPushSecret", "set eso.reconcilers instead"),
        ({"processClusterPushSecret": True}, "processClusterPushSecret", "set eso.reconcilers instead"),
        ({"processClusterExternalSecret": True}, "processClusterExternalSecret", "set eso.reconcilers instead"),
        ({"processClusterGenerator": False}, "processClusterGenerator", "set eso.reconcilers instead"),
        ({"metrics": {"listen": {"auth": {"enabled": True}}}}, "metrics.listen.auth", "long-lived token Secret"),
        ({"certController": {"metrics": {"listen": {"auth": {"enabled": True}}}}}, "certController.metrics.listen.auth", "long-lived token Secret"),
        ({"webhook": {"serviceAccount": {"annotations": {"eks.amazonaws.com/role-arn": "x"}}}}, "webhook.serviceAccount", "no AWS identity of their own"),
        ({"certController": {"extraEnv": [{"name": "AWS_ACCESS_KEY_ID", "value": "x"}]}}, "certController.extraEnv", "no AWS identity of their own"),
    ],
)
def test_chart_values_that_would_give_eso_an_identity_are_refused_with_the_reason(values, path, reason):
    problems = problems_of(dev_with(eso={"values": values}))
    assert any(problem.startswith(f"eso: values.{path}: remove it;") and reason in problem for problem in problems), problems


@pytest.mark.parametrize(
    "eso, expected",
    [
        ({"reconcilers": ["ClusterPushSecret"]}, "reconcilers: ClusterPushSecret needs PushSecret"),
        ({"reconcilers": ["PushSecret", "PushSecret"]}, "reconcilers: each kind once"),
        ({"reconcilers": ["PushSecret"], "values": {"crds": {"createPushSecret": False}}}, "values.crds.createPushSecret is false"),
        ({"reconcilers": ["ClusterGenerator"], "install": False}, "reconcilers: only with install: true"),
        ({"reconcilers": ["SecretStore"]}, "eso.reconcilers[0]: Input should be 'PushSecret'"),
    ],
)
def test_reconcilers_the_chart_cannot_run_are_refused(eso, expected):
    problems = problems_of(dev_with(eso=eso))
    assert any(expected in problem for problem in problems), problems


def test_chart_values_that_change_no_identity_are_accepted():
    values = dev_with(eso={"values": {"podAnnotations": {"prometheus.io/scrape": "true"}, "podLabels": {"team": "platform"},
                                      "deploymentAnnotations": {"owner": "platform"}, "rbac": {"aggregateToView": False},
                                      "metrics": {"service": {"enabled": True}}}})
    config = as_pulumi_config(values)
    region = config.pop("aws:region")
    load_stack({k.removeprefix("eso-platform:"): v for k, v in config.items()}, region)


def test_missing_required_keys_are_named_with_their_purpose():
    values = dev_with()
    del values["environment"], values["cluster"], values["aws:region"]
    problems = problems_of(values)
    assert "environment: required; First segment of every secret path, e.g. dev." in problems
    assert (
        "cluster: required; set exactly one of name, stackReference or create, or make this a tenant stack "
        "with platform: <org/project/stack> of its platform stack"
    ) in problems
    assert "aws:region: required; set it with `pulumi config set aws:region us-east-1`" in problems


def test_secret_config_is_refused_because_the_config_holds_only_names():
    config = as_pulumi_config(stack_values("dev"))
    region = config.pop("aws:region")
    project = {k.removeprefix("eso-platform:"): v for k, v in config.items()}
    with pytest.raises(ConfigError) as raised:
        load_stack(project, region, secret_keys=["forceSync"])
    assert raised.value.problems == [
        "eso-platform:forceSync: is set as a secret, but this program's config holds only names; "
        "set it in plain text with `pulumi config set forceSync ...`"
    ]


def test_duplicates_and_collisions():
    values = dev_with()
    backend_api = values["services"][0]
    values["services"] += [
        dict(backend_api),
        {"name": "other", "namespace": "backend", "secretName": "backend-api-env"},
        {"name": "web", "namespace": "marketing"},
        {"name": "eso-reader", "namespace": "external-secrets"},
    ]
    problems = problems_of(values)
    assert "services[5].name: 'backend-api' is already listed in namespace 'backend' at services[0]; remove one of them" in problems
    assert (
        "services[6].secretName: Secret 'backend-api-env' in namespace 'backend' is already written by services[0]; "
        "set a different secretName" in problems
    )
    assert any(p.startswith("services[7].name: secret path 'dev/app/web' is also the path of services[4]") for p in problems)
    assert any(p.startswith("services[8].namespace: 'external-secrets' is the operator's namespace") for p in problems)


def test_same_service_name_in_two_namespaces_is_fine_when_the_path_has_the_namespace():
    values = dev_with(secretPathTemplate="{env}/{namespace}/{service}")
    values["services"].append({"name": "web", "namespace": "marketing"})
    config = as_pulumi_config(values)
    region = config.pop("aws:region")
    stack = load_stack({k.removeprefix("eso-platform:"): v for k, v in config.items()}, region)
    paths = {(s.namespace, s.name): s.secret_path for s in stack.services}
    assert paths[("marketing", "web")] == "dev/marketing/web"
    assert paths[("frontend", "web")] == "dev/frontend/web"


def test_every_problem_is_reported_at_once():
    values = with_service(0, refreshInterval="10 minutes", name="Bad")
    values["services"][1]["class"] = "nope"
    values["eso"] = {"replicas": -1}
    values["secretPathTemplate"] = "{env}/x"
    problems = problems_of(values)
    fields = sorted(problem.split(":")[0] for problem in problems)
    assert fields == [
        "eso.replicas",
        "secretPathTemplate",
        "services[0].name",
        "services[0].refreshInterval",
        "services[1].class",
    ]


def crowded(count: int, **irsa) -> dict:
    """`count` services with names of one length in namespace crowded."""
    values = dev_with(irsa={**stack_values("dev")["irsa"], **irsa})
    values["services"] = crowded_services(count)
    return values


def load(values):
    config = as_pulumi_config(values)
    region = config.pop("aws:region")
    return load_stack({k.removeprefix("eso-platform:"): v for k, v in config.items()}, region)


# Secret paths near Secrets Manager's 512 characters: few secrets fill a managed policy.
LONG_PATHS = "{env}/app/" + "p" * 400 + "/{service}"


def policies_of_crowded(count: int, template: Optional[str] = None) -> int:
    """The managed policies a crowded namespace needs, as the role plan lays them out under IAM's
    highest quota, or as the refusal beyond it says."""
    values = crowded(count, managedPoliciesPerRole=20)
    if template:
        values["secretPathTemplate"] = template
    try:
        (spec,) = role_specs(load(values))
    except ConfigError as error:
        (needed,) = re.findall(r"need ([0-9]+) managed policies", str(error))
        return int(needed)
    return 0 if spec.read_policies.inline else len(spec.read_policies.buckets)


def fewest_services_needing(policies: int, template: Optional[str] = None) -> int:
    """The smallest crowded namespace whose grants need `policies` managed policies (the count
    only grows with the namespace: a grant added only adds to its bucket)."""
    low, high = 1, 64
    while policies_of_crowded(high, template) < policies:
        low, high = high, high * 2
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (low, middle) if policies_of_crowded(middle, template) >= policies else (middle, high)
    return high


def test_grants_past_the_inline_limit_are_spread_over_a_power_of_two_of_managed_policies_up_to_the_quota():
    past_inline = fewest_services_needing(1)
    assert policies_of_crowded(past_inline - 1) == 0 and policies_of_crowded(past_inline) in (2, 4)
    # 8 fit the default quota of 10; the 16 the next service needs do not, refused with the numbers.
    sixteen = fewest_services_needing(16)
    assert policies_of_crowded(sixteen - 1) == 8
    values = crowded(sixteen)
    # The size check's cluster: us-east-1's partition, the longest issuer id.
    identity = AwsIdentity.from_oidc_provider_arn(
        "arn:aws:iam::000000000000:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/" + "F" * 32
    )
    grants = [SecretGrant("us-east-1", f"dev/app/{service['name']}") for service in values["services"]]
    document_size = len(compact(permission_policy(identity, grants, [])))
    assert problems_of(values) == [
        f"services (namespace crowded): the exact grants of role eso-dev.crowded ({sixteen} secrets, "
        f"{document_size} characters in one document, over the 10240 of "
        "inline policies) need 16 managed policies of at most 6144 characters (a power of two: each secret's "
        "policy is chosen by a hash of its path, so that adding or removing one changes one policy), over "
        "irsa.managedPoliciesPerRole = 10; raise the IAM quota 'Managed policies per role' (at most 20) and set "
        "irsa.managedPoliciesPerRole to 16, or move some services to another namespace or stack"
    ]
    (spec,) = role_specs(load(crowded(sixteen, managedPoliciesPerRole=16)))
    assert len(spec.read_policies.buckets) == 16
    # 32 is over IAM's highest quota of 20: only fewer services help.
    thirty_two = fewest_services_needing(32, LONG_PATHS)
    values = crowded(thirty_two, managedPoliciesPerRole=20)
    values["secretPathTemplate"] = LONG_PATHS
    (problem,) = problems_of(values)
    assert "need 32 managed policies" in problem and "over irsa.managedPoliciesPerRole = 20" in problem
    assert problem.endswith("; move some services to another namespace or stack")


def test_a_namespace_that_fits_inline_keeps_one_inline_policy():
    assert policies_of_crowded(10) == 0


def test_every_oversized_role_is_reported_at_once():
    # Twice the fewest: the other paths below hash into other buckets, so the threshold moves.
    count = 2 * fewest_services_needing(16)
    values = crowded(count)
    values["services"] += crowded_services(count, "busy")
    values["secretPathTemplate"] = "{env}/{namespace}/{service}"
    problems = problems_of(values)
    assert [p.split(":")[0] for p in problems] == ["services (namespace busy)", "services (namespace crowded)"]


def test_oversized_shared_trust_policy_is_refused():
    values = dev_with(irsa={"mode": "shared"})
    values["services"] = [{"name": "app", "namespace": f"team-{i:02d}-{'n' * 30}"} for i in range(40)]
    values["secretPathTemplate"] = "{env}/{namespace}/{service}"
    problems = problems_of(values)
    assert any(p.startswith("irsa.mode: the trust policy of role eso-dev-shared is") for p in problems), problems


def test_bad_config_stops_the_program_before_any_resource_with_run_error():
    values = with_service(3, refreshInterval="10 minutes")
    values["services"][0]["name"] = "Bad"
    monitor = RecordingMonitor(Mocks())
    with pytest.raises(pulumi.RunError) as raised:
        run_program(as_pulumi_config(values), "dev", Mocks(), monitor=monitor)
    message = str(raised.value)
    assert message.startswith("stack config has 2 problems:\n")
    assert "  - services[3].refreshInterval: '10 minutes' is not a duration like 10m or 1h30m" in message
    assert "Traceback" not in message
    assert monitor.registrations == []


KEY_US_EAST_1 = "arn:aws:kms:us-east-1:123456789012:key/0b7c6f1e-3f1a-4c55-9a3e-5d2c1e8f9a10"
MRK = "mrk-4c1f0e2b9d7a4e6f8a3b5c7d9e1f2a3b"


def prod_with_keys(keys: list[str]):
    values = copy.deepcopy(stack_values("prod"))
    values["irsa"]["kmsKeyArns"] = keys
    return values


def test_kms_keys_must_cover_every_region_that_holds_secrets():
    problems = problems_of(prod_with_keys([KEY_US_EAST_1]))
    assert problems == [
        "irsa.kmsKeyArns: no key in eu-west-1, where services[4] (payments-ledger-replica) keep their secrets: "
        "KMS keys are regional, so those secrets would not decrypt; add the ARN of the key in eu-west-1 that encrypts them",
        "irsa.kmsKeyArns: no key in us-west-2, where services[3] (payments-ledger) keep their secrets: "
        "KMS keys are regional, so those secrets would not decrypt; add the ARN of the key in us-west-2 that encrypts them",
    ]


def test_the_default_region_holds_secrets_too():
    problems = problems_of(prod_with_keys([f"arn:aws:kms:{region}:123456789012:key/{MRK}" for region in ("us-west-2", "eu-west-1")]))
    assert len(problems) == 1
    assert problems[0].startswith(
        "irsa.kmsKeyArns: no key in us-east-1, where services[0] (backend-api), services[1] (backend-worker), "
        "services[2] (payments) and 2 more keep their secrets"
    )
    assert problems[0].endswith(f"add the replica of each multi-Region key that encrypts them there, e.g. arn:aws:kms:us-east-1:123456789012:key/{MRK}")


def test_a_multi_region_key_covers_only_the_regions_whose_replicas_are_listed():
    primary = f"arn:aws:kms:us-east-1:123456789012:key/{MRK}"
    problems = problems_of(prod_with_keys([primary, f"arn:aws:kms:us-west-2:123456789012:key/{MRK}"]))
    assert problems == [
        "irsa.kmsKeyArns: no key in eu-west-1, where services[4] (payments-ledger-replica) keep their secrets: "
        "KMS keys are regional, so those secrets would not decrypt; add the replica of each multi-Region key that "
        f"encrypts them there, e.g. arn:aws:kms:eu-west-1:123456789012:key/{MRK}"
    ]
    config = as_pulumi_config(prod_with_keys([primary] + [f"arn:aws:kms:{r}:123456789012:key/{MRK}" for r in ("us-west-2", "eu-west-1")]))
    region = config.pop("aws:region")
    stack = load_stack({k.removeprefix("eso-platform:"): v for k, v in config.items()}, region)
    assert len(stack.irsa.kms_key_arns) == 3


def test_no_kms_keys_means_the_aws_managed_key_and_needs_none_per_region():
    config = as_pulumi_config(prod_with_keys([]))
    region = config.pop("aws:region")
    assert load_stack({k.removeprefix("eso-platform:"): v for k, v in config.items()}, region).irsa.kms_key_arns == []


@pytest.mark.parametrize(
    "keys, expected",
    [
        (
            [KEY_US_EAST_1, f"arn:aws:kms:us-west-2:123456789012:key/{MRK}", f"arn:aws:kms:eu-west-1:123456789012:key/{MRK}",
             "arn:aws:kms:ap-south-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"],
            "irsa.kmsKeyArns[3]: arn:aws:kms:ap-south-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab is in "
            "ap-south-1, where no service keeps a secret, so no role may use it; remove it or correct its region",
        ),
        (
            ["arn:aws-cn:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"],
            "irsa.kmsKeyArns[0]: arn:aws-cn:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab names "
            "partition aws-cn, but us-east-1 is in aws",
        ),
    ],
)
def test_kms_keys_must_be_usable_where_they_are(keys, expected):
    assert expected in problems_of(prod_with_keys(keys))


def test_a_secret_in_another_partition_is_refused():
    problems = problems_of(with_service(3, region="cn-north-1"))
    assert problems == [
        "services[3].region: cn-north-1 is in partition aws-cn, but aws:region us-east-1 is in aws; "
        "a role reads only its own partition's secrets"
    ]


DEPLOYER = "arn:aws:iam::123456789012:role/deployer"


def load_dev_with_provider(provider: dict[str, str]):
    config = as_pulumi_config(stack_values("dev"))
    region = config.pop("aws:region")
    return load_stack({k.removeprefix("eso-platform:"): v for k, v in config.items()}, region, aws_provider=provider)


def test_the_aws_providers_profile_role_and_files_become_the_deploying_identity():
    stack = load_dev_with_provider(
        {
            "profile": "platform",
            "assumeRoles": json.dumps([{"roleArn": DEPLOYER, "sessionName": "pulumi"}]),
            "sharedConfigFiles": json.dumps(["/etc/aws/config"]),
            "sharedCredentialsFiles": json.dumps(["/etc/aws/credentials"]),
        }
    )
    assert stack.deploying_identity == DeployingIdentity("platform", DEPLOYER, "/etc/aws/config", "/etc/aws/credentials")
    assert load_dev_with_provider({}).deploying_identity == DeployingIdentity()


@pytest.mark.parametrize(
    "provider, expected",
    [
        ({"assumeRoles": json.dumps([{"roleArn": DEPLOYER}, {"roleArn": DEPLOYER + "-2"}])},
         "aws:assumeRoles: lists 2 roles, but `aws eks get-token` assumes one; chain them in an AWS CLI profile"),
        ({"assumeRoles": json.dumps([{"roleArn": DEPLOYER, "externalId": "x"}])},
         "aws:assumeRoles[0].externalId: `aws eks get-token` cannot pass an external ID; put it in an AWS CLI profile"),
        ({"assumeRoles": json.dumps([{"sessionName": "x"}])}, "aws:assumeRoles[0].roleArn: required, an IAM role ARN"),
        ({"assumeRoles": "deployer"}, "aws:assumeRoles: must be a YAML list"),
        ({"assumeRole": json.dumps({"roleArn": DEPLOYER})}, "aws:assumeRole: pulumi-aws 7 reads aws:assumeRoles, a list"),
        ({"accessKey": "[secret]"}, "aws:accessKey: the kubeconfig's `aws eks get-token` cannot use static access keys"),
        ({"assumeRoleWithWebIdentity": json.dumps({"roleArn": DEPLOYER})}, "aws:assumeRoleWithWebIdentity: the kubeconfig's"),
        ({"sharedConfigFiles": json.dumps(["/a", "/b"])}, "aws:sharedConfigFiles: lists 2 files, but the AWS CLI reads one"),
    ],
)
def test_provider_identities_the_kubeconfig_cannot_carry_are_refused(provider, expected):
    with pytest.raises(ConfigError) as raised:
        load_dev_with_provider(provider)
    assert any(expected in problem for problem in raised.value.problems), raised.value.problems




@pytest.mark.parametrize(
    "change, expected",
    [
        ({"protectExternalSecrets": "yes"}, "protectExternalSecrets: must be true or false, not 'yes'"),  # pragma: allowlist secret
        ({"services": [{"name": "api", "namespace": "backend", "protect": "true"}]}, "services[0].protect:"),
    ],
)
def test_protect_takes_booleans_only(change, expected):
    values = {**stack_values("dev"), **change}
    with pytest.raises(ConfigError) as raised:
        load(values)
    assert any(problem.startswith(expected) for problem in raised.value.problems), raised.value.problems
