"""`python -m stacks plan`: what a stack will create, offline, with no cloud credentials;
`python -m stacks doctor`: whether AWS holds what the deployed stack needs;
`python -m stacks alert-rules`: the opt-in alerts as a Prometheus rule file."""

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Optional

import pulumi
from botocore.exceptions import BotoCoreError

from components.alert_rules import rule_file
from stacks import doctor_report
from stacks.deploying_identity import AWS_IDENTITY_KEYS
from stacks.doctor import DoctorError, deploying_session, run_checks
from stacks.engine import PLACEHOLDER_ACCOUNT, PlaceholderCloud, identity_clashes, run_program
from stacks.identities import clash_problems
from stacks.lifecycle import secret_changes
from stacks.plan import as_json, as_text, as_yaml
from stacks.loading import PROJECT, ConfigError, load_stack
from stacks.spec import Stack
from stacks.stack_files import StackFileError, read_stack, stack_file, stack_name

EXIT_FAILED_CHECKS = 1
EXIT_BAD_INPUT = 2
_ACCOUNT_ID = re.compile(r"\d{12}")
_ISSUER = re.compile(r"(https://)?[a-z0-9.-]+(/[A-Za-z0-9._-]+)*")


def _account_id(text: str) -> str:
    if not _ACCOUNT_ID.fullmatch(text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a 12-digit AWS account id")
    return text


def _issuer(text: str) -> str:
    if not _ISSUER.fullmatch(text):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an OIDC issuer like oidc.eks.us-east-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE"
        )
    return text


class _OneLineErrors(argparse.ArgumentParser):
    def error(self, message: str):
        self.exit(EXIT_BAD_INPUT, f"error: {message} (see `{self.prog} --help`)\n")


def parser() -> argparse.ArgumentParser:
    root = _OneLineErrors(prog="python -m stacks", description=__doc__)
    commands = root.add_subparsers(dest="command", required=True, parser_class=_OneLineErrors)
    plan = commands.add_parser(
        "plan",
        help="show what a stack will create, offline",
        description="Runs the real program under the Pulumi SDK's mock engine and reports what it registers.",
    )
    plan.add_argument("stack", help="a stack name (dev reads Pulumi.dev.yaml) or a path to Pulumi.<stack>.yaml")
    plan.add_argument("--format", choices=("text", "json", "yaml"), default="text")
    plan.add_argument("--out", type=Path, help="write the plan to this file instead of standard output")
    plan.add_argument("--account-id", type=_account_id, default=PLACEHOLDER_ACCOUNT, help="placeholder AWS account id")
    plan.add_argument("--oidc-issuer", type=_issuer, help="placeholder OIDC issuer; default derived from the cluster name")
    plan.add_argument(
        "--against",
        type=Path,
        metavar="PREVIOUS.json",
        help="a JSON plan of the deployed config, or `pulumi stack output --json`: list the Secrets this change deletes or renames",
    )
    doctor = commands.add_parser(
        "doctor",
        help="check that AWS holds what a stack needs",
        description="Checks, with the caller's AWS credentials, the stack's secrets, the cluster's OIDC provider, "
        "the deployed roles' trust and the KMS keys. Exit code 1 if a check fails.",
    )
    doctor.add_argument("stack", help="a stack name (dev reads Pulumi.dev.yaml) or a path to Pulumi.<stack>.yaml")
    doctor.add_argument("--format", choices=("text", "json"), default="text")
    doctor.add_argument(
        "--oidc-issuer",
        type=_issuer,
        help="the cluster's OIDC issuer; default: looked up from cluster.name, or read from "
        "cluster.stackReference's oidcProviderUrl output with the Pulumi CLI (required for cluster.create)",
    )
    commands.add_parser(
        "alert-rules",
        help="print the opt-in alerts as a Prometheus rule file",
        description="The rules of the PrometheusRule that eso.monitoring.alerts deploys, as a plain rule file "
        "for `promtool test rules` or a Prometheus without the Operator.",
    )
    return root


def previous_outputs(path: Path) -> dict:
    """The stack outputs of the deployed config: from a JSON plan, or `pulumi stack output --json`."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ValueError(f"cannot be read ({error.strerror or error})") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"is not JSON ({error})") from None
    outputs = document.get("outputs") if isinstance(document, dict) and "resources" in document else document
    if not isinstance(outputs, dict) or not isinstance(outputs.get("services"), dict):
        raise ValueError(
            "holds no `services` outputs; give a plan written with --format json, or `pulumi stack output --json`"
        )
    return outputs


def main(argv: Optional[list[str]] = None) -> int:
    args = parser().parse_args(argv)
    if args.command == "doctor":
        return _doctor(args)
    if args.command == "alert-rules":
        sys.stdout.write(rule_file())
        return 0
    return _plan(args)


def load_stack_file(path: Path) -> Stack:
    """The validated stack of a stack file, as the program would see it under Pulumi.

    Raises StackFileError or ConfigError.
    """
    settings = read_stack(path)
    prefix = f"{PROJECT}:"
    values = {key.removeprefix(prefix): value for key, value in settings.config.items() if key.startswith(prefix)}
    secret_keys = [key.removeprefix(prefix) for key in settings.secret_keys if key.startswith(prefix)]
    provider = {key: settings.config[f"aws:{key}"] for key in AWS_IDENTITY_KEYS if f"aws:{key}" in settings.config}
    return load_stack(values, settings.config.get("aws:region"), secret_keys, aws_provider=provider)


def _doctor(args: argparse.Namespace) -> int:
    path = stack_file(args.stack)
    try:
        stack = load_stack_file(path)
        checks = run_checks(deploying_session(stack), stack, args.oidc_issuer)
    except StackFileError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except ConfigError as error:
        print(f"error: {path.name}: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except (DoctorError, BotoCoreError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    render = {"text": doctor_report.as_text, "json": doctor_report.as_json}[args.format]
    sys.stdout.write(render(stack_name(path), checks))
    return EXIT_FAILED_CHECKS if doctor_report.failed(checks) else 0


def _plan(args: argparse.Namespace) -> int:
    path = stack_file(args.stack)
    try:
        settings = read_stack(path)
    except StackFileError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    previous = None
    if args.against is not None:
        try:
            previous = previous_outputs(args.against)
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
    changes = None if previous is None else secret_changes(previous.get("services"), run.outputs.get("services"))
    rendered = as_yaml(run) if args.format == "yaml" else {"text": as_text, "json": as_json}[args.format](run, changes)
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
