"""The GitHub workflows: actionlint, pinned actions, OIDC-only AWS access, fork safety, gated deploys,
the stacks each run takes from `python -m stacks changed`, platform stacks before tenant stacks; and
CODEOWNERS, which decides who approves a change to what."""

import itertools
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tools.changed_stacks.selection import StackFile, stack_file_of, stack_of
from tools.cli import parser
from tools.stack_files import read_stack_config
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
CHANGES = "changes"
# The stacks a job previews or deploys, as the `changes` job lists them.
FROM_CHANGES = "${{ fromJSON(needs.changes.outputs.%s) }}"
ONLY_IF_LISTED = "contains(fromJSON(needs.changes.outputs.platform).*.stack, '%s')"
# After each job it needs, succeeded or skipped (its stack not listed); never after a failure.
AFTER_SUCCESS_OR_SKIP = "${{ always() && !failure() && !cancelled() && %s }}"
# A tenant's jobs run in the GitHub environment its stack file names in eso-platform:environment.
TENANT_ENVIRONMENT = "${{ matrix.environment }}"
FORK_CHECK = "github.event.pull_request.head.repo.full_name == github.repository"
CODEOWNERS = PROJECT_ROOT / ".github" / "CODEOWNERS"
PLATFORM_TEAM = "@acme/platform-team"


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
    broken.write_text(PREVIEW.read_text().replace("needs.changes.outputs.stacks", "needs.changes.outputs.stak", 1))
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


def test_every_pull_request_gets_the_tests_and_the_offline_plan_of_each_stack_it_touches():
    document = workflow(PREVIEW)
    assert list(document["on"]) == ["pull_request"]
    test = document["jobs"]["test"]
    # The tests run whatever the change touches, a change that only removes a stack file among them.
    assert not {"needs", "if", "permissions"} & set(test)
    assert "make test" in [step.get("run") for step in test["steps"]]
    plan = document["jobs"]["plan"]
    assert "permissions" not in plan
    assert plan["needs"] == CHANGES and plan["if"] == "needs.changes.outputs.stacks != '[]'"
    assert plan["strategy"]["matrix"] == {"include": FROM_CHANGES % "stacks"}
    runs = "\n".join(step.get("run", "") for step in plan["steps"])
    assert '--format json --out "plan-$STACK.json"' in runs and "GITHUB_STEP_SUMMARY" in runs
    assert "secrets." not in yaml.safe_dump(plan)
    (upload,) = steps_using(plan, "actions/upload-artifact@")
    assert upload["with"]["path"] == "plan-${{ matrix.stack }}.json"


def test_only_a_pull_request_from_this_repository_runs_a_real_preview():
    preview = workflow(PREVIEW)["jobs"]["preview"]
    # Skipped with the plan, which a change that touches no stack skips.
    assert preview["needs"] == [CHANGES, "test", "plan"]
    assert preview["if"] == FORK_CHECK
    assert preview["strategy"]["matrix"] == {"include": FROM_CHANGES % "stacks"}
    (pulumi,) = steps_using(preview, PULUMI)
    assert pulumi["with"]["command"] == "preview"
    assert pulumi["with"]["comment-on-pr"] is True
    assert pulumi["with"]["stack-name"] == "${{ matrix.stack }}"
    assert preview["permissions"]["pull-requests"] == "write"


def test_deploys_run_dev_then_prod_behind_approval_and_never_overlap():
    document = workflow(DEPLOY)
    assert document["on"] == {"push": {"branches": ["main"]}}
    jobs = document["jobs"]
    assert jobs["dev"]["needs"] == ["test", CHANGES] and jobs["prod-preview"]["needs"] == ["test", CHANGES, "dev"]
    assert jobs["prod"]["needs"] == "prod-preview"
    groups = set()
    for stack in STACKS:
        job = jobs[stack]
        assert job["environment"] == stack
        assert job["concurrency"] == {"group": f"deploy-{stack}", "cancel-in-progress": False}
        groups.add(job["concurrency"]["group"])
        (pulumi,) = steps_using(job, PULUMI)
        assert (pulumi["with"]["command"], pulumi["with"]["stack-name"]) == ("up", stack)
    assert len(groups) == len(STACKS)


