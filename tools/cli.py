"""`python -m stacks plan`: what a stack will create, offline, with no cloud credentials;
`python -m stacks doctor`: whether AWS and the cluster hold what the deployed stack needs;
`python -m stacks alert-rules`: the opt-in alerts as a Prometheus rule file;
`python -m stacks deployer-policy`: the least-privilege IAM policy of the deploying identity;
`python -m stacks secrets-provider`: whether CI can decrypt the stack's secrets;
`python -m stacks changed`: the stacks a change between two commits previews and deploys."""

import argparse
import re
import sys
from pathlib import Path
from typing import Optional

from components.alert_rules import rule_file
from tools.exit_codes import EXIT_BAD_INPUT
from tools.plan.engine import PLACEHOLDER_ACCOUNT

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
        description="Checks, as the stack's deploying identity, the stack's secrets (metadata only), the cluster's "
        "OIDC provider, the deployed roles' trust, the KMS keys and, through the cluster's API, whether each "
        "ExternalSecret is Ready. Exit code 1 if a check fails.",
    )
    doctor.add_argument("stack", help="a stack name (dev reads Pulumi.dev.yaml) or a path to Pulumi.<stack>.yaml")
    doctor.add_argument("--format", choices=("text", "json"), default="text")
    doctor.add_argument(
        "--oidc-issuer",
        type=_issuer,
        help="the cluster's OIDC issuer; default: looked up from cluster.name, or read off the "
        "oidcProviderArn output (of cluster.stackReference's stack, or of this stack with cluster.create) "
        "with the Pulumi CLI",
    )
    doctor.add_argument(
        "--kubeconfig",
        type=Path,
        metavar="FILE",
        help="reach the cluster with this kubeconfig (its `aws eks get-token` still runs as the stack's deploying "
        "identity); default: the one the program uses, built from cluster.name or read off the kubeconfig output "
        "(of cluster.stackReference's stack, or of this stack with cluster.create)",
    )
    secrets_provider = commands.add_parser(
        "secrets-provider",
        help="check that CI can decrypt the stack's secrets without a passphrase",
        description="With PULUMI_BACKEND_URL naming a self-managed backend (s3://, gs://, azblob://, file://, "
        "postgres://), the stack file must name a key service (awskms://) in secretsprovider, with its "
        "encryptedkey. Exit code 2, naming the fix, if it does not.",
    )
    secrets_provider.add_argument("stack", help="a stack name (dev reads Pulumi.dev.yaml) or a path to Pulumi.<stack>.yaml")
    deployer = commands.add_parser(
        "deployer-policy",
        help="print the least-privilege IAM policy of the identity that deploys a stack",
        description="The IAM policy that preview, up, refresh, destroy and the doctor need, on the stack's own roles, "
        "managed policies, cluster and secrets' metadata; it denies reading or decrypting any secret. "
        "Attach it to the deploy role (aws iam put-role-policy --policy-document file://policy.json).",
    )
    deployer.add_argument("stack", help="a stack name (dev reads Pulumi.dev.yaml) or a path to Pulumi.<stack>.yaml")
    deployer.add_argument("--account", type=_account_id, required=True, help="the 12-digit account the stack deploys to")
    changed = commands.add_parser(
        "changed",
        help="list the stacks a change between two commits previews and deploys",
        description="Reads `git diff --name-status base...head` and the stack files at head: a stack whose file "
        "changed; every stack when any other file changed (each runs the program); a tenant stack whose platform "
        "stack's file changed (it reads that stack's outputs). Platform and tenant stacks are listed apart, with "
        "--format json as GitHub Actions matrices; deleted stack files are listed as removed, never previewed.",
    )
    changed.add_argument("--base", required=True, help="the commit the change starts from: a pull request's base, a push's before")
    changed.add_argument("--head", default="HEAD", help="the commit the change ends at, whose stack files are read (default HEAD)")
    changed.add_argument("--format", choices=("text", "json"), default="text")
    changed.add_argument("--repo", type=Path, metavar="DIR", help="the git checkout to read (default: this one)")
    commands.add_parser(
        "alert-rules",
        help="print the opt-in alerts as a Prometheus rule file",
        description="The rules of the PrometheusRule that eso.monitoring.alerts deploys, as a plain rule file "
        "for `promtool test rules` or a Prometheus without the Operator.",
    )
    return root


def main(argv: Optional[list[str]] = None) -> int:
    args = parser().parse_args(argv)
    if args.command == "alert-rules":
        sys.stdout.write(rule_file())
        return 0
    # Imported per command: the doctor needs boto3, which the plan does not.
    if args.command == "doctor":
        from tools.doctor import command as doctor
        return doctor.run(args)
    if args.command == "deployer-policy":
        from tools.deployer_policy import command as deployer_policy
        return deployer_policy.run(args)
    if args.command == "secrets-provider":
        from tools.secrets_provider import command as secrets_provider
        return secrets_provider.run(args)
    if args.command == "changed":
        from tools.changed_stacks import command as changed
        return changed.run(args)
    from tools.plan import command as plan
    return plan.run(args)
