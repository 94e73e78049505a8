"""The doctor's findings as a table for people or JSON for machines."""

import json

from tools.doctor.findings import Check

_COLUMNS = ("result", "check", "subject", "detail")


def failed(checks: list[Check]) -> list[Check]:
    return [check for check in checks if check.status == "fail"]


def as_json(stack: str, checks: list[Check]) -> str:
    document = {"stack": stack, "ok": not failed(checks), "checks": [check.as_dict() for check in checks]}
    return json.dumps(document, indent=2) + "\n"


def as_text(stack: str, checks: list[Check]) -> str:
    rows = [(check.status.upper(), check.check, check.subject, check.detail) for check in checks]
    widths = [max(len(row[column]) for row in [_COLUMNS, *rows]) for column in range(3)]
    lines = [f"eso-platform doctor: stack {stack}", ""]
    for row, check in zip([tuple(c.upper() for c in _COLUMNS), *rows], [None, *checks]):
        lines.append("  ".join(cell.ljust(width) for cell, width in zip(row[:3], widths)) + "  " + row[3])
        if check is not None and check.fix:
            lines.append(" " * (widths[0] + 2) + f"fix: {check.fix}")
    bad, warned = failed(checks), [check for check in checks if check.status == "warn"]
    summary = f"{len(bad)} of {len(checks)} checks failed" if bad else (
        "no check failed" if warned else f"all {len(checks)} checks passed or were skipped")
    lines += ["", summary + (f"; {len(warned)} warned" if warned else "")]
    return "\n".join(lines) + "\n"
