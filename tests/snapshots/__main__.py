"""Regenerates the plan snapshots: `venv/bin/python -m tests.snapshots` (then review the diff)."""

from tools.cli import main
from tests.snapshots.paths import FORMATS, STACKS, snapshot_path

for stack in STACKS:
    for output_format in FORMATS:
        main(["plan", stack, "--format", output_format, "--out", str(snapshot_path(stack, output_format))])
