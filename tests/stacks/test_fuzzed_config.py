"""Fuzzed stack config: it loads, or it fails with the project's ConfigError naming fields."""

import json
import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stacks.access import role_specs
from stacks.loading import ConfigError, load_stack
from tools.stack_files import as_pulumi_string
from tests.conftest import Mocks, as_pulumi_config, stack_values
from tests.stacks.test_identities import assert_unique_identities

TOP_LEVEL = ["environment", "platform", "cluster", "eso", "identity", "admission", "irsa", "secretPathTemplate", "refreshClasses", "forceSync", "services"]
SERVICE_KEYS = ["name", "namespace", "class", "refreshInterval", "secretName", "keys", "region", "renamedFrom",
                "onRemove", "adopt"]
NESTED_KEYS = ["name", "stackReference", "create", "version", "instanceType", "desiredCapacity", "chartVersion",
               "namespace", "replicas", "values", "install", "mode", "serviceAccountName", "kmsKeyArns", "rotating", "stable"]
PROBLEM = re.compile(rf"^(aws:region|eso-platform:.+|({'|'.join(TOP_LEVEL)})\b.*?): \S")

texts = st.one_of(
    st.text(max_size=12),
    st.sampled_from(["dev", "10m", "0", "1h30m", "backend", "us-west-2", "{env}/app/{service}", "{x}", "{", "*",
                     "per-namespace", "shared-wildcard", "2.9.0", "Bad_Name", "a" * 70, "30s", "-5m"]),
)
scalars = st.one_of(st.none(), st.booleans(), st.integers(-5, 10**6), st.floats(allow_nan=True), texts)
keys = st.one_of(st.sampled_from(TOP_LEVEL + SERVICE_KEYS + NESTED_KEYS), st.text(max_size=8))
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(keys, inner, max_size=4)),
    max_leaves=8,
)
services = st.lists(st.dictionaries(st.sampled_from(SERVICE_KEYS), values, max_size=7), max_size=3)
config = st.dictionaries(
    st.one_of(st.sampled_from(TOP_LEVEL), st.text(min_size=1, max_size=10)),
    st.one_of(values, services),
    max_size=9,
)


def check(raw: dict) -> None:
    pulumi_form = {key: as_pulumi_string(value) for key, value in raw.items()}
    try:
        load_stack(pulumi_form, "us-east-1")
    except ConfigError as error:
        assert error.problems, "a ConfigError must name at least one problem"
        for problem in error.problems:
            assert PROBLEM.match(problem), problem


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(config)
def test_any_structure_loads_or_names_its_fields(raw):
    check(raw)


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_mutated_committed_stacks_load_or_name_their_fields(data):
    raw = stack_values(data.draw(st.sampled_from(["dev", "prod"])))
    raw.pop("aws:region")
    key = data.draw(st.sampled_from(TOP_LEVEL))
    if key == "services" and data.draw(st.booleans()):
        index = data.draw(st.integers(0, len(raw["services"]) - 1))
        raw["services"][index][data.draw(st.sampled_from(SERVICE_KEYS + ["typo"]))] = data.draw(values)
    else:
        raw[key] = data.draw(values)
    check(raw)


dns = st.from_regex(r"[a-z][a-z0-9]{0,6}(-[a-z0-9]{1,4})?", fullmatch=True)
valid_services = st.lists(
    st.fixed_dictionaries(
        {"name": dns, "namespace": st.sampled_from(["alpha", "beta", "alpha-beta", "gamma"])},
        optional={
            "class": st.sampled_from(["rotating", "stable"]),
            "region": st.sampled_from(["us-east-1", "eu-west-1"]),
            "onRemove": st.sampled_from(["delete", "keep"]),
            "adopt": st.booleans(),
        },
    ),
    min_size=1,
    max_size=8,
    unique_by=lambda s: s["name"],
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(valid_services, st.sampled_from(["per-namespace", "shared", "shared-wildcard"]))
def test_any_valid_service_list_deploys_with_exact_grants(run_stack, service_list, mode):
    raw = {**stack_values("dev"), "services": service_list, "irsa": {"mode": mode}}
    run = run_stack(raw, mocks=Mocks())
    assert_unique_identities(run)
    registered = {r.inputs["name"]: json.loads(run.named(r.name.removesuffix("-role") + "-read-secrets").inputs["policy"])
                  for r in run.of_type("aws:iam/role:Role")}
    config = as_pulumi_config(raw)
    stack = load_stack({k.removeprefix("eso-platform:"): v for k, v in config.items() if k.startswith("eso-platform:")}, "us-east-1")
    for spec in role_specs(stack):
        granted = registered[spec.role_name]["Statement"][0]["Resource"]
        expected = sorted(f"arn:aws:secretsmanager:{g.region}:123456789012:secret:{g.path}-??????" for g in spec.grants)
        assert granted == expected
        owners = {s.namespace for s in stack.services if s.secret_path in {g.path for g in spec.grants}}
        assert owners == set(spec.namespaces)


# Names built from a few shared words, so that namespace and service names run into each
# other ('a' + 'b-c' and 'a-b' + 'c') as often as possible.
words = st.lists(st.sampled_from(["a", "b", "c"]), min_size=1, max_size=3).map("-".join)
overlapping_services = st.lists(
    st.fixed_dictionaries({"name": words, "namespace": words}, optional={"region": st.sampled_from(["us-east-1", "eu-west-1"])}),
    min_size=2,
    max_size=8,
    unique_by=lambda s: (s["namespace"], s["name"]),
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(overlapping_services)
def test_names_that_run_into_each_other_keep_unique_identities(run_stack, service_list):
    raw = {**stack_values("dev"), "services": service_list, "secretPathTemplate": "{env}/{namespace}/{service}"}
    assert_unique_identities(run_stack(raw, mocks=Mocks()))
