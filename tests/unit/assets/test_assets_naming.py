"""Names shared by the SDK's Dagster backfiller and the code location.

Both sides build partition keys, tags and windows from these functions, so
they must match what Dagster itself produces for the same partitions.
"""

from __future__ import annotations

import pytest

from seamless_sdk.backfill.dagster import (
    DAGSTER_PARTITION_TAG,
    RANGE_END_TAG,
    RANGE_START_TAG,
    PartitionKey,
    asset_name,
    job_name,
    partition_tag_value,
    partition_windows_touching,
    requests_path_for,
    run_covers_partition,
)
from seamless_sdk.errors import InvalidRequestError
from seamless_sdk.intervals import parse_interval
from seamless_sdk.ranges import RangeSet

JAN_2024 = 1_704_067_200
FEB_2024 = 1_706_745_600
JAN_2025 = 1_735_689_600
NOW = 1_760_000_000  # 2025-10-09


def test_asset_and_job_names() -> None:
    assert asset_name("1m") == "bars_1m"
    assert asset_name(parse_interval("60s")) == "bars_1m"
    assert job_name("1d") == "bars_1d_job"


@pytest.mark.parametrize(
    ("interval", "start", "key", "end"),
    [
        ("1m", JAN_2024, "2024-01", FEB_2024),
        ("5m", FEB_2024, "2024-02", 1_709_251_200),
        ("1h", JAN_2024, "2024", JAN_2025),
        ("1d", JAN_2025, "2025", 1_767_225_600),
    ],
)
def test_window_keys_round_trip(interval: str, start: int, key: str, end: int) -> None:
    pk = PartitionKey("demo:BTC", parse_interval(interval), start)
    assert pk.window_key == key
    assert PartitionKey.parse(interval, f"demo:BTC|{key}").window == (start, end)


def test_partition_keys_round_trip_and_reject_bad_keys() -> None:
    iv = parse_interval("1m")
    pk = PartitionKey("demo:BTC", iv, JAN_2024)
    assert str(pk) == "demo:BTC|2024-01"
    assert PartitionKey.parse(iv, "demo:BTC|2024-01") == pk
    assert (pk.node_id, pk.window_start, pk.window_end) == ("demo:BTC", JAN_2024, FEB_2024)
    assert partition_tag_value(pk) == "bars_1m|demo:BTC|2024-01"
    for bad in ("demo:BTC", "demo:BTC|2024", "bad id|2024-01", "demo:BTC|2024-1", "|2024-01"):
        with pytest.raises(InvalidRequestError):
            PartitionKey.parse(iv, bad)


def test_partition_windows_touching_aligns_out_and_stops_at_now() -> None:
    iv = parse_interval("1m")
    ranges = RangeSet([(JAN_2024 + 600, JAN_2024 + 1200), (FEB_2024 + 60, FEB_2024 + 120)])
    assert partition_windows_touching(iv, ranges, now=NOW) == [
        (JAN_2024, FEB_2024),
        (FEB_2024, 1_709_251_200),
    ]
    # A window that starts at or after the now edge holds no closed bar yet.
    assert partition_windows_touching(iv, RangeSet([(NOW - 60, NOW + 10**7)]), now=NOW) == [
        (1_759_276_800, 1_761_955_200)
    ]


def test_requests_path_sits_next_to_the_store(tmp_path) -> None:
    assert requests_path_for(tmp_path / "seamless.sqlite") == tmp_path / "seamless.requests.sqlite"


@pytest.mark.parametrize(
    ("tags", "covers"),
    [
        ({"seamless/partition": "bars_1m|b|2024-02"}, True),
        ({DAGSTER_PARTITION_TAG: "b|2024-02"}, True),
        ({DAGSTER_PARTITION_TAG: "b|2024-03"}, False),
        ({RANGE_START_TAG: "a|2024-01", RANGE_END_TAG: "c|2024-03"}, True),
        ({RANGE_START_TAG: "a|2024-03", RANGE_END_TAG: "c|2024-05"}, False),
        ({RANGE_START_TAG: "c|2024-01", RANGE_END_TAG: "c|2024-05"}, False),
        # A node the instance does not list: only a range of that node alone covers it.
        ({RANGE_START_TAG: "x|2024-01", RANGE_END_TAG: "b|2024-05"}, False),
        # A range tag of some other partitioning is never ours.
        ({RANGE_START_TAG: "2024-01-01", RANGE_END_TAG: "2024-02-01"}, False),
        ({}, False),
    ],
)
def test_run_covers_partition(tags: dict[str, str], covers: bool) -> None:
    """A range of a multi-partition asset is a node range × a window range."""
    key = PartitionKey.parse("1m", "b|2024-02")
    assert run_covers_partition(tags, key, ["a", "b", "c"]) is covers


def test_tag_names_match_dagster() -> None:
    """Dagster writes these tags itself; pin them so a Dagster upgrade cannot drift."""
    from dagster._core.storage.tags import (  # test-only: pins the strings we rely on
        ASSET_PARTITION_RANGE_END_TAG,
        ASSET_PARTITION_RANGE_START_TAG,
        PARTITION_NAME_TAG,
    )

    assert RANGE_START_TAG == ASSET_PARTITION_RANGE_START_TAG
    assert RANGE_END_TAG == ASSET_PARTITION_RANGE_END_TAG
    assert DAGSTER_PARTITION_TAG == PARTITION_NAME_TAG
