"""No Secret lost by accident: renames, secretName changes, removals, adoption, and the
operator's namespace, through the real program and the plan command."""

import copy
import json

import grpc
import pulumi
import pytest
import yaml

from stacks.program import SOMEONE_ELSES_OPERATOR_WARNING
from tools.cli import main
from tools.plan.engine import PlaceholderCloud, ProgramRun
from tools.plan.render import as_text
from stacks.lifecycle import labelled_by_namespace
from stacks.loading import ConfigError, load_stack
from components.resource_types import EXTERNAL_SECRET, READ_STACK_OUTPUTS, RELEASE
from tests.conftest import PROJECT_ROOT, REGION, as_pulumi_config, crowded_services, stack_values



def dev_with_services(change) -> dict:
    values = copy.deepcopy(stack_values("dev"))
    change(values["services"])
    return values


def after(run_stack, previous: ProgramRun, values: dict) -> ProgramRun:
    """The program on `values`, as a stack whose last deployment was `previous`."""
    deployed = json.loads(json.dumps(previous.outputs))
    return run_stack(values, stack="dev", mocks=PlaceholderCloud(REGION, previous_outputs=deployed))


def rename_worker(services, renamed_from=True):
    worker = next(s for s in services if s["name"] == "backend-worker")
    worker["name"] = "backend-jobs"
    if renamed_from:
        worker["renamedFrom"] = "backend-worker"


def test_renamed_from_keeps_the_external_secret_and_its_secret_and_churns_nothing_else(run_stack, dev_run):
    run = after(run_stack, dev_run, dev_with_services(rename_worker))
    assert run.warnings == []
    before = {r.urn: r for r in dev_run.resources}
    changed = sorted(r.name for r in run.resources if r.urn not in before or before[r.urn].inputs != r.inputs)
    assert changed == ["irsa-backend-read-secrets", "tenant-backend/backend-worker"]
    worker = run.named("tenant-backend/backend-worker").inputs
    assert worker["metadata"]["name"] == "backend-worker"
    assert worker["metadata"]["labels"]["eso-platform/service"] == "backend-jobs"
    assert worker["spec"]["target"] == {"name": "backend-worker", "creationPolicy": "Owner"}
    assert worker["spec"]["dataFrom"] == [{"extract": {"key": "dev/app/backend-jobs"}}]
    assert run.outputs["services"]["backend/backend-jobs"] == {
        "secretPath": "dev/app/backend-jobs",
        "region": "us-east-1",
        "kubernetesSecret": "backend-worker",
        "refreshInterval": "24h",
        "externalSecret": "backend-worker",
        "onRemove": "delete",
        "protect": False,
    }


def test_a_rename_without_renamed_from_is_a_warned_gap_or_deletion(run_stack, dev_run):
    def rename_api(services):
        services[0]["name"] = "backend-gateway"  # secretName stays backend-api-env

    gap = after(run_stack, dev_run, dev_with_services(rename_api))
    assert gap.warnings == [
        "Secret backend/backend-api-env passes from ExternalSecret backend-api to backend-gateway: it is deleted "
        "with backend-api and written again only after, a gap in which pods cannot read it; if service "
        "backend/backend-gateway is backend/backend-api renamed, set renamedFrom: backend-api on it"
    ]
    deleted = after(run_stack, dev_run, dev_with_services(lambda services: rename_worker(services, renamed_from=False)))
    assert deleted.warnings == [
        "Secret backend/backend-worker will be deleted: service backend/backend-worker is removed (onRemove: "
        "delete); to keep the Secret, deploy onRemove: keep on the service first, then remove it"
    ]


def test_secret_name_changes_and_removals_warn_before_they_happen(run_stack, dev_run):
    def change(services):
        services[4].update(secretName="web-env")
        del services[2]

    run = after(run_stack, dev_run, dev_with_services(change))
    assert run.warnings == [
        "Secret frontend/web will be deleted and frontend/web-env is written instead: service frontend/web changes "
        "its secretName",
        "Secret payments/payments will be deleted: service payments/payments is removed (onRemove: delete); to "
        "keep the Secret, deploy onRemove: keep on the service first, then remove it",
    ]


