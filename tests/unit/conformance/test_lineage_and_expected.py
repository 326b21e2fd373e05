"""Row lineage columns and the strict expected-bars check (seed 003 §4 items 4 and 5)."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from seamless_sdk.calendars import calendar_for
from seamless_sdk.conformance import add_lineage, check_expected, conform_bars
from seamless_sdk.conformance.engine.expected import strict_fields
from seamless_sdk.errors import InvalidRequestError

T0 = 1_710_028_800  # Sunday 2024-03-10: XNYS is closed, 24/7 is not


def stored(n: int) -> pd.DataFrame:
    source = pd.DataFrame(
        {"ts": T0 + 60 * np.arange(n), "open": 1.0, "high": 2.0, "low": 0.5, "close": 1.5}
    ).assign(volume=3.0)
    return conform_bars(source, "1m", T0, T0 + 3600).frame


def test_add_lineage_columns_and_layout() -> None:
    """source before flags (as in a lineage read), ingest_at and backfill_run_id at the end."""
    out = add_lineage(
        stored(3),
        source="backfill",
        ingest_at=datetime(2024, 3, 10, 9, 0, tzinfo=UTC),
        backfill_run_id="run-42",
    )
    assert list(out.columns) == [
        "ts", "open", "high", "low", "close", "volume", "source", "flags",
        "ingest_at", "backfill_run_id",
    ]  # fmt: skip
    assert out["source"].tolist() == ["backfill"] * 3
    assert str(out["ingest_at"].dtype) == "datetime64[ns, UTC]"
    assert out["ingest_at"].iloc[0] == pd.Timestamp("2024-03-10 09:00", tz="UTC")
    assert out["backfill_run_id"].tolist() == ["run-42"] * 3


@pytest.mark.parametrize(
    ("ingest_at", "expected"),
    [
        (T0, pd.Timestamp(T0, unit="s", tz="UTC")),
        ("2024-03-10T09:00:00+09:00", pd.Timestamp("2024-03-10 00:00", tz="UTC")),
        ("2024-03-10 00:00", pd.Timestamp("2024-03-10 00:00", tz="UTC")),
    ],
    ids=["epoch_seconds", "iso_offset", "naive_means_utc"],
)
def test_ingest_at_forms(ingest_at: object, expected: pd.Timestamp) -> None:
    """Any time form the SDK accepts lands on the same UTC instant."""
    out = add_lineage(stored(1), source="live", ingest_at=ingest_at)  # type: ignore[arg-type]
    assert out["ingest_at"].iloc[0] == expected
    assert out["backfill_run_id"].isna().all()


def test_add_lineage_keeps_a_mixed_source_column_and_the_input() -> None:
    """source=None keeps the per-row sources of a read; the input frame is not touched."""
    frame = add_lineage(stored(2), source="cache")
    frame["source"] = ["cache", "live"]
    before = frame.copy()
    out = add_lineage(frame, source=None, backfill_run_id="r")
    assert out["source"].tolist() == ["cache", "live"]
    pd.testing.assert_frame_equal(frame, before)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"source": ""}, "source"),
        ({"source": None}, "source"),
        ({"source": "live", "ingest_at": "not a time"}, "ingest_at"),
        ({"source": "live", "backfill_run_id": 7}, "backfill_run_id"),
    ],
    ids=["empty_source", "no_source_to_keep", "bad_time", "run_id_not_text"],
)
def test_add_lineage_rejects_bad_values(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidRequestError) as info:
        add_lineage(stored(1), **kwargs)  # type: ignore[arg-type]
    assert info.value.field == field


def test_check_expected_24_7() -> None:
    """Missing and unexpected bars are listed; their counts are exact."""
    ts = stored(60)["ts"].drop([5, 6])
    ok, details = check_expected(calendar_for(None), "1m", T0, T0 + 3600, ts)
    assert not ok
    assert details["expected"] == 60 and details["observed"] == 58
    assert details["missing"] == [T0 + 300, T0 + 360] and details["unexpected"] == []
    ok, details = check_expected(calendar_for(None), "1m", T0, T0 + 3600, stored(60)["ts"])
    assert ok and details["missing_count"] == details["unexpected_count"] == 0


def test_check_expected_exchange_calendar_and_report() -> None:
    """A bar on a Sunday is unexpected on XNYS; the details go into the report."""
    ok, details = check_expected(calendar_for("XNYS"), "1m", T0, T0 + 3600, [T0 + 60])
    assert not ok and details["expected"] == 0 and details["unexpected"] == [T0 + 60]
    report = conform_bars(pd.DataFrame(), "1m", T0, T0 + 3600).report
    failed = report.with_strict(**strict_fields(details))
    assert not failed.ok and failed.stages["strict"]["unexpected"] == [T0 + 60]
