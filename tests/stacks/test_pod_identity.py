"""The program under `identity: podIdentity`: the controller's role and association, the namespace
roles' trust, the stores, and what it refuses."""

import json

import pulumi
import pytest

from components.admission import ROLE_ANNOTATION, SERVICE_ACCOUNT_ANNOTATION
from components.chart_values import IDENTITY_ANNOTATION
from components.resource_types import (
    ADMISSION_POLICY,
    NAMESPACE_PATCH,
    POD_IDENTITY_ASSOCIATION,
    ROLE,
    SECRET_STORE,
    SERVICE_ACCOUNT,
    TOKEN_ROLE,
    TOKEN_ROLE_BINDING,
)
from tests.conftest import Mocks, as_pulumi_config, pod_identity_values
from tests.stacks.test_loading import problems_of
from stacks.loading import load_stack
from tools.plan.engine import RecordingMonitor, run_program

ACCOUNT = "123456789012"
CLUSTER_ARN = f"arn:aws:eks:us-east-1:{ACCOUNT}:cluster/platform-dev"
CONTROLLER_ROLE = f"arn:aws:iam::{ACCOUNT}:role/eso-dev-controller"
NAMESPACES = ("backend", "frontend", "payments")


def dev_pod_identity(**changes):
    values = pod_identity_values("dev")
    values.update(changes)
    return values


@pytest.fixture(scope="module")
def run():
    return run_program(as_pulumi_config(dev_pod_identity()), "dev", Mocks())


def document(run, name: str, field: str) -> dict:
    return json.loads(run.named(name).inputs[field])


def test_the_controller_role_is_trusted_by_pod_identity_of_this_cluster_only(run):
    controller = run.named("pod-identity-role").inputs
    assert controller["name"] == "eso-dev-controller"
    assert json.loads(controller["assumeRolePolicy"])["Statement"] == [
        {
            "Sid": "EksPodIdentityOfThisCluster",
            "Effect": "Allow",
            "Principal": {"Service": "pods.eks.amazonaws.com"},
            "Action": ["sts:AssumeRole", "sts:TagSession"],
            "Condition": {"StringEquals": {"aws:SourceAccount": ACCOUNT}, "ArnEquals": {"aws:SourceArn": CLUSTER_ARN}},
        }
    ]


def test_the_controller_may_only_assume_the_namespace_roles(run):
    (statement,) = document(run, "pod-identity-assume-namespace-roles", "policy")["Statement"]
    assert statement["Action"] == ["sts:AssumeRole", "sts:TagSession"]
    assert statement["Resource"] == [f"arn:aws:iam::{ACCOUNT}:role/eso-dev.{ns}" for ns in NAMESPACES]
    names = [r.name for r in run.of_type("aws:iam/rolePolicy:RolePolicy")]
    assert [n for n in names if n.startswith("pod-identity")] == ["pod-identity-assume-namespace-roles"]


def test_the_association_gives_the_controller_role_to_the_charts_service_account(run):
    (association,) = run.of_type(POD_IDENTITY_ASSOCIATION)
    assert association.inputs["clusterName"] == "platform-dev"
    assert association.inputs["namespace"] == "external-secrets"
    assert association.inputs["serviceAccount"] == "external-secrets"
    assert association.inputs["roleArn"] == CONTROLLER_ROLE
    # The controller's pod must be created after it: EKS injects the credentials at creation.
    assert "pod-identity-association" in run.named("eso-chart").dependencies


def test_each_namespace_role_trusts_only_the_controllers_session_for_its_namespace(run):
    for namespace in NAMESPACES:
        (statement,) = document(run, f"irsa-{namespace}-role", "assumeRolePolicy")["Statement"]
        assert statement["Principal"] == {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}
        assert statement["Action"] == ["sts:AssumeRole", "sts:TagSession"]
        assert statement["Condition"] == {
            "ArnEquals": {"aws:PrincipalArn": CONTROLLER_ROLE},
            "StringEquals": {
                "aws:RequestTag/esoNamespace": namespace,
                "aws:RequestTag/esoStoreKind": "SecretStore",
                "aws:PrincipalTag/eks-cluster-arn": CLUSTER_ARN,
                "aws:PrincipalTag/kubernetes-namespace": "external-secrets",
                "aws:PrincipalTag/kubernetes-service-account": "external-secrets",
            },
        }


