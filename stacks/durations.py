"""Go duration strings, as ESO's `refreshInterval` parses them with `time.ParseDuration`."""

import re

_UNIT_SECONDS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "μs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}
_COMPONENT = re.compile(r"([0-9]+(?:\.[0-9]*)?|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h)")
# time.Duration is an int64 of nanoseconds.
GO_MAX_DURATION_SECONDS = (2**63 - 1) / 1e9
_DURATION = re.compile(rf"[+]?(?:{_COMPONENT.pattern})+")


def parse_go_duration(text: str) -> float:
    """Seconds in a Go duration such as `10m` or `1h30m`; ValueError when Go would reject it.

    Negative durations are rejected too: a refresh interval cannot be negative.
    """
    if text == "0":
        return 0.0
    if not _DURATION.fullmatch(text):
        raise ValueError(f"{text!r} is not a duration like 10m or 1h30m")
    seconds = sum(float(number) * _UNIT_SECONDS[unit] for number, unit in _COMPONENT.findall(text))
    if seconds > GO_MAX_DURATION_SECONDS:
        raise ValueError(f"{text!r} is longer than Go's longest duration, 2562047h")
    return seconds
