"""The harness's waits: a check that cannot hold any more ends the wait at once."""

import time

import pytest

from e2e.processes import ProcessExited, wait_until


def outcomes(*steps):
    """A check that raises or returns each of `steps` in turn."""
    remaining = list(steps)

    def check() -> bool:
        step = remaining.pop(0)
        if isinstance(step, Exception):
            raise step
        return step

    return check


def test_a_wait_retries_what_is_not_up_yet():
    check = outcomes(ConnectionError("refused"), False, True)
    assert wait_until(check, 5, "service", interval=0.01) < 5


def test_a_process_that_exited_ends_the_wait_at_once_instead_of_at_the_deadline():
    check = outcomes(ConnectionError("refused"), ProcessExited("external-secrets exited: no matches for kind ExternalSecret"))
    started = time.monotonic()
    with pytest.raises(ProcessExited, match="external-secrets exited"):
        wait_until(check, 60, "external-secrets controller live", interval=0.01)
    assert time.monotonic() - started < 5


def test_other_errors_are_retried_until_the_deadline_and_reported():
    with pytest.raises(TimeoutError, match=r"service: not within 0 s \(last error: refused\)"):
        wait_until(outcomes(*[ConnectionError("refused")] * 1000), 0.2, "service", interval=0.01)
