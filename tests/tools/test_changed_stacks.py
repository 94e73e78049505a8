"""`python -m stacks changed`, through the CLI, on git repositories made here: which stacks a change
previews and deploys, platform stacks apart from tenant stacks, and removed stack files apart."""

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Optional

import pytest
import yaml

from tests.conftest import PROJECT_ROOT
from tools.cli import main

PLATFORMS = {"dev": "dev", "prod": "prod"}
# Each form a reference may take: StackReference completes `stack` and `project/stack`.
TENANTS = {
    "dev-reports": ("dev", "dev"),
    "dev-ops": ("dev", "eso-platform/dev"),
    "prod-shop": ("prod", "acme/eso-platform/prod"),
}
EVERY_STACK = {*PLATFORMS, *TENANTS}


def stack_text(environment: str, platform: Optional[str] = None, services: str = "web") -> str:
    config = {"aws:region": "us-east-1", "eso-platform:environment": environment}
    if platform is None:
        config["eso-platform:cluster"] = {"name": f"platform-{environment}"}
    else:
        config["eso-platform:platform"] = platform
    config["eso-platform:services"] = [{"name": services, "namespace": services}]
    return yaml.safe_dump({"config": config})


# The machine's git settings (signing, hooks, default branch) stay out of the repositories made here.
GIT_ENVIRONMENT = {
    **os.environ,
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_AUTHOR_NAME": "test",
    "GIT_AUTHOR_EMAIL": "test@example.com",
    "GIT_COMMITTER_NAME": "test",
    "GIT_COMMITTER_EMAIL": "test@example.com",
}


def git(repo: Path, *arguments: str) -> str:
    return subprocess.run(
        ["git", *arguments], cwd=repo, env=GIT_ENVIRONMENT, check=True, capture_output=True, text=True, timeout=60
    ).stdout.strip()


def commit(repo: Path, files: dict[str, Optional[str]]) -> str:
    """Writes each file (None deletes it), commits, and returns the commit."""
    for name, text in files.items():
        path = repo / name
        if text is None:
            path.unlink()
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
    git(repo, "add", "--all")
    git(repo, "commit", "--quiet", "--allow-empty", "-m", "change")
    return git(repo, "rev-parse", "HEAD")


@pytest.fixture
def repo(tmp_path) -> Path:
    git(tmp_path, "init", "--quiet", "--initial-branch=main")
    files = {
        "Pulumi.yaml": "name: eso-platform\nruntime: python\n",
        "__main__.py": "import stacks.program\n",
        "requirements.txt": "pulumi==3.0.0\n",
        **{f"Pulumi.{name}.yaml": stack_text(environment) for name, environment in PLATFORMS.items()},
        **{f"Pulumi.{name}.yaml": stack_text(env, platform) for name, (env, platform) in TENANTS.items()},
    }
    commit(tmp_path, files)
    return tmp_path


def changed(capsys, repo: Path, *arguments: str) -> tuple[int, str, str]:
    code = main(["changed", "--repo", str(repo), *arguments])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def listed(capsys, repo: Path, base: str, head: str = "HEAD") -> dict:
    code, out, err = changed(capsys, repo, "--base", base, "--head", head, "--format", "json")
    assert (code, err) == (0, "")
    return json.loads(out)


def names(document: dict) -> tuple[list[str], list[str], list[str]]:
    return [e["stack"] for e in document["platform"]], [e["stack"] for e in document["tenants"]], document["removed"]


def test_a_tenants_own_file_lists_that_tenant_alone(capsys, repo):
    base = git(repo, "rev-parse", "HEAD")
    commit(repo, {"Pulumi.prod-shop.yaml": stack_text("prod", "acme/eso-platform/prod", services="cart")})
    assert listed(capsys, repo, base) == {
        "platform": [],
        "tenants": [{"stack": "prod-shop", "environment": "prod", "platform": "prod"}],
        "removed": [],
    }


def test_a_platforms_file_lists_it_and_its_tenants_in_every_reference_form(capsys, repo):
    base = git(repo, "rev-parse", "HEAD")
    commit(repo, {"Pulumi.dev.yaml": stack_text("dev", services="api")})
    assert listed(capsys, repo, base) == {
        "platform": [{"stack": "dev", "environment": "dev"}],
        "tenants": [
            {"stack": "dev-ops", "environment": "dev", "platform": "dev"},
            {"stack": "dev-reports", "environment": "dev", "platform": "dev"},
        ],
        "removed": [],
    }


