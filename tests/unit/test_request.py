"""Request validation: every bad field is named."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pandas as pd
import pytest

from seamless_sdk import InvalidRequestError
from seamless_sdk.request import to_epoch_seconds, validate_node_id, validate_request

T0 = 1_704_067_200  # 2024-01-01T00:00:00Z


@pytest.mark.parametrize(
    "value",
    [
        T0,
        "2024-01-01",
        "2024-01-01T00:00:00Z",
        "2024-01-01T01:00:00+01:00",
        datetime(2024, 1, 1, tzinfo=UTC),
        datetime(2024, 1, 1),
        datetime(2023, 12, 31, 19, tzinfo=timezone(timedelta(hours=-5))),
        pd.Timestamp("2024-01-01", tz="UTC"),
        pd.Timestamp("2024-01-01"),
    ],
)
def test_time_forms(value: object) -> None:
    assert to_epoch_seconds(value, "start") == T0


@pytest.mark.parametrize(
    "node",
    ["demo:BTCUSDT", "a", "X.Y-Z_1:2", "a" * 128],
)
def test_good_node_ids(node: str) -> None:
    assert validate_node_id(node) == node


@pytest.mark.parametrize(
    "node",
    ["a b", "", ":a", "a" * 129, "a/b", "a;DROP TABLE", "a\n", "ä", None, 5, "../x"],
)
def test_bad_node_ids(node: object) -> None:
    with pytest.raises(InvalidRequestError) as info:
        validate_node_id(node)
    assert info.value.field == "node_id"
    assert str(info.value).startswith("node_id: ")


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (("n", "1m", T0 + 1, T0 + 60), "start"),
        (("n", "1m", T0, T0 + 61), "end"),
        (("n", "1m", T0 + 60, T0), "end"),
        (("n", "7x", T0, T0 + 60), "interval"),
        (("n", "1m", "yesterday-ish", T0), "start"),
        (("n", "1m", T0, 1.5), "end"),
        (("n", "1m", T0, [1]), "end"),
        (("a b", "1m", T0, T0), "node_id"),
    ],
)
def test_bad_requests_name_the_field(args: tuple[object, ...], field: str) -> None:
    with pytest.raises(InvalidRequestError) as info:
        validate_request(*args)
    assert info.value.field == field
    assert str(info.value).startswith(f"{field}: ")