def test_a_platform_stack_deploys_only_when_the_change_lists_it_and_prod_still_after_dev():
    jobs = workflow(DEPLOY)["jobs"]
    assert jobs["dev"]["if"] == ONLY_IF_LISTED % "dev"
    # A change that leaves dev alone still deploys prod; a failed dev `up` stops it.
    assert jobs["prod-preview"]["if"] == AFTER_SUCCESS_OR_SKIP % (ONLY_IF_LISTED % "prod")
    assert "if" not in jobs["prod"], "prod runs after its own preview succeeded, and only then"


@pytest.mark.parametrize(
    "path, base", [(PREVIEW, "${{ github.event.pull_request.base.sha }}"), (DEPLOY, "${{ github.event.before }}")],
    ids=["preview", "deploy"],
)
def test_the_first_job_lists_the_stacks_the_event_changes(path, base):
    jobs = workflow(path)["jobs"]
    name, changes = next(iter(jobs.items()))
    assert name == CHANGES
    assert not {"needs", "if", "permissions", "environment"} & set(changes)
    assert "secrets." not in yaml.safe_dump(changes)
    (checkout,) = steps_using(changes, "actions/checkout@")
    # `base...head` needs both commits and their merge base: the whole history.
    assert checkout["with"] == {"persist-credentials": False, "fetch-depth": 0}
    (step,) = [s for s in changes["steps"] if "-m stacks changed" in s.get("run", "")]
    # The commit the other jobs check out: a pull request's merge commit, a push's head.
    assert step["env"] == {"BASE": base, "HEAD": "${{ github.sha }}"}
    formats = set()
    for command in _stacks_commands(changes):
        arguments = parser().parse_args(command)
        assert (arguments.command, arguments.base, arguments.head, arguments.repo) == ("changed", "$BASE", "$HEAD", None)
        formats.add(arguments.format)
    assert formats == {"text", "json"}
    assert "--format json > changes.json" in step["run"] and '} >> "$GITHUB_STEP_SUMMARY"' in step["run"]
    lists = {PREVIEW: {"stacks": "'.platform + .tenants'"}, DEPLOY: {"platform": ".platform", "tenants": ".tenants"}}[path]
    assert changes["outputs"] == {output: f"${{{{ steps.{step['id']}.outputs.{output} }}}}" for output in lists}
    for output, selection in lists.items():
        assert f'echo "{output}=$(jq -c {selection} changes.json)"' in step["run"]


def _needs(job: dict[str, Any]) -> list[str]:
    needs = job.get("needs", [])
    return [needs] if isinstance(needs, str) else needs


def _gated_on(jobs: dict[str, Any], name: str, condition: str) -> bool:
    """Whether job `name`, or a job it needs, runs only under `condition`."""
    job = jobs[name]
    return condition in str(job.get("if", "")) or any(_gated_on(jobs, n, condition) for n in _needs(job))


def test_no_job_previews_or_deploys_a_hard_coded_list_of_stacks():
    for path in (PREVIEW, DEPLOY):
        jobs = workflow(path)["jobs"]
        for name, job in jobs.items():
            matrix = job.get("strategy", {}).get("matrix")
            if matrix is not None:
                assert matrix in [{"include": FROM_CHANGES % lists} for lists in ("stacks", "tenants")], (path.name, name)
                assert CHANGES in job["needs"], (path.name, name)
            for step in steps_using(job, PULUMI):
                stack = step["with"]["stack-name"]
                if stack == "${{ matrix.stack }}":
                    assert matrix is not None, (path.name, name)
                else:
                    # A platform stack's own job, which runs only when the change lists it.
                    assert (path, stack in STACKS) == (DEPLOY, True), (path.name, name)
                    assert _gated_on(jobs, name, ONLY_IF_LISTED % stack), (path.name, name)


def _after_the_tests(jobs: dict[str, Any], name: str) -> bool:
    """Whether job `name` runs only once the tests passed."""
    job = jobs[name]
    if "test" in _needs(job):
        return True
    # always() drops the success() of the jobs it needs: only a direct need on the tests counts.
    return "always()" not in str(job.get("if", "")) and any(_after_the_tests(jobs, n) for n in _needs(job))


