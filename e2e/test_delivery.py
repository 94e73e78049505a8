"""Delivery: every planned ExternalSecret becomes Ready and its Secret holds exactly the expected data."""

import pytest

from e2e.aws_front import moto_client
from components.resource_types import POLICY_ATTACHMENT, ROLE, ROLE_POLICY

pytestmark = pytest.mark.timeout(300)


def _delivered(harness, plan):
    expected = harness.deploy(plan)
    names = [(d.namespace, d.name) for d in plan.deliveries()]
    harness.wait_ready(names)
    for (namespace, secret_name), data in expected.items():
        assert harness.secret_data(namespace, secret_name) == data, f"{namespace}/{secret_name}"
    return expected


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_committed_stacks_deliver_every_secret(harness, plan_of, stack):
    plan = plan_of(stack)
    expected = _delivered(harness, plan)
    regions = {d.region for d in plan.deliveries()}
    assert len(regions) >= 2, "the committed stacks deliver across regions"
    assert any(d.keys for d in plan.deliveries()) and any(d.keys is None for d in plan.deliveries())
    assert len(expected) == len(plan.deliveries())


def test_a_generated_stack_delivers_across_regions_and_key_selections(harness, generated_stack):
    plan = generated_stack(
        "gen",
        {
            "services": [
                {"name": "orders", "namespace": "gen-shop", "keys": ["DSN", "TOKEN"]},
                {"name": "orders-eu", "namespace": "gen-shop", "region": "eu-west-1"},
                {"name": "cart", "namespace": "gen-shop", "secretName": "cart-env", "class": "rotating"},
                {"name": "audit", "namespace": "gen-audit", "region": "us-west-2", "keys": ["SINK"]},
            ]
        },
    )
    expected = _delivered(harness, plan)
    assert set(expected) == {
        ("gen-shop", "orders"), ("gen-shop", "orders-eu"), ("gen-shop", "cart-env"), ("gen-audit", "audit")
    }
    assert set(expected[("gen-shop", "orders")]) == {"DSN", "TOKEN"}


def test_a_namespace_past_the_inline_limit_reads_through_attached_managed_policies(harness, generated_stack):
    services = [
        {"name": f"service-with-a-deliberately-long-name-for-iam-{index:03d}", "namespace": "mgd"}
        for index in range(100)
    ]
    plan = generated_stack("mgd", {"services": services})
    attachments = plan.of_type(POLICY_ATTACHMENT)
    assert len(attachments) >= 2 and not plan.of_type(ROLE_POLICY)
    _delivered(harness, plan)
    iam = moto_client("iam", harness.moto_url)
    role = plan.of_type(ROLE)[0]["inputs"]["name"]
    assert iam.list_role_policies(RoleName=role)["PolicyNames"] == []
    assert len(iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"]) == len(attachments)
