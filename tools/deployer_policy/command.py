"""`python -m stacks deployer-policy`: the IAM policy the identity that deploys a stack needs, and
no more; printed as JSON for `aws iam put-role-policy --policy-document file://...`."""

import argparse
import json
import sys

from components.iam_documents import INLINE_POLICY_LIMIT, compact
from stacks.loading import ConfigError
from tools.deployer_policy.document import deployer_policy
from tools.exit_codes import EXIT_BAD_INPUT
from tools.stack_files import StackFileError, load_stack_file, report_bad_input, stack_file


def run(args: argparse.Namespace) -> int:
    path = stack_file(args.stack)
    try:
        document = deployer_policy(load_stack_file(path), args.account)
    except (StackFileError, ConfigError, ValueError) as error:
        return report_bad_input(path, error)
    size = len(compact(document))
    if size > INLINE_POLICY_LIMIT:
        print(f"error: {path.name}: the policy is {size} characters, over IAM's {INLINE_POLICY_LIMIT} for a "
              "role's inline policies", file=sys.stderr)
        return EXIT_BAD_INPUT
    sys.stdout.write(json.dumps(document, indent=2) + "\n")
    return 0
