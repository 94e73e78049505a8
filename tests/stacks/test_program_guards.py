"""The program's admission guard, controller sizing and managed-policy grants, end to end under mocks."""

import copy
import json
import re

import pytest

from components.admission import MANAGED_NAMESPACE_LABEL, stack_policy_name
from components.labels import stack_key
from tools.plan.engine import ORGANIZATION, ProgramRun, Registration
from components.resource_types import (
    ADMISSION_BINDING,
    ADMISSION_POLICY,
    EXTERNAL_SECRET,
    MANAGED_POLICY,
    NAMESPACE,
    NAMESPACE_PATCH,
    POLICY_ATTACHMENT,
    ROLE_POLICY,
    SECRET_STORE,
)
from tools.plan.render import as_text
from tests.components.admission_evaluation import admission_request, denials, namespace_object
from tests.conftest import crowded_services, stack_values



def dev_with(**changes):
    values = copy.deepcopy(stack_values("dev"))
    values.update(changes)
    return values


def guard_resources(run: ProgramRun) -> list[Registration]:
    """The admission guard's policies and bindings; the Secret guard is one too, for Secrets."""
    return [r for r in run.of_type(ADMISSION_POLICY) + run.of_type(ADMISSION_BINDING) if r.parent == "admission"]


def guard_of(run: ProgramRun) -> list[dict]:
    return [r.inputs for r in guard_resources(run)]


def namespace_objects(run: ProgramRun) -> dict[str, dict]:
    """The namespaces as the API server sees them once the program's label patches apply."""
    return {
        r.inputs["metadata"]["name"]: namespace_object(
            r.inputs["metadata"]["name"], r.inputs["metadata"]["labels"], r.inputs["metadata"]["annotations"]
        )
        for r in run.of_type(NAMESPACE_PATCH)
    }


def namespace_labels(run: ProgramRun) -> dict[str, dict[str, str]]:
    return {name: namespace["metadata"]["labels"] for name, namespace in namespace_objects(run).items()}


@pytest.mark.parametrize("run_fixture", ["dev_run", "prod_run"])
def test_the_guard_admits_every_object_the_program_creates(request, run_fixture):
    run = request.getfixturevalue(run_fixture)
    guard, namespaces = guard_of(run), namespace_objects(run)
    assert len(guard) == 8
    objects = run.of_type(SECRET_STORE) + run.of_type(EXTERNAL_SECRET)
    assert objects
    for resource in objects:
        # The tenant rules are the ones that judge them, and they admit them.
        assert namespace_labels(run)[resource.inputs["metadata"]["namespace"]][MANAGED_NAMESPACE_LABEL] == "true"
        assert denials(guard, resource.inputs, namespaces) == [], resource.name
        assert denials(guard, resource.inputs, namespaces, "UPDATE") == [], resource.name


def test_only_tenant_namespaces_carry_the_managed_label(dev_run):
    labelled = {name for name, labels in namespace_labels(dev_run).items() if labels.get(MANAGED_NAMESPACE_LABEL) == "true"}
    assert labelled == {"backend", "frontend", "payments"}
    assert MANAGED_NAMESPACE_LABEL not in namespace_labels(dev_run)["external-secrets"]


def test_a_tenant_store_with_another_account_is_denied_by_the_registered_guard(dev_run):
    store = copy.deepcopy(dev_run.named("tenant-backend/us-east-1").inputs)
    store["spec"]["provider"]["aws"]["auth"]["jwt"]["serviceAccountRef"]["name"] = "default"
    assert denials(guard_of(dev_run), store, namespace_objects(dev_run)) == ["tenant-store-managed-identity"]


def own_policy(run: ProgramRun) -> str:
    return "admission-" + stack_policy_name(stack_key(f"{ORGANIZATION}/{run.project}/{run.stack}"))


def test_eso_objects_wait_for_the_guard(dev_run):
    for resource in dev_run.of_type(SECRET_STORE) + dev_run.of_type(EXTERNAL_SECRET):
        assert {
            "admission-eso-platform-tenant-namespaces-binding",
            "admission-eso-platform-aws-store-auth-binding",
            f"{own_policy(dev_run)}-binding",
            f"{own_policy(dev_run)}-accounts-binding",
        } <= set(resource.dependencies), resource.name
    bindings = [r for r in guard_resources(dev_run) if r.type == ADMISSION_BINDING]
    assert len(bindings) == 4
    for binding in bindings:
        assert binding.name.removesuffix("-binding") in binding.dependencies
        assert binding.parent == "admission" and binding.provider == "cluster-k8s"


