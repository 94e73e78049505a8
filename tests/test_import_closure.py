"""What `pulumi up` imports is the program alone: no tool, no test helper, no boto3.

The closure is read off the source (every import statement, at any depth, so a lazy import
counts too), following the repository's own modules from an entry point.
"""

import ast
import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import PROJECT_ROOT

FIRST_PARTY = {"components", "stacks", "tools", "policy", "e2e", "tests"}
NOT_THE_PROGRAM = {"tools", "e2e", "tests"}
# The deploying tools' AWS client: the program reaches AWS only through the Pulumi provider.
AWS_CLIENTS = {"boto3", "botocore", "moto"}


def _module_file(name: str) -> Path | None:
    base = PROJECT_ROOT.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _imported_names(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            # `from package import module` imports the module too.
            names.update(f"{node.module}.{alias.name}" for alias in node.names if _module_file(f"{node.module}.{alias.name}"))
    return names


def closure(entry: Path) -> tuple[set[str], set[str]]:
    """(first-party modules, every top-level package imported) reachable from `entry`."""
    modules: set[str] = set()
    packages: set[str] = set()
    pending = [entry]
    seen = set()
    while pending:
        path = pending.pop()
        if path in seen:
            continue
        seen.add(path)
        for name in _imported_names(path):
            packages.add(name.split(".")[0])
            if name.split(".")[0] in FIRST_PARTY:
                parts = name.split(".")
                # A package's __init__ runs before its module.
                for depth in range(1, len(parts) + 1):
                    found = _module_file(".".join(parts[:depth]))
                    if found is not None:
                        modules.add(".".join(parts[:depth]))
                        pending.append(found)
    return modules, packages


def test_the_program_imports_no_tool_no_test_helper_and_no_aws_client():
    modules, packages = closure(PROJECT_ROOT / "__main__.py")
    assert {"stacks.program", "stacks.pulumi_config", "components.irsa"} <= modules
    assert not {m for m in modules if m.split(".")[0] in NOT_THE_PROGRAM}
    assert not packages & AWS_CLIENTS


def test_the_program_folder_holds_only_what_the_program_imports():
    modules, _ = closure(PROJECT_ROOT / "__main__.py")
    # `python -m stacks` forwards to the tools: the one file there that the program never imports.
    in_folder = {f"stacks.{path.stem}" for path in (PROJECT_ROOT / "stacks").glob("*.py")} - {"stacks.__init__", "stacks.__main__"}
    assert in_folder - modules == set()


def test_the_policy_pack_depends_on_no_tool():
    modules, packages = closure(PROJECT_ROOT / "policy" / "__main__.py")
    assert "policy.rules" in modules
    assert not {m for m in modules if m.split(".")[0] in NOT_THE_PROGRAM}
    assert not packages & AWS_CLIENTS


def test_importing_the_program_loads_no_aws_client_or_tool_at_run_time():
    modules, _ = closure(PROJECT_ROOT / "__main__.py")
    script = (
        "import importlib, json, sys\n"
        f"for name in {sorted(modules)!r}: importlib.import_module(name)\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))\n"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", script], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True, timeout=60
    )
    top_level = set(json.loads(loaded.stdout))
    assert "stacks" in top_level
    assert not top_level & (AWS_CLIENTS | NOT_THE_PROGRAM)
