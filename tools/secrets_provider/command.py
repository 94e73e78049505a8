"""`python -m stacks secrets-provider`: whether a run in CI can decrypt the stack's secrets
without asking for a passphrase.

The stack's state always holds a secret (the kubeconfig), and Pulumi encrypts it with the stack's
secrets provider. Pulumi Cloud keeps a key per stack; a self-managed backend (`s3://`, `gs://`,
`azblob://`, `file://`, `postgres://`) uses a passphrase unless the stack file names another
provider in `secretsprovider`, with its `encryptedkey` beside it, so a CI run with no
passphrase stops there.
"""

import argparse
import os
import sys

from tools.exit_codes import EXIT_BAD_INPUT
from tools.stack_files import StackFileError, read_stack, stack_file, stack_name

# The providers that need no passphrase (Pulumi's `--secrets-provider` URL schemes).
KEY_SERVICES = ("awskms://", "gcpkms://", "azurekeyvault://", "hashivault://")


def _self_managed(backend_url: str) -> bool:
    return bool(backend_url) and not backend_url.startswith(("https://", "http://"))


def problem(path_name: str, stack: str, backend_url: str, provider, encrypted_key: bool):
    """What stops a CI run of `stack` on `backend_url`, or None."""
    if not _self_managed(backend_url):
        return None
    fix = (
        f"run `pulumi stack change-secrets-provider --stack {stack} "
        f"\"awskms://alias/eso-platform-{stack}?region=<region>\"` against {backend_url} and commit the "
        f"secretsprovider and encryptedkey lines it writes to {path_name}"
    )
    if provider is None or not provider.startswith(KEY_SERVICES):
        found = "no secretsprovider" if provider is None else f"secretsprovider {provider}"
        return (
            f"{path_name}: {found}: on the self-managed backend {backend_url} the stack's secrets (its "
            f"kubeconfig among them) are encrypted with a passphrase, which every CI run stops to ask for; {fix}"
        )
    if not encrypted_key:
        return f"{path_name}: secretsprovider {provider} has no encryptedkey beside it; {fix}"
    return None


def run(args: argparse.Namespace) -> int:
    path = stack_file(args.stack)
    backend_url = os.environ.get("PULUMI_BACKEND_URL", "")
    try:
        settings = read_stack(path)
    except StackFileError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    found = problem(path.name, stack_name(path), backend_url, settings.secrets_provider, settings.encrypted_key)
    if found:
        print(f"error: {found}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if _self_managed(backend_url):
        print(f"{path.name}: secrets encrypted by {settings.secrets_provider}")
    else:
        print(f"{path.name}: {backend_url or 'Pulumi Cloud'} keeps the stack's secrets key")
    return 0
