"""Sharing a cluster with other tools: an ESO someone else installed, and labels only where
the program owns the object."""

import copy

import pulumi
import pytest
import yaml

from tools.cli import main
from tools.plan.engine import PlaceholderCloud
from components.resource_types import CRD, EXTERNAL_SECRET, NAMESPACE, NAMESPACE_PATCH, RELEASE, SECRET_STORE, SERVICE_ACCOUNT, TOKEN_ROLE_BINDING
from stacks.program import SOMEONE_ELSES_OPERATOR_WARNING
from tests.conftest import PROJECT_ROOT, REGION, stack_values

MANAGED_BY = "app.kubernetes.io/managed-by"


def without_install() -> dict:
    values = copy.deepcopy(stack_values("dev"))
    values["eso"] = {"install": False, "namespace": "eso-system"}
    return values


def test_install_false_manages_only_roles_and_tenants_and_checks_the_crds(run_stack):
    run = run_stack(without_install())
    assert not run.of_type(RELEASE) and not run.of_type("eso-platform:operator:Operator")
    crds = run.of_type(CRD)
    assert sorted(r.name for r in crds) == ["eso-externalsecrets", "eso-secretstores"]
    assert all(r.parent == "eso" and r.provider == "cluster-k8s" for r in crds)
    assert sorted(r.name for r in run.of_type(NAMESPACE)) == [
        "tenant-backend-namespace", "tenant-frontend-namespace", "tenant-payments-namespace"
    ]
    for resource in run.of_type(EXTERNAL_SECRET) + run.of_type(SECRET_STORE):
        assert {"eso-externalsecrets", "eso-secretstores"} <= set(resource.dependencies), resource.name
    assert len(run.of_type("aws:iam/role:Role")) == 3 and len(run.of_type(EXTERNAL_SECRET)) == 5
    assert run.outputs["operator"] == {"namespace": "eso-system", "installed": False}
    condition = run.named("secret-guard-policy").inputs["spec"]["matchConditions"][0]["expression"]
    assert condition.endswith("'system:serviceaccount:eso-system:external-secrets'")


def test_someone_elses_controller_account_is_read_granted_tokens_and_known_to_the_guard(run_stack):
    values = without_install()
    values["eso"]["controllerServiceAccount"] = "eso-external-secrets"
    run = run_stack(values)
    (account,) = [r for r in run.of_type(SERVICE_ACCOUNT) if r.read_id]
    assert (account.name, account.read_id) == ("eso-controller-account", "eso-system/eso-external-secrets")
    for resource in run.of_type(EXTERNAL_SECRET) + run.of_type(SECRET_STORE):
        assert "eso-controller-account" in resource.dependencies, resource.name
    bindings = run.of_type(TOKEN_ROLE_BINDING)
    assert bindings and all(
        binding.inputs["subjects"] == [{"kind": "ServiceAccount", "name": "eso-external-secrets", "namespace": "eso-system"}]
        for binding in bindings
    )
    condition = run.named("secret-guard-policy").inputs["spec"]["matchConditions"][0]["expression"]
    assert condition.endswith("'system:serviceaccount:eso-system:eso-external-secrets'")
    assert SOMEONE_ELSES_OPERATOR_WARNING in run.warnings


def test_installing_eso_warns_of_nothing_and_reads_no_controller_account(dev_run):
    assert SOMEONE_ELSES_OPERATOR_WARNING not in dev_run.warnings
    assert not [r for r in dev_run.of_type(SERVICE_ACCOUNT) if r.read_id]


class OnlyBetaCrds(PlaceholderCloud):
    """A cluster whose ESO predates external-secrets.io/v1."""

    def new_resource(self, args):
        resource_id, outputs = super().new_resource(args)
        if args.typ == CRD:
            outputs["spec"]["versions"] = [{"name": "v1beta1", "served": True, "storage": True}]
        return resource_id, outputs


def test_install_false_refuses_an_eso_without_the_v1_crds(run_stack):
    with pytest.raises(pulumi.RunError, match=r"eso.install is false, but the cluster's CRD "
                       r"(externalsecrets|secretstores).external-secrets.io serves v1beta1, not external-secrets.io/v1"):
        run_stack(without_install(), mocks=OnlyBetaCrds(REGION))


def test_the_plan_says_the_operator_is_not_installed(capsys, tmp_path):
    document = yaml.safe_load((PROJECT_ROOT / "Pulumi.dev.yaml").read_text())
    document["config"]["eso-platform:eso"] = {"install": False}
    stack = tmp_path / "Pulumi.existing.yaml"
    stack.write_text(yaml.safe_dump(document))
    assert main(["plan", str(stack)]) == 0
    out = capsys.readouterr().out
    operator = out.split("\noperator\n")[1].split("\n\n")[0]
    assert operator.splitlines()[0] == (
        "  not installed by this stack: the ESO in namespace external-secrets, its external-secrets.io/v1 CRDs "
        "and the controller's ServiceAccount external-secrets/external-secrets checked at deploy"
    )
    assert "chart external-secrets" not in operator


def test_namespaces_and_chart_carry_only_the_projects_label_keys(dev_run):
    for namespace in dev_run.of_type(NAMESPACE_PATCH):
        metadata = namespace.inputs["metadata"]
        assert metadata["labels"] and all(key.startswith("eso-platform/") for key in metadata["labels"]), namespace.name
        assert all(key.startswith("eso-platform/") for key in metadata["annotations"]), namespace.name
    payments = dev_run.named("tenant-payments-namespace-labels").inputs["metadata"]
    assert payments["labels"] == {
        "eso-platform/environment": "dev",
        "eso-platform/namespace": "payments",
        "eso-platform/managed": "true",
        "eso-platform/stack": "dev-22b2c0e4",
    }
    assert payments["annotations"] == {
        "eso-platform/stack": "organization/eso-platform/dev",
        "eso-platform/service-account": "external-secret-operator",
        "eso-platform/role": "eso-dev.payments",
    }
    assert dev_run.named("eso-chart").inputs["values"]["commonLabels"] == {"eso-platform/environment": "dev"}


def test_objects_only_the_program_manages_say_so(dev_run):
    owned = dev_run.of_type(EXTERNAL_SECRET) + dev_run.of_type(SECRET_STORE) + dev_run.of_type("kubernetes:core/v1:ServiceAccount")
    assert owned and all(r.inputs["metadata"]["labels"][MANAGED_BY] == "pulumi" for r in owned)
