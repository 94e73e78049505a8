"""Shared helpers for the policy-pack tests: findings per resource, and mutated copies of inputs."""

import copy
import json
from typing import Any, Callable

from components.resource_types import ROLE_POLICY
from policy import rules
from tools.plan.engine import ProgramRun, Registration

# A type the program never registers, which the pack must still judge; not a secret.
SECRET_VERSION = "aws:secretsmanager/secretVersion:SecretVersion"  # pragma: allowlist secret

# Guardrail names are not secrets either: the pragmas tell detect-secrets so.

# Guardrail names, spelled out so that a renamed or dropped guardrail fails these tests.
READ_SCOPE = "secrets-manager-read-single-secret"
TRUST = "irsa-trust-pins-sub-and-aud"
WILDCARD_TRUST = "irsa-shared-wildcard-trust"
K8S_SECRET_DATA = "no-literal-kubernetes-secret-data"  # pragma: allowlist secret
SECRET_VERSION_VALUE = "no-secret-values-in-secret-versions"  # pragma: allowlist secret
REFRESH = "external-secret-refresh-interval"
CHART_PINNED = "eso-chart-version-pinned"
CUSTOMER_MANAGED = "attached-policies-are-customer-managed"

MANDATORY = {READ_SCOPE, TRUST, K8S_SECRET_DATA, SECRET_VERSION_VALUE, REFRESH, CHART_PINNED, CUSTOMER_MANAGED}
ADVISORY = {WILDCARD_TRUST}


def findings(run: ProgramRun) -> dict[str, dict[str, list[str]]]:
    """Every resource's non-empty findings, by resource name then guardrail name."""
    found = {r.name: rules.violations(r.type, r.inputs) for r in run.resources}
    return {name: by_rule for name, by_rule in found.items() if by_rule}


def fired(registration: Registration, inputs: dict[str, Any]) -> dict[str, list[str]]:
    """The findings for `registration`'s type with `inputs` in place of its own."""
    return rules.violations(registration.type, inputs)


def mutated(registration: Registration, change: Callable[[dict[str, Any]], Any]) -> dict[str, Any]:
    """A deep copy of the registration's inputs with `change` applied (the original is untouched)."""
    inputs = copy.deepcopy(registration.inputs)
    change(inputs)
    return inputs


def edit_document(inputs: dict[str, Any], key: str, change: Callable[[dict[str, Any]], Any]) -> None:
    """Applies `change` to the JSON policy document in `inputs[key]`, keeping it JSON text."""
    document = json.loads(inputs[key])
    change(document)
    inputs[key] = json.dumps(document)


def first_role_policy(run: ProgramRun) -> Registration:
    policies = run.of_type(ROLE_POLICY)
    assert policies, "the run registers no RolePolicy: a mutation test would prove nothing"
    return policies[0]


def first_of(run: ProgramRun, type_token: str) -> Registration:
    matches = run.of_type(type_token)
    assert matches, f"the run registers no {type_token}: a mutation test would prove nothing"
    return matches[0]
