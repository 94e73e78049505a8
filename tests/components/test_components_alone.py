"""Each component on its own under the SDK mock engine."""

import json

import pulumi
import pytest

from components.admission import AdmissionGuard, AdmissionGuardArgs
from components.cluster import ClusterAccess, ClusterAccessArgs, NewCluster
from components.iam_documents import SecretGrant
from components.irsa import IrsaRole, IrsaRoleArgs
from components.kubeconfig import DeployingIdentity
from components.manifests import ExternalSecretSpec, ServiceAccountRef
from components.namespaces import adopted_namespace
from components.operator import Operator, OperatorArgs
from components.resource_types import NAMESPACE, NAMESPACE_PATCH
from components.tenant import Tenant, TenantArgs
from tools.plan.engine import record
from tests.conftest import Mocks

PROVIDER_ARN = "arn:aws:iam::123456789012:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/ABC"
CONTROLLER = "system:serviceaccount:external-secrets:external-secrets"


def run(build, config=None):
    def program():
        outputs = build()
        for key, value in (outputs or {}).items():
            pulumi.export(key, value)

    return record(program, "test", Mocks(), config or {"aws:region": "us-east-1"})


def irsa_role(**overrides):
    args = dict(
        role_name="eso-test.team",
        oidc_provider_arn=PROVIDER_ARN,
        subjects=["system:serviceaccount:team:eso"],
        grants=[SecretGrant("us-east-1", "test/app/api")],
        tags={"managed-by": "eso-platform"},
    )
    args.update(overrides)
    return IrsaRole("irsa-team", IrsaRoleArgs(**args))


def test_irsa_role_registers_role_and_inline_policy_as_children():
    result = run(lambda: {"arn": irsa_role().role_arn})
    assert result.outputs == {"arn": "arn:aws:iam::123456789012:role/eso-test.team"}
    component = result.named("irsa-team")
    assert component.type == "eso-platform:irsa:IrsaRole" and component.parent is None
    role, policy = result.named("irsa-team-role"), result.named("irsa-team-read-secrets")
    assert role.parent == policy.parent == "irsa-team"
    assert role.inputs["name"] == "eso-test.team" and role.inputs["tags"] == {"managed-by": "eso-platform"}
    assert json.loads(role.inputs["assumeRolePolicy"])["Statement"][0]["Principal"]["Federated"] == PROVIDER_ARN
    assert json.loads(policy.inputs["policy"])["Statement"][0]["Resource"] == [
        "arn:aws:secretsmanager:us-east-1:123456789012:secret:test/app/api-??????"
    ]
    assert policy.inputs["role"] == "eso-test.team"


def test_irsa_role_refuses_a_trust_policy_over_iam_limits():
    subjects = [f"system:serviceaccount:namespace-{i:03d}:eso" for i in range(60)]
    with pytest.raises(ValueError, match="trust policy of role eso-test.team is .* over IAM.s limit of 2048"):
        run(lambda: {"arn": irsa_role(subjects=subjects).role_arn})


def test_irsa_role_puts_each_non_empty_bucket_in_an_attached_managed_policy():
    grants = [SecretGrant("us-east-1", f"test/app/s{i}") for i in range(3)]
    buckets = [tuple(grants[:2]), (), (grants[2],), ()]
    result = run(lambda: {"arn": irsa_role(grants=grants, managed_policy_buckets=buckets).role_arn})
    children = sorted((r.type, r.name) for r in result.resources if r.parent == "irsa-team")
    assert children == [
        ("aws:iam/policy:Policy", "irsa-team-secret-reads-1"),
        ("aws:iam/policy:Policy", "irsa-team-secret-reads-3"),
        ("aws:iam/role:Role", "irsa-team-role"),
        ("aws:iam/rolePolicyAttachment:RolePolicyAttachment", "irsa-team-secret-reads-1-attachment"),
        ("aws:iam/rolePolicyAttachment:RolePolicyAttachment", "irsa-team-secret-reads-3-attachment"),
    ]
    third = result.named("irsa-team-secret-reads-3").inputs
    assert third["name"] == "eso-test.team-secret-reads-3" and third["path"] == "/eso-platform/"
    # Nothing in it depends on how many buckets there are: description is ForceNew.
    assert third["description"] == result.named("irsa-team-secret-reads-1").inputs["description"] == "Exact secret reads of role eso-test.team"
    assert json.loads(third["policy"])["Statement"][0]["Resource"] == [
        "arn:aws:secretsmanager:us-east-1:123456789012:secret:test/app/s2-??????"
    ]
    attachment = result.named("irsa-team-secret-reads-3-attachment")
    assert attachment.inputs == {
        "role": "eso-test.team",
        "policyArn": "arn:aws:iam::123456789012:policy/eso-platform/eso-test.team-secret-reads-3",
    }
    assert "irsa-team-secret-reads-3" in attachment.dependencies
    # A lower bucket's policy changes only after every higher bucket is attached.
    assert "irsa-team-secret-reads-3-attachment" in result.named("irsa-team-secret-reads-1").dependencies
    assert not [d for d in result.named("irsa-team-secret-reads-3").dependencies if d.startswith("irsa-team-secret-reads")]


