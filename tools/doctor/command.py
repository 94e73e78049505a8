"""`python -m stacks doctor`: checks that AWS and the cluster hold what a deployed stack needs."""

import argparse
import sys
from pathlib import Path
from typing import Optional

from botocore.exceptions import BotoCoreError

from stacks.loading import ConfigError
from tools.doctor import report as doctor_report
from tools.doctor.checks import DoctorError, deploying_session, run_checks, with_platform_operator
from tools.exit_codes import EXIT_BAD_INPUT, EXIT_FAILED_CHECKS
from tools.stack_files import StackFileError, load_stack_file, report_bad_input, stack_file, stack_name


def run(args: argparse.Namespace) -> int:
    path = stack_file(args.stack)
    try:
        stack = load_stack_file(path)
        if stack.platform is not None:
            stack = with_platform_operator(stack)
        kubeconfig = _read_kubeconfig(args.kubeconfig)
        checks = run_checks(deploying_session(stack), stack, stack_name(path), args.oidc_issuer, kubeconfig)
    except (StackFileError, ConfigError) as error:
        return report_bad_input(path, error)
    except (DoctorError, BotoCoreError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    render = {"text": doctor_report.as_text, "json": doctor_report.as_json}[args.format]
    sys.stdout.write(render(stack_name(path), checks))
    return EXIT_FAILED_CHECKS if doctor_report.failed(checks) else 0


def _read_kubeconfig(path: Optional[Path]) -> Optional[str]:
    if path is None:
        return None
    try:
        return path.read_text()
    except OSError as error:
        raise DoctorError(f"--kubeconfig: cannot read {path}: {error.strerror}") from None
