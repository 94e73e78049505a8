"""One operation of the real Pulumi engine on a program, in a process of its own.

`python e2e/engine_run.py REQUEST.json RESULT.json` runs `up`, `preview`, `refresh`, `destroy`,
`cancel`, `export` (the state) or `outputs` through the Automation API with an inline program: the program
directory's `__main__.py`, run as `pulumi` would run it (that directory first on `sys.path`,
and the working directory). It is a script, not a module of the harness, and imports nothing
of the repository, so a program of another commit (a git worktree) runs with its own modules.

The request names the program, the workspace (`Pulumi.yaml` and `Pulumi.<stack>.yaml` live
there; a given `config` replaces the stack file's `config:` as a user edits it), the Pulumi
CLI, its home and the engine's environment. The result is JSON: whether it succeeded and the
engine's error, the resource steps (op, URN, type, replace keys, diffs) and diagnostics from the
engine's events, the summary, the outputs (secrets shown as "[secret]") and the seconds taken.
"""

import json
import os
import runpy
import sys
import time
from pathlib import Path
from typing import Any

import yaml
from pulumi import automation as auto

REDACTED = "[secret]"


def _program(directory: Path):
    def run() -> None:
        runpy.run_path(str(directory / "__main__.py"), run_name="__main__")

    return run


def _write_config(work_dir: Path, stack: str, config: dict[str, Any]) -> None:
    path = work_dir / f"Pulumi.{stack}.yaml"
    settings = yaml.safe_load(path.read_text()) if path.exists() else {}
    settings = settings or {}
    settings["config"] = config
    path.write_text(yaml.safe_dump(settings, sort_keys=False))


def _step(event: Any) -> dict[str, Any]:
    metadata = event.metadata
    return {
        "op": metadata.op.value if hasattr(metadata.op, "value") else str(metadata.op),
        "urn": metadata.urn,
        "type": metadata.type,
        "keys": list(metadata.keys or []),
        "diffs": list(metadata.diffs or []),
    }


def run(request: dict[str, Any]) -> dict[str, Any]:
    program_dir = Path(request["program"]).resolve()
    work_dir = Path(request["work_dir"])
    work_dir.mkdir(parents=True, exist_ok=True)
    sys.path.insert(0, str(program_dir))
    os.chdir(program_dir)
    # The inline program runs in this process, where the CLI's language host would run it with
    # the engine's environment.
    os.environ.update(request["env"])
    options = auto.LocalWorkspaceOptions(
        work_dir=str(work_dir),
        pulumi_home=request["pulumi_home"],
        env_vars=request["env"],
        secrets_provider="passphrase",  # pragma: allowlist secret
        project_settings=auto.ProjectSettings(
            name=request["project"], runtime="python", backend=auto.ProjectBackend(url=request["backend"])
        ),
        pulumi_command=auto.PulumiCommand(root=request["pulumi_root"], skip_version_check=True),
    )
    steps: list[dict[str, Any]] = []
    diagnostics: list[dict[str, Any]] = []

    def on_event(event: Any) -> None:
        if event.resource_pre_event is not None:
            steps.append(_step(event.resource_pre_event))
        if event.diagnostic_event is not None:
            found = event.diagnostic_event
            diagnostics.append({"severity": found.severity, "message": found.message, "urn": found.urn})

    log = open(work_dir / f"engine-{request['stack']}.log", "a", encoding="utf-8")
    operation = request["operation"]
    # Flags of the operation, as the Automation API names them (e.g. clear_pending_creates).
    flags = request.get("flags") or {}
    result: dict[str, Any] = {"ok": True, "error": "", "steps": steps, "diagnostics": diagnostics, "summary": {}, "outputs": {}}
    started = time.monotonic()
    try:
        log.write(f"\n=== {operation} {request['stack']} ===\n")
        stack = auto.create_or_select_stack(
            stack_name=request["stack"], project_name=request["project"], program=_program(program_dir), opts=options
        )
        if request.get("config") is not None:
            _write_config(work_dir, request["stack"], request["config"])
        if operation == "up":
            outcome = stack.up(on_output=log.write, on_event=on_event, **flags)
            result["summary"] = dict(outcome.summary.resource_changes or {})
        elif operation == "preview":
            outcome = stack.preview(on_output=log.write, on_event=on_event, **flags)
            result["summary"] = dict(outcome.change_summary or {})
        elif operation == "refresh":
            outcome = stack.refresh(on_output=log.write, on_event=on_event, **flags)
            result["summary"] = dict(outcome.summary.resource_changes or {})
        elif operation == "destroy":
            outcome = stack.destroy(on_output=log.write, on_event=on_event, **flags)
            result["summary"] = dict(outcome.summary.resource_changes or {})
        elif operation == "cancel":
            stack.cancel()
        elif operation == "export":
            result["state"] = stack.export_stack().deployment
        elif operation == "state-move":
            options.pulumi_command.run(
                ["state", "move", "--source", flags["source"], "--dest", request["stack"], "--yes", *flags["urns"]],
                str(work_dir), request["env"], on_output=log.write, on_error=log.write,
            )
        elif operation != "outputs":
            raise ValueError(f"unknown operation {operation!r}")
        result["outputs"] = {
            key: REDACTED if value.secret else value.value for key, value in stack.outputs().items()
        }
    except auto.errors.CommandError as error:
        result.update(ok=False, error=str(error))
    finally:
        log.close()
    result["seconds"] = time.monotonic() - started
    return result


def main() -> int:
    request_path, result_path = sys.argv[1:3]
    request = json.loads(Path(request_path).read_text())
    Path(result_path).write_text(json.dumps(run(request), indent=2, sort_keys=True, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
