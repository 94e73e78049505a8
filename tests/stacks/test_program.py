"""The whole program (`__main__.py`) on the committed stacks and on variations of them."""

import copy
import re
import json
from collections import Counter
from typing import Any

import pulumi
import pytest
import yaml

from components.resource_types import (
    EXTERNAL_SECRET,
    NAMESPACE,
    RELEASE,
    ROLE,
    ROLE_POLICY,
    SECRET_STORE,
    SERVICE_ACCOUNT,
    TOKEN_ROLE,
    TOKEN_ROLE_BINDING,
)
from tools.plan.engine import ProgramRun, run_program
from tools.plan.render import as_text
from tests.conftest import AWS_CLI_KUBECONFIG, PULUMI_EKS_KUBECONFIG, Mocks, RevealingMonitor, as_pulumi_config, stack_values

CONTROLLER = {"kind": "ServiceAccount", "name": "external-secrets", "namespace": "external-secrets"}
ISSUER = "oidc.eks.us-east-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE"


def trust(run: ProgramRun, role: str) -> dict:
    return json.loads(run.named(f"{role}-role").inputs["assumeRolePolicy"])


def permission(run: ProgramRun, role: str) -> dict:
    return json.loads(run.named(f"{role}-read-secrets").inputs["policy"])


def readable(run: ProgramRun, role: str) -> list[str]:
    return permission(run, role)["Statement"][0]["Resource"]


def arn(path: str, region: str = "us-east-1") -> str:
    return f"arn:aws:secretsmanager:{region}:123456789012:secret:{path}-??????"


def dev_with(**changes):
    values = copy.deepcopy(stack_values("dev"))
    values.update(changes)
    return values


def test_dev_registers_one_role_store_and_secret_per_need(dev_run):
    counts = Counter(r.type for r in dev_run.resources)
    assert counts[ROLE] == 3 and counts[ROLE_POLICY] == 3
    assert counts[SERVICE_ACCOUNT] == 3
    assert counts[NAMESPACE] == 4  # three tenants and the operator's
    assert counts[SECRET_STORE] == 4  # payments reads from two regions
    assert counts[EXTERNAL_SECRET] == 5
    assert counts[RELEASE] == 1


def test_each_namespace_role_trusts_only_its_own_service_account(dev_run):
    for namespace in ("backend", "frontend", "payments"):
        statement = trust(dev_run, f"irsa-{namespace}")["Statement"]
        assert len(statement) == 1
        document = dev_run.named(f"irsa-{namespace}-role").inputs["assumeRolePolicy"]
        assert statement[0]["Action"] == "sts:AssumeRoleWithWebIdentity"
        federated = statement[0]["Principal"]["Federated"]
        assert federated.startswith("arn:aws:iam::123456789012:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/")
        host = federated.split("oidc-provider/")[1]
        assert statement[0]["Condition"] == {
            "StringEquals": {
                f"{host}:aud": "sts.amazonaws.com",
                f"{host}:sub": f"system:serviceaccount:{namespace}:external-secret-operator",
            }
        }
        assert "StringLike" not in document and "*" not in document


def test_each_namespace_role_reads_exactly_its_services_secrets(dev_run):
    assert readable(dev_run, "irsa-backend") == [arn("dev/app/backend-api"), arn("dev/app/backend-worker")]
    assert readable(dev_run, "irsa-frontend") == [arn("dev/app/web")]
    assert readable(dev_run, "irsa-payments") == [arn("dev/app/payments"), arn("dev/app/payments-ledger", "us-west-2")]
    for role in ("irsa-backend", "irsa-frontend", "irsa-payments"):
        statements = permission(dev_run, role)["Statement"]
        assert len(statements) == 1  # no KMS keys configured in dev
        # The one call ESO makes, for the current version only.
        assert statements[0]["Action"] == ["secretsmanager:GetSecretValue"]
        assert statements[0]["Condition"] == {
            "StringEquals": {"secretsmanager:VersionStage": "AWSCURRENT"},
            "Null": {"secretsmanager:VersionId": "true"},
        }


def test_role_names_are_deterministic_per_environment_and_namespace(dev_run, prod_run):
    dev_names = sorted(r.inputs["name"] for r in dev_run.of_type(ROLE))
    prod_names = sorted(r.inputs["name"] for r in prod_run.of_type(ROLE))
    assert dev_names == ["eso-dev.backend", "eso-dev.frontend", "eso-dev.payments"]
    assert "eso-prod.search" in prod_names and not set(dev_names) & set(prod_names)


