"""The real Pulumi engine, driven as a platform engineer drives it: a stack per config, `up`,
`preview`, `refresh`, `destroy`, on a local file backend in the harness's workdir.

Each operation runs `e2e/engine_run.py` in a process of its own (see there), with the harness's
Pulumi CLI and PULUMI_HOME, where the kubernetes provider and the stand-in aws provider are
installed as plugins; nothing outside the workdir and the cache is read or written.
"""

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from e2e.processes import descendants

REPOSITORY = Path(__file__).resolve().parent.parent
RUNNER = Path(__file__).resolve().parent / "engine_run.py"
PROJECT = "eso-platform"
# The one organization of a self-managed backend (`pulumi login file://...`).
ORGANIZATION = "organization"
# Not a secret: it encrypts the test stacks' state, which holds no credential.
PASSPHRASE = "eso-platform-e2e"  # pragma: allowlist secret
# Ops of the engine's steps that replace a resource, and that delete one.
MARKER = "ESO_PLATFORM_E2E_ENGINE"
REPLACING = {"replace", "create-replacement", "delete-replaced"}
DELETING = {"delete", "delete-replaced", "discard", "discard-replaced"}


class EngineError(Exception):
    pass


@dataclass
class EngineResult:
    operation: str
    ok: bool
    error: str
    steps: list[dict[str, Any]]
    diagnostics: list[dict[str, Any]]
    summary: dict[str, int]
    outputs: dict[str, Any]
    seconds: float
    state: Optional[dict[str, Any]] = None

    def ops(self) -> Counter:
        return Counter(step["op"] for step in self.steps)

    def urns(self, *ops: str) -> list[str]:
        return sorted(step["urn"] for step in self.steps if step["op"] in ops)

    def changed(self) -> list[dict[str, Any]]:
        return [step for step in self.steps if step["op"] not in ("same", "read")]

    def replaced(self) -> list[str]:
        return sorted({step["urn"] for step in self.steps if step["op"] in REPLACING})

    def warnings(self) -> list[str]:
        return [d["message"].rstrip("\n") for d in self.diagnostics if d["severity"] == "warning"]

    def checked(self) -> "EngineResult":
        if not self.ok:
            # The engine's own error events name the failing resources; its output's tail is the outputs.
            errors = "\n".join(f"{d.get('urn') or ''}: {d['message'].strip()}" for d in self.diagnostics if d["severity"] == "error")
            raise EngineError(f"pulumi {self.operation} failed:\n{errors[-6000:]}\n{self.error[-3000:]}")
        return self


@dataclass
class Engine:
    """The CLI and home every stack shares, and the environment its processes get."""

    workdir: Path
    pulumi_binary: Path
    pulumi_home: Path
    env: dict[str, str] = field(default_factory=dict)
    _stacks: dict[tuple, "EngineStack"] = field(default_factory=dict)

    @property
    def backend(self) -> str:
        return f"file://{self.workdir / 'state'}"

    def environment(self, extra: Optional[dict[str, str]] = None) -> dict[str, str]:
        return {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.workdir),
            "PULUMI_HOME": str(self.pulumi_home),
            "PULUMI_SKIP_UPDATE_CHECK": "true",
            # No plugin is ever downloaded: the harness installed the two the program uses.
            "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
            "PULUMI_CONFIG_PASSPHRASE": PASSPHRASE,
            # Marks every process of this engine, plugins included, for `stop_strays`.
            MARKER: str(self.workdir),
            **self.env,
            **(extra or {}),
        }

    def cli_environment(self) -> dict[str, str]:
        """`environment`, with this engine's `pulumi` first on PATH and logged in to its backend,
        as a workflow step after `pulumi/actions` has it."""
        base = self.environment()
        return {**base, "PATH": f"{self.pulumi_binary.parent}:{base['PATH']}", "PULUMI_BACKEND_URL": self.backend}

    def stop_strays(self) -> None:
        """Kills what an engine killed half way left behind: its plugins outlive it."""
        marker = f"{MARKER}={self.workdir}".encode()
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) == os.getpid():
                continue
            try:
                if marker in (entry / "environ").read_bytes().split(b"\0"):
                    os.kill(int(entry.name), signal.SIGKILL)
            except (OSError, ProcessLookupError):
                continue

    def stack(self, name: str, program: Path = REPOSITORY, workspace: Optional[str] = None, project: str = PROJECT) -> "EngineStack":
        """The stack `name` of `project`; the same arguments give the same stack, config kept."""
        (self.workdir / "state").mkdir(parents=True, exist_ok=True)
        key = (project, name, str(program), workspace or name)
        if key not in self._stacks:
            self._stacks[key] = EngineStack(self, name, program, self.workdir / "workspaces" / (workspace or name), project)
        return self._stacks[key]


