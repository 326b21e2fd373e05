"""``PartitionKey``: the one place a bar partition's key is built and read.

Property tests pin the round trip for every interval and any valid node id,
and that the string is exactly what Dagster's ``MultiPartitionKey`` writes for
the same dimensions, so a key we build is a key Dagster knows.
"""

from __future__ import annotations

from datetime import UTC, datetime

import dagster as dg
import pytest
from hypothesis import given
from hypothesis import strategies as st

from seamless_sdk.backfill.dagster import (
    NODE_DIMENSION,
    WINDOW_DIMENSION,
    PartitionKey,
)
from seamless_sdk.errors import InvalidRequestError
from seamless_sdk.intervals import parse_interval, window_floor
from seamless_sdk.request import NODE_ID_PATTERN

INTERVALS = [parse_interval(i) for i in ("1s", "1m", "5m", "15m", "1h", "4h", "1d")]
# Years pandas can hold as datetime64[ns] (DESIGN.md's supported time range).
FIRST = int(datetime(1678, 1, 1, tzinfo=UTC).timestamp())
LAST = int(datetime(2261, 12, 1, tzinfo=UTC).timestamp())

node_ids = st.from_regex(f"^{NODE_ID_PATTERN}$", fullmatch=True).filter(lambda s: "\n" not in s)


@st.composite
def partition_keys(draw: st.DrawFn) -> PartitionKey:
    interval = draw(st.sampled_from(INTERVALS))
    ts = draw(st.integers(FIRST, LAST))
    return PartitionKey(draw(node_ids), interval, window_floor(ts, interval.partition_unit))


@given(partition_keys())
def test_str_then_parse_is_the_same_key(key: PartitionKey) -> None:
    assert PartitionKey.parse(key.interval, str(key)) == key


@given(partition_keys())
def test_the_string_is_dagsters_multi_partition_key(key: PartitionKey) -> None:
    dagster_key = dg.MultiPartitionKey(key.dimensions)
    assert str(key) == str(dagster_key)
    assert PartitionKey.parse(key.interval, dagster_key) == key


@given(partition_keys())
def test_the_window_is_the_partition_unit_holding_its_start(key: PartitionKey) -> None:
    start, end = key.window
    assert start < end
    assert window_floor(end - 1, key.interval.partition_unit) == start
    assert PartitionKey.of(key.node_id, key.interval, end - 1) == key
    assert PartitionKey.of(key.node_id, key.interval, end).window_start == end


@given(partition_keys(), st.integers(1, 86_400 * 27))
def test_a_start_inside_a_window_is_rejected(key: PartitionKey, offset: int) -> None:
    with pytest.raises(InvalidRequestError) as info:
        PartitionKey(key.node_id, key.interval, key.window_start + offset)
    assert info.value.field == "window_start"


@pytest.mark.parametrize(
    ("interval", "key", "why"),
    [
        ("1m", "demo:A|2024", "a year key for a monthly partition"),
        ("1h", "demo:A|2024-01", "a month key for a yearly partition"),
        ("1m", "demo:A|2024-13", "no such month"),
        ("1m", "demo:A|2024-1", "not zero-padded: Dagster would never write it"),
        ("1m", "demo:A", "no window at all"),
        ("1m", "bad id|2024-01", "a node id that does not validate"),
    ],
)
def test_bad_keys_name_the_field(interval: str, key: str, why: str) -> None:
    with pytest.raises(InvalidRequestError) as info:
        PartitionKey.parse(interval, key)
    assert info.value.field in {"partition_key", "node_id"}, why


def test_a_multi_partition_key_of_other_dimensions_is_rejected() -> None:
    other = dg.MultiPartitionKey({"node": "demo:A", "day": "2024-01-01"})
    with pytest.raises(InvalidRequestError, match="dimensions"):
        PartitionKey.parse("1m", other)


def test_dimension_names_are_what_the_assets_declare() -> None:
    assert PartitionKey.parse("1d", "demo:A|2024").dimensions == {
        NODE_DIMENSION: "demo:A",
        WINDOW_DIMENSION: "2024",
    }
