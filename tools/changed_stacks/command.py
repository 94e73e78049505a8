"""`python -m stacks changed`: reads a change and the stack files at its head with git, in the
repository's root, and prints the stacks the workflows preview and deploy for it.

The stack files are read as they are at the head commit, not in the working tree: a checkout of
another commit, or a local stack file git does not track, changes nothing."""

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from tools.changed_stacks.selection import Selection, StackFile, StackFileProblem, as_json, as_text, select, stack_file_of, stack_of
from tools.exit_codes import EXIT_BAD_INPUT
from tools.stack_files import PROJECT_ROOT, StackFileError, read_stack_config

GIT_TIMEOUT_SECONDS = 60


class GitError(Exception):
    """git could not answer: no repository there, a ref that names no commit, no merge base."""


def run(args: argparse.Namespace) -> int:
    try:
        selection = changed_stacks(args.repo or PROJECT_ROOT, args.base, args.head)
    except (GitError, StackFileProblem) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    sys.stdout.write(json.dumps(as_json(selection)) + "\n" if args.format == "json" else as_text(selection))
    return 0


def changed_stacks(repo: Path, base: str, head: str) -> Selection:
    root = Path(_text(repo, "rev-parse", "--show-toplevel").strip())
    base_commit, head_commit = _commit(root, base, "--base"), _commit(root, head, "--head")
    # Three dots: what head changed since it left base, not what base gained meanwhile.
    fields = _text(root, "diff", "--name-status", "--no-renames", "-z", f"{base_commit}...{head_commit}").split("\0")[:-1]
    changes = list(zip(fields[::2], fields[1::2]))
    return select(changes, _stack_files(root, head_commit, head))


def _stack_files(root: Path, commit: str, head: str) -> dict[str, StackFile]:
    names = [name for name in _text(root, "ls-tree", "-z", "--name-only", commit).split("\0") if name]
    stacks = {}
    with tempfile.TemporaryDirectory() as directory:
        for name in names:
            stack = stack_of(name)
            if stack is None:
                continue
            # The stack file tools read a file, so head's version is written out for them.
            path = Path(directory) / name
            path.write_bytes(_git(root, "cat-file", "blob", f"{commit}:{name}"))
            where = f"{name} at {head}"
            try:
                config = read_stack_config(path)
            except StackFileError as error:
                raise StackFileProblem(str(error).replace(str(path), where)) from None
            stacks[stack] = stack_file_of(stack, config, where)
    return stacks


def _commit(root: Path, ref: str, option: str) -> str:
    try:
        return _text(root, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}").strip()
    except GitError:
        raise GitError(
            f"{option} {ref}: names no commit of {root} (a shallow clone lacks the history: fetch it, "
            "e.g. actions/checkout with fetch-depth: 0)"
        ) from None


def _text(repo: Path, *arguments: str) -> str:
    return _git(repo, *arguments).decode(errors="replace")


def _git(repo: Path, *arguments: str) -> bytes:
    try:
        result = subprocess.run(["git", *arguments], cwd=repo, capture_output=True, timeout=GIT_TIMEOUT_SECONDS)
    except OSError as error:
        raise GitError(f"cannot run git in {repo}: {error.strerror}") from None
    except subprocess.TimeoutExpired:
        raise GitError(f"git {arguments[0]} in {repo} took over {GIT_TIMEOUT_SECONDS}s") from None
    if result.returncode != 0:
        said = result.stderr.decode(errors="replace").strip().splitlines()
        raise GitError(f"git {arguments[0]} in {repo}: {said[0] if said else f'exit code {result.returncode}'}")
    return result.stdout