def test_on_remove_keep_orphans_the_secret_and_its_removal_keeps_it(run_stack, dev_run):
    def keep(services):
        services[2]["onRemove"] = "keep"

    kept = after(run_stack, dev_run, dev_with_services(keep))
    assert kept.named("tenant-payments/payments").inputs["spec"]["target"] == {
        "name": "payments",
        "creationPolicy": "Orphan",
    }
    assert kept.warnings == []
    assert kept.named("tenant-payments/payments-ledger").inputs["spec"]["target"]["creationPolicy"] == "Owner"
    removed = after(run_stack, kept, dev_with_services(lambda services: services.pop(2)))
    assert removed.warnings == [
        "Secret payments/payments stays but is no longer updated: service payments/payments is removed with onRemove: keep"
    ]


def guard(run: ProgramRun) -> dict:
    return run.named("secret-guard-policy").inputs["spec"]


def test_the_guard_lets_the_controller_update_only_what_an_external_secret_wrote(dev_run):
    spec = guard(dev_run)
    assert spec["matchConditions"] == [
        {
            "name": "external-secrets-controller",
            "expression": "request.userInfo.username == 'system:serviceaccount:external-secrets:external-secrets'",
        }
    ]
    assert spec["matchConstraints"]["resourceRules"] == [
        {"apiGroups": [""], "apiVersions": ["v1"], "operations": ["UPDATE"], "resources": ["secrets"]}
    ]
    adopted = next(v for v in spec["variables"] if v["name"] == "adoptedByConfig")
    assert adopted["expression"] == "(request.namespace + '/' + request.name) in []"
    binding = dev_run.named("secret-guard-binding").inputs["spec"]
    assert binding["policyName"] == "eso-platform-secret-guard-dev"
    assert binding["matchResources"]["namespaceSelector"]["matchExpressions"] == [
        {"key": "kubernetes.io/metadata.name", "operator": "In", "values": ["backend", "frontend", "payments"]}
    ]
    for external_secret in dev_run.of_type(EXTERNAL_SECRET):
        assert "secret-guard-binding" in external_secret.dependencies, external_secret.name


def test_adopt_lists_the_service_secret_for_the_guard(run_stack):
    def adopt(services):
        services[0]["adopt"] = True

    run = run_stack(dev_with_services(adopt))
    adopted = next(v for v in guard(run)["variables"] if v["name"] == "adoptedByConfig")
    assert adopted["expression"] == "(request.namespace + '/' + request.name) in ['backend/backend-api-env']"
    assert run.outputs["secretGuard"]["adopts"] == ["backend/backend-api-env"]


@pytest.mark.parametrize("install", [True, False])
def test_the_guard_names_the_controllers_service_account(run_stack, install):
    values = copy.deepcopy(stack_values("dev"))
    values["eso"] = {"namespace": "eso-system", "install": install}
    condition = guard(run_stack(values))["matchConditions"][0]["expression"]
    assert condition == "request.userInfo.username == 'system:serviceaccount:eso-system:external-secrets'"


def test_a_stack_without_services_has_no_guard(run_stack):
    run = run_stack({**stack_values("dev"), "services": []})
    assert not run.of_type("eso-platform:secret_guard:SecretGuard") and run.outputs["secretGuard"] == {}


def load(values: dict):
    config = as_pulumi_config(values)
    region = config.pop("aws:region")
    return load_stack({key.removeprefix("eso-platform:"): text for key, text in config.items()}, region)


