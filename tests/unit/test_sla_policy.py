"""SLA values are validated when the policy is built (issue 9, item 3).

``inf`` used to crash a read later with a raw OverflowError, ``nan`` made every
read with a gap give up at once, and ``max_sync_gap_bars=nan`` neither filled
nor detached. Every field is ``None`` (documented meaning) or a finite number
in its range.
"""

from __future__ import annotations

import math
from dataclasses import fields

import pytest
from hypothesis import given
from hypothesis import strategies as st

from seamless_sdk import InvalidRequestError, SLAPolicy
from seamless_sdk.sla import MAX_ATTEMPTS, MAX_BACKOFF_MS, MAX_BUDGET_MS

FIELDS = [f.name for f in fields(SLAPolicy)]
INTEGER_FIELDS = {"max_attempts", "max_sync_gap_bars"}

bad_values = st.one_of(
    st.sampled_from([math.inf, -math.inf, math.nan, 1e300, -1, -0.5, True, False]),
    st.text(max_size=3),
    st.just([1]),
    st.floats(max_value=-1e-9, allow_nan=False, allow_infinity=False),
)


@given(name=st.sampled_from(FIELDS), value=bad_values)
def test_bad_values_are_rejected_naming_the_field(name: str, value: object) -> None:
    with pytest.raises(InvalidRequestError) as info:
        SLAPolicy(**{name: value})  # type: ignore[arg-type]
    assert info.value.field == f"sla.{name}"
    assert str(info.value).startswith(f"sla.{name}: ")


@pytest.mark.parametrize("name", FIELDS)
def test_none_is_accepted_everywhere(name: str) -> None:
    assert getattr(SLAPolicy(**{name: None}), name) is None  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("total_deadline_ms", MAX_BUDGET_MS + 1),
        ("retry_backoff_ms", MAX_BACKOFF_MS + 1),
        ("jitter_ratio", 1.01),
        ("max_attempts", 0),
        ("max_attempts", MAX_ATTEMPTS + 1),
        ("max_attempts", 2.5),
        ("max_sync_gap_bars", 1.5),
        ("total_deadline_ms", 10**400),  # past any float: once an OverflowError
        ("max_attempts", 10**309),
    ],
)
def test_out_of_range_values_are_rejected(name: str, value: float) -> None:
    with pytest.raises(InvalidRequestError, match=f"^sla.{name}: "):
        SLAPolicy(**{name: value})  # type: ignore[arg-type]


@given(
    budget=st.floats(0, MAX_BUDGET_MS),
    attempts=st.integers(1, MAX_ATTEMPTS),
    ratio=st.floats(0, 1),
    gap=st.integers(0, 10**6),
)
def test_finite_values_in_range_are_kept(
    budget: float, attempts: int, ratio: float, gap: int
) -> None:
    sla = SLAPolicy(
        total_deadline_ms=budget,
        max_wait_backfill_ms=budget,
        max_attempts=attempts,
        jitter_ratio=ratio,
        max_sync_gap_bars=gap,
    )
    assert (sla.total_deadline_ms, sla.max_attempts, sla.jitter_ratio) == (budget, attempts, ratio)


def test_a_whole_float_is_a_whole_number() -> None:
    assert SLAPolicy(max_attempts=2.0).max_attempts == 2.0  # type: ignore[arg-type]