def test_nothing_previews_or_deploys_on_main_unless_the_tests_passed():
    jobs = workflow(DEPLOY)["jobs"]
    assert not {"needs", "if"} & set(jobs["test"])
    for name, job in jobs.items():
        if steps_using(job, PULUMI):
            assert _after_the_tests(jobs, name), name


def test_tenant_stacks_deploy_after_the_platform_jobs_each_in_its_own_job():
    jobs = workflow(DEPLOY)["jobs"]
    preview, up = jobs["tenants-preview"], jobs["tenants"]
    platform_jobs = {name for name, job in jobs.items() if [s for s in steps_using(job, PULUMI) if s["with"]["stack-name"] in STACKS]}
    assert platform_jobs == {"dev", "prod-preview", "prod"}
    # A tenant reads its platform's outputs: it waits for every platform `up` of the push.
    assert set(preview["needs"]) == {"test", CHANGES, "dev", "prod"}
    assert preview["if"] == AFTER_SUCCESS_OR_SKIP % "needs.changes.outputs.tenants != '[]'"
    assert up["needs"] == [CHANGES, "tenants-preview"] and "if" not in up
    for job in (preview, up):
        # One job per tenant, and one team's failure leaves the others' running.
        assert job["strategy"] == {"fail-fast": False, "matrix": {"include": FROM_CHANGES % "tenants"}}


def _jobs() -> list[tuple[str, str, dict[str, Any]]]:
    return [(path.name, name, job) for path in (PREVIEW, DEPLOY) for name, job in workflow(path)["jobs"].items()]


def test_only_jobs_of_the_deploy_environments_hold_a_credential_that_changes_a_stack():
    for workflow_name, name, job in _jobs():
        text = yaml.safe_dump(job)
        if any(credential in text for credential in DEPLOY_CREDENTIALS):
            if job.get("environment") == TENANT_ENVIRONMENT:
                assert job["strategy"]["matrix"] == {"include": FROM_CHANGES % "tenants"}, (workflow_name, name)
            else:
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


@pytest.mark.parametrize(
    "preview_job, up_job, stack, preview_environment, environment",
    [
        ("prod-preview", "prod", "prod", "prod-preview", "prod"),
        ("tenants-preview", "tenants", "${{ matrix.stack }}", f"{TENANT_ENVIRONMENT}-preview", TENANT_ENVIRONMENT),
    ],
    ids=["prod", "tenants"],
)
def test_an_approval_follows_its_preview_and_its_up_applies_exactly_that_plan(preview_job, up_job, stack, preview_environment, environment):
    jobs = workflow(DEPLOY)["jobs"]
    preview, deploying = jobs[preview_job], jobs[up_job]
    # No reviewers stand before the preview, and its environment holds no deploy credential.
    assert preview["environment"] == preview_environment and deploying["environment"] == environment
    # The preview queues with the stack's deploys: the plan it saves is of the state the next `up` finds.
    assert preview["concurrency"] == deploying["concurrency"] == {"group": f"deploy-{stack}", "cancel-in-progress": False}
    (previewing,) = steps_using(preview, PULUMI)
    assert previewing["with"]["command"] == "preview" and previewing["with"]["stack-name"] == stack
    # The preview, the program's warnings among it, is in the job summary the approvers read.
    assert previewing["with"]["comment-on-summary"] is True
    plan = previewing["with"]["plan"]
    (aws,) = steps_using(preview, CONFIGURE_AWS)
    assert aws["with"]["role-to-assume"] == "${{ vars.AWS_PREVIEW_ROLE_ARN }}"
    (upload,) = steps_using(preview, "actions/upload-artifact@")
    assert upload["with"]["path"] == plan
    assert step_index(preview, lambda s: s is upload) > step_index(preview, lambda s: s is previewing)
    (download,) = steps_using(deploying, "actions/download-artifact@")
    assert download["with"]["name"] == upload["with"]["name"]
    (up,) = steps_using(deploying, PULUMI)
    # `up --plan`: the update fails on any operation the saved plan does not hold.
    assert (up["with"]["command"], up["with"]["plan"]) == ("up", plan)
    assert step_index(deploying, lambda s: s is download) < step_index(deploying, lambda s: s is up)
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
                words = list(itertools.takewhile(lambda word: not word.startswith(">"), shlex.split(line.split("|")[0])))
                commands.append(words[words.index("stacks") + 1 :])
    return commands


