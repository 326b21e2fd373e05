"""conform_bars with the dedup policies and the optional vwap column: one row per case.

Several rows claiming one bar are normal when sources overlap (a backfill
and the live feed, a vendor re-sending corrected bars). The policy decides
which rows speak for the bar before the usual roll-up; the table pins the
frame and the counts for each way that can go.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pytest

from seamless_sdk.bars import STORED_COLUMNS
from seamless_sdk.conformance import (
    BarFlag,
    conform_bars,
    conform_trades,
    load_config,
    validate_stored,
)
from seamless_sdk.errors import InvalidRequestError
from seamless_sdk.ranges import RangeSet

T0 = 1_710_028_800
WINDOW = (T0, T0 + 3600)
A = (10.0, 11.0, 9.0, 10.5, 100.0)
B = (10.5, 12.0, 10.0, 11.0, 50.0)
C = (11.0, 11.5, 10.5, 11.2, 20.0)
D = int(BarFlag.DEDUPED)
R = int(BarFlag.ROLLED_UP)


def rows(ts: list[float], values: list[tuple[float, ...]], **extra: list[Any]) -> pd.DataFrame:
    out = pd.DataFrame(values, columns=["open", "high", "low", "close", "volume"])
    out.insert(0, "ts", ts)
    for name, column in extra.items():
        out[name] = column
    return out


def bars(expected: list[tuple[Any, ...]], vwap: list[float] | None = None) -> pd.DataFrame:
    """The exact output frame for ``(ts, o, h, l, c, v, flags)`` rows, plus vwap if given."""
    ts = np.array([r[0] for r in expected], dtype=np.int64) * 1_000_000_000
    out = pd.DataFrame({"ts": pd.DatetimeIndex(ts.view("M8[ns]"), dtype="datetime64[ns, UTC]")})
    for i, name in enumerate(("open", "high", "low", "close", "volume"), start=1):
        out[name] = np.array([r[i] for r in expected], dtype=np.float64)
    out["flags"] = np.array([r[6] for r in expected], dtype=np.int32)
    if vwap is not None:
        out["vwap"] = np.array(vwap, dtype=np.float64)
    return out


@dataclass
class Case:
    id: str
    why: str
    input: pd.DataFrame
    expected: list[tuple[Any, ...]]
    kwargs: dict[str, Any] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    vwap: list[float] | None = None
    column: str = "none"


CASES = [
    Case(
        "source_priority_storage_beats_live",
        "storage outranks live in the default order: its bar wins, the live row is superseded",
        rows([T0, T0 + 10], [A, B], source=["live", "storage"]),
        [(T0, *B, D)],
        {"dedup": "source_priority"},
        {"superseded": 1},
        column="source",
    ),
    Case(
        "source_priority_winner_samples_still_roll_up",
        "the winning source sent two samples: they roll up; the losing source is ignored",
        rows([T0, T0 + 20, T0 + 40], [A, C, B], source=["backfill", "live", "backfill"]),
        [(T0, 10.0, 12.0, 9.0, 11.0, 150.0, D | R)],
        {"dedup": "source_priority"},
        {"superseded": 1, "rolled_up": 1},
        column="source",
    ),
    Case(
        "source_priority_unknown_sources_rank_last_and_tie",
        "two vendors the order does not know tie (roll up together); a known source beats them",
        rows(
            [T0, T0 + 30, T0 + 60, T0 + 90],
            [A, B, A, C],
            source=["vendor_x", "vendor_y", "vendor_x", "cache"],
        ),
        [(T0, 10.0, 12.0, 9.0, 11.0, 150.0, R), (T0 + 60, *C, D)],
        {"dedup": "source_priority"},
        {"superseded": 1, "rolled_up": 1},
        column="source",
    ),
    Case(
        "source_priority_custom_order",
        "an explicit order for vendor names: vendor_b first",
        rows([T0, T0], [A, B], source=["vendor_a", "vendor_b"]),
        [(T0, *B, D)],
        {"dedup": "source_priority", "source_priority": ["vendor_b", "vendor_a"]},
        {"superseded": 1},
        column="source",
    ),
    Case(
        "source_priority_identical_rows_count_as_superseded",
        "the same bar from two sources: the policy drops the lower one before dedup sees it",
        rows([T0, T0], [A, A], source=["live", "storage"]),
        [(T0, *A, D)],
        {"dedup": "source_priority"},
        {"superseded": 1},
        column="source",
    ),
    Case(
        "source_priority_without_source_column_rolls_up",
        "no source column: nothing to rank, the default roll-up applies",
        rows([T0, T0 + 30], [A, B]),
        [(T0, 10.0, 12.0, 9.0, 11.0, 150.0, R)],
        {"dedup": "source_priority"},
        {"rolled_up": 1},
    ),
    Case(
        "ingest_time_last_write_wins",
        "a vendor re-sent a corrected bar: the later ingest replaces the earlier one",
        rows(
            [T0, T0, T0 + 60],
            [A, B, C],
            ingest_time=["2024-03-10T00:05:00Z", "2024-03-10T01:00:00Z", "2024-03-10T00:05:00Z"],
        ),
        [(T0, *B, D), (T0 + 60, *C, 0)],
        {"dedup": "ingest_time"},
        {"superseded": 1},
        column="ingest_time",
    ),
    Case(
        "ingest_at_name_and_missing_time_is_oldest",
        "the lineage name ingest_at works too; a row without an ingest time loses",
        rows([T0, T0], [A, B], ingest_at=[pd.NaT, pd.Timestamp("2024-03-10 00:01", tz="UTC")]),
        [(T0, *B, D)],
        {"dedup": "ingest_time"},
        {"superseded": 1},
        column="ingest_at",
    ),
    Case(
        "ingest_time_equal_times_roll_up",
        "two writes at the same instant both stand: they are samples of the bar",
        rows([T0, T0 + 30], [A, B], ingest_time=[T0 + 100, T0 + 100]),
        [(T0, 10.0, 12.0, 9.0, 11.0, 150.0, R)],
        {"dedup": "ingest_time"},
        {"rolled_up": 1},
        column="ingest_time",
    ),
    Case(
        "vwap_rolled_up_by_volume",
        "vwap of a bar is sum(vwap * volume) / sum(volume) over its samples",
        rows([T0, T0 + 30, T0 + 60], [A, B, C], vwap=[10.2, 11.5, 11.1]),
        [(T0, 10.0, 12.0, 9.0, 11.0, 150.0, R), (T0 + 60, *C, 0)],
        {"keep_optional": True},
        {"rolled_up": 1},
        vwap=[(10.2 * 100 + 11.5 * 50) / 150, 11.1],
    ),
    Case(
        "vwap_of_zero_volume_bar_is_nan",
        "no volume, no average: NaN (the schema declares vwap nullable)",
        rows([T0, T0 + 30], [(*A[:4], 0.0), (*B[:4], 0.0)], vwap=[10.2, 11.5]),
        [(T0, 10.0, 12.0, 9.0, 11.0, 0.0, R)],
        {"keep_optional": True},
        {"rolled_up": 1},
        vwap=[float("nan")],
    ),
    Case(
        "vwap_sample_without_vwap_is_left_out",
        "a NaN vwap sample neither counts nor poisons the bar: its volume is left out",
        rows([T0, T0 + 30], [A, B], vwap=[10.2, float("nan")]),
        [(T0, 10.0, 12.0, 9.0, 11.0, 150.0, R)],
        {"keep_optional": True},
        {"rolled_up": 1},
        vwap=[10.2],
    ),
    Case(
        "vwap_dropped_unless_asked",
        "the stored frame has no vwap column: without keep_optional it is dropped",
        rows([T0], [A], vwap=[10.2]),
        [(T0, *A, 0)],
    ),
    Case(
        "vwap_not_declared_by_v1",
        "ohlcv_bars v1 declares no vwap, so asking to keep optional columns keeps none",
        rows([T0], [A], vwap=[10.2]),
        [(T0, *A, 0)],
        {"keep_optional": True, "schema_version": "1"},
    ),
    Case(
        "vwap_garbage_ignored_when_dropped",
        "a vwap column of text is nobody's business when it is not kept",
        rows([T0], [A], vwap=["n/a"]),
        [(T0, *A, 0)],
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_policy_cases(case: Case) -> None:
    """Each case yields exactly the expected frame, counts and dedup stage."""
    result = conform_bars(case.input, "1m", *WINDOW, **case.kwargs)

    pd.testing.assert_frame_equal(result.frame, bars(case.expected, case.vwap))
    report = result.report
    counts = {"superseded": 0, "rolled_up": 0, "duplicates": 0, **case.counts}
    assert {k: getattr(report, k) for k in counts} == counts
    assert report.ok and not result.rejected
    assert report.stages["dedup"]["column"] == case.column
    assert report.stages["dedup"]["policy"] == case.kwargs.get("dedup", "rollup")
    assert validate_stored(result.frame[list(STORED_COLUMNS)]) == ([], [])
    json.dumps(report.to_dict(), allow_nan=False)


def test_unparseable_ingest_time_is_a_schema_error() -> None:
    """Last-write-wins needs times: text that is not one blocks like a bad ts."""
    source = rows([T0, T0], [A, B], ingest_time=["yesterday", "2024-03-10T00:00:00Z"])
    result = conform_bars(source, "1m", *WINDOW, dedup="ingest_time")
    assert not result.report.ok
    assert result.rejected == RangeSet([WINDOW])
    assert any(e.startswith("ingest_time:") for e in result.report.schema_errors)


def test_kept_vwap_with_garbage_is_a_schema_error() -> None:
    """Once kept, vwap is held to its declared dtype like any other column."""
    source = rows([T0], [A], vwap=["n/a"])
    report = conform_bars(source, "1m", *WINDOW, keep_optional=True).report
    assert not report.ok
    assert report.schema_errors == [
        "column 'vwap': coerce_dtype('float64') failed for 1 value(s), e.g. 'n/a'"
    ]


def test_trades_vwap_is_price_weighted_by_size() -> None:
    """Trades give vwap for free: sum(price * size) / sum(size) per bar."""
    ticks = pd.DataFrame(
        {"ts": [T0, T0 + 10, T0 + 70], "price": [100.0, 102.0, 99.0], "size": [1.0, 3.0, 2.0]}
    )
    frame = conform_trades(ticks, "1m", *WINDOW, keep_optional=True).frame
    assert frame["vwap"].tolist() == [(100.0 + 3 * 102.0) / 4, 99.0]
    assert "vwap" not in conform_trades(ticks, "1m", *WINDOW).frame.columns


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"dedup": "newest"}, "dedup"),
        ({"mode": "lenient"}, "mode"),
        ({"schema_version": "9"}, "schema"),
        ({"out_of_order_window": 1.5}, "out_of_order_window"),
        ({"source_priority": "live"}, "source_priority"),
        ({"source_priority": ["live", "live"]}, "source_priority"),
        ({"node_id": "bad id"}, "node_id"),
    ],
    ids=[
        "unknown_dedup",
        "unknown_mode",
        "unknown_version",
        "float_window",
        "priority_string",
        "priority_repeats",
        "bad_node",
    ],
)
def test_bad_overrides_raise(kwargs: dict[str, Any], field: str) -> None:
    """Overrides are the caller's choice: a bad one raises, naming the field."""
    with pytest.raises(InvalidRequestError) as info:
        conform_bars(rows([T0], [A]), "1m", *WINDOW, **kwargs)
    assert info.value.field == field


def test_trades_ignore_a_dedup_policy() -> None:
    """A config that resolves bar claims by source must never drop a trade."""
    config = load_config().with_overlay({"datasets": {"trades": {"dedup": "source_priority"}}})
    ticks = pd.DataFrame(
        {"ts": [T0, T0 + 1], "price": [100.0, 100.0], "size": [1.0, 2.0], "source": ["a", "b"]}
    )
    result = conform_trades(ticks, "1m", *WINDOW, config=config)
    assert result.frame["volume"].tolist() == [3.0] and result.report.superseded == 0
