"""The eso-platform-guardrails CrossGuard policy pack; the checks are in `policy.rules`."""