def test_service_accounts_carry_their_namespace_role(dev_run):
    for namespace in ("backend", "frontend", "payments"):
        account = dev_run.named(f"tenant-{namespace}-service-account").inputs
        assert account["metadata"]["name"] == "external-secret-operator"
        assert account["metadata"]["namespace"] == namespace
        assert account["metadata"]["annotations"] == {
            "eks.amazonaws.com/role-arn": f"arn:aws:iam::123456789012:role/eso-dev.{namespace}"
        }
        assert account["automountServiceAccountToken"] is False


def test_secret_stores_use_jwt_auth_per_region(dev_run):
    store = dev_run.named("tenant-payments/us-west-2").inputs
    assert store["apiVersion"] == "external-secrets.io/v1"
    assert store["metadata"] == {
        "name": "aws-secretsmanager-us-west-2",
        "namespace": "payments",
        "labels": {
            "app.kubernetes.io/managed-by": "pulumi",
            "app.kubernetes.io/part-of": "eso-platform",
            "eso-platform/environment": "dev",
            "eso-platform/namespace": "payments",
        },
    }
    assert store["spec"] == {
        "provider": {
            "aws": {
                "service": "SecretsManager",
                "region": "us-west-2",
                "auth": {"jwt": {"serviceAccountRef": {"name": "external-secret-operator"}}},
            }
        }
    }


def test_external_secrets_follow_class_override_keys_and_region(dev_run):
    api = dev_run.named("tenant-backend/backend-api").inputs
    assert api["spec"]["refreshInterval"] == "10m"  # rotating
    assert api["spec"]["target"] == {"name": "backend-api-env", "creationPolicy": "Owner"}
    assert api["spec"]["data"] == [
        {"secretKey": "DATABASE_URL", "remoteRef": {"key": "dev/app/backend-api", "property": "DATABASE_URL"}},
        {"secretKey": "API_KEY", "remoteRef": {"key": "dev/app/backend-api", "property": "API_KEY"}},
    ]
    assert "dataFrom" not in api["spec"] and "force-sync" not in api["metadata"]["annotations"]
    worker = dev_run.named("tenant-backend/backend-worker").inputs["spec"]
    assert worker["refreshInterval"] == "24h"  # stable, the default class
    assert worker["dataFrom"] == [{"extract": {"key": "dev/app/backend-worker"}}]
    assert worker["target"]["name"] == "backend-worker"
    assert dev_run.named("tenant-payments/payments").inputs["spec"]["refreshInterval"] == "30m"  # override
    ledger = dev_run.named("tenant-payments/payments-ledger").inputs["spec"]
    assert ledger["secretStoreRef"] == {"name": "aws-secretsmanager-us-west-2", "kind": "SecretStore"}


def test_every_eso_object_waits_for_the_operator_release_and_its_role_policy(dev_run):
    for resource in dev_run.of_type(EXTERNAL_SECRET) + dev_run.of_type(SECRET_STORE):
        namespace = resource.inputs["metadata"]["namespace"]
        assert "eso-chart" in resource.dependencies, resource.name
        assert f"irsa-{namespace}-read-secrets" in resource.dependencies, resource.name
        assert f"tenant-{namespace}-token-binding" in resource.dependencies, resource.name


def test_namespaces_are_adopted_and_never_deleted(dev_run):
    for namespace in dev_run.of_type(NAMESPACE):
        assert namespace.retain_on_delete, namespace.name
        assert namespace.provider == "cluster-k8s-namespaces"
    for resource in dev_run.of_type(EXTERNAL_SECRET) + dev_run.of_type(SERVICE_ACCOUNT) + dev_run.of_type(RELEASE):
        assert resource.provider == "cluster-k8s"


def test_outputs_name_roles_stores_and_secrets(dev_run):
    outputs = dev_run.outputs
    assert outputs["namespaces"]["payments"] == {
        "roleArn": "arn:aws:iam::123456789012:role/eso-dev.payments",
        "serviceAccount": "external-secret-operator",
        "secretStores": {"us-east-1": "aws-secretsmanager-us-east-1", "us-west-2": "aws-secretsmanager-us-west-2"},
    }
    assert outputs["services"]["backend/backend-api"] == {
        "secretPath": "dev/app/backend-api",
        "region": "us-east-1",
        "kubernetesSecret": "backend-api-env",
        "refreshInterval": "10m",
        "externalSecret": "backend-api",
        "onRemove": "delete",
        "protect": False,
    }
    assert sorted(outputs["services"]) == [
        "backend/backend-api",
        "backend/backend-worker",
        "frontend/web",
        "payments/payments",
        "payments/payments-ledger",
    ]
    assert outputs["operator"] == {"namespace": "external-secrets", "chartVersion": "2.9.0", "installed": True, "onRemove": "uninstall"}