@pytest.mark.parametrize(
    "overrides, account, controller",
    [
        ({}, "external-secret-operator", "system:serviceaccount:external-secrets:external-secrets"),
        (
            {"irsa": {"serviceAccountName": "secrets-reader"},
             "eso": {"install": False, "namespace": "platform-eso", "controllerServiceAccount": "eso-external-secrets"},
             "admission": {"clusterRules": "define"}},
            "secrets-reader",
            "system:serviceaccount:platform-eso:eso-external-secrets",
        ),
    ],
)
def test_only_the_stacks_controller_acts_as_its_tenant_account(run_stack, overrides, account, controller):
    run = run_stack(dev_with(**overrides))
    guard, namespaces = guard_of(run), namespace_objects(run)
    for namespace in ("backend", "frontend", "payments"):
        assert run.named(f"tenant-{namespace}-service-account").inputs["metadata"]["name"] == account
        as_account = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": namespace},
                      "spec": {"serviceAccountName": account, "containers": [{"name": "c", "image": "c"}]}}
        assert denials(guard, as_account, namespaces) == ["tenant-account-pod"]
        token = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "metadata": {"name": account, "namespace": namespace}, "spec": {}}
        for username, expected in ((controller, []), ("system:serviceaccount:external-secrets:other", ["tenant-account-token"])):
            request = admission_request(token, resource=("", "v1", "serviceaccounts"), sub_resource="token", username=username)
            assert denials(guard, token, namespaces, request=request) == expected
        # The grant the tenant gives the controller names the same account the guard lets through.
        subject = run.named(f"tenant-{namespace}-token-binding").inputs["subjects"][0]
        assert f"system:serviceaccount:{subject['namespace']}:{subject['name']}" == controller


def test_the_guard_names_the_managed_namespaces_and_listed_static_namespaces(run_stack):
    run = run_stack(dev_with(admission={"allowStaticCredentialsIn": ["legacy-billing"]}))

    def expressions(name):
        return " ".join(v["expression"] for v in run.named(name).inputs["spec"]["validations"])

    assert "['legacy-billing']" in expressions("admission-eso-platform-aws-store-auth")
    assert "['backend', 'frontend', 'payments']" in expressions(own_policy(run))
    assert "backend" not in expressions("admission-eso-platform-aws-store-auth") + expressions("admission-eso-platform-tenant-namespaces")
    assert run.warnings == []


def test_with_someone_elses_operator_the_stack_requires_the_cluster_policies(run_stack):
    eso = {"install": False}
    run = run_stack(dev_with(eso=eso))
    read = sorted(r.read_id for r in guard_resources(run) if r.read_id is not None)
    assert read == ["eso-platform-aws-store-auth"] * 2 + ["eso-platform-tenant-namespaces"] * 2
    own = own_policy(run)
    assert sorted(r.name for r in guard_resources(run) if r.read_id is None) == [
        own, f"{own}-accounts", f"{own}-accounts-binding", f"{own}-binding"
    ]
    for resource in run.of_type(SECRET_STORE):
        assert {"admission-required-eso-platform-tenant-namespaces-binding", f"{own}-binding"} <= set(resource.dependencies)
    assert "  eso-platform-tenant-namespaces: cluster-wide, defined by another stack of this cluster" in as_text(run)
    defined = run_stack(dev_with(eso=eso, admission={"clusterRules": "define"}))
    assert not [r for r in guard_resources(defined) if r.read_id is not None]
    assert len(guard_resources(defined)) == 8


def test_the_guard_can_be_turned_off_and_says_so(run_stack):
    run = run_stack(dev_with(admission={"enabled": False}))
    assert guard_resources(run) == []
    # The Secret guard is another matter and stays.
    assert [r.name for r in run.of_type(ADMISSION_POLICY)] == ["secret-guard-policy"]
    assert len(run.warnings) == 1 and "admission.enabled is false" in run.warnings[0]
    assert "\nadmission guard\n  off (admission.enabled: false)\n" in as_text(run)
    # The namespaces are still marked as the program's.
    assert all(labels[MANAGED_NAMESPACE_LABEL] == "true" for name, labels in namespace_labels(run).items() if name != "external-secrets")
    assert all(namespace.inputs["metadata"] == {"name": namespace.inputs["metadata"]["name"]} for namespace in run.of_type(NAMESPACE))


