"""`python -m stacks plan`: snapshots, agreement with the program, and bad input."""

import json
import subprocess
import sys

import pytest
import yaml

from tools.cli import main
from tools.plan.engine import REDACTED
from tests.conftest import PROJECT_ROOT, pod_identity_values, write_stack_file
from tests.snapshots.paths import FORMATS, STACKS, snapshot_path

REGENERATE = "venv/bin/python -m tests.snapshots"


def plan(capsys, *args) -> tuple[int, str, str]:
    code = main(["plan", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def run_cli(*args, cwd=PROJECT_ROOT) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "stacks", *args], cwd=cwd, capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize("stack", STACKS)
@pytest.mark.parametrize("output_format", FORMATS)
def test_plan_matches_its_reviewed_snapshot(capsys, stack, output_format):
    code, out, err = plan(capsys, stack, "--format", output_format)
    assert code == 0 and err == ""
    expected = snapshot_path(stack, output_format).read_text()
    assert out == expected, f"plan changed; review it and regenerate with `{REGENERATE}`"


def test_plan_is_byte_identical_across_runs(capsys):
    first = plan(capsys, "prod", "--format", "json")[1]
    second = plan(capsys, "prod", "--format", "json")[1]
    assert first == second


def test_json_resources_are_what_the_program_registers(capsys, prod_run):
    document = json.loads(plan(capsys, "prod", "--format", "json")[1])
    assert (document["stack"], document["project"]) == ("prod", "eso-platform")
    listed = [(r["type"], r["name"], r["parent"]) for r in document["resources"]]
    assert listed == [(r.type, r.name, r.parent) for r in prod_run.resources]
    by_name = {r["name"]: r["inputs"] for r in document["resources"]}
    for registration in prod_run.resources:
        inputs = dict(registration.inputs)
        for key in ("assumeRolePolicy", "policy"):
            if registration.type.startswith("aws:iam/") and key in inputs:
                inputs[key] = json.loads(inputs[key])
                assert isinstance(by_name[registration.name][key], dict)
        assert by_name[registration.name] == inputs
    # What the engine would store encrypted is shown redacted.
    assert prod_run.secret_outputs == {"kubeconfig"}
    assert document["outputs"] == json.loads(json.dumps({**prod_run.outputs, "kubeconfig": REDACTED}))
    assert document["warnings"] == []


def test_json_snapshot_says_what_matters():
    document = json.loads(snapshot_path("dev", "json").read_text())
    types = [r["type"] for r in document["resources"]]
    assert types.count("aws:iam/role:Role") == 3
    assert types.count("kubernetes:external-secrets.io/v1:ExternalSecret") == 5
    role = next(r for r in document["resources"] if r["name"] == "irsa-frontend-role")
    assert role["parent"] == "irsa-frontend"
    condition = role["inputs"]["assumeRolePolicy"]["Statement"][0]["Condition"]["StringEquals"]
    assert sorted(condition.values()) == ["sts.amazonaws.com", "system:serviceaccount:frontend:external-secret-operator"]
    assert document["estimate"]["total"]["secrets"] == 5
    assert document["estimate"]["total"]["externalSecrets"] == 5


def test_yaml_snapshot_holds_only_the_tenant_objects():
    objects = list(yaml.safe_load_all(snapshot_path("prod", "yaml").read_text()))
    kinds = [(o["kind"], o["metadata"]["namespace"], o["metadata"]["name"]) for o in objects]
    assert [k for k in kinds if k[0] == "ServiceAccount"] == [
        ("ServiceAccount", ns, "external-secret-operator") for ns in ("backend", "frontend", "payments", "search")
    ]
    assert sum(1 for k in kinds if k[0] == "SecretStore") == 6
    assert sum(1 for k in kinds if k[0] == "ExternalSecret") == 7
    tenants = ("backend", "frontend", "payments", "search")
    for kind in ("Role", "RoleBinding"):
        assert [k for k in kinds if k[0] == kind] == [(kind, ns, "eso-platform-token-request") for ns in tenants]
    assert {o["apiVersion"] for o in objects if o["kind"] in ("SecretStore", "ExternalSecret")} == {"external-secrets.io/v1"}
    assert {o["apiVersion"] for o in objects if o["kind"] in ("Role", "RoleBinding")} == {"rbac.authorization.k8s.io/v1"}
    assert all(list(o)[:3] == ["apiVersion", "kind", "metadata"] for o in objects)


def test_text_snapshot_reads_as_a_tree():
    text = snapshot_path("dev", "text").read_text()
    assert text.startswith("eso-platform plan: stack dev, environment dev\n")
    assert (
        "namespace payments\n"
        "  claimed by label eso-platform/stack=dev-22b2c0e4 (organization/eso-platform/dev), never forced; "
        "the labels are given back when it leaves the stack\n"
        "  role arn:aws:iam::123456789012:role/eso-dev.payments\n"
        "    trusts sub StringEquals system:serviceaccount:payments:external-secret-operator\n"
        "    trusts aud StringEquals sts.amazonaws.com\n"
        "    reads the AWSCURRENT version of arn:aws:secretsmanager:us-east-1:123456789012:secret:dev/app/payments-??????\n"
        "    reads the AWSCURRENT version of arn:aws:secretsmanager:us-west-2:123456789012:secret:dev/app/payments-ledger-??????\n"
        "  serviceaccount external-secret-operator\n"
    ) in text
    assert (
        "  externalsecret payments: dev/app/payments -> Secret payments (all keys) every 30m "
        "via aws-secretsmanager-us-east-1\n"
    ) in text
    assert "chart external-secrets 2.9.0 from https://charts.external-secrets.io" in text
    assert text.index("\noperator\n") < text.index("\nwarnings\n") < text.index("\nestimate")


def test_placeholders_can_be_overridden(capsys):
    issuer = "oidc.eks.us-east-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE"
    code, out, _ = plan(capsys, "dev", "--account-id", "210987654321", "--oidc-issuer", f"https://{issuer}")
    assert code == 0
    assert f"OIDC provider arn:aws:iam::210987654321:oidc-provider/{issuer}\n" in out
    assert "123456789012" not in out


def test_warnings_are_listed(capsys, tmp_path):
    stack = tmp_path / "Pulumi.wild.yaml"
    config = yaml.safe_load((PROJECT_ROOT / "Pulumi.dev.yaml").read_text())
    config["config"]["eso-platform:irsa"] = {"mode": "shared-wildcard"}
    stack.write_text(yaml.safe_dump(config))
    code, out, _ = plan(capsys, str(stack))
    assert code == 0
    warnings = out.split("\nwarnings\n")[1].split("\n\n")[0]
    assert "irsa.mode shared-wildcard: the role trusts a ServiceAccount named 'external-secret-operator' in ANY" in warnings
    assert "trusts sub StringLike system:serviceaccount:*:external-secret-operator" in out


def test_out_writes_the_file(capsys, tmp_path):
    target = tmp_path / "plans" / "dev.yaml"
    code, out, err = plan(capsys, "dev", "--format", "yaml", "--out", str(target))
    assert code == 0 and out == ""
    assert err == f"wrote the yaml plan of stack dev to {target}\n"
    assert target.read_text() == snapshot_path("dev", "yaml").read_text()


def test_command_line_runs_the_dev_plan():
    result = run_cli("plan", "dev")
    assert result.returncode == 0, result.stderr
    assert result.stdout == snapshot_path("dev", "text").read_text()
    assert result.stderr == ""


def test_bad_config_lists_every_problem_with_exit_code_2(tmp_path):
    config = yaml.safe_load((PROJECT_ROOT / "Pulumi.dev.yaml").read_text())
    services = config["config"]["eso-platform:services"]
    services[3]["refreshInterval"] = "10 minutes"
    services[0]["name"] = "Backend_API"
    config["config"]["eso-platform:servics"] = []
    stack = tmp_path / "Pulumi.broken.yaml"
    stack.write_text(yaml.safe_dump(config))
    result = run_cli("plan", str(stack))
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr == (
        "error: Pulumi.broken.yaml: stack config has 3 problems:\n"
        "  - eso-platform:servics: unknown key; did you mean 'services'?\n"
        "  - services[0].name: 'Backend_API' is not a DNS-1123 label: use at most 63 lowercase letters, digits "
        "and '-', starting and ending with a letter or digit\n"
        "  - services[3].refreshInterval: '10 minutes' is not a duration like 10m or 1h30m\n"
    )


@pytest.mark.parametrize(
    "args, message",
    [
        (["plan", "staging"], "error: {root}/Pulumi.staging.yaml: no such stack file; name a stack (dev, prod) or a Pulumi.<stack>.yaml\n"),
        (["plan", "dev", "--format", "xml"], "error: argument --format: invalid choice: 'xml'"),
        (["plan", "dev", "--account-id", "12345"], "error: argument --account-id: '12345' is not a 12-digit AWS account id (see `python -m stacks plan --help`)\n"),
        (["plan", "dev", "--oidc-issuer", "not an issuer"], "error: argument --oidc-issuer: 'not an issuer' is not an OIDC issuer"),
        (["plan"], "error: the following arguments are required: stack (see `python -m stacks plan --help`)\n"),
        (["deploy"], "error: argument command: invalid choice: 'deploy'"),
    ],
)
def test_bad_arguments_are_one_clear_line_with_exit_code_2(args, message):
    result = run_cli(*args)
    assert result.returncode == 2
    assert message.format(root=PROJECT_ROOT) in result.stderr
    assert result.stderr.count("\n") == 1 and result.stdout == ""


def test_a_file_that_is_not_a_stack_is_refused(tmp_path):
    stack = tmp_path / "Pulumi.bad.yaml"
    stack.write_text("config: [1, 2]\n")
    result = run_cli("plan", str(stack))
    assert result.returncode == 2
    assert result.stderr == f"error: {stack}: `config` must be a mapping of keys to values\n"


def write_stack(tmp_path, text: str):
    stack = tmp_path / "Pulumi.odd.yaml"
    stack.write_bytes(text.encode() if isinstance(text, str) else text)
    return stack


MINIMAL = "config:\n  aws:region: us-east-1\n  eso-platform:cluster: {name: platform}\n"


@pytest.mark.parametrize(
    "content, message",
    [
        (MINIMAL + "  eso-platform:environment: dev\n  eso-platform:environment: prod\n", "not valid YAML (duplicate key 'eso-platform:environment'"),
        (MINIMAL + "  eso-platform:environment: &e dev\n  eso-platform:forceSync: *e\n", "not valid YAML (aliases (*name) are not supported"),
        (b"\xff\xfeconfig", "cannot be read ('utf-8' codec can't decode"),
        (MINIMAL + "  eso-platform:environment: dev\n  eso-platform:eso: {values: {x: {secure: v1:abc}}}\n",
         "eso-platform:eso: is set as a secret, but this program's config holds only names"),
    ],
)
def test_stack_files_pulumi_would_refuse_are_refused(tmp_path, content, message):
    result = run_cli("plan", str(write_stack(tmp_path, content)))
    assert result.returncode == 2
    assert message in result.stderr and result.stderr.count("Traceback") == 0


def test_yaml_12_words_stay_text_as_pulumi_reads_them(tmp_path, capsys):
    stack = write_stack(tmp_path, MINIMAL + "  eso-platform:environment: dev\n  eso-platform:forceSync: 1:30\n"
                        "  eso-platform:services: [{name: no, namespace: on}]\n")
    code, out, _ = plan(capsys, str(stack), "--format", "yaml")
    assert code == 0
    assert "force-sync: '1:30'" in out
    assert "namespace: 'on'" in out and "name: 'no'" in out


def test_an_unwritable_out_file_is_exit_code_2(capsys):
    code, out, err = plan(capsys, "dev", "--out", "/proc/no-such-dir/plan.txt")
    assert code == 2 and out == ""
    assert err.startswith("error: --out /proc/no-such-dir/plan.txt: cannot write it")


def test_a_pod_identity_stack_plans_the_controllers_identity_and_each_namespaces_role(capsys, tmp_path):
    stack_file = write_stack_file(tmp_path / "Pulumi.pods.yaml", pod_identity_values("dev"))
    code, out, err = plan(capsys, str(stack_file))
    assert code == 0 and err == ""
    assert (
        "  EKS Pod Identity: ServiceAccount external-secrets/external-secrets of cluster platform-dev gets role "
        "arn:aws:iam::123456789012:role/eso-dev-controller, which may only assume the namespace roles"
    ) in out
    assert "    trusted for SourceArn ArnEquals arn:aws:eks:us-east-1:123456789012:cluster/platform-dev" in out
    assert "    trusts RequestTag/esoNamespace StringEquals payments" in out
    assert out.count("  role arn:aws:iam::123456789012:role/eso-dev.payments\n") == 1, "once, though payments has two stores"
    assert (
        "  secretstore aws-secretsmanager-us-west-2: SecretsManager in us-west-2 assuming "
        "arn:aws:iam::123456789012:role/eso-dev.payments from the controller's session, tagged by ESO with "
        "esoNamespace=payments (sessionTagsPolicy Simple)"
    ) in out
    assert "  serviceaccount " not in out and "OIDC provider" not in out
    for output_format in ("json", "yaml"):
        code, _, err = plan(capsys, str(stack_file), "--format", output_format)
        assert code == 0 and err == "", output_format