def test_permissions_stay_exactly_as_under_irsa(run, dev_run):
    for namespace in NAMESPACES:
        name = f"irsa-{namespace}-read-secrets"
        assert run.named(name).inputs["policy"] == dev_run.named(name).inputs["policy"]


def test_stores_name_their_namespaces_role_with_esos_session_tags_and_no_auth(run):
    for store in run.of_type(SECRET_STORE):
        namespace = store.inputs["metadata"]["namespace"]
        aws = store.inputs["spec"]["provider"]["aws"]
        assert aws == {
            "service": "SecretsManager",
            "region": aws["region"],
            "role": f"arn:aws:iam::{ACCOUNT}:role/eso-dev.{namespace}",
            "sessionTagsPolicy": "Simple",
        }
        assert "pod-identity-assume-namespace-roles" in store.dependencies


def test_no_tenant_service_account_token_grant_or_oidc_lookup(run):
    assert run.of_type(SERVICE_ACCOUNT) == run.of_type(TOKEN_ROLE) == run.of_type(TOKEN_ROLE_BINDING) == []
    assert "oidcProviderArn" not in run.outputs
    assert all("serviceAccount" not in entry for entry in run.outputs["namespaces"].values())
    assert run.outputs["identity"] == "podIdentity"
    assert run.outputs["podIdentity"]["controllerRoleArn"] == CONTROLLER_ROLE
    assert run.outputs["podIdentity"]["clusterArn"] == CLUSTER_ARN


def test_namespaces_carry_their_role_for_the_admission_guard(run, dev_run):
    for namespace in NAMESPACES:
        annotations = run.named(f"tenant-{namespace}-namespace-labels").inputs["metadata"]["annotations"]
        assert annotations[ROLE_ANNOTATION] == f"eso-dev.{namespace}"
        # As under IRSA: a switch changes no annotation, which the API server may judge stale.
        assert annotations[SERVICE_ACCOUNT_ANNOTATION] == "external-secret-operator"
        assert annotations == dev_run.named(f"tenant-{namespace}-namespace-labels").inputs["metadata"]["annotations"]
    policies = [p.inputs["metadata"]["name"] for p in run.of_type(ADMISSION_POLICY)]
    assert not any(name.endswith("-accounts") for name in policies)
    assert len(run.of_type(NAMESPACE_PATCH)) == 4


def test_the_controller_restarts_with_its_credentials_and_keeps_instance_metadata_off(run, dev_run):
    values = run.named("eso-chart").inputs["values"]
    assert values["podAnnotations"] == {IDENTITY_ANNOTATION: "pod-identity"}
    assert {"name": "AWS_EC2_METADATA_DISABLED", "value": "true"} in values["extraEnv"]
    assert "podAnnotations" not in dev_run.named("eso-chart").inputs["values"]


def test_shared_mode_trusts_the_listed_namespaces_by_tag():
    run = run_program(as_pulumi_config(dev_pod_identity(irsa={"mode": "shared"})), "dev", Mocks())
    (statement,) = document(run, "irsa-shared-role", "assumeRolePolicy")["Statement"]
    assert statement["Condition"]["StringEquals"]["aws:RequestTag/esoNamespace"] == list(NAMESPACES)
    (grant,) = document(run, "pod-identity-assume-namespace-roles", "policy")["Statement"]
    assert grant["Resource"] == [f"arn:aws:iam::{ACCOUNT}:role/eso-dev-shared"]


