"""`python -m stacks plan`: runs the program offline and prints what it registers."""

import argparse
import json
import sys
from pathlib import Path
from typing import Optional

import pulumi

from stacks.lifecycle import secret_changes
from tools.exit_codes import EXIT_BAD_INPUT
from tools.plan.engine import PlaceholderCloud, identity_clashes, run_program
from tools.plan.identities import clash_problems
from tools.plan.render import Against, as_json, as_text, as_yaml, plan_resources
from tools.plan.replacements import resource_changes
from tools.stack_files import StackFileError, read_stack, stack_file, stack_name


def previous_deployment(path: Path) -> tuple[dict, Optional[list]]:
    """The stack outputs of the deployed config, and its resources when the file is a JSON plan
    (`pulumi stack output --json` has none)."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ValueError(f"cannot be read ({error.strerror or error})") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"is not JSON ({error})") from None
    is_plan = isinstance(document, dict) and isinstance(document.get("resources"), list)
    outputs = document.get("outputs") if is_plan else document
    if not isinstance(outputs, dict) or not isinstance(outputs.get("services"), dict):
        raise ValueError(
            "holds no `services` outputs; give a plan written with --format json, or `pulumi stack output --json`"
        )
    return outputs, document["resources"] if is_plan else None


def run(args: argparse.Namespace) -> int:
    path = stack_file(args.stack)
    try:
        settings = read_stack(path)
    except StackFileError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    previous, previous_resources = None, None
    if args.against is not None:
        try:
            previous, previous_resources = previous_deployment(args.against)
        except ValueError as error:
            print(f"error: --against {args.against}: {error}", file=sys.stderr)
            return EXIT_BAD_INPUT
    cloud = PlaceholderCloud(settings.config.get("aws:region", ""), args.account_id, args.oidc_issuer, previous)
    try:
        run = run_program(settings.config, stack_name(path), cloud, secret_keys=settings.secret_keys)
    except pulumi.RunError as error:
        print(f"error: {path.name}: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    clashes = identity_clashes(run)
    if clashes:
        services = json.loads(settings.config.get("eso-platform:services", "[]"))
        lines = "".join(f"  - {problem}\n" for problem in clash_problems(clashes, services))
        print(
            f"error: {path.name}: the program gives {len(clashes)} resource identit{'y' if len(clashes) == 1 else 'ies'} "
            f"to more than one resource; `pulumi preview` would stop with \"Duplicate resource URN\":\n{lines}",
            end="",
            file=sys.stderr,
        )
        return EXIT_BAD_INPUT
    against = None
    if previous is not None:
        against = Against(
            secret_changes(previous.get("services"), run.outputs.get("services")),
            None if previous_resources is None else resource_changes(previous_resources, plan_resources(run)),
        )
    rendered = as_yaml(run) if args.format == "yaml" else {"text": as_text, "json": as_json}[args.format](run, against)
    if args.out is None:
        sys.stdout.write(rendered)
    else:
        try:
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(rendered)
        except OSError as error:
            print(f"error: --out {args.out}: cannot write it ({error.strerror or error})", file=sys.stderr)
            return EXIT_BAD_INPUT
        print(f"wrote the {args.format} plan of stack {run.stack} to {args.out}", file=sys.stderr)
    return 0