@pytest.mark.parametrize(
    "repository, chart, repository_opts, shown",
    [
        ("https://charts.mirror.example.com/eso", "external-secrets", {"repo": "https://charts.mirror.example.com/eso"},
         "chart external-secrets 2.9.0 from https://charts.mirror.example.com/eso in namespace"),
        ("oci://registry.example.com:5000/mirror/charts/", "oci://registry.example.com:5000/mirror/charts/external-secrets", None,
         "chart oci://registry.example.com:5000/mirror/charts/external-secrets 2.9.0 in namespace"),
    ],
)
def test_the_chart_comes_from_the_configured_repository(run_stack, repository, chart, repository_opts, shown):
    values = stack_values("dev")
    values["eso"] = {**values["eso"], "chartRepository": repository}
    run = run_stack(values)
    release = run.named("eso-chart").inputs
    assert (release["chart"], release["version"], release.get("repositoryOpts")) == (chart, "2.9.0", repository_opts)
    assert shown in as_text(run)


def test_prod_runs_two_replicas_with_leader_election_and_kms(prod_run):
    release = prod_run.named("eso-chart").inputs
    assert release["chart"] == "external-secrets" and release["version"] == "2.9.0"
    assert release["repositoryOpts"] == {"repo": "https://charts.external-secrets.io"}
    values = release["values"]
    assert values["replicaCount"] == 2 and values["leaderElect"] is True
    assert values["podDisruptionBudget"] == {"enabled": True, "minAvailable": 1}
    assert values["crds"]["annotations"] == {"helm.sh/resource-policy": "keep"}
    assert values["resources"] == {"requests": {"cpu": "50m", "memory": "64Mi"}}
    mrk = "mrk-4c1f0e2b9d7a4e6f8a3b5c7d9e1f2a3b"
    keys = {
        "us-east-1": "arn:aws:kms:us-east-1:123456789012:key/0b7c6f1e-3f1a-4c55-9a3e-5d2c1e8f9a10",
        "us-west-2": f"arn:aws:kms:us-west-2:123456789012:key/{mrk}",
        "eu-west-1": f"arn:aws:kms:eu-west-1:123456789012:key/{mrk}",
    }
    decrypts = permission(prod_run, "irsa-payments")["Statement"][1:]
    assert [d["Sid"] for d in decrypts] == [
        "DecryptThroughSecretsManagerEuWest1",
        "DecryptThroughSecretsManagerUsEast1",
        "DecryptThroughSecretsManagerUsWest2",
    ]
    for decrypt, region in zip(decrypts, ("eu-west-1", "us-east-1", "us-west-2")):
        assert decrypt["Action"] == "kms:Decrypt"
        assert decrypt["Resource"] == [keys[region]]
        assert decrypt["Condition"] == {
            "StringEquals": {"kms:ViaService": f"secretsmanager.{region}.amazonaws.com"},
            "StringLike": {
                "kms:EncryptionContext:SecretARN": [a for a in readable(prod_run, "irsa-payments") if f":{region}:" in a]
            },
        }
    # A namespace with secrets in one region is granted only that region's key.
    (backend_decrypt,) = permission(prod_run, "irsa-backend")["Statement"][1:]
    assert backend_decrypt["Resource"] == [keys["us-east-1"]]
    assert len(readable(prod_run, "irsa-payments")) == 3
    assert prod_run.named("tenant-payments/payments").inputs["spec"]["refreshInterval"] == "2h"
    assert prod_run.named("tenant-search/search").inputs["spec"]["refreshInterval"] == "72h"


def test_dev_keeps_single_replica_without_leader_election(dev_run):
    values = dev_run.named("eso-chart").inputs["values"]
    assert values["replicaCount"] == 1 and values["leaderElect"] is False
    assert values["podDisruptionBudget"]["enabled"] is False
    assert "securityContext" not in values and "podSecurityContext" not in values


