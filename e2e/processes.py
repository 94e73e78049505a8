"""Local processes on 127.0.0.1: free ports, start with a log file, stop by PID, always.

Every started process is recorded; `stop_all` runs at interpreter exit and on SIGINT or
SIGTERM, so a failed or interrupted run leaves nothing listening.
"""

import atexit
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

LOOPBACK = "127.0.0.1"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((LOOPBACK, 0))
        return probe.getsockname()[1]


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class ProcessExited(RuntimeError):
    """The process waited for is gone: what was waited for can no longer happen."""


def wait_until(check: Callable[[], bool], timeout: float, what: str, interval: float = 0.2) -> float:
    """Seconds it took for `check` to hold; raises TimeoutError naming `what` otherwise, and at
    once the ProcessExited that `check` raises."""
    started = time.monotonic()
    last_error: Optional[BaseException] = None
    while time.monotonic() - started < timeout:
        try:
            if check():
                return time.monotonic() - started
        except ProcessExited:
            raise
        except Exception as error:  # the thing waited for is not up yet
            last_error = error
        time.sleep(interval)
    raise TimeoutError(f"{what}: not within {timeout:.0f} s" + (f" (last error: {last_error})" if last_error else ""))


def descendants(pid: int) -> list[int]:
    """Every process below `pid`, read off /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            children.setdefault(parent, []).append(int(entry.name))
    found, pending = [], [pid]
    while pending:
        for child in children.get(pending.pop(), []):
            found.append(child)
            pending.append(child)
    return found


@dataclass
class Process:
    name: str
    argv: list[str]
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)
    popen: Optional[subprocess.Popen] = None

    @property
    def pid(self) -> int:
        assert self.popen is not None
        return self.popen.pid

    def start(self) -> "Process":
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        self.popen = subprocess.Popen(
            self.argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=self.env or None,
            start_new_session=True,
        )
        log.close()
        _running[self.pid] = self
        return self

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def stop(self, grace: float = 10.0) -> None:
        if self.popen is None:
            return
        _running.pop(self.pid, None)
        if self.popen.poll() is None:
            try:
                os.killpg(self.pid, signal.SIGTERM)
                self.popen.wait(grace)
            except subprocess.TimeoutExpired:
                os.killpg(self.pid, signal.SIGKILL)
                self.popen.wait(grace)
            except ProcessLookupError:
                pass
        self.popen = None

    def log_tail(self, lines: int = 30) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


_running: dict[int, Process] = {}


def stop_all() -> None:
    for process in reversed(list(_running.values())):
        process.stop()


def _on_signal(signum, frame):
    stop_all()
    raise KeyboardInterrupt if signum == signal.SIGINT else SystemExit(128 + signum)


atexit.register(stop_all)
signal.signal(signal.SIGTERM, _on_signal)
signal.signal(signal.SIGINT, _on_signal)
