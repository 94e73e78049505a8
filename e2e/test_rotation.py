"""Rotation and refresh: a new value reaches the Secret, which is never absent, empty or partial."""

import time

import pytest

from e2e.secret_watch import SecretWatch
from e2e.world import put_secret, secret_value

pytestmark = pytest.mark.timeout(300)


def test_force_sync_rotation_never_leaves_the_secret_absent_empty_or_partial(harness, generated_stack):
    services = [{"name": "rotor", "namespace": "rot", "keys": ["DSN", "TOKEN"], "class": "stable"}]
    plan = generated_stack("rot", {"services": services, "forceSync": "deploy-1"})
    expected = harness.deploy(plan)
    harness.wait_ready([("rot", "rotor")])
    old = expected[("rot", "rotor")]
    delivery = plan.deliveries()[0]
    new = secret_value(delivery)
    with SecretWatch(harness.admin, "rot", "rotor") as watch:
        put_secret(harness.moto_url, delivery.region, delivery.secret_path, new)
        time.sleep(1)
        assert harness.secret_data("rot", "rotor") == old, "a 24h refresh must not pick the value up by itself"
        harness.deploy(generated_stack("rot", {"services": services, "forceSync": "deploy-2"}), seed=False)
        harness.wait_for_data("rot", "rotor", new, timeout=60)
        time.sleep(0.5)
    assert watch.states == [old, new], f"states seen over {watch.polls} polls: {watch.states}"


def test_a_one_minute_refresh_brings_a_new_value_within_the_interval(harness, generated_stack):
    plan = generated_stack("rfr", {"services": [{"name": "ticker", "namespace": "rfr", "refreshInterval": "1m"}]})
    harness.deploy(plan)
    harness.wait_ready([("rfr", "ticker")])
    delivery = plan.deliveries()[0]
    new = secret_value(delivery)
    put_secret(harness.moto_url, delivery.region, delivery.secret_path, new)
    waited = harness.wait_for_data("rfr", "ticker", new, timeout=120)
    print(f"refresh: new value after {waited:.1f} s (interval 60 s)")
    assert waited <= 65, f"the new value took {waited:.1f} s, more than the 1m interval"