@dataclass
class EngineStack:
    engine: Engine
    name: str
    program: Path
    work_dir: Path
    project: str = PROJECT
    config: Optional[dict[str, Any]] = None

    def _request(self, operation: str, config: Optional[dict[str, Any]], env: Optional[dict[str, str]], flags: Optional[dict[str, Any]]) -> dict:
        if config is not None:
            self.config = config
        return {
            "flags": flags or {},
            "program": str(self.program),
            "work_dir": str(self.work_dir),
            "project": self.project,
            "stack": self.name,
            "operation": operation,
            "config": self.config,
            "backend": self.engine.backend,
            "pulumi_root": str(self.engine.pulumi_binary.parent.parent),
            "pulumi_home": str(self.engine.pulumi_home),
            "env": self.engine.environment(env),
        }

    def start(
        self, operation: str, config: Optional[dict[str, Any]] = None, env: Optional[dict[str, str]] = None,
        flags: Optional[dict[str, Any]] = None,
    ) -> "RunningOperation":
        """The operation, started; `wait` for its result (or kill its engine first)."""
        directory = Path(tempfile.mkdtemp(prefix=f"{operation}-", dir=self.engine.workdir))
        request, result = directory / "request.json", directory / "result.json"
        request.write_text(json.dumps(self._request(operation, config, env, flags)))
        process = subprocess.Popen(
            [sys.executable, str(RUNNER), str(request), str(result)],
            stdout=(directory / "runner.log").open("w"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        return RunningOperation(self, operation, process, result, directory / "runner.log")

    def run(
        self, operation: str, config: Optional[dict[str, Any]] = None, env: Optional[dict[str, str]] = None,
        flags: Optional[dict[str, Any]] = None, timeout: float = 900,
    ) -> EngineResult:
        return self.start(operation, config, env, flags).wait(timeout)

    def up(self, config: Optional[dict[str, Any]] = None, **kwargs) -> EngineResult:
        return self.run("up", config, **kwargs).checked()

    def preview(self, config: Optional[dict[str, Any]] = None, **kwargs) -> EngineResult:
        return self.run("preview", config, **kwargs)

    def move_here(self, source: "EngineStack", urns: list[str]) -> EngineResult:
        """`pulumi state move` of `urns`, with their children, from `source` into this stack."""
        full_name = f"{ORGANIZATION}/{source.project}/{source.name}"
        return self.run("state-move", flags={"source": full_name, "urns": urns}).checked()

    def refresh(self, **kwargs) -> EngineResult:
        return self.run("refresh", **kwargs).checked()

    def destroy(self, **kwargs) -> EngineResult:
        return self.run("destroy", **kwargs).checked()

    @property
    def checkpoint(self) -> Path:
        """The stack's state file on the file backend."""
        return self.engine.workdir / "state" / ".pulumi" / "stacks" / self.project / f"{self.name}.json"

    def state(self) -> dict[str, Any]:
        return self.run("export").checked().state

    def resources(self) -> list[dict[str, Any]]:
        """The stack's resources as the state holds them (custom resources only)."""
        return [r for r in self.state().get("resources", []) if r.get("custom")]


@dataclass
class RunningOperation:
    stack: EngineStack
    operation: str
    process: subprocess.Popen
    result_path: Path
    log_path: Path

    def engine_pid(self) -> Optional[int]:
        """The pulumi CLI the runner started, once it runs."""
        for child in descendants(self.process.pid):
            try:
                command = Path(f"/proc/{child}/cmdline").read_bytes().split(b"\0")[0]
            except OSError:
                continue
            if Path(command.decode(errors="replace")).name == "pulumi":
                return child
        return None

    def kill_engine(self) -> int:
        pid = self.engine_pid()
        if pid is None:
            raise EngineError(f"no pulumi process under the {self.operation} runner")
        os.kill(pid, signal.SIGKILL)
        return pid

    def wait(self, timeout: float = 900) -> EngineResult:
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self._abandon()
            raise EngineError(f"pulumi {self.operation} did not end within {timeout:.0f} s:\n{self.log_path.read_text()[-4000:]}") from None
        except BaseException:
            # An interrupted scenario (a test's timeout) leaves no engine running, nor its lock.
            self._abandon()
            raise
        if not self.result_path.exists():
            raise EngineError(f"the {self.operation} runner wrote no result:\n{self.log_path.read_text()[-4000:]}")
        found = json.loads(self.result_path.read_text())
        return EngineResult(
            operation=self.operation,
            ok=found["ok"],
            error=found["error"],
            steps=found["steps"],
            diagnostics=found["diagnostics"],
            summary=found["summary"],
            outputs=found["outputs"],
            seconds=found["seconds"],
            state=found.get("state"),
        )


    def _abandon(self) -> None:
        # The plugins the engine started may run in process groups of their own.
        for pid in [self.process.pid, *descendants(self.process.pid)]:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.process.wait()
        if self.operation != "cancel":
            self.stack.run("cancel", timeout=60)


def wait_for_engine(operation: RunningOperation, timeout: float = 60) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pid = operation.engine_pid()
        if pid is not None:
            return pid
        time.sleep(0.1)
    raise EngineError(f"pulumi did not start under the {operation.operation} runner within {timeout:.0f} s")
