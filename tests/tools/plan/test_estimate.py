"""The cost estimate's arithmetic."""

import pytest

from tools.plan.estimate import Delivery, calls_per_month, estimate


@pytest.mark.parametrize("interval, calls", [("10m", 4380), ("1h", 730), ("24h", 730 / 24), ("1h30m", 730 / 1.5), ("30s", 87600)])
def test_calls_per_month_is_one_per_interval_over_730_hours(interval, calls):
    assert calls_per_month(interval) == pytest.approx(calls)


def test_prices_per_namespace_and_total():
    result = estimate(
        [
            Delivery("a", "10m", "us-east-1", ("dev/app/x",)),
            Delivery("a", "1h", "us-east-1", ("dev/app/y",)),
            Delivery("b", "1m", "us-west-2", ("dev/app/z",)),
        ]
    )
    a, b, total = result["namespaces"]["a"], result["namespaces"]["b"], result["total"]
    assert a == {
        "externalSecrets": 2,
        "secrets": 2,
        "callsPerMonth": 5110.0,
        "apiUsd": 0.0256,  # 5,110 / 10,000 x 0.05 = 0.02555
        "storageUsd": 0.8,
        "totalUsd": 0.8256,
    }
    assert b["callsPerMonth"] == 43800.0 and b["apiUsd"] == 0.219 and b["storageUsd"] == 0.4
    assert total["callsPerMonth"] == 48910.0
    assert total["apiUsd"] == pytest.approx(0.2446, abs=1e-4)
    assert total["totalUsd"] == pytest.approx(0.2446 + 1.2, abs=1e-4)
    assert "a month is 730 hours" in result["assumptions"]


def test_a_secret_read_twice_is_stored_once_but_called_twice():
    result = estimate(
        [
            Delivery("a", "1h", "us-east-1", ("dev/app/shared",)),
            Delivery("b", "1h", "us-east-1", ("dev/app/shared",)),
            Delivery("b", "1h", "eu-west-1", ("dev/app/shared",)),
        ]
    )
    assert result["total"]["secrets"] == 2  # one path in two regions
    assert result["total"]["callsPerMonth"] == 2190.0