def test_the_release_runs_no_reconciler_the_program_does_not_use_until_one_is_opted_in(dev_run, run_stack):
    values = dev_run.named("eso-chart").inputs["values"]
    switches = ("processPushSecret", "processClusterPushSecret", "processClusterExternalSecret", "processClusterGenerator")
    assert [values[switch] for switch in switches] == [False] * 4
    assert not [w for w in dev_run.warnings if w.startswith("eso.reconcilers")]
    run = run_stack(dev_with(eso={"reconcilers": ["ClusterGenerator", "PushSecret"]}))
    values = run.named("eso-chart").inputs["values"]
    assert [values[switch] for switch in switches] == [True, False, False, True]
    # Each widening is warned, in the order the stack lists it, in the preview and the plan.
    assert [w.split(":")[0] for w in run.warnings if w.startswith("eso.reconcilers")] == [
        "eso.reconcilers ClusterGenerator",
        "eso.reconcilers PushSecret",
    ]
    assert "eso.reconcilers PushSecret: the controller writes Kubernetes Secrets to providers" in as_text(run)


def test_force_sync_annotates_every_external_secret(run_stack):
    run = run_stack(dev_with(forceSync="2026-11-29T10:00"))
    secrets = run.of_type(EXTERNAL_SECRET)
    assert len(secrets) == 5
    for secret in secrets:
        assert secret.inputs["metadata"]["annotations"] == {"force-sync": "2026-11-29T10:00", "pulumi.com/patchForce": "true"}


def test_shared_mode_uses_one_role_trusting_the_listed_accounts(run_stack):
    run = run_stack(dev_with(irsa={"mode": "shared"}))
    roles = run.of_type(ROLE)
    assert [r.inputs["name"] for r in roles] == ["eso-dev-shared"]
    condition = trust(run, "irsa-shared")["Statement"][0]["Condition"]
    assert list(condition) == ["StringEquals"]
    subjects = [v for k, v in condition["StringEquals"].items() if k.endswith(":sub")][0]
    assert subjects == [
        "system:serviceaccount:backend:external-secret-operator",
        "system:serviceaccount:frontend:external-secret-operator",
        "system:serviceaccount:payments:external-secret-operator",
    ]
    assert len(readable(run, "irsa-shared")) == 5
    arns = {a.inputs["metadata"]["annotations"]["eks.amazonaws.com/role-arn"] for a in run.of_type(SERVICE_ACCOUNT)}
    assert arns == {"arn:aws:iam::123456789012:role/eso-dev-shared"}
    assert run.warnings == []


def test_shared_wildcard_mode_is_string_like_and_warns(run_stack):
    run = run_stack(dev_with(irsa={"mode": "shared-wildcard", "serviceAccountName": "eso-reader"}))
    condition = trust(run, "irsa-shared")["Statement"][0]["Condition"]
    (sub_key, sub), = condition["StringLike"].items()
    assert sub_key.endswith(":sub") and sub == "system:serviceaccount:*:eso-reader"
    (aud_key, aud), = condition["StringEquals"].items()
    assert aud_key.endswith(":aud") and aud == "sts.amazonaws.com"
    assert len(run.warnings) == 1
    assert "trusts a ServiceAccount named 'eso-reader' in ANY namespace" in run.warnings[0]


def test_per_namespace_mode_does_not_warn(dev_run):
    assert dev_run.warnings == []


def test_existing_cluster_is_looked_up_by_name(run_stack):
    run = run_stack(dev_with(), mocks=Mocks(account_id="210987654321", oidc_issuer=f"https://{ISSUER}"))
    statement = trust(run, "irsa-backend")["Statement"][0]
    assert statement["Principal"]["Federated"] == f"arn:aws:iam::210987654321:oidc-provider/{ISSUER}"
    assert f"{ISSUER}:sub" in statement["Condition"]["StringEquals"]
    assert readable(run, "irsa-frontend") == ["arn:aws:secretsmanager:us-east-1:210987654321:secret:dev/app/web-??????"]
    assert run.of_type("pulumi:pulumi:StackReference") == [] and not run.of_type("eks:index:Cluster")


