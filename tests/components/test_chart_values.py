"""The operator's Helm values."""

import pytest

from components.chart_values import ControllerSizing, controller_sizing, deep_merge, operator_values

UNUSED_RECONCILERS = ("processPushSecret", "processClusterPushSecret", "processClusterExternalSecret", "processClusterGenerator")


def test_deep_merge_merges_mappings_and_replaces_the_rest_without_mutating():
    base = {"a": {"b": 1, "c": [1]}, "d": 1}
    merged = deep_merge(base, {"a": {"c": [2], "e": 3}, "d": {"x": 1}})
    assert merged == {"a": {"b": 1, "c": [2], "e": 3}, "d": {"x": 1}}
    assert base == {"a": {"b": 1, "c": [1]}, "d": 1}


def test_high_availability_follows_replicas():
    single = operator_values(1, {}, {})
    assert (single["replicaCount"], single["leaderElect"], single["podDisruptionBudget"]["enabled"]) == (1, False, False)
    double = operator_values(3, {}, {})
    assert (double["replicaCount"], double["leaderElect"], double["podDisruptionBudget"]["enabled"]) == (3, True, True)
    assert double["webhook"] == {"replicaCount": 3, "podDisruptionBudget": {"enabled": True, "minAvailable": 1}}


def test_crds_are_kept_and_extra_values_merge_over():
    values = operator_values(1, {"team": "platform"}, {"crds": {"createPushSecret": False}, "webhook": {"port": 10251}})
    assert values["installCRDs"] is True
    assert values["crds"] == {"annotations": {"helm.sh/resource-policy": "keep"}, "createPushSecret": False}
    assert values["webhook"]["port"] == 10251 and values["webhook"]["replicaCount"] == 1
    assert values["commonLabels"] == {"team": "platform"}


@pytest.mark.parametrize(
    "external_secrets, expected",
    [
        (0, ControllerSizing(1, 50, 100)),
        (1, ControllerSizing(1, 50, 100)),
        (100, ControllerSizing(1, 50, 100)),
        (101, ControllerSizing(2, 50, 100)),
        (200, ControllerSizing(2, 50, 100)),
        (201, ControllerSizing(3, 75, 150)),
        (1000, ControllerSizing(10, 250, 500)),
        (1600, ControllerSizing(16, 400, 800)),
        (100_000, ControllerSizing(16, 400, 800)),
    ],
)
def test_concurrency_follows_the_number_of_external_secrets_within_bounds(external_secrets, expected):
    assert controller_sizing(external_secrets) == expected


def test_a_stack_concurrency_overrides_the_derived_one_and_sets_the_client_rate():
    assert controller_sizing(1000, 1) == ControllerSizing(1, 50, 100)
    assert controller_sizing(5, 32) == ControllerSizing(32, 800, 1600)


def test_sizing_becomes_the_controller_flags():
    values = operator_values(1, {}, {}, controller_sizing(1000))
    assert values["concurrent"] == 10
    assert values["extraArgs"] == {"client-qps": 250, "client-burst": 500}
    assert operator_values(1, {}, {})["concurrent"] == 1


def test_the_controller_has_no_instance_metadata_credentials_and_no_token_rights_of_its_own():
    values = operator_values(2, {}, {"resources": {"requests": {"cpu": "50m"}}})
    assert values["extraEnv"] == [{"name": "AWS_EC2_METADATA_DISABLED", "value": "true"}]
    assert values["rbac"] == {
        "serviceAccountTokenCreate": False,
        "aggregateToEdit": False,
        "aggregateToAdmin": False,
    }
    # No AWS identity rides in on anything else the program sets.
    assert "serviceAccount" not in values and "extraVolumes" not in values
    assert [entry["name"] for entry in values["extraEnv"] if entry["name"].startswith("AWS_")] == [
        "AWS_EC2_METADATA_DISABLED"
    ]


def test_the_reconcilers_the_program_does_not_use_are_off():
    values = operator_values(1, {}, {})
    assert {value: values[value] for value in UNUSED_RECONCILERS} == dict.fromkeys(UNUSED_RECONCILERS, False)
    # Those of its own objects, and of the ClusterSecretStores the guard judges, keep the chart's default.
    assert not {"processSecretStore", "processClusterStore"} & set(values)


def test_an_opted_in_reconciler_alone_is_on():
    values = operator_values(1, {}, {}, reconcilers=["PushSecret", "ClusterPushSecret"])
    assert [value for value in UNUSED_RECONCILERS if values[value]] == ["processPushSecret", "processClusterPushSecret"]
