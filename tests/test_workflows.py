"""The GitHub workflows: actionlint, pinned actions, OIDC-only AWS access, fork safety, gated deploys."""

import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tools.cli import parser
from tests.conftest import PROJECT_ROOT
from tests.snapshots.paths import STACKS

WORKFLOWS = PROJECT_ROOT / ".github" / "workflows"
PREVIEW = WORKFLOWS / "preview.yml"
DEPLOY = WORKFLOWS / "deploy.yml"
ACTIONLINT = Path(sys.executable).parent / "actionlint"
# ShellCheck and pyflakes are optional parts of actionlint; off, so every machine lints alike.
ACTIONLINT_ARGS = ("-no-color", "-oneline", "-shellcheck=", "-pyflakes=")
PINNED_USES = re.compile(r"^\s*(- )?uses: [\w.-]+/[\w./-]+@[0-9a-f]{40} # v\d+\.\d+\.\d+$")
CONFIGURE_AWS = "aws-actions/configure-aws-credentials@"
PULUMI = "pulumi/actions@"
PULUMI_AUTH = "pulumi/auth-actions@"
# What can change a stack: only jobs of these environments, which only `main` may use, hold them.
DEPLOY_CREDENTIALS = ("secrets.PULUMI_ACCESS_TOKEN", "vars.AWS_DEPLOY_ROLE_ARN")
DEPLOY_ENVIRONMENTS = ("dev", "prod")
POLICY_PACK = "policy"
STORED_KEY_NAMES = ("aws-access-key-id", "aws-secret-access-key", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")


def workflow(path: Path) -> dict[str, Any]:
    document = yaml.safe_load(path.read_text())
    # YAML 1.1 reads the key `on` as the boolean true.
    document["on"] = document.pop(True)
    return document


def steps_using(job: dict[str, Any], action: str) -> list[dict[str, Any]]:
    return [step for step in job["steps"] if step.get("uses", "").startswith(action)]


def step_index(job: dict[str, Any], predicate) -> int:
    return next(index for index, step in enumerate(job["steps"]) if predicate(step))


def actionlint(*paths: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(ACTIONLINT), *ACTIONLINT_ARGS, *map(str, paths)],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_workflows_pass_actionlint():
    result = actionlint(PREVIEW, DEPLOY)
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def test_actionlint_catches_a_broken_workflow(tmp_path):
    broken_dir = tmp_path / ".github" / "workflows"
    broken_dir.mkdir(parents=True)
    broken = broken_dir / "preview.yml"
    broken.write_text(PREVIEW.read_text().replace("matrix.stack }}", "matrix.stak }}", 1))
    result = actionlint(broken)
    assert result.returncode == 1
    assert "stak" in result.stdout


@pytest.mark.parametrize("path", [PREVIEW, DEPLOY], ids=lambda p: p.name)
def test_every_action_is_pinned_to_a_commit_with_its_version(path):
    lines = [line for line in path.read_text().splitlines() if "uses:" in line]
    assert lines
    unpinned = [line.strip() for line in lines if not PINNED_USES.match(line)]
    assert not unpinned, f"pin these to a full commit SHA with `# vX.Y.Z`: {unpinned}"


@pytest.mark.parametrize("path", [PREVIEW, DEPLOY], ids=lambda p: p.name)
def test_aws_is_reached_only_through_github_oidc(path):
    text = path.read_text()
    assert not [name for name in STORED_KEY_NAMES if name in text]
    document = workflow(path)
    assert "id-token" not in document["permissions"], "only the jobs that assume a role get an OIDC token"
    authenticated = {name: job for name, job in document["jobs"].items() if steps_using(job, CONFIGURE_AWS)}
    assert authenticated
    for name, job in document["jobs"].items():
        if name in authenticated or steps_using(job, PULUMI_AUTH):
            assert job["permissions"]["id-token"] == "write", name
            (step,) = steps_using(job, CONFIGURE_AWS)
            assert step["with"]["role-to-assume"].startswith("${{ vars."), name
            assert step_index(job, lambda s: s is step) < step_index(job, lambda s: s.get("uses", "").startswith(PULUMI))
        else:
            assert "id-token" not in job.get("permissions", {}), name


def test_every_pull_request_gets_the_tests_and_the_offline_plan_of_each_stack():
    document = workflow(PREVIEW)
    assert list(document["on"]) == ["pull_request"]
    plan = document["jobs"]["plan"]
    assert "if" not in plan and "permissions" not in plan
    assert plan["strategy"]["matrix"]["stack"] == list(STACKS)
    runs = "\n".join(step.get("run", "") for step in plan["steps"])
    assert "make test" in runs
    assert '--format json --out "plan-$STACK.json"' in runs and "GITHUB_STEP_SUMMARY" in runs
    assert "secrets." not in yaml.safe_dump(plan)
    (upload,) = steps_using(plan, "actions/upload-artifact@")
    assert upload["with"]["path"] == "plan-${{ matrix.stack }}.json"


def test_only_a_pull_request_from_this_repository_runs_a_real_preview():
    preview = workflow(PREVIEW)["jobs"]["preview"]
    assert preview["needs"] == "plan"
    assert preview["if"] == "github.event.pull_request.head.repo.full_name == github.repository"
    assert preview["strategy"]["matrix"]["stack"] == list(STACKS)
    (pulumi,) = steps_using(preview, PULUMI)
    assert pulumi["with"]["command"] == "preview"
    assert pulumi["with"]["comment-on-pr"] is True
    assert pulumi["with"]["stack-name"] == "${{ matrix.stack }}"
    assert preview["permissions"]["pull-requests"] == "write"


def test_deploys_run_dev_then_prod_behind_approval_and_never_overlap():
    document = workflow(DEPLOY)
    assert document["on"] == {"push": {"branches": ["main"]}}
    jobs = document["jobs"]
    assert jobs["dev"]["needs"] == "test" and jobs["prod-preview"]["needs"] == "dev" and jobs["prod"]["needs"] == "prod-preview"
    groups = set()
    for stack in STACKS:
        job = jobs[stack]
        assert job["environment"] == stack
        assert job["concurrency"] == {"group": f"deploy-{stack}", "cancel-in-progress": False}
        groups.add(job["concurrency"]["group"])
        (pulumi,) = steps_using(job, PULUMI)
        assert (pulumi["with"]["command"], pulumi["with"]["stack-name"]) == ("up", stack)
    assert len(groups) == len(STACKS)
    # prod's preview queues with its deploys: the plan it saves is of the state the next `up` finds.
    assert jobs["prod-preview"]["concurrency"] == jobs["prod"]["concurrency"]


def _jobs() -> list[tuple[str, str, dict[str, Any]]]:
    return [(path.name, name, job) for path in (PREVIEW, DEPLOY) for name, job in workflow(path)["jobs"].items()]


def test_only_jobs_of_the_deploy_environments_hold_a_credential_that_changes_a_stack():
    for workflow_name, name, job in _jobs():
        text = yaml.safe_dump(job)
        if any(credential in text for credential in DEPLOY_CREDENTIALS):
            assert job.get("environment") in DEPLOY_ENVIRONMENTS, (workflow_name, name)
    # Nothing reads them repository-wide: a branch's job without the environment gets none.
    for path in (PREVIEW, DEPLOY):
        document = workflow(path)
        assert "env" not in document and "environment" not in yaml.safe_dump({k: v for k, v in document.items() if k != "jobs"})


def test_no_pull_request_job_can_change_a_stack_and_forks_get_no_credential():
    document = workflow(PREVIEW)
    # pull_request_target would run with the base repository's secrets for a fork's code.
    assert list(document["on"]) == ["pull_request"]
    for name, job in document["jobs"].items():
        text = yaml.safe_dump(job)
        assert "environment" not in job, name
        assert not [c for c in DEPLOY_CREDENTIALS if c in text], name
        assert set(re.findall(r"secrets\.(\w+)", text)) <= {"GITHUB_TOKEN"}, name
        if steps_using(job, CONFIGURE_AWS) or steps_using(job, PULUMI):
            assert job["if"] == "github.event.pull_request.head.repo.full_name == github.repository", name
            (aws,) = steps_using(job, CONFIGURE_AWS)
            assert aws["with"]["role-to-assume"] == "${{ vars.AWS_PREVIEW_ROLE_ARN }}"
            # Pulumi Cloud: a team token whose team may only read stacks, exchanged for GitHub's OIDC token.
            (auth,) = steps_using(job, PULUMI_AUTH)
            assert auth["with"]["requested-token-type"] == "urn:pulumi:token-type:access_token:team"
            assert auth["with"]["scope"] == "team:${{ vars.PULUMI_PREVIEW_TEAM }}"
            assert auth["if"] == "vars.PULUMI_BACKEND_URL == ''"
            assert [s["with"]["command"] for s in steps_using(job, PULUMI)] == ["preview"]


def test_prods_approval_follows_its_preview_and_its_up_applies_exactly_that_plan():
    jobs = workflow(DEPLOY)["jobs"]
    preview, prod = jobs["prod-preview"], jobs["prod"]
    # No reviewers stand before the preview, and its environment holds no deploy credential.
    assert preview["environment"] == "prod-preview" and prod["environment"] == "prod"
    (previewing,) = steps_using(preview, PULUMI)
    assert previewing["with"]["command"] == "preview" and previewing["with"]["stack-name"] == "prod"
    # The preview, the program's warnings among it, is in the job summary the approvers read.
    assert previewing["with"]["comment-on-summary"] is True
    plan = previewing["with"]["plan"]
    (aws,) = steps_using(preview, CONFIGURE_AWS)
    assert aws["with"]["role-to-assume"] == "${{ vars.AWS_PREVIEW_ROLE_ARN }}"
    (upload,) = steps_using(preview, "actions/upload-artifact@")
    assert upload["with"]["path"] == plan
    assert step_index(preview, lambda s: s is upload) > step_index(preview, lambda s: s is previewing)
    (download,) = steps_using(prod, "actions/download-artifact@")
    assert download["with"]["name"] == upload["with"]["name"]
    (up,) = steps_using(prod, PULUMI)
    # `up --plan`: the update fails on any operation the saved plan does not hold.
    assert (up["with"]["command"], up["with"]["plan"]) == ("up", plan)
    assert step_index(prod, lambda s: s is download) < step_index(prod, lambda s: s is up)
    assert "PULUMI_ACCESS_TOKEN" not in yaml.safe_dump(preview)


def test_the_policy_pack_runs_in_every_preview_and_update():
    assert (PROJECT_ROOT / POLICY_PACK / "PulumiPolicy.yaml").is_file()
    for workflow_name, name, job in _jobs():
        for step in steps_using(job, PULUMI):
            assert step["with"]["policyPacks"] == POLICY_PACK, (workflow_name, name)
            venv = step_index(job, lambda s: f"-r {POLICY_PACK}/requirements.txt" in s.get("run", ""))
            assert venv < step_index(job, lambda s: s is step), (workflow_name, name)


def test_every_job_that_runs_pulumi_first_checks_its_stacks_secrets_provider():
    for workflow_name, name, job in _jobs():
        for step in steps_using(job, PULUMI):
            check = step_index(job, lambda s: "-m stacks secrets-provider" in s.get("run", ""))
            assert check < step_index(job, lambda s: s is step), (workflow_name, name)
            checking = job["steps"][check]
            assert checking["env"]["STACK"] == step["with"]["stack-name"], (workflow_name, name)
            assert checking["env"]["PULUMI_BACKEND_URL"] == step["with"]["cloud-url"], (workflow_name, name)
            command = shlex.split(checking["run"])
            arguments = parser().parse_args(command[command.index("stacks") + 1 :])
            assert arguments.command == "secrets-provider"


def _stacks_commands(job: dict[str, Any]) -> list[list[str]]:
    commands = []
    for step in job["steps"]:
        for line in step.get("run", "").splitlines():
            if "-m stacks " in line:
                words = shlex.split(line.split("|")[0])
                commands.append(words[words.index("stacks") + 1 :])
    return commands


def test_each_deploy_runs_the_doctor_on_its_stack_after_up():
    jobs = workflow(DEPLOY)["jobs"]
    for stack in STACKS:
        job = jobs[stack]
        up = step_index(job, lambda s: s.get("uses", "").startswith(PULUMI))
        doctor = step_index(job, lambda s: "stacks doctor" in s.get("run", ""))
        assert doctor > up
        assert "set -o pipefail" in job["steps"][doctor]["run"], "the doctor's exit code must fail the job"
        (command,) = [c for c in _stacks_commands(job) if c[0] == "doctor"]
        arguments = parser().parse_args(command)
        assert (arguments.command, arguments.stack) == ("doctor", stack)
        # Every cluster form but cluster.name reads a stack output, from the backend `up` used.
        assert arguments.oidc_issuer is None
        env = job["steps"][doctor].get("env", {})
        assert env.get("PULUMI_BACKEND_URL") == job["steps"][up]["with"]["cloud-url"]
        assert env.get("PULUMI_ACCESS_TOKEN") == job["steps"][up]["env"]["PULUMI_ACCESS_TOKEN"]


def test_the_plan_commands_in_the_workflow_parse():
    plan = workflow(PREVIEW)["jobs"]["plan"]
    commands = _stacks_commands(plan)
    assert len(commands) == 2
    for command in commands:
        arguments = parser().parse_args([word.replace("$STACK", "dev") for word in command])
        assert (arguments.command, arguments.stack) == ("plan", "dev")
