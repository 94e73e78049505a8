"""Which stacks a change previews and deploys, from the paths it changed and the stack files at
its head. No git here: command.py reads both off the repository."""

import re
from dataclasses import dataclass
from typing import Any, Optional

from pydantic import TypeAdapter, ValidationError

from stacks.model import DnsLabel, StackName

ENVIRONMENT_KEY = "eso-platform:environment"
PLATFORM_KEY = "eso-platform:platform"
# Beside Pulumi.yaml, the project's own file, which is not a stack's.
_STACK_FILE = re.compile(r"Pulumi\.(?P<stack>[^/]+)\.yaml")
# Pulumi's rule; a name also becomes a job's name, concurrency group and artifact in the workflows.
_STACK_NAME = re.compile(r"[A-Za-z0-9_.-]+")
_PATHS_SHOWN = 3


class StackFileProblem(Exception):
    """A stack file the workflows cannot run a job for."""


@dataclass(frozen=True)
class StackFile:
    name: str
    environment: str
    # `platform:` as written (`stack`, `project/stack` or `org/project/stack`); None: a platform stack.
    platform_reference: Optional[str] = None


@dataclass(frozen=True)
class Listed:
    stack: StackFile
    reason: str
    # A tenant's platform: the repository's stack its reference names, else the reference itself.
    platform: Optional[str] = None


@dataclass(frozen=True)
class Selection:
    platform: tuple[Listed, ...]
    tenants: tuple[Listed, ...]
    removed: tuple[str, ...]


def stack_of(path: str) -> Optional[str]:
    """The stack whose file `path` (relative to the repository's root) is; None for any other file."""
    match = _STACK_FILE.fullmatch(path)
    if match is None:
        return None
    if not _STACK_NAME.fullmatch(match["stack"]):
        raise StackFileProblem(
            f"{path}: {match['stack']!r} is not a stack name Pulumi accepts (letters, digits, '-', '_' and '.')"
        )
    return match["stack"]


def stack_file_of(name: str, config: dict[str, str], where: str) -> StackFile:
    """The stack `name` from its file's config; `where` names the file in a problem."""
    environment = config.get(ENVIRONMENT_KEY)
    if environment is None:
        raise StackFileProblem(
            f"{where}: no {ENVIRONMENT_KEY}: every stack sets one, and the workflows deploy it in the "
            "GitHub environment of that name"
        )
    _check(DnsLabel, environment, where, ENVIRONMENT_KEY)
    reference = config.get(PLATFORM_KEY)
    if reference is not None:
        _check(StackName, reference, where, PLATFORM_KEY)
    return StackFile(name, environment, reference)


def _check(kind: Any, value: str, where: str, key: str) -> None:
    try:
        TypeAdapter(kind).validate_python(value)
    except ValidationError as error:
        raise StackFileProblem(f"{where}: {key}: {error.errors()[0]['ctx']['error']}") from None


def select(changes: list[tuple[str, str]], stacks: dict[str, StackFile]) -> Selection:
    """`changes`: git's status letter and path of each path the change adds, modifies or deletes;
    `stacks`: every stack file at the change's head, by stack name."""
    touched: dict[str, tuple[str, str]] = {}
    others = []
    for status, path in changes:
        stack = stack_of(path)
        if stack is None:
            others.append(path)
        else:
            touched[stack] = (status, path)
    known = set(stacks) | set(touched)
    platform, tenants = [], []
    for name in sorted(stacks):
        stack = stacks[name]
        if stack.platform_reference is None:
            reason = _reason(stack, None, touched, others)
            if reason:
                platform.append(Listed(stack, reason))
            continue
        last = stack.platform_reference.rsplit("/", 1)[-1]
        own_platform = last if last in known else stack.platform_reference
        reason = _reason(stack, own_platform, touched, others)
        if reason:
            tenants.append(Listed(stack, reason, own_platform))
    removed = tuple(sorted(name for name in touched if name not in stacks))
    return Selection(tuple(platform), tuple(tenants), removed)


def _reason(stack: StackFile, platform: Optional[str], touched: dict[str, tuple[str, str]], others: list[str]) -> str:
    """Why the change previews `stack`, or "" if it does not."""
    if stack.name in touched:
        return _what_happened(*touched[stack.name])
    # A tenant reads its platform's outputs, which the platform's own change may alter.
    if platform in touched:
        return f"its platform stack {platform}: {_what_happened(*touched[platform])}"
    if others:
        shown = ", ".join(others[:_PATHS_SHOWN]) + (f" and {len(others) - _PATHS_SHOWN} more" if len(others) > _PATHS_SHOWN else "")
        return f"{shown} changed, and every stack runs the program"
    return ""


def _what_happened(status: str, path: str) -> str:
    return {"A": f"{path} added", "D": f"{path} removed"}.get(status, f"{path} changed")


def as_json(selection: Selection) -> dict[str, Any]:
    """Each list a GitHub Actions matrix (`include`); removed holds stack names."""
    return {
        "platform": [{"stack": s.stack.name, "environment": s.stack.environment} for s in selection.platform],
        "tenants": [
            {"stack": s.stack.name, "environment": s.stack.environment, "platform": s.platform} for s in selection.tenants
        ],
        "removed": list(selection.removed),
    }


def as_text(selection: Selection) -> str:
    lines = ["platform stacks, previewed and deployed first:"]
    lines += [f"  {s.stack.name} (environment {s.stack.environment}): {s.reason}" for s in selection.platform] or ["  none"]
    lines.append("tenant stacks, each deployed after the platform stacks, in parallel:")
    lines += [
        f"  {s.stack.name} (environment {s.stack.environment}, platform {s.platform}): {s.reason}" for s in selection.tenants
    ] or ["  none"]
    lines.append("removed stack files, never previewed or deployed:")
    lines += [
        f"  {name}: gone from the repository, not from the cloud: its resources (a tenant's namespaces, roles and "
        f"Secrets) stay until someone runs `pulumi destroy --stack {name}`, then `pulumi stack rm {name}`"
        for name in selection.removed
    ] or ["  none"]
    return "\n".join(lines) + "\n"
