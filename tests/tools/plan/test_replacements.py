"""The README's "What a change replaces", row by row, held against the program: each config
change is applied to a deployed dev stack and the replacements derived from the two plans."""

import copy
import json
import re
from typing import Any, Callable

import pulumi
import pytest

from e2e.aws_provider.iam import (
    POLICY_FORCE_NEW,
    ROLE_FORCE_NEW,
    ROLE_POLICY_ATTACHMENT_FORCE_NEW,
    ROLE_POLICY_FORCE_NEW,
)
from components.resource_types import MANAGED_POLICY, POLICY_ATTACHMENT, ROLE, ROLE_POLICY, SERVICE_ACCOUNT
from tests.conftest import PROJECT_ROOT, REGION, as_pulumi_config, crowded_services, stack_values, write_stack_file
from tools.cli import main
from tools.plan.engine import PlaceholderCloud, ProgramRun, run_program
from tools.plan.render import plan_resources
from tools.plan.replacements import AWS_REPLACING_INPUTS, resource_changes

Change = Callable[[dict[str, Any]], None]


def _irsa(**settings) -> Change:
    return lambda values: values.setdefault("irsa", {}).update(settings)


def _first_service(**settings) -> Change:
    return lambda values: values["services"][0].update(settings)


def _in_place(values: dict[str, Any]) -> None:
    values["irsa"]["permissionsBoundary"] = "arn:aws:iam::123456789012:policy/eso-boundary"
    values["cluster"] = {"name": "platform-dev-2"}
    values["services"][1]["refreshInterval"] = "5m"
    values["services"][0]["keys"] = ["DATABASE_URL"]


# The README row's first cell: the change it describes.
CHANGES: dict[str, Change] = {
    "`irsa.rolePath`": _irsa(rolePath="/platform/eso/"),
    "`irsa.serviceAccountName`": _irsa(serviceAccountName="eso-reader"),
    "`environment`": lambda values: values.update(environment="staging"),
    "`irsa.mode`": _irsa(mode="shared"),
    "a service's `name`, without `renamedFrom`": _first_service(name="backend-api-v2"),
    "a service's `namespace`, to one new to the stack": _first_service(namespace="billing"),
    "a service's `region`, new to its namespace": _first_service(region="eu-west-1"),
    "a service's `secretName`": _first_service(secretName="backend-api-secrets"),
    "`irsa.permissionsBoundary`, `cluster.name`, a refresh interval, `keys`": _in_place,
    "`eso.namespace`, once installed": lambda values: values["eso"].update(namespace="eso-system"),
}
REFUSED = "refused at preview"


