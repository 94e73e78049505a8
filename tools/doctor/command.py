"""`python -m stacks doctor`: checks, with boto3, that AWS holds what a deployed stack needs."""

import argparse
import sys

from botocore.exceptions import BotoCoreError

from stacks.loading import ConfigError
from tools.doctor import report as doctor_report
from tools.doctor.checks import DoctorError, deploying_session, run_checks
from tools.exit_codes import EXIT_BAD_INPUT, EXIT_FAILED_CHECKS
from tools.stack_files import StackFileError, load_stack_file, stack_file, stack_name


def run(args: argparse.Namespace) -> int:
    path = stack_file(args.stack)
    try:
        stack = load_stack_file(path)
        checks = run_checks(deploying_session(stack), stack, stack_name(path), args.oidc_issuer)
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


