"""Go durations as ESO parses them."""

import pytest

from stacks.durations import parse_go_duration


@pytest.mark.parametrize(
    "text, seconds",
    [("10m", 600), ("24h", 86400), ("1h30m", 5400), ("1.5h", 5400), ("90s", 90), ("500ms", 0.5), ("0", 0), ("+2m", 120), (".5m", 30), ("1h0m0s", 3600)],
)
def test_valid_durations(text, seconds):
    assert parse_go_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "10", "1d", "10 minutes", "-5m", "m", "1h 30m", "1H", "10mins", "1..5m", "5m-"])
def test_invalid_durations(text):
    with pytest.raises(ValueError, match="is not a duration like 10m or 1h30m"):
        parse_go_duration(text)
