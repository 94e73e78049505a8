"""The Secret guard's manifests and component, and the CRD check of an operator installed by someone else."""

import pytest

from components.crd_check import ExistingOperator, MissingCrdError, require_served_v1
from components.manifests import ServiceAccountRef
from components.resource_types import SERVICE_ACCOUNT
from components.secret_guard import SecretGuard, SecretGuardArgs
from components.secret_guard_manifests import secret_guard_binding, secret_guard_policy
from tools.plan.engine import record
from tests.conftest import Mocks

CONTROLLER = "system:serviceaccount:eso:external-secrets"


def variables(policy: dict) -> dict[str, str]:
    return {v["name"]: v["expression"] for v in policy["spec"]["variables"]}


def test_the_policy_allows_only_what_eso_wrote_adoptions_and_annotated_secrets():
    policy = secret_guard_policy("guard", CONTROLLER, ["team/b", "team/a"], {"l": "v"})
    assert (policy["apiVersion"], policy["kind"]) == ("admissionregistration.k8s.io/v1", "ValidatingAdmissionPolicy")
    assert policy["spec"]["failurePolicy"] == "Fail"
    expressions = variables(policy)
    assert expressions["writtenByEso"] == (
        "has(oldObject.metadata.labels) && 'reconcile.external-secrets.io/managed' in oldObject.metadata.labels"
        " && oldObject.metadata.labels['reconcile.external-secrets.io/managed'] == 'true'"
    )
    assert "r.kind == 'ExternalSecret'" in expressions["ownedByExternalSecret"]
    assert "oldObject.metadata.annotations['eso-platform/adopt'] == 'true'" in expressions["annotatedForAdoption"]
    assert expressions["adoptedByConfig"] == "(request.namespace + '/' + request.name) in ['team/a', 'team/b']"
    (validation,) = policy["spec"]["validations"]
    assert validation["expression"] == " || ".join(f"variables.{name}" for name in expressions)
    assert "set adopt: true on its service" in validation["messageExpression"]


def test_quotes_in_names_cannot_break_out_of_a_cel_string():
    policy = secret_guard_policy("guard", "system:serviceaccount:a:b'||true", [], {})
    condition = policy["spec"]["matchConditions"][0]["expression"]
    assert condition == "request.userInfo.username == 'system:serviceaccount:a:b\\'||true'"


def test_the_binding_denies_in_exactly_the_tenant_namespaces():
    binding = secret_guard_binding("guard", "guard", ["b", "a"], {})
    assert binding["spec"] == {
        "policyName": "guard",
        "validationActions": ["Deny"],
        "matchResources": {
            "namespaceSelector": {
                "matchExpressions": [{"key": "kubernetes.io/metadata.name", "operator": "In", "values": ["a", "b"]}]
            }
        },
    }


def test_the_guard_component_binds_its_policy():
    def build():
        SecretGuard("guard", SecretGuardArgs("eso-platform-secret-guard-test", CONTROLLER, ["team"], ["team/api"]))

    result = record(build, "test", Mocks(), {"aws:region": "us-east-1"})
    assert result.named("guard").type == "eso-platform:secret_guard:SecretGuard"
    policy, binding = result.named("guard-policy"), result.named("guard-binding")
    assert policy.parent == binding.parent == "guard"
    assert binding.inputs["spec"]["policyName"] == "eso-platform-secret-guard-test"
    assert "guard-policy" in binding.dependencies


def test_the_existing_operator_reads_both_crds_and_the_controllers_service_account():
    controller = ServiceAccountRef("eso-system", "eso-external-secrets")
    result = record(lambda: ExistingOperator("eso", controller), "test", Mocks(), {"aws:region": "us-east-1"})
    reads = sorted((r.name, r.parent) for r in result.resources if r.type.endswith("CustomResourceDefinition"))
    assert reads == [("eso-externalsecrets", "eso"), ("eso-secretstores", "eso")]
    (account,) = result.of_type(SERVICE_ACCOUNT)
    assert (account.name, account.parent, account.read_id) == ("eso-controller-account", "eso", "eso-system/eso-external-secrets")


@pytest.mark.parametrize(
    "versions, served",
    [([], "no version"), ([{"name": "v1", "served": False}, {"name": "v1beta1", "served": True}], "v1beta1")],
)
def test_a_crd_that_does_not_serve_v1_is_refused(versions, served):
    with pytest.raises(MissingCrdError, match=f"serves {served}, not external-secrets.io/v1"):
        require_served_v1("externalsecrets.external-secrets.io", {"versions": versions})
    require_served_v1("x", {"versions": [{"name": "v1beta1", "served": True}, {"name": "v1", "served": True}]})