def test_irsa_role_refuses_managed_buckets_that_are_not_its_grants():
    grants = [SecretGrant("us-east-1", "test/app/a"), SecretGrant("us-east-1", "test/app/b")]
    with pytest.raises(ValueError, match="must hold exactly its grants, once"):
        IrsaRoleArgs("r", PROVIDER_ARN, [], grants, managed_policy_buckets=[(grants[0],), (grants[0],)])


def test_admission_guard_registers_each_policy_before_its_binding():
    guard = AdmissionGuardArgs(
        "dev-1", ["team"], "reader", CONTROLLER, {"team": "platform", "env": "dev"}, {"team": "platform"}, True, ["legacy"]
    )
    result = run(lambda: {"bindings": len(AdmissionGuard("admission", guard).bindings)})
    assert result.outputs == {"bindings": 4}
    assert result.named("admission").type == "eso-platform:admission:AdmissionGuard"
    stack_policy = ("admission-eso-platform-stack-dev-1", "admission-eso-platform-stack-dev-1-binding")
    accounts = ("admission-eso-platform-stack-dev-1-accounts", "admission-eso-platform-stack-dev-1-accounts-binding")
    own = (*stack_policy, *accounts)
    for policy_name, binding_name in (stack_policy, accounts):
        assert result.named(binding_name).dependencies == (policy_name,)
        assert result.named(policy_name).inputs["metadata"]["labels"] == {"team": "platform", "env": "dev"}
    for policy_name in ("eso-platform-tenant-namespaces", "eso-platform-aws-store-auth"):
        policy = result.named(f"admission-{policy_name}")
        binding = result.named(f"admission-{policy_name}-binding")
        assert policy.parent == binding.parent == "admission"
        assert policy.inputs["metadata"] == {"name": policy_name, "labels": {"team": "platform"}}
        assert binding.inputs["spec"]["policyName"] == policy_name
        # The stack's own policy holds the rules an older cluster-wide policy held, so it comes first.
        assert set(policy.dependencies) == set(own)
        assert set(binding.dependencies) == {*own, policy.name}


def test_admission_guard_requires_the_cluster_policies_another_stack_defines():
    guard = AdmissionGuardArgs("staging-2", ["team"], "reader", CONTROLLER, {}, {}, False)
    result = run(lambda: {"bindings": len(AdmissionGuard("admission", guard).bindings)})
    assert result.outputs == {"bindings": 4}
    admission = [r for r in result.resources if r.type.startswith("kubernetes:admissionregistration")]
    registered = sorted(r.name for r in admission if r.read_id is None)
    assert registered == [
        "admission-eso-platform-stack-staging-2",
        "admission-eso-platform-stack-staging-2-accounts",
        "admission-eso-platform-stack-staging-2-accounts-binding",
        "admission-eso-platform-stack-staging-2-binding",
    ]
    read = sorted((r.type.rsplit(":", 1)[1], r.read_id) for r in admission if r.read_id is not None)
    assert read == [
        ("ValidatingAdmissionPolicy", "eso-platform-aws-store-auth"),
        ("ValidatingAdmissionPolicy", "eso-platform-tenant-namespaces"),
        ("ValidatingAdmissionPolicyBinding", "eso-platform-aws-store-auth"),
        ("ValidatingAdmissionPolicyBinding", "eso-platform-tenant-namespaces"),
    ]


def test_operator_installs_the_pinned_chart_in_its_namespace():
    result = run(
        lambda: {
            "namespace": Operator(
                "eso",
                OperatorArgs(
                    namespace="eso-system",
                    chart="external-secrets",
                    chart_version="2.9.0",
                    repository="https://charts.external-secrets.io",
                    replicas=2,
                    labels={"team": "platform"},
                ),
            ).namespace
        }
    )
    assert result.outputs == {"namespace": "eso-system"}
    assert result.named("eso").type == "eso-platform:operator:Operator"
    namespace = result.named("eso-namespace")
    assert namespace.parent == "eso" and namespace.retain_on_delete
    release = result.named("eso-chart")
    assert release.parent == "eso" and release.dependencies == ("eso-namespace-labels",)
    assert release.inputs["namespace"] == "eso-system"
    assert release.inputs["version"] == "2.9.0"
    assert release.inputs["skipAwait"] is False and release.inputs["atomic"] is True
    # Uninstalled when it leaves the stack, and created rather than imported, unless asked.
    assert not release.retain_on_delete and release.import_id is None
    assert release.inputs["values"]["leaderElect"] is True