@pytest.mark.parametrize(
    "change, problem",
    [
        (lambda s: s[1].update(renamedFrom="backend-api"),
         "services[1].renamedFrom: ExternalSecret 'backend-api' in namespace 'backend' is already services[0]'s; "
         "each ExternalSecret belongs to one service"),
        (lambda s: s[0].update(renamedFrom="backend-api"),
         "services[0]: renamedFrom is the service's own name 'backend-api'; remove renamedFrom"),
        (lambda s: s[1].update(renamedFrom="backend-old", secretName=None) or s[1].pop("secretName"),
         None),
        (lambda s: s.append({"name": "other", "namespace": "backend", "renamedFrom": "backend-worker"}),
         "services[5].renamedFrom: ExternalSecret 'backend-worker' in namespace 'backend' is already services[1]'s"),
        (lambda s: s.append({"name": "other", "namespace": "frontend", "renamedFrom": "web"}),
         "services[5].renamedFrom: ExternalSecret 'web' in namespace 'frontend' is already services[4]'s"),
        (lambda s: s[2].update(onRemove="orphan"), "services[2].onRemove: Input should be 'delete' or 'keep'"),
        (lambda s: s[2].update(adopt="yes"), "services[2].adopt: Input should be a valid boolean"),
        (lambda s: s.append({"name": "x", "namespace": "backend", "renamedFrom": "backend-api-env"}),
         "services[5].secretName: Secret 'backend-api-env' in namespace 'backend' is already written by services[0]"),
    ],
)
def test_lifecycle_fields_are_checked(change, problem):
    values = dev_with_services(change)
    if problem is None:
        loaded = load(values)
        assert (loaded.services[1].external_secret_name, loaded.services[1].secret_name) == ("backend-old", "backend-old")
        return
    with pytest.raises(ConfigError) as raised:
        load(values)
    assert any(line.startswith(problem) for line in raised.value.problems), raised.value.problems


def write_stack(tmp_path, name: str, change=None, eso=None):
    document = yaml.safe_load((PROJECT_ROOT / "Pulumi.dev.yaml").read_text())
    if change:
        change(document["config"]["eso-platform:services"])
    if eso is not None:
        document["config"]["eso-platform:eso"] = eso
    path = tmp_path / f"Pulumi.{name}.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def plan(capsys, *args) -> tuple[int, str, str]:
    code = main(["plan", *[str(arg) for arg in args]])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_plan_against_the_deployed_config_lists_secrets_deleted_or_renamed(capsys, tmp_path):
    deployed = tmp_path / "deployed.json"
    assert plan(capsys, "dev", "--format", "json", "--out", deployed)[0] == 0

    def change(services):
        services[4].update(secretName="web-env")
        services[3]["onRemove"] = "keep"
        del services[2]

    proposed = write_stack(tmp_path, "dev", change)
    code, out, err = plan(capsys, proposed, "--against", deployed)
    assert (code, err) == (0, "")
    section = out.split("\nkubernetes secrets against the deployed config\n")[1].split("\n\n")[0]
    assert section.splitlines() == [
        "  renamed frontend/web (service frontend/web)",
        "  deleted payments/payments (service payments/payments)",
    ]
    assert "Secret payments/payments will be deleted: service payments/payments is removed" in out.split("\nwarnings\n")[1]
    assert "-> Secret payments-ledger (all keys) every 24h via aws-secretsmanager-us-west-2, Secret kept on removal" in out
    code, out, _ = plan(capsys, proposed, "--against", deployed, "--format", "json")
    changes = json.loads(out)["secretChanges"]
    assert [(c["action"], c["namespace"], c["secret"]) for c in changes] == [
        ("renamed", "frontend", "web"),
        ("deleted", "payments", "payments"),
    ]
    outputs_only = tmp_path / "stack-output.json"
    outputs_only.write_text(json.dumps(json.loads(deployed.read_text())["outputs"]))
    assert json.loads(plan(capsys, proposed, "--against", outputs_only, "--format", "json")[1])["secretChanges"] == changes
    assert "kubernetes secrets against" not in plan(capsys, proposed)[1]


