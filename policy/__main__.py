"""The eso-platform-guardrails policy pack: `pulumi preview --policy-pack policy`.

Only wiring: the checks are pure functions in `rules.py`, tested without starting the pack.
"""

import sys
from pathlib import Path

# Pulumi runs this directory as the pack. The checks reuse the project's Go-duration parser
# (stacks/durations.py) and type tokens (components/resource_types.py), so the repository root
# must be importable too.
_REPOSITORY = Path(__file__).resolve().parent.parent
if str(_REPOSITORY) not in sys.path:
    sys.path.insert(0, str(_REPOSITORY))

from pulumi_policy import EnforcementLevel, PolicyPack, ResourceValidationPolicy  # noqa: E402

from policy.rules import GUARDRAILS, validator  # noqa: E402

PolicyPack(
    name="eso-platform-guardrails",
    description="Least-privilege secrets delivery: Secrets Manager + External Secrets Operator + IRSA on EKS.",
    enforcement_level=EnforcementLevel.MANDATORY,
    policies=[
        ResourceValidationPolicy(
            name=guardrail.name,
            description=guardrail.description,
            validate=validator(guardrail.check),
            enforcement_level=EnforcementLevel.ADVISORY if guardrail.advisory else EnforcementLevel.MANDATORY,
        )
        for guardrail in GUARDRAILS
    ],
)
