"""The `aws` command on the engine's PATH, for the one call a kubeconfig makes: `aws eks get-token`.

It stands in for the AWS CLI v2 (`awscli/customizations/eks/get_token.py`): global options
(`--region`, `--profile`, `--output`) may stand before or after `eks get-token`, which takes
`--cluster-name` (or `--cluster-id`), `--role-arn` and `--session-name`; both `--flag value` and `--flag=value`
are accepted, and so is an unambiguous prefix of an option, as the CLI's argparse accepts it
(pulumi-eks writes `--role` for `--role-arn`); an unknown or ambiguous option exits 252 as the
CLI's argument errors do. It prints an
ExecCredential in the `apiVersion` that client-go asks for in `KUBERNETES_EXEC_INFO`
(`client.authentication.k8s.io/v1beta1` when it asks for none), as the real command does.

The token is the one the harness's API server accepts for the identity the call resolves to
(`--role-arn`, else `--profile` / `AWS_PROFILE`, else the default chain), read from
`ESO_PLATFORM_E2E_CLUSTER_TOKENS`; an identity with no token gets one the API server refuses,
as EKS refuses a principal without an access entry. Every call is recorded, with its arguments
and `AWS_*` environment, in `ESO_PLATFORM_E2E_AWS_CLI_LOG`, so a scenario can assert the
identity the program put in the kubeconfig. No AWS call is made and no credential is read.
"""

import datetime
import json
import os
import sys
from typing import Optional

TOKENS = "ESO_PLATFORM_E2E_CLUSTER_TOKENS"
LOG = "ESO_PLATFORM_E2E_AWS_CLI_LOG"
DEFAULT_API_VERSION = "client.authentication.k8s.io/v1beta1"
USAGE_ERROR = 252
GLOBAL_OPTIONS = ("--region", "--profile", "--output")
GET_TOKEN_OPTIONS = ("--cluster-name", "--cluster-id", "--role-arn", "--session-name")
# Seconds a token from `aws eks get-token` is valid (the CLI's TOKEN_EXPIRATION_MINS is 14).
TOKEN_LIFETIME = 14 * 60


class UsageError(Exception):
    pass


def parse(argv: list[str]) -> tuple[list[str], dict[str, str]]:
    """(positional words, options by name) of an `aws` command line."""
    words: list[str] = []
    options: dict[str, str] = {}
    known = GLOBAL_OPTIONS + GET_TOKEN_OPTIONS
    index = 0
    while index < len(argv):
        arg = argv[index]
        if arg.startswith("--"):
            name, equals, value = arg.partition("=")
            name = _option(name, known, arg)
            if not equals:
                index += 1
                if index >= len(argv):
                    raise UsageError(f"argument {name}: expected one argument")
                value = argv[index]
            options[name] = value
        else:
            words.append(arg)
        index += 1
    return words, options


def _option(name: str, known: tuple[str, ...], arg: str) -> str:
    if name in known:
        return name
    matches = [option for option in known if option.startswith(name)]
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise UsageError(f"ambiguous option: {name} could match {', '.join(matches)}")
    raise UsageError(f"Unknown options: {arg}")


def identity(options: dict[str, str], environ: dict[str, str]) -> str:
    if "--role-arn" in options:
        return f"role:{options['--role-arn']}"
    profile = options.get("--profile") or environ.get("AWS_PROFILE")
    return f"profile:{profile}" if profile else "default"


def exec_credential(token: str, environ: dict[str, str], now: datetime.datetime) -> dict:
    info = json.loads(environ.get("KUBERNETES_EXEC_INFO") or "{}")
    expires = (now + datetime.timedelta(seconds=TOKEN_LIFETIME)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "kind": "ExecCredential",
        "apiVersion": info.get("apiVersion") or DEFAULT_API_VERSION,
        "spec": {},
        "status": {"expirationTimestamp": expires, "token": token},
    }


def _record(argv: list[str], environ: dict[str, str]) -> None:
    log = environ.get(LOG)
    if log:
        entry = {"argv": argv, "env": {k: v for k, v in sorted(environ.items()) if k.startswith("AWS_")}}
        with open(log, "a", encoding="utf-8") as out:
            out.write(json.dumps(entry) + "\n")


def main(argv: Optional[list[str]] = None, environ: Optional[dict[str, str]] = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    environ = dict(os.environ) if environ is None else environ
    _record(argv, environ)
    try:
        words, options = parse(argv)
        if words != ["eks", "get-token"]:
            raise UsageError(f"the stand-in aws CLI runs only `eks get-token`, not {' '.join(words) or 'nothing'}")
        if "--cluster-name" not in options and "--cluster-id" not in options:
            raise UsageError("one of the arguments --cluster-name --cluster-id is required")
    except UsageError as error:
        print(f"aws: error: {error}", file=sys.stderr)
        return USAGE_ERROR
    tokens = json.loads(environ.get(TOKENS) or "{}")
    token = tokens.get(identity(options, environ), "k8s-aws-v1.no-access-entry-for-this-identity")
    print(json.dumps(exec_credential(token, environ, datetime.datetime.now(datetime.timezone.utc))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