def test_cluster_from_a_stack_reference(run_stack):
    run = run_stack(dev_with(cluster={"stackReference": "acme/eks-cluster/dev"}), mocks=Mocks(oidc_issuer=ISSUER))
    (reference,) = run.of_type("pulumi:pulumi:StackReference")
    assert reference.inputs["name"] == "acme/eks-cluster/dev"
    statement = trust(run, "irsa-payments")["Statement"][0]
    assert statement["Principal"]["Federated"] == f"arn:aws:iam::123456789012:oidc-provider/{ISSUER}"
    assert run.named("cluster-k8s").inputs["kubeconfig"] == "[secret]"


def test_new_cluster_is_created_with_an_oidc_provider(run_stack):
    run = run_stack(dev_with(cluster={"create": {"version": "1.35", "instanceType": "m6i.large", "desiredCapacity": 3}}))
    (cluster,) = run.of_type("eks:index:Cluster")
    assert cluster.inputs["createOidcProvider"] is True
    assert cluster.inputs["version"] == "1.35"
    assert cluster.inputs["instanceType"] == "m6i.large"
    assert cluster.inputs["desiredCapacity"] == 3
    federated = trust(run, "irsa-backend")["Statement"][0]["Principal"]["Federated"]
    assert federated.startswith("arn:aws:iam::123456789012:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/")


@pytest.mark.parametrize("mode", ["per-namespace", "shared", "shared-wildcard"])
def test_prefix_sharing_names_never_cross_namespaces(run_stack, mode):
    values = dev_with(irsa={"mode": mode})
    values["services"] = [
        {"name": "api", "namespace": "team-a"},
        {"name": "api-v2", "namespace": "team-b"},
        {"name": "api-v2-admin", "namespace": "team-a-ops"},
    ]
    run = run_stack(values)
    if mode == "per-namespace":
        assert readable(run, "irsa-team-a") == [arn("dev/app/api")]
        assert readable(run, "irsa-team-b") == [arn("dev/app/api-v2")]
        assert readable(run, "irsa-team-a-ops") == [arn("dev/app/api-v2-admin")]
    else:
        assert readable(run, "irsa-shared") == [arn("dev/app/api"), arn("dev/app/api-v2"), arn("dev/app/api-v2-admin")]


CLUSTER_FORMS = {
    "name": {"name": "platform-dev"},
    "stackReference": {"stackReference": "acme/eks-cluster/dev"},
    "create": {"create": {"version": "1.35"}},
}
DEPLOYER = "arn:aws:iam::123456789012:role/deployer"


def run_revealing(values: dict, kubeconfig: Any = None) -> tuple[ProgramRun, RevealingMonitor]:
    mocks = Mocks(kubeconfig=kubeconfig)
    monitor = RevealingMonitor(mocks)
    return run_program(as_pulumi_config(values), "test", mocks, monitor=monitor), monitor


def get_token_exec(monitor: RevealingMonitor, provider: str) -> dict:
    (user,) = json.loads(monitor.revealed[provider]["kubeconfig"])["users"]
    return user["user"]["exec"]


@pytest.mark.parametrize("form", CLUSTER_FORMS)
def test_the_cluster_is_reached_as_the_aws_providers_profile_and_role_in_every_form(form):
    values = dev_with(cluster=CLUSTER_FORMS[form])
    values["aws:profile"] = "platform"
    values["aws:assumeRoles"] = [{"roleArn": DEPLOYER, "sessionName": "pulumi"}]
    run, monitor = run_revealing(values)
    for provider in ("cluster-k8s", "cluster-k8s-namespaces"):
        assert run.named(provider).inputs["kubeconfig"] == "[secret]"
        command = get_token_exec(monitor, provider)
        assert command["command"] == "aws"
        assert command["args"][:4] == ["--region", "us-east-1", "eks", "get-token"]
        assert command["args"][-4:] == ["--profile", "platform", "--role-arn", DEPLOYER]
        assert "env" not in command
    if form == "create":
        (cluster,) = run.of_type("eks:index:Cluster")
        assert cluster.inputs["providerCredentialOpts"] == {"profileName": "platform", "roleArn": DEPLOYER}




