"""A Secret polled every 50 ms from a thread, as a pod mounting it would keep reading it."""

import threading
import time
from typing import Optional

from e2e.harness import decoded
from e2e.kube import Kube

POLL_SECONDS = 0.05


class SecretWatch:
    """Keeps every distinct state of the Secret's data in order (None while it is absent) and
    every UID it had."""

    def __init__(self, admin: Kube, namespace: str, name: str):
        self.admin, self.namespace, self.name = admin, namespace, name
        self.states: list[Optional[dict[str, str]]] = []
        self.uids: set[str] = set()
        self.polls = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            secret = self.admin.get("v1", "Secret", self.name, self.namespace)
            state = decoded(secret)
            if secret is not None:
                self.uids.add(secret["metadata"]["uid"])
            self.polls += 1
            if not self.states or self.states[-1] != state:
                self.states.append(state)
            time.sleep(POLL_SECONDS)

    def gaps(self) -> int:
        """States in which a pod would have found no data."""
        return sum(1 for state in self.states if not state)

    def __enter__(self) -> "SecretWatch":
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