def test_tenant_registers_account_stores_and_external_secrets():
    def build():
        tenant = Tenant(
            "tenant-team",
            TenantArgs(
                namespace="team",
                service_account_name="eso",
                role_arn="arn:aws:iam::123456789012:role/r",
                role_name="r",
                regions=["eu-west-1", "us-east-1"],
                external_secrets=[
                    ExternalSecretSpec("api", "test/app/api", "api", "10m", "aws-secretsmanager-us-east-1"),
                    ExternalSecretSpec("db", "test/app/db", "db", "1h", "aws-secretsmanager-eu-west-1", ("URL",)),
                ],
                controller=ServiceAccountRef("eso-system", "external-secrets"),
                force_sync="now",
            ),
        )
        return {"stores": tenant.store_names, "namespace": tenant.namespace}

    result = run(build)
    assert result.outputs == {
        "stores": {"eu-west-1": "aws-secretsmanager-eu-west-1", "us-east-1": "aws-secretsmanager-us-east-1"},
        "namespace": "team",
    }
    children = sorted(r.name for r in result.resources if r.parent == "tenant-team")
    assert children == [
        "tenant-team-namespace",
        "tenant-team-namespace-labels",
        "tenant-team-service-account",
        "tenant-team-token-binding",
        "tenant-team-token-role",
        "tenant-team/api",
        "tenant-team/db",
        "tenant-team/eu-west-1",
        "tenant-team/us-east-1",
    ]
    binding = result.named("tenant-team-token-binding").inputs
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "external-secrets", "namespace": "eso-system"}]
    assert result.named("tenant-team-token-role").inputs["rules"][0]["resourceNames"] == ["eso"]
    for store in ("tenant-team/eu-west-1", "tenant-team/api"):
        assert "tenant-team-token-binding" in result.named(store).dependencies
    db = result.named("tenant-team/db").inputs
    assert db["metadata"]["annotations"] == {"force-sync": "now", "pulumi.com/patchForce": "true"}
    assert db["metadata"]["labels"]["eso-platform/service"] == "db"
    assert db["spec"]["data"][0]["remoteRef"] == {"key": "test/app/db", "property": "URL"}


@pytest.mark.parametrize("labelled_by_namespace", [False, True])
def test_a_namespace_is_kept_and_its_labels_are_a_patch_given_back_on_removal(labelled_by_namespace):
    def build():
        parent = pulumi.ComponentResource("test:index:Parent", "parent")
        name = adopted_namespace(
            "team-namespace", "team", {"eso-platform/managed": "true", "app.kubernetes.io/part-of": "x"},
            {"eso-platform/stack": "org/eso-platform/dev"}, parent, None, labelled_by_namespace,
        )
        return {"name": name}

    result = run(build)
    assert result.outputs == {"name": "team"}
    namespace, labels = result.named("team-namespace"), result.named("team-namespace-labels")
    assert namespace.type == NAMESPACE and labels.type == NAMESPACE_PATCH
    assert namespace.retain_on_delete and not labels.retain_on_delete
    assert namespace.inputs["metadata"] == {"name": "team"}
    assert labels.inputs["metadata"] == {
        "name": "team",
        "labels": {"eso-platform/managed": "true"},
        "annotations": {"eso-platform/stack": "org/eso-platform/dev"},
    }
    # Adopting: the namespace exists before its labels. Taking the labels over from the Namespace
    # resource of an earlier release: the Patch holds them before that resource lets them go.
    first, then = (labels, namespace) if labelled_by_namespace else (namespace, labels)
    assert then.dependencies == (first.name,) and first.dependencies == ()


DEPLOYER = DeployingIdentity(profile="platform", role_arn="arn:aws:iam::123456789012:role/deployer")


@pytest.mark.parametrize(
    "args, created",
    [
        (ClusterAccessArgs("us-east-1", existing_cluster_name="platform", identity=DEPLOYER), []),
        (ClusterAccessArgs("us-east-1", stack_reference="org/cluster/dev", identity=DEPLOYER), ["pulumi:pulumi:StackReference"]),
        (ClusterAccessArgs("us-east-1", new_cluster=NewCluster("1.35", "t3.medium", 2), identity=DEPLOYER), ["eks:index:Cluster"]),
    ],
)
def test_cluster_access_in_each_form(args, created):
    def build():
        access = ClusterAccess("cluster", args)
        return {"oidc": access.oidc_provider_arn, "kubeconfig": access.kubeconfig, "secret": pulumi.Output.is_secret(access.kubeconfig)}

    result = run(build)
    assert result.outputs["oidc"].startswith("arn:aws:iam::123456789012:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/")
    assert result.outputs["secret"] is True
    (user,) = json.loads(result.outputs["kubeconfig"])["users"]
    assert user["user"]["exec"]["args"][-4:] == ["--profile", "platform", "--role-arn", DEPLOYER.role_arn]
    types = sorted(r.type for r in result.resources if r.parent == "cluster")
    assert types == sorted(created + ["pulumi:providers:kubernetes", "pulumi:providers:kubernetes"])
    adopting = result.named("cluster-k8s-namespaces")
    assert adopting.inputs["upsertExistingObjects"] == "true"
    assert adopting.inputs["kubeconfig"] == result.named("cluster-k8s").inputs["kubeconfig"] == "[secret]"
    assert "upsertExistingObjects" not in result.named("cluster-k8s").inputs
