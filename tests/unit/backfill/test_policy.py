"""``FillPolicy``: built once from a read, carried through Dagster run tags."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from seamless_sdk import FillPolicy, InvalidRequestError, SLAPolicy
from seamless_sdk.backfill.policy import TAG_PREFIX
from seamless_sdk.conformance import Flag
from seamless_sdk.sla import MAX_BACKOFF_MS


def test_defaults_are_the_sla_defaults() -> None:
    assert FillPolicy.from_read(SLAPolicy(), partial_ok=False) == FillPolicy()


def test_none_in_the_sla_means_one_attempt_without_waiting() -> None:
    sla = SLAPolicy(max_attempts=None, retry_backoff_ms=None, jitter_ratio=None)
    assert FillPolicy.from_read(sla, partial_ok=True) == FillPolicy(
        partial_ok=True, max_attempts=1, retry_backoff_ms=0.0, jitter_ratio=0.0
    )


def test_backoff_doubles_and_is_capped() -> None:
    policy = FillPolicy(retry_backoff_ms=100, jitter_ratio=0)
    assert [policy.delay_s(n) for n in (1, 2, 3)] == [0.1, 0.2, 0.4]
    assert policy.delay_s(40) == MAX_BACKOFF_MS / 1000


def test_jitter_stays_within_its_ratio() -> None:
    policy = FillPolicy(retry_backoff_ms=100, jitter_ratio=0.5)
    rng = random.Random(1)
    delays = [policy.delay_s(1, rng) for _ in range(200)]
    assert min(delays) >= 0.1
    assert max(delays) <= 0.15
    assert len(set(delays)) > 100


policies = st.builds(
    FillPolicy,
    partial_ok=st.booleans(),
    max_attempts=st.integers(1, 100),
    retry_backoff_ms=st.floats(0, MAX_BACKOFF_MS),
    jitter_ratio=st.floats(0, 1),
    flags=st.sampled_from([int(Flag.BACKFILLED), int(Flag.BACKFILLED | Flag.LIVE), 0]),
)


@given(policies)
def test_tags_round_trip(policy: FillPolicy) -> None:
    tags = policy.to_tags()
    assert all(k.startswith(TAG_PREFIX) and isinstance(v, str) for k, v in tags.items())
    assert FillPolicy.from_tags(tags, default=FillPolicy()) == policy


def test_missing_tags_keep_the_default() -> None:
    default = FillPolicy(partial_ok=True, max_attempts=7)
    tags = {f"{TAG_PREFIX}max_attempts": "2", "dagster/partition": "x"}
    assert FillPolicy.from_tags(tags, default) == FillPolicy(partial_ok=True, max_attempts=2)


@pytest.mark.parametrize(
    ("name", "raw"),
    [
        ("max_attempts", "two"),
        ("partial_ok", "yes"),
        ("max_attempts", "0"),
        ("max_attempts", "101"),
        ("jitter_ratio", "2"),
    ],
)
def test_bad_tags_name_the_tag(name: str, raw: str) -> None:
    with pytest.raises(InvalidRequestError) as info:
        FillPolicy.from_tags({f"{TAG_PREFIX}{name}": raw}, FillPolicy())
    assert name in info.value.field


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"max_attempts": 0}, "max_attempts"),
        ({"max_attempts": 10**9}, "max_attempts"),  # SLAPolicy refuses it: so does a fill
        ({"max_attempts": 2.5}, "max_attempts"),
        ({"max_attempts": True}, "max_attempts"),
        ({"retry_backoff_ms": -1}, "retry_backoff_ms"),
        ({"retry_backoff_ms": float("nan")}, "retry_backoff_ms"),
        ({"retry_backoff_ms": MAX_BACKOFF_MS + 1}, "retry_backoff_ms"),
        ({"jitter_ratio": 1.5}, "jitter_ratio"),
        ({"partial_ok": 1}, "partial_ok"),
        ({"flags": -1}, "flags"),
    ],
)
def test_bad_values_name_the_field(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidRequestError) as info:
        FillPolicy(**kwargs)  # type: ignore[arg-type]
    assert info.value.field == field
