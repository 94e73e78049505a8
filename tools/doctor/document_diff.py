"""Where two IAM policy documents differ, in words: the path of each difference and both values."""

import json
from typing import Any

Flat = dict[str, Any]


def _statement_key(index: int, statement: Any) -> str:
    sid = statement.get("Sid") if isinstance(statement, dict) else None
    return f"Statement[{sid}]" if sid else f"Statement[{index}]"


def _flatten(node: Any, path: str, into: Flat) -> None:
    if isinstance(node, dict):
        for key in sorted(node):
            _flatten(node[key], f"{path}.{key}" if path else key, into)
        return
    if isinstance(node, list) and all(not isinstance(item, (dict, list)) for item in node):
        # IAM treats a one-element list and a scalar alike, and the order of values is free.
        into[path] = tuple(sorted(map(str, node)))
        return
    if isinstance(node, list):
        for index, item in enumerate(node):
            _flatten(item, f"{path}[{index}]", into)
        return
    into[path] = (str(node),)


def flatten_policy(document: dict[str, Any]) -> Flat:
    """Every leaf of a policy by path; statements are named by Sid where they have one."""
    flat: Flat = {}
    statements = document.get("Statement", [])
    if isinstance(statements, dict):
        statements = [statements]
    for key, value in document.items():
        if key != "Statement":
            _flatten(value, key, flat)
    for index, statement in enumerate(statements):
        _flatten(statement, _statement_key(index, statement), flat)
    return flat


def _shown(values: tuple[str, ...]) -> str:
    return values[0] if len(values) == 1 else json.dumps(list(values))


def policy_differences(expected: dict[str, Any], actual: dict[str, Any]) -> list[str]:
    """Each path where `actual` departs from `expected`: missing, unexpected or changed."""
    want, have = flatten_policy(expected), flatten_policy(actual)
    differences = []
    for path in sorted(set(want) | set(have)):
        if path not in have:
            differences.append(f"{path} is missing (expected {_shown(want[path])})")
        elif path not in want:
            differences.append(f"{path} = {_shown(have[path])} is not expected")
        elif want[path] != have[path]:
            differences.append(f"{path} is {_shown(have[path])}, expected {_shown(want[path])}")
    return differences