@pytest.mark.parametrize(
    "content, message",
    [
        ("{not json", "is not JSON"),
        ('{"environment": "dev"}', "holds no `services` outputs; give a plan written with --format json"),
        (None, "cannot be read"),
    ],
)
def test_a_bad_against_file_is_exit_code_2(capsys, tmp_path, content, message):
    against = tmp_path / "previous.json"
    if content is not None:
        against.write_text(content)
    code, out, err = plan(capsys, "dev", "--against", against)
    assert code == 2 and out == ""
    assert err.startswith(f"error: --against {against}: {message}")


def test_moving_the_installed_operator_to_another_namespace_is_refused(capsys, tmp_path, run_stack, dev_run):
    values = copy.deepcopy(stack_values("dev"))
    values["eso"] = {"namespace": "eso-system"}
    with pytest.raises(pulumi.RunError, match="eso.namespace: this stack installed the operator in 'external-secrets'; "
                       "moving it to 'eso-system' would replace the Helm release"):
        after(run_stack, dev_run, values)
    deployed = tmp_path / "deployed.json"
    plan(capsys, "dev", "--format", "json", "--out", deployed)
    code, out, err = plan(capsys, write_stack(tmp_path, "dev", eso={"namespace": "eso-system"}), "--against", deployed)
    assert code == 2 and out == ""
    assert "Moving the operator to another namespace" in err and "Traceback" not in err


def with_eso(previous: ProgramRun, run_stack, **eso) -> ProgramRun:
    values = copy.deepcopy(stack_values("dev"))
    values["eso"] = eso
    return after(run_stack, previous, values)


def test_the_release_is_uninstalled_on_removal_unless_keep_is_deployed(dev_run):
    assert dev_run.named("eso-chart").retain_on_delete is False
    assert dev_run.outputs["operator"]["onRemove"] == "uninstall"


def test_install_false_after_uninstall_was_deployed_warns_that_it_uninstalls(run_stack, dev_run):
    run = with_eso(dev_run, run_stack, install=False)
    assert not run.of_type(RELEASE)
    assert run.warnings == [
        "eso.install is false: this `up` uninstalls the operator this stack installed in 'external-secrets' "
        "(eso.onRemove: uninstall): no ExternalSecret in the cluster is refreshed until another ESO runs, and their "
        "Secrets stay as they are. To hand it over running instead, deploy eso.onRemove: keep with eso.install: true first",
        SOMEONE_ELSES_OPERATOR_WARNING,
    ]
    assert run.outputs["operator"] == {"namespace": "external-secrets", "installed": False}


def test_keep_in_the_same_up_as_install_false_is_refused_because_the_engine_applies_the_last_deployed(run_stack, dev_run):
    with pytest.raises(pulumi.RunError, match=r"eso.onRemove: keep takes effect with the `pulumi up` that deploys it, "
                       r"and this stack's last `up` deployed uninstall, so this `up` would uninstall the operator in "
                       r"'external-secrets'. Deploy eso.onRemove: keep with eso.install: true first"):
        with_eso(dev_run, run_stack, install=False, onRemove="keep")


