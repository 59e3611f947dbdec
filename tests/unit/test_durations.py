"""One duration reader for rules, policies, the API (vigile.durations)."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vigile.detect.rules import parse_duration as rule_duration
from vigile.durations import UNIT_SECONDS, parse_duration
from vigile.respond.policy import parse_duration as policy_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90s", 90.0), ("30m", 1800.0), ("30min", 1800.0), ("4h", 14400.0), ("7d", 604800.0),
     ("2w", 1209600.0), ("250ms", 0.25), (" 1.5h ", 5400.0), ("45", 45.0), (12, 12.0)],
)  # fmt: skip
def test_when_a_duration_is_written_then_it_reads_as_seconds(text: object, seconds: float) -> None:
    assert parse_duration(text) == seconds
    assert rule_duration(text) == seconds
    assert policy_duration(text) == seconds


@pytest.mark.parametrize("bad", ["", "soon", "-5m", "5 hours", "1e3", True, None, [], float("inf")])
def test_when_a_duration_is_unreadable_then_value_error_says_how_to_write_it(bad: object) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(bad)


def test_when_zero_then_rules_accept_it_and_policies_do_not() -> None:
    assert rule_duration("0s") == 0.0
    with pytest.raises(ValueError, match="positive"):
        policy_duration(0)


@given(st.integers(min_value=0, max_value=10**6), st.sampled_from(sorted(UNIT_SECONDS)))
def test_when_number_and_unit_then_product(n: int, unit: str) -> None:
    assert parse_duration(f"{n}{unit}") == pytest.approx(n * UNIT_SECONDS[unit])


@given(st.text(max_size=12))
def test_when_any_text_then_seconds_or_value_error(text: str) -> None:
    with contextlib.suppress(ValueError):
        assert parse_duration(text) >= 0