@pytest.mark.parametrize(
    "path", ["__main__.py", "requirements.txt", "Pulumi.yaml", "policy/rules.py", ".github/workflows/deploy.yml", "docs/Pulumi.x.yaml"]
)
def test_any_other_file_lists_every_stack_each_as_its_file_says(capsys, repo, path):
    base = git(repo, "rev-parse", "HEAD")
    commit(repo, {path: "changed\n"})
    document = listed(capsys, repo, base)
    assert document == {
        "platform": [{"stack": "dev", "environment": "dev"}, {"stack": "prod", "environment": "prod"}],
        "tenants": [
            {"stack": "dev-ops", "environment": "dev", "platform": "dev"},
            {"stack": "dev-reports", "environment": "dev", "platform": "dev"},
            {"stack": "prod-shop", "environment": "prod", "platform": "prod"},
        ],
        "removed": [],
    }


def test_deleting_program_code_lists_every_stack_too(capsys, repo):
    base = git(repo, "rev-parse", "HEAD")
    commit(repo, {"__main__.py": None})
    platform, tenants, _ = names(listed(capsys, repo, base))
    assert {*platform, *tenants} == EVERY_STACK


def test_a_deleted_stack_file_is_removed_never_listed_to_preview(capsys, repo):
    base = git(repo, "rev-parse", "HEAD")
    commit(repo, {"Pulumi.dev-ops.yaml": None, "Pulumi.dev-reports.yaml": stack_text("dev", "dev", services="pdf")})
    assert names(listed(capsys, repo, base)) == ([], ["dev-reports"], ["dev-ops"])
    code, out, _ = changed(capsys, repo, "--base", base)
    assert code == 0
    (line,) = [line for line in out.splitlines() if line.startswith("  dev-ops")]
    assert "its resources" in line and "stay until someone runs `pulumi destroy --stack dev-ops`" in line


def test_a_renamed_stack_file_removes_the_old_stack_and_lists_the_new(capsys, repo):
    base = git(repo, "rev-parse", "HEAD")
    git(repo, "mv", "Pulumi.dev-ops.yaml", "Pulumi.dev-platform-ops.yaml")
    commit(repo, {})
    assert names(listed(capsys, repo, base)) == ([], ["dev-platform-ops"], ["dev-ops"])


def test_a_deleted_platform_lists_its_tenants(capsys, repo):
    base = git(repo, "rev-parse", "HEAD")
    commit(repo, {"Pulumi.prod.yaml": None})
    assert names(listed(capsys, repo, base)) == ([], ["prod-shop"], ["prod"])


def test_a_tenant_of_a_platform_outside_the_repository_keeps_its_reference(capsys, repo):
    base = git(repo, "rev-parse", "HEAD")
    commit(repo, {"Pulumi.dev-far.yaml": stack_text("dev", "acme/eso-platform/shared-dev")})
    assert listed(capsys, repo, base)["tenants"] == [
        {"stack": "dev-far", "environment": "dev", "platform": "acme/eso-platform/shared-dev"}
    ]


def test_only_what_head_changed_since_it_left_base_counts(capsys, repo):
    git(repo, "switch", "--quiet", "--create", "onboarding")
    head = commit(repo, {"Pulumi.dev-reports.yaml": stack_text("dev", "dev", services="pdf")})
    git(repo, "switch", "--quiet", "main")
    # main moves on meanwhile: its program change is main's, already deployed, not the branch's.
    commit(repo, {"__main__.py": "import stacks\n", "Pulumi.prod.yaml": stack_text("prod", services="api")})
    assert names(listed(capsys, repo, "main", head)) == ([], ["dev-reports"], [])


def test_the_stack_files_are_read_at_head_not_in_the_working_tree(capsys, repo):
    base = git(repo, "rev-parse", "HEAD")
    head = commit(repo, {"Pulumi.dev.yaml": stack_text("dev", services="api")})
    # Neither a later commit, a local edit nor an untracked stack file changes what head holds.
    commit(repo, {"Pulumi.dev-ops.yaml": stack_text("dev")})
    (repo / "Pulumi.dev-reports.yaml").write_text(stack_text("dev"))
    (repo / "Pulumi.dev-mine.yaml").write_text(stack_text("dev", "dev"))
    assert names(listed(capsys, repo, base, head)) == (["dev"], ["dev-ops", "dev-reports"], [])


def test_no_change_lists_nothing(capsys, repo):
    assert listed(capsys, repo, "HEAD") == {"platform": [], "tenants": [], "removed": []}