def test_a_handover_in_two_deployments_and_the_release_taken_back(run_stack, dev_run):
    keeping = with_eso(dev_run, run_stack, onRemove="keep")
    assert keeping.named("eso-chart").retain_on_delete is True and keeping.warnings == []
    handed_over = with_eso(keeping, run_stack, install=False, onRemove="keep")
    assert handed_over.warnings[0] == (
        "eso.install is false: this stack stops managing the operator it installed in 'external-secrets'; its Helm "
        "release stays installed and running (eso.onRemove: keep), now yours to upgrade or remove with helm, or this "
        "stack's again with eso.install: true"
    )
    # The stack that defined the cluster-wide policies goes on defining them, and deletes them
    # when it goes: a kept one would conflict with the next stack that defines them.
    cluster_policies = ("admission-eso-platform-tenant-namespaces", "admission-eso-platform-aws-store-auth")
    for run in (keeping, handed_over):
        assert not any(run.named(name).retain_on_delete for name in cluster_policies)
        assert run.outputs["admission"] == {"clusterRules": "define"}
    assert handed_over.outputs["operator"] == {"namespace": "external-secrets", "installed": False, "handedOver": "external-secrets"}
    # Another deployment without the operator still knows what it handed over.
    again = with_eso(handed_over, run_stack, install=False)
    assert again.outputs["operator"]["handedOver"] == "external-secrets"
    assert again.warnings == [SOMEONE_ELSES_OPERATOR_WARNING]
    taken_back = with_eso(again, run_stack)
    assert taken_back.named("eso-chart").import_id == "external-secrets/external-secrets"
    assert taken_back.warnings == [
        "eso.install is true: this stack takes back the Helm release external-secrets it handed over in "
        "'external-secrets': an import, then an upgrade to this stack's chart and values, with no reinstall"
    ]
    assert taken_back.outputs["operator"]["installed"] is True
    assert with_eso(taken_back, run_stack).named("eso-chart").import_id is None


def test_only_a_handed_over_release_is_imported(run_stack, dev_run):
    assert dev_run.named("eso-chart").import_id is None
    uninstalled = with_eso(dev_run, run_stack, install=False)
    assert with_eso(uninstalled, run_stack).named("eso-chart").import_id is None
    never_installed = run_stack(
        {**stack_values("dev"), "eso": {"install": False}}, stack="dev", mocks=PlaceholderCloud(REGION)
    )
    assert "handedOver" not in never_installed.outputs["operator"]
    assert with_eso(never_installed, run_stack).named("eso-chart").import_id is None


def test_the_operator_moves_in_two_deployments_through_a_handover(run_stack, dev_run):
    handed_over = with_eso(with_eso(dev_run, run_stack, onRemove="keep"), run_stack, install=False)
    moved = with_eso(handed_over, run_stack, namespace="eso-system")
    assert moved.named("eso-chart").inputs["namespace"] == "eso-system"
    assert moved.named("eso-chart").import_id is None
    assert moved.warnings == [
        "eso.install is true: the operator this stack handed over in 'external-secrets' must be gone before one "
        "installs in 'eso-system' (two operators cannot share the CRDs): see docs/coexistence.md, \"Moving the "
        "operator to another namespace\""
    ]


def test_outputs_of_the_previous_release_are_understood(run_stack, dev_run):
    # Releases before renamedFrom, onRemove, eso.install and the guard exported none of them.
    deployed = json.loads(json.dumps(dev_run.outputs))
    del deployed["secretGuard"], deployed["operator"]["installed"]
    for entry in deployed["services"].values():
        del entry["externalSecret"], entry["onRemove"]
    mocks = PlaceholderCloud(REGION, previous_outputs=deployed)
    assert run_stack(stack_values("dev"), stack="dev", mocks=mocks).warnings == []
    assert run_stack(dev_with_services(rename_worker), stack="dev", mocks=mocks).warnings == []
    values = dev_with_services(lambda services: services.pop(4))
    assert [w.split(":")[0] for w in run_stack(values, stack="dev", mocks=mocks).warnings] == [
        "Secret frontend/web will be deleted"
    ]
    values["eso"] = {"namespace": "eso-system"}
    with pytest.raises(pulumi.RunError, match="eso.namespace: this stack installed the operator"):
        run_stack(values, stack="dev", mocks=mocks)


def test_a_release_deployed_before_on_remove_was_recorded_as_kept(run_stack, dev_run):
    # Those releases deployed the Helm release retainOnDelete, so the engine keeps it.
    deployed = json.loads(json.dumps(dev_run.outputs))
    del deployed["operator"]["onRemove"]
    mocks = PlaceholderCloud(REGION, previous_outputs=deployed)
    handed_over = run_stack({**stack_values("dev"), "eso": {"install": False, "onRemove": "keep"}}, stack="dev", mocks=mocks)
    assert "Helm release stays installed and running (eso.onRemove: keep)" in handed_over.warnings[0]
    assert handed_over.outputs["operator"]["handedOver"] == "external-secrets"