def chart_values(run: ProgramRun) -> dict:
    return run.named("eso-chart").inputs["values"]


def services(count: int, namespaces: int) -> list[dict]:
    return [{"name": f"service-{i:04d}", "namespace": f"team-{i % namespaces:02d}"} for i in range(count)]


@pytest.mark.parametrize(
    "count, concurrency, expected",
    [(5, None, (1, 50, 100)), (101, None, (2, 50, 100)), (5, 8, (8, 200, 400))],
)
def test_controller_is_sized_to_the_stack(run_stack, count, concurrency, expected):
    eso = {**stack_values("dev")["eso"], **({"concurrency": concurrency} if concurrency else {})}
    run = run_stack(dev_with(eso=eso, services=services(count, 20)))
    values = chart_values(run)
    assert (values["concurrent"], values["extraArgs"]["client-qps"], values["extraArgs"]["client-burst"]) == expected
    concurrent, qps, burst = expected
    assert f"  --concurrent={concurrent} --client-qps={qps} --client-burst={burst}\n" in as_text(run)
    assert len(run.of_type(EXTERNAL_SECRET)) == count


def crowded_run(run_stack, count: int, **irsa) -> ProgramRun:
    values = dev_with(irsa={**stack_values("dev")["irsa"], **irsa})
    values["services"] = crowded_services(count)
    values["services"].append({"name": "web", "namespace": "frontend"})
    return run_stack(values)


def test_grants_past_the_inline_limit_become_attached_managed_policies(run_stack):
    run = crowded_run(run_stack, 90)
    policies = [p for p in run.of_type(MANAGED_POLICY) if p.parent == "irsa-crowded"]
    attachments = [a for a in run.of_type(POLICY_ATTACHMENT) if a.parent == "irsa-crowded"]
    assert len(policies) == len(attachments) >= 2
    # The crowded role has no inline policy; the small one keeps its inline policy only.
    assert [p.parent for p in run.of_type(ROLE_POLICY)] == ["irsa-frontend"]
    assert not [p for p in run.of_type(MANAGED_POLICY) if p.parent != "irsa-crowded"]
    assert all(re.fullmatch(r"eso-dev\.crowded-secret-reads-[0-9]+", p.inputs["name"]) for p in policies)
    read = []
    for policy in policies:
        assert policy.inputs["path"] == "/eso-platform/"
        assert len(policy.inputs["policy"]) <= 6144
        read += json.loads(policy.inputs["policy"])["Statement"][0]["Resource"]
    assert sorted(read) == sorted(
        f"arn:aws:secretsmanager:us-east-1:123456789012:secret:dev/app/{service['name']}-??????" for service in crowded_services(90)
    )
    arns = {f"arn:aws:iam::123456789012:policy/eso-platform/{p.inputs['name']}" for p in policies}
    assert {a.inputs["policyArn"] for a in attachments} == arns
    assert {a.inputs["role"] for a in attachments} == {"eso-dev.crowded"}
    assert f"    grants over the inline limit, in {len(policies)} customer-managed policies attached to it\n" in as_text(run)
    for resource in run.of_type(SECRET_STORE) + run.of_type(EXTERNAL_SECRET):
        if resource.inputs["metadata"]["namespace"] == "crowded":
            assert {a.name for a in attachments} <= set(resource.dependencies), resource.name


def test_the_cluster_wide_policies_carry_nothing_of_the_stack_that_defines_them(run_stack, dev_run):
    staging = run_stack(dev_with(environment="staging"), stack="staging")
    for name in ("admission-eso-platform-tenant-namespaces", "admission-eso-platform-aws-store-auth"):
        for suffix in ("", "-binding"):
            assert staging.named(name + suffix).inputs == dev_run.named(name + suffix).inputs, name + suffix
    assert own_policy(staging) != own_policy(dev_run)
    assert staging.named(own_policy(staging)).inputs["metadata"]["labels"]["eso-platform/environment"] == "staging"
