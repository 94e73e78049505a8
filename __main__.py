"""eso-platform: IRSA roles, the External Secrets Operator and per-namespace ExternalSecrets."""

import pulumi

from stacks.program import deploy
from stacks.pulumi_config import stack_from_pulumi_config

for output_name, value in deploy(stack_from_pulumi_config()).items():
    pulumi.export(output_name, value)