def test_uninstall_in_the_same_up_as_install_false_after_keep_keeps_the_release_and_says_so(run_stack, dev_run):
    keeping = with_eso(dev_run, run_stack, onRemove="keep")
    run = with_eso(keeping, run_stack, install=False, onRemove="uninstall")
    assert run.warnings[0].endswith(
        "eso.onRemove: uninstall takes effect only once a `pulumi up` with eso.install: true deploys it, "
        "so the release is kept"
    )
    assert run.outputs["operator"]["handedOver"] == "external-secrets"


class EngineError(grpc.RpcError):
    """An error the engine returns over gRPC, as the SDK receives it."""

    def __init__(self, details: str):
        self._details = details

    def code(self) -> grpc.StatusCode:
        return grpc.StatusCode.UNKNOWN

    def details(self) -> str:
        return self._details


class CheckpointBeingWritten(PlaceholderCloud):
    """The backend's answer while the engine writes the checkpoint it begins the update with."""

    def __init__(self, failures: int, message: str, previous_outputs: dict):
        super().__init__(REGION, previous_outputs=previous_outputs)
        self.failures, self.message = failures, message

    def call(self, args):
        if args.token == READ_STACK_OUTPUTS and self.failures:
            self.failures -= 1
            raise EngineError(f"invocation of {READ_STACK_OUTPUTS} returned an error: {self.message}")
        return super().call(args)


def test_the_last_outputs_are_read_again_while_the_checkpoint_is_being_written(run_stack, dev_run):
    deployed = json.loads(json.dumps(dev_run.outputs))
    values = dev_with_services(lambda services: services.pop(4))
    mocks = CheckpointBeingWritten(3, "failed to load checkpoint: EOF", deployed)
    # The removal warning needs the last outputs: they were read once the write was done.
    assert [w.split(":")[0] for w in run_stack(values, stack="dev", mocks=mocks).warnings] == ["Secret frontend/web will be deleted"]
    assert mocks.failures == 0


def test_another_failure_to_read_the_last_outputs_stops_the_program(run_stack):
    with pytest.raises(Exception, match="no backend client is available"):
        run_stack(stack_values("dev"), stack="dev", mocks=CheckpointBeingWritten(1, "no backend client is available", {}))


def test_the_plan_says_what_becomes_of_the_release(run_stack, dev_run):
    assert "\n  on destroy or eso.install: false: uninstalled\n" in as_text(dev_run)
    keeping = with_eso(dev_run, run_stack, onRemove="keep")
    assert "\n  on destroy or eso.install: false: kept installed and running\n" in as_text(keeping)
    taken_back = with_eso(with_eso(keeping, run_stack, install=False), run_stack, onRemove="keep")
    assert (
        "\n  on destroy or eso.install: false: kept installed and running; taken back by import of "
        "external-secrets/external-secrets\n" in as_text(taken_back)
    )


def cluster_reads(run: ProgramRun) -> list[str]:
    return sorted({r.read_id for r in run.resources if r.read_id and r.parent == "admission"})


def test_the_cluster_wide_policies_stay_with_the_stack_that_defined_them(run_stack, dev_run):
    someone_elses = copy.deepcopy(stack_values("dev"))
    someone_elses["eso"] = {"install": False}
    # A new stack beside another's operator reads them.
    fresh = run_stack(someone_elses, stack="dev")
    assert cluster_reads(fresh) == ["eso-platform-aws-store-auth", "eso-platform-tenant-namespaces"]
    assert fresh.outputs["admission"] == {"clusterRules": "require"}
    assert cluster_reads(after(run_stack, fresh, someone_elses)) == ["eso-platform-aws-store-auth", "eso-platform-tenant-namespaces"]
    # A stack deployed by a release before clusterRules defined them: it goes on doing so.
    earlier = json.loads(json.dumps(dev_run.outputs))
    del earlier["namespaceClaim"], earlier["admission"]
    upgraded = run_stack(someone_elses, stack="dev", mocks=PlaceholderCloud(REGION, previous_outputs=earlier))
    assert cluster_reads(upgraded) == [] and upgraded.outputs["admission"] == {"clusterRules": "define"}
    # Told to, it lets them go to the stack that defines them now.
    someone_elses["admission"] = {"clusterRules": "require"}
    released = after(run_stack, upgraded, someone_elses)
    assert cluster_reads(released) == ["eso-platform-aws-store-auth", "eso-platform-tenant-namespaces"]