def test_a_new_cluster_gets_the_agent_and_no_oidc_provider():
    values = dev_pod_identity(cluster={"create": {"version": "1.35"}})
    run = run_program(as_pulumi_config(values), "dev", Mocks())
    (cluster,) = run.of_type("eks:index:Cluster")
    assert cluster.inputs["createOidcProvider"] is False
    (addon,) = run.of_type("aws:eks/addon:Addon")
    assert addon.inputs["addonName"] == "eks-pod-identity-agent"
    assert addon.inputs["clusterName"] == run.of_type(POD_IDENTITY_ASSOCIATION)[0].inputs["clusterName"]
    assert "cluster-pod-identity-agent" in run.named("eso-chart").dependencies


def test_a_referenced_cluster_is_in_the_deploying_identitys_account():
    values = dev_pod_identity(cluster={"stackReference": "acme/eks-cluster/dev"})
    run = run_program(as_pulumi_config(values), "dev", Mocks(account_id="210987654321"))
    (association,) = run.of_type(POD_IDENTITY_ASSOCIATION)
    assert association.inputs["clusterName"] == "acme-eks-cluster-dev"
    (statement,) = document(run, "irsa-backend-role", "assumeRolePolicy")["Statement"]
    assert statement["Condition"]["StringEquals"]["aws:PrincipalTag/eks-cluster-arn"] == (
        "arn:aws:eks:us-east-1:210987654321:cluster/acme-eks-cluster-dev"
    )


@pytest.mark.parametrize(
    "changes, expected",
    [
        ({"admission": {"enabled": False}}, "admission.enabled: identity podIdentity needs the admission guard"),
        ({"eso": {"install": False}}, "identity: podIdentity needs eso.install: true"),
        ({"irsa": {"mode": "shared-wildcard"}}, "irsa.mode: shared-wildcard trusts every namespace"),
        ({"irsa": {"serviceAccountName": "reader"}}, "irsa.serviceAccountName: identity podIdentity creates no tenant ServiceAccount"),
        ({"identity": "pod-identity"}, "identity: Input should be 'irsa' or 'podIdentity'"),
    ],
)
def test_what_pod_identity_cannot_hold_apart_is_refused_with_the_reason(changes, expected):
    problems = problems_of(dev_pod_identity(**changes))
    assert any(problem.startswith(expected) for problem in problems), problems


def test_every_refusal_shows_at_once_and_stops_a_preview_before_any_resource():
    values = dev_pod_identity(admission={"enabled": False}, irsa={"mode": "shared-wildcard"})
    monitor = RecordingMonitor(Mocks())
    with pytest.raises(pulumi.RunError) as raised:
        run_program(as_pulumi_config(values), "dev", Mocks(), monitor=monitor)
    assert str(raised.value).startswith("stack config has 2 problems:\n")
    assert monitor.registrations == []


def test_irsa_stays_the_default_and_registers_no_pod_identity(dev_run):
    assert dev_run.outputs["identity"] == "irsa"
    assert dev_run.of_type(POD_IDENTITY_ASSOCIATION) == []
    assert not [r for r in dev_run.of_type(ROLE) if r.inputs["name"].endswith("-controller")]
    assert any(p.inputs["metadata"]["name"].endswith("-accounts") for p in dev_run.of_type(ADMISSION_POLICY))


def services_in(count: int, length: int = 60) -> list[dict[str, str]]:
    return [{"name": f"api-{index}", "namespace": f"{index:03d}-{'n' * (length - 4)}"} for index in range(count)]


def test_a_shared_trust_over_iams_limit_is_refused_before_any_resource():
    problems = problems_of(dev_pod_identity(irsa={"mode": "shared"}, services=services_in(30)))
    assert any(p.startswith("irsa.mode: the trust policy of role eso-dev-shared is ") and "over IAM's limit of 2048" in p for p in problems), problems


def test_a_controller_grant_over_the_inline_limit_is_refused_before_any_resource():
    problems = problems_of(dev_pod_identity(services=services_in(150)))
    assert any(
        p.startswith("identity: the permission policy of role eso-dev-controller is ") and "over IAM's limit of 10240" in p
        for p in problems
    ), problems
    config = as_pulumi_config(dev_pod_identity(services=services_in(60)))
    region = config.pop("aws:region")
    assert load_stack({key.removeprefix("eso-platform:"): text for key, text in config.items()}, region).pod_identity