def test_the_text_says_why_each_stack_is_listed(capsys, repo):
    base = git(repo, "rev-parse", "HEAD")
    commit(repo, {"Pulumi.dev.yaml": stack_text("dev", services="api"), "Pulumi.dev-new.yaml": stack_text("dev", "dev")})
    code, out, err = changed(capsys, repo, "--base", base)
    assert (code, err) == (0, "")
    assert out.splitlines() == [
        "platform stacks, previewed and deployed first:",
        "  dev (environment dev): Pulumi.dev.yaml changed",
        "tenant stacks, each deployed after the platform stacks, in parallel:",
        "  dev-new (environment dev, platform dev): Pulumi.dev-new.yaml added",
        "  dev-ops (environment dev, platform dev): its platform stack dev: Pulumi.dev.yaml changed",
        "  dev-reports (environment dev, platform dev): its platform stack dev: Pulumi.dev.yaml changed",
        "removed stack files, never previewed or deployed:",
        "  none",
    ]


@pytest.mark.parametrize(
    "text, problem",
    [
        ("config: [unclosed\n", "Pulumi.dev-ops.yaml at HEAD: not valid YAML"),
        ("config: 3\n", "Pulumi.dev-ops.yaml at HEAD: `config` must be a mapping"),
        ("config:\n  eso-platform:platform: dev\n", "Pulumi.dev-ops.yaml at HEAD: no eso-platform:environment"),
        (stack_text("Dev", "dev"), "Pulumi.dev-ops.yaml at HEAD: eso-platform:environment: 'Dev' is not a DNS-1123 label"),
        (stack_text("dev", "dev/$(id)"), "Pulumi.dev-ops.yaml at HEAD: eso-platform:platform: 'dev/$(id)' is not valid here"),
    ],
)
def test_a_stack_file_that_cannot_be_read_exits_2_naming_it(capsys, repo, text, problem):
    base = git(repo, "rev-parse", "HEAD")
    commit(repo, {"Pulumi.dev-ops.yaml": text})
    code, out, err = changed(capsys, repo, "--base", base, "--format", "json")
    assert (code, out) == (2, "")
    assert err.startswith(f"error: {problem}") and err.count("\n") == 1
    assert str(repo) not in err and "/tmp" not in err


def test_a_stack_name_pulumi_refuses_exits_2_naming_the_file(capsys, repo):
    base = git(repo, "rev-parse", "HEAD")
    commit(repo, {"Pulumi.a;b.yaml": stack_text("dev", "dev")})
    code, out, err = changed(capsys, repo, "--base", base, "--format", "json")
    assert (code, out) == (2, "") and err.startswith("error: Pulumi.a;b.yaml: 'a;b' is not a stack name")


@pytest.mark.parametrize(
    "arguments, message",
    [
        ([], "error: the following arguments are required: --base (see `python -m stacks changed --help`)\n"),
        (["--base", "HEAD", "--format", "yaml"], "error: argument --format: invalid choice: 'yaml' (choose from 'text', 'json') (see `python -m stacks changed --help`)\n"),
    ],
)
def test_argument_errors_exit_2_with_one_line(capsys, repo, arguments, message):
    with pytest.raises(SystemExit) as exited:
        changed(capsys, repo, *arguments)
    assert exited.value.code == 2
    captured = capsys.readouterr()
    assert (captured.out, captured.err) == ("", message)


@pytest.mark.parametrize("option", ["--base", "--head"])
def test_a_ref_that_names_no_commit_exits_2_naming_it(capsys, repo, option):
    other = "--head" if option == "--base" else "--base"
    code, out, err = changed(capsys, repo, option, "no-such-branch", other, "HEAD")
    assert (code, out) == (2, "")
    assert err.startswith(f"error: {option} no-such-branch: names no commit") and err.count("\n") == 1


def test_a_folder_that_is_no_git_checkout_exits_2(capsys, tmp_path):
    code, out, err = changed(capsys, tmp_path / "nowhere", "--base", "HEAD")
    assert (code, out) == (2, "") and err.startswith("error: cannot run git in ") and err.count("\n") == 1


def test_the_repositorys_own_stack_files_classify_as_the_workflows_expect(capsys, tmp_path):
    git(tmp_path, "init", "--quiet")
    for path in PROJECT_ROOT.glob("Pulumi.*.yaml"):
        shutil.copy(path, tmp_path)
    base = commit(tmp_path, {})
    commit(tmp_path, {"__main__.py": "import stacks.program\n"})
    assert listed(capsys, tmp_path, base) == {
        "platform": [{"stack": "dev", "environment": "dev"}, {"stack": "prod", "environment": "prod"}],
        "tenants": [{"stack": "dev-reports", "environment": "dev", "platform": "dev"}],
        "removed": [],
    }