def test_the_labels_move_first_only_where_an_earlier_release_labelled_through_the_namespace(dev_run):
    earlier = json.loads(json.dumps(dev_run.outputs))
    assert labelled_by_namespace(earlier) == set()
    del earlier["namespaceClaim"]
    assert labelled_by_namespace(earlier) == {"backend", "frontend", "payments", "external-secrets"}
    # A handed-over operator's namespace is no longer this stack's to relabel.
    earlier["operator"] = {"namespace": "external-secrets", "installed": False, "handedOver": "external-secrets"}
    assert labelled_by_namespace(earlier) == {"backend", "frontend", "payments"}
    assert labelled_by_namespace({}) == set()


def test_external_secrets_are_protected_stack_wide_or_per_service(run_stack, dev_run):
    """Pulumi's protect on the ExternalSecrets alone, as the engine receives it; the engine's refusal
    to delete them is e2e/test_secret_lifecycle.py."""
    values = stack_values("dev")
    values["protectExternalSecrets"] = True
    values["services"] = [{**entry, "protect": False} if entry["name"] == "web" else entry for entry in values["services"]]
    run = run_stack(values)
    protected = sorted(r.name for r in run.resources if r.protect)
    assert protected == ["tenant-backend/backend-api", "tenant-backend/backend-worker", "tenant-payments/payments",
                         "tenant-payments/payments-ledger"]
    assert run.outputs["services"]["frontend/web"]["protect"] is False
    assert run.outputs["services"]["payments/payments"]["protect"] is True
    assert not [r.name for r in dev_run.resources if r.protect], "nothing is protected unless asked"
    text = as_text(run)
    assert "  externalsecret backend-api: dev/app/backend-api -> Secret backend-api-env (keys DATABASE_URL, API_KEY) every 10m via aws-secretsmanager-us-east-1, protected from deletion" in text
    assert [line for line in text.splitlines() if "externalsecret web:" in line and "protected" in line] == []


def _leaves(run: ProgramRun) -> list[str]:
    depended = {name for resource in run.resources for name in resource.dependencies}
    return sorted(r.name for r in run.resources if r.custom and r.read_id is None
                  and not r.type.startswith("pulumi:providers:") and r.name not in depended)


@pytest.mark.parametrize("change", [
    {},
    {"irsa": {"mode": "shared"}},
    {"eso": {"monitoring": {"serviceMonitor": True, "alerts": True}}},
    {"admission": {"enabled": False}},
    {"services": [*stack_values("dev")["services"], *crowded_services(40)]},
    {"eso": {"install": False}},
], ids=["dev", "shared", "monitoring", "no-admission", "managed-policies", "existing-operator"])
def test_a_destroy_reaches_the_external_secrets_first(run_stack, change):
    """The engine deletes a resource only after everything that depends on it, and stops at the
    first it may not delete: with the ExternalSecrets the only leaves, a destroy deletes nothing
    else before a protected ExternalSecret stops it (e2e/test_secret_lifecycle.py, with the engine)."""
    values = {**stack_values("dev"), **change}
    run = run_stack(values)
    external_secrets = sorted(r.name for r in run.of_type(EXTERNAL_SECRET))
    assert external_secrets and _leaves(run) == external_secrets