@pytest.mark.parametrize(
    "form, exported, cluster_name",
    [
        ("stackReference", PULUMI_EKS_KUBECONFIG, "platform-eksCluster-1a2b3c4"),
        ("stackReference", json.loads(PULUMI_EKS_KUBECONFIG), "platform-eksCluster-1a2b3c4"),
        ("stackReference", AWS_CLI_KUBECONFIG, "platform"),
        ("stackReference", yaml.safe_load(AWS_CLI_KUBECONFIG), "platform"),
        ("create", PULUMI_EKS_KUBECONFIG, "platform-eksCluster-1a2b3c4"),
    ],
    ids=["pulumi-eks kubeconfigJson", "pulumi-eks kubeconfig", "aws-cli YAML", "aws-cli object", "cluster.create"],
)
def test_kubeconfigs_as_pulumi_eks_and_the_aws_cli_write_them_reach_the_cluster_as_the_deploying_role(
    form, exported, cluster_name
):
    values = dev_with(cluster=CLUSTER_FORMS[form])
    values["aws:assumeRoles"] = [{"roleArn": DEPLOYER}]
    run, monitor = run_revealing(values, kubeconfig=exported)
    for provider in ("cluster-k8s", "cluster-k8s-namespaces"):
        command = get_token_exec(monitor, provider)
        assert command["args"] == [
            "--region", "eu-west-1", "eks", "get-token", "--cluster-name", cluster_name, "--output", "json",
            "--role-arn", DEPLOYER,
        ]
        assert all(entry["name"] != "AWS_PROFILE" for entry in command.get("env", []))
        server = json.loads(monitor.revealed[provider]["kubeconfig"])["clusters"][0]["cluster"]["server"]
        assert server == "https://0123456789ABCDEF0123456789ABCDEF.gr7.eu-west-1.eks.amazonaws.com"


@pytest.mark.parametrize("form", CLUSTER_FORMS)
def test_without_provider_identity_config_the_default_chain_is_used_and_the_kubeconfig_stays_hidden(form):
    run, monitor = run_revealing(dev_with(cluster=CLUSTER_FORMS[form]))
    for provider in ("cluster-k8s", "cluster-k8s-namespaces"):
        assert run.named(provider).inputs["kubeconfig"] == "[secret]"
        args = get_token_exec(monitor, provider)["args"]
        assert "--profile" not in args and "--role-arn" not in args
        assert args[args.index("--region") + 1] == "us-east-1"
    if form == "create":
        assert "providerCredentialOpts" not in run.of_type("eks:index:Cluster")[0].inputs


def may_create_token(run: ProgramRun, subject: dict, namespace: str, account: str) -> bool:
    """Whether the program's Roles and RoleBindings let `subject` request a token for `account`,
    as the API server's RBAC authorizer decides: a binding in that namespace, to a Role whose
    rule names the verb, the subresource and, when it lists any, the object's name."""
    rules = {(r.inputs["metadata"]["namespace"], r.inputs["metadata"]["name"]): r.inputs["rules"] for r in run.of_type(TOKEN_ROLE)}
    for binding in run.of_type(TOKEN_ROLE_BINDING):
        if binding.inputs["metadata"]["namespace"] != namespace or subject not in binding.inputs["subjects"]:
            continue
        for rule in rules.get((namespace, binding.inputs["roleRef"]["name"]), []):
            names = rule.get("resourceNames") or [account]
            if "" in rule["apiGroups"] and "serviceaccounts/token" in rule["resources"] and "create" in rule["verbs"] and account in names:
                return True
    return False


def test_the_controller_may_request_tokens_only_for_tenant_service_accounts(prod_run):
    values = prod_run.named("eso-chart").inputs["values"]
    # The chart's ClusterRole grants no token requests at all with this value.
    assert values["rbac"]["serviceAccountTokenCreate"] is False
    tenants = ("backend", "frontend", "payments", "search")
    for namespace in tenants:
        assert may_create_token(prod_run, CONTROLLER, namespace, "external-secret-operator")
        assert not may_create_token(prod_run, CONTROLLER, namespace, "default")
        assert not may_create_token(prod_run, {**CONTROLLER, "namespace": "default"}, namespace, "external-secret-operator")
    for namespace in ("default", "kube-system", "external-secrets", "unmanaged"):
        assert not may_create_token(prod_run, CONTROLLER, namespace, "external-secret-operator")
    for role in prod_run.of_type(TOKEN_ROLE):
        assert role.name.endswith("-token-role")
        for rule in role.inputs["rules"]:
            assert rule["resourceNames"] == ["external-secret-operator"] and "*" not in rule["verbs"] + rule["resources"]