def test_each_deploy_runs_the_doctor_on_its_stack_after_up():
    jobs = workflow(DEPLOY)["jobs"]
    deploying = {name: job for name, job in jobs.items() if [s for s in steps_using(job, PULUMI) if s["with"]["command"] == "up"]}
    assert set(deploying) == {*STACKS, "tenants"}
    for name, job in deploying.items():
        up = step_index(job, lambda s: s.get("uses", "").startswith(PULUMI))
        doctor = step_index(job, lambda s: "stacks doctor" in s.get("run", ""))
        assert doctor > up
        assert "set -o pipefail" in job["steps"][doctor]["run"], "the doctor's exit code must fail the job"
        (command,) = [c for c in _stacks_commands(job) if c[0] == "doctor"]
        arguments = parser().parse_args(command)
        env = job["steps"][doctor].get("env", {})
        doctored = env.get("STACK") if arguments.stack == "$STACK" else arguments.stack
        assert (arguments.command, doctored) == ("doctor", job["steps"][up]["with"]["stack-name"]), name
        # Every cluster form but cluster.name reads a stack output, from the backend `up` used.
        assert arguments.oidc_issuer is None
        assert env.get("PULUMI_BACKEND_URL") == job["steps"][up]["with"]["cloud-url"]
        assert env.get("PULUMI_ACCESS_TOKEN") == job["steps"][up]["env"]["PULUMI_ACCESS_TOKEN"]


def test_the_plan_commands_in_the_workflow_parse():
    plan = workflow(PREVIEW)["jobs"]["plan"]
    commands = _stacks_commands(plan)
    assert len(commands) == 2
    for command in commands:
        arguments = parser().parse_args([word.replace("$STACK", "dev") for word in command])
        assert (arguments.command, arguments.stack) == ("plan", "dev")


def test_no_script_holds_an_expression():
    # Stack names and environments come from stack files teams own: a script reads them from its
    # environment, where no value can become shell code.
    for workflow_name, name, job in _jobs():
        for step in job["steps"]:
            assert "${{" not in step.get("run", ""), (workflow_name, name, step.get("name"))


def _repository_stacks() -> dict[str, StackFile]:
    return {
        stack_of(path.name): stack_file_of(stack_of(path.name), read_stack_config(path), path.name)
        for path in PROJECT_ROOT.glob("Pulumi.*.yaml")
    }


def test_deploy_has_a_job_for_each_platform_stack_and_each_tenant_runs_in_a_deploy_environment():
    stacks = _repository_stacks()
    # A platform stack gets its own jobs; a new one without them would never deploy.
    assert {name for name, stack in stacks.items() if stack.platform_reference is None} == set(STACKS)
    tenants = {name: stack for name, stack in stacks.items() if stack.platform_reference is not None}
    assert tenants
    assert {stack.environment for stack in tenants.values()} <= set(DEPLOY_ENVIRONMENTS)


def _codeowners() -> list[tuple[str, list[str]]]:
    rules = []
    for line in CODEOWNERS.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            pattern, *owners = line.split()
            rules.append((pattern, owners))
    return rules


def test_codeowners_give_a_team_its_tenant_stack_file_and_nothing_else():
    (default, *rules) = _codeowners()
    assert default == ("*", [PLATFORM_TEAM])
    assert rules
    tenants = {name for name, stack in _repository_stacks().items() if stack.platform_reference is not None}
    for pattern, owners in rules:
        # The last matching line wins: each tenant line keeps the platform team among its owners.
        assert pattern.startswith("/") and stack_of(pattern[1:]) in tenants, pattern
        assert PLATFORM_TEAM in owners and len(owners) > 1, pattern
    assert ("/Pulumi.dev-reports.yaml", ["@acme/reports-team", PLATFORM_TEAM]) in rules
