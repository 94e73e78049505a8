"""Role names and which role serves which namespace."""

import pytest

from stacks.access import ROLE_NAME_LIMIT, role_name


def test_short_names_are_readable():
    assert role_name("dev", "backend") == "eso-dev.backend"
    assert role_name("prod", None) == "eso-prod-shared"


def test_long_names_fit_iam_and_stay_unique_and_stable():
    a = role_name("production-eu", "n" * 63)
    b = role_name("production-eu", "n" * 62 + "m")
    assert len(a) == len(b) == ROLE_NAME_LIMIT
    assert a != b and a == role_name("production-eu", "n" * 63)
    assert a.startswith("eso-production-eu.nnn")


@pytest.mark.parametrize("environment", ["dev", "staging", "prod"])
def test_names_differ_across_environments_and_namespaces(environment):
    names = {role_name(environment, ns) for ns in ("a", "b", "a-b", "shared")} | {role_name(environment, None)}
    assert len(names) == 5


def test_environment_and_namespace_pairs_never_spell_the_same_name():
    assert role_name("a-ns-b", "c") != role_name("a", "b-ns-c")
    assert role_name("a-b", "c") != role_name("a", "b-c")