def test_each_tenant_grants_the_controller_its_own_account_token_and_nothing_else(dev_run):
    role = dev_run.named("tenant-payments-token-role").inputs
    assert role["metadata"]["namespace"] == "payments"
    assert role["rules"] == [
        {"apiGroups": [""], "resources": ["serviceaccounts/token"], "resourceNames": ["external-secret-operator"], "verbs": ["create"]},
        {"apiGroups": [""], "resources": ["serviceaccounts"], "resourceNames": ["external-secret-operator"], "verbs": ["get"]},
    ]
    binding = dev_run.named("tenant-payments-token-binding")
    assert binding.inputs["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": role["metadata"]["name"]}
    assert binding.inputs["subjects"] == [CONTROLLER]
    assert "tenant-payments-token-role" in binding.dependencies
    assert binding.provider == "cluster-k8s"


def test_a_custom_operator_namespace_is_the_bound_subject(run_stack):
    run = run_stack(dev_with(eso={"namespace": "eso-system"}))
    for binding in run.of_type(TOKEN_ROLE_BINDING):
        assert binding.inputs["subjects"] == [{**CONTROLLER, "namespace": "eso-system"}]
    assert run.named("eso-chart").inputs["namespace"] == "eso-system"


def test_the_controller_has_no_ambient_aws_identity(dev_run):
    values = dev_run.named("eso-chart").inputs["values"]
    assert values["extraEnv"] == [{"name": "AWS_EC2_METADATA_DISABLED", "value": "true"}]
    assert values["rbac"]["aggregateToEdit"] is False and values["rbac"]["aggregateToAdmin"] is False
    assert "serviceAccount" not in values
    assert dev_run.named("eso-chart").inputs["name"] == "external-secrets"


BOUNDARY = "arn:aws:iam::123456789012:policy/security/eso-boundary"


@pytest.mark.parametrize("mode", ["per-namespace", "shared"])
def test_every_role_gets_the_path_and_the_permissions_boundary(run_stack, mode):
    run = run_stack(dev_with(irsa={"mode": mode, "rolePath": "/platform/eso/", "permissionsBoundary": BOUNDARY}))
    roles = run.of_type(ROLE)
    assert roles and all(
        (role.inputs["path"], role.inputs["permissionsBoundary"]) == ("/platform/eso/", BOUNDARY) for role in roles
    )
    annotations = {
        sa.inputs["metadata"]["annotations"]["eks.amazonaws.com/role-arn"] for sa in run.of_type(SERVICE_ACCOUNT)
    }
    assert annotations == {f"arn:aws:iam::123456789012:role/platform/eso/{role.inputs['name']}" for role in roles}


def test_by_default_roles_are_at_the_root_path_without_a_boundary(run_stack):
    roles = run_stack(dev_with()).of_type(ROLE)
    assert roles and all(role.inputs["path"] == "/" and "permissionsBoundary" not in role.inputs for role in roles)


def test_an_aws_managed_boundary_is_taken_and_another_accounts_policy_is_refused_at_deploy(run_stack):
    managed = "arn:aws:iam::aws:policy/PowerUserAccess"
    roles = run_stack(dev_with(irsa={"permissionsBoundary": managed})).of_type(ROLE)
    assert {role.inputs["permissionsBoundary"] for role in roles} == {managed}
    elsewhere = "arn:aws:iam::210987654321:policy/eso-boundary"
    with pytest.raises(pulumi.RunError, match=re.escape(
        f"irsa.permissionsBoundary: {elsewhere} is a policy of account 210987654321, but the roles are created in "
        "123456789012, the cluster's account; use a policy of 123456789012 or an AWS managed policy"
    )):
        run_stack(dev_with(irsa={"permissionsBoundary": elsewhere}))


@pytest.mark.parametrize(
    "form, exported, arn",
    [
        ("name", None, "arn:aws:eks:us-east-1:123456789012:cluster/platform-dev"),
        ("stackReference", AWS_CLI_KUBECONFIG, "arn:aws:eks:eu-west-1:123456789012:cluster/platform"),
        ("create", PULUMI_EKS_KUBECONFIG, "arn:aws:eks:eu-west-1:123456789012:cluster/platform-eksCluster-1a2b3c4"),
    ],
)
def test_both_kubernetes_providers_are_pinned_to_the_clusters_arn(form, exported, arn):
    run, _ = run_revealing(dev_with(cluster=CLUSTER_FORMS[form]), kubeconfig=exported)
    for provider in ("cluster-k8s", "cluster-k8s-namespaces"):
        assert run.named(provider).inputs["clusterIdentifier"] == arn
