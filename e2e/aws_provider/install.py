"""Installing the stand-in as Pulumi's `aws` resource plugin at pulumi-aws's pinned version.

    script = write_plugin_executable(tmp_dir)          # <tmp_dir>/pulumi-resource-aws
    install(pulumi_binary, pulumi_home)                # pulumi plugin install resource aws 7.51.1 --file ...

The plugin reads from its environment (which the engine passes on from the Pulumi command's):
`AWS_ENDPOINT_URL` (boto3 itself; moto or the IAM front), the AWS credential variables (dummy
ones for moto), and optionally `AWS_REGION` when stack config has no `aws:region`.
"""

import os
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Optional

from e2e.aws_provider.schema import PLUGIN_VERSION

REPOSITORY = Path(__file__).resolve().parents[2]
PLUGIN_NAME = "aws"
EXECUTABLE_NAME = f"pulumi-resource-{PLUGIN_NAME}"


def write_plugin_executable(target_dir: Path, python: str = sys.executable, repository: Path = REPOSITORY) -> Path:
    """A `pulumi-resource-aws` shell script in `target_dir` that execs `<python> -m e2e.aws_provider`
    with `repository` first on PYTHONPATH and the engine's arguments passed through."""
    target_dir = Path(target_dir)
    target_dir.mkdir(parents=True, exist_ok=True)
    script = target_dir / EXECUTABLE_NAME
    script.write_text(
        "#!/bin/sh\n"
        "# The eso-platform end-to-end stand-in for pulumi-aws (e2e/aws_provider).\n"
        f"PYTHONPATH={shlex.quote(str(repository))}${{PYTHONPATH:+:$PYTHONPATH}}\n"
        "export PYTHONPATH\n"
        # -P: the engine starts plugins in the program's folder, whose modules must not shadow these.
        f'exec {shlex.quote(str(python))} -P -m e2e.aws_provider "$@"\n'
    )
    script.chmod(0o755)
    return script


def install(pulumi_binary: Path, pulumi_home: Path, script: Optional[Path] = None,
            version: str = PLUGIN_VERSION, timeout: float = 120) -> Path:
    """`pulumi plugin install resource aws <version> --file <script>` into `pulumi_home`; returns
    the installed plugin's folder (`<pulumi_home>/plugins/resource-aws-v<version>`)."""
    pulumi_home = Path(pulumi_home)
    if script is None:
        script = write_plugin_executable(pulumi_home / "aws-stand-in")
    env = {
        **os.environ,
        "PULUMI_HOME": str(pulumi_home),
        "PULUMI_SKIP_UPDATE_CHECK": "true",
        # Never look the package up in the registry: the file is the plugin.
        "PULUMI_DISABLE_REGISTRY_RESOLVE": "true",
    }
    subprocess.run(
        [str(pulumi_binary), "plugin", "install", "resource", PLUGIN_NAME, version, "--file", str(script), "--reinstall"],
        env=env, check=True, capture_output=True, text=True, timeout=timeout,
    )
    return pulumi_home / "plugins" / f"resource-{PLUGIN_NAME}-v{version}"