def readme_rows() -> dict[str, tuple[str, str]]:
    text = (PROJECT_ROOT / "README.md").read_text()
    table = text.split("## What a change replaces", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in table.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 4 and cells[0] not in ("changing", "---"):
            rows[cells[0]] = (cells[1], cells[2])
    return rows


def _tokens(cell: str) -> set[str]:
    return set(re.findall(r"`([a-z0-9-]+:[^`]+)`", cell))


def _run(values: dict[str, Any], previous: dict[str, Any]) -> ProgramRun:
    cloud = PlaceholderCloud(REGION, previous_outputs=previous)
    return run_program(as_pulumi_config(values), "dev", cloud)


def _custom_types(identities: list[tuple[str, str]]) -> set[str]:
    return {kind for kind, _ in identities if not kind.startswith(("eso-platform:", "pulumi:"))}


def test_every_row_is_a_change_this_test_makes():
    assert set(readme_rows()) == set(CHANGES)


@pytest.mark.parametrize("row", sorted(CHANGES))
def test_the_readme_says_what_each_change_replaces(row, dev_run):
    replaces, recreates = readme_rows()[row]
    values = copy.deepcopy(stack_values("dev"))
    CHANGES[row](values)
    deployed = json.loads(json.dumps(dev_run.outputs))
    if replaces == REFUSED:
        with pytest.raises(pulumi.RunError):
            _run(values, deployed)
        return
    changes = resource_changes(plan_resources(dev_run), plan_resources(_run(values, deployed)))
    assert {replacement.type for replacement in changes.replaced} == _tokens(replaces)
    assert _custom_types(changes.deleted) | _custom_types(changes.created) == _tokens(recreates)


def test_the_plan_and_the_stand_in_provider_hold_the_same_aws_replacement_rules():
    assert AWS_REPLACING_INPUTS == {
        ROLE: ROLE_FORCE_NEW,
        ROLE_POLICY: ROLE_POLICY_FORCE_NEW,
        MANAGED_POLICY: POLICY_FORCE_NEW,
        POLICY_ATTACHMENT: ROLE_POLICY_ATTACHMENT_FORCE_NEW,
    }


def test_growing_a_namespace_past_its_inline_grants_replaces_nothing(dev_run):
    values = copy.deepcopy(stack_values("dev"))
    small = _run({**values, "services": crowded_services(40)}, {})
    grown = _run({**values, "services": crowded_services(41)}, json.loads(json.dumps(small.outputs)))
    assert resource_changes(plan_resources(small), plan_resources(grown)).replaced == []


def _plan(capsys, *args) -> tuple[int, str, str]:
    code = main(["plan", *map(str, args)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_plan_against_a_json_plan_lists_the_replacements(capsys, tmp_path):
    base = tmp_path / "base.json"
    assert _plan(capsys, "dev", "--format", "json", "--out", base)[0] == 0
    values = stack_values("dev")
    values["irsa"] = {**values["irsa"], "rolePath": "/platform/eso/"}
    changed = write_stack_file(tmp_path / "Pulumi.dev.yaml", values)
    code, out, _ = _plan(capsys, changed, "--against", base)
    assert code == 0
    section = out.split("resources against the deployed config\n", 1)[1].split("\n\n", 1)[0]
    namespaces = ("backend", "frontend", "payments")
    assert sorted(section.splitlines()) == sorted(
        [f"  replaced {ROLE} irsa-{namespace}-role (changes path)" for namespace in namespaces]
        + [f"  replaced {ROLE_POLICY} irsa-{namespace}-read-secrets (changes role)" for namespace in namespaces]
        + [f"  replaced {SERVICE_ACCOUNT} tenant-{namespace}-service-account (changes metadata)" for namespace in namespaces]
    )
    assert "irsa.rolePath: this stack's roles move from / to /platform/eso/" in out
    code, out, _ = _plan(capsys, changed, "--format", "json", "--against", base)
    replaced = json.loads(out)["resourceChanges"]["replaced"]
    assert [(r["name"], r["inputs"]) for r in replaced if r["type"] == ROLE] == [
        (f"irsa-{namespace}-role", ["path"]) for namespace in namespaces
    ]


def test_plan_against_stack_outputs_says_it_cannot_list_replacements(capsys, tmp_path):
    outputs = tmp_path / "outputs.json"
    base = tmp_path / "base.json"
    _plan(capsys, "dev", "--format", "json", "--out", base)
    outputs.write_text(json.dumps(json.loads(base.read_text())["outputs"]))
    code, out, _ = _plan(capsys, "dev", "--against", outputs)
    assert code == 0
    assert "resources against the deployed config\n  unknown: --against a JSON plan (--format json) lists replacements\n" in out


def test_only_dependents_are_replaced_with_a_resource_deleted_first(dev_run):
    """A service named like the tenant ServiceAccount holds that name in its ExternalSecret's
    metadata, but does not take it from the ServiceAccount: the engine leaves it alone."""
    values = copy.deepcopy(stack_values("dev"))
    values["services"].append({"name": values["irsa"]["serviceAccountName"], "namespace": "backend"})
    before = _run(values, {})
    _irsa(rolePath="/platform/eso/")(values)
    changes = resource_changes(plan_resources(before), plan_resources(_run(values, json.loads(json.dumps(before.outputs)))))
    assert {r.type for r in changes.replaced} == {ROLE, ROLE_POLICY, SERVICE_ACCOUNT}
