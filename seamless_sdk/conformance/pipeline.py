"""conform_bars: one fetched window in, a stored bar frame and a report out.

Stages, in order (DESIGN.md "Conformance" and "Messy timestamps"):

1. schema  – a DataFrame with ``ts open high low close volume``; values to
   float64 (pandera, lazily validated); other columns dropped. Blocking.
2. time    – ``ts`` to UTC, each row bucketed to the bar that contains it;
   rows whose bar is outside ``[start, end)`` dropped and counted.
   Unparseable times are blocking.
3. dedup and roll-up – identical rows dropped, samples of one bar combined
   (``rollup.py``); output ascending and unique on ``ts``.
4. quality – named rules on the rolled-up bars (``quality.py``); breaking
   bars are removed and their windows returned in ``rejected``. Blocking.
5. flags   – the caller's flags on every row, plus what the pipeline did.

"Blocking" sets ``report.ok = False``; the caller decides whether to raise
``ConformanceError`` or, with ``partial_ok``, use the rows that did conform.
A clean frame (one row per bar, ascending) skips sorting and grouping.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from seamless_sdk.conformance.flags import FLAG_DTYPE, BarFlag, count_flags
from seamless_sdk.conformance.quality import check_quality
from seamless_sdk.conformance.report import MAX_FAILURE_CASES, ConformanceReport
from seamless_sdk.conformance.rollup import BarArrays, is_one_row_per_bar, roll_up
from seamless_sdk.conformance.schema import SCHEMA_NAME, SCHEMA_VERSION, SchemaOutcome, check_input
from seamless_sdk.conformance.time import NS, TimeOutcome, to_utc_ns
from seamless_sdk.errors import InvalidRequestError
from seamless_sdk.intervals import Interval, parse_interval
from seamless_sdk.ranges import RangeSet
from seamless_sdk.stores.base import STORED_COLUMNS

_UTC_NS = pd.DatetimeTZDtype("ns", "UTC")
_MAX_FLAGS = np.iinfo(np.int32).max


@dataclass(frozen=True)
class ConformanceResult:
    """A conformed window.

    ``frame`` is a stored bar frame (see ``stores/base.py``) whose ``ts`` are
    unique, ascending, aligned to the interval and inside ``[start, end)``.
    ``rejected`` holds the bar windows ``[ts, ts + interval)`` whose rows were
    dropped for breaking a quality rule; when the schema stage fails nothing
    conformed, so it is the whole window. It is empty when ``report.ok``.
    """

    frame: pd.DataFrame
    report: ConformanceReport
    rejected: RangeSet

    @property
    def ok(self) -> bool:
        """Shorthand for ``report.ok``."""
        return self.report.ok


def empty_bar_frame() -> pd.DataFrame:
    """A stored bar frame with no rows (exact dtypes, RangeIndex)."""
    return _frame(BarArrays(*(np.zeros(0, dtype=t) for t in _ARRAY_DTYPES)))


def conform_bars(
    frame: object, interval: Interval | str, start: int, end: int, *, flags: int = 0
) -> ConformanceResult:
    """Conform what a fetcher returned for ``[start, end)`` into a stored bar frame.

    ``flags`` (a ``BarFlag`` combination, e.g. ``BarFlag.BACKFILLED``) is set on
    every output row. Data problems never raise: they are in the report.
    ``InvalidRequestError`` is raised only for a bad ``interval``, window or
    ``flags``, which are the caller's bugs rather than the source's.
    """
    iv = parse_interval(interval)
    _check_arguments(iv, start, end, flags)
    if not isinstance(frame, pd.DataFrame):
        problem = f"expected a pandas DataFrame, got {type(frame).__name__}"
        case = {"column": None, "check": "is_dataframe", "index": None, "failure_case": problem}
        stage = {"ok": False, "name": SCHEMA_NAME, "version": SCHEMA_VERSION, "errors": 1}
        return _blocked(start, end, 0, [problem], [case], stage)
    if "ts" not in frame.columns and frame.index.name == "ts":
        frame = frame.reset_index()  # a DatetimeIndex named ts is just as clear
    rows_in = len(frame)
    if rows_in == 0 and frame.shape[1] == 0:
        # A bare ``pd.DataFrame()`` is how many fetchers say "nothing here".
        return ConformanceResult(empty_bar_frame(), _empty_report(), RangeSet())

    schema = check_input(frame)
    time = _parse_time(frame)
    if not schema.ok or time is None or time.ns is None:
        errors = [*schema.errors, *(time.errors if time else [])]
        cases = [*schema.failure_cases, *(time.failure_cases if time else [])]
        stages = {"schema": schema.details(), "time": {"ok": False, "ts_kind": _kind(time)}}
        return _blocked(start, end, rows_in, errors, cases, stages["schema"], stages)
    assert schema.frame is not None
    return _conform(schema, time, iv, start, end, flags, rows_in)


def _conform(
    schema: SchemaOutcome,
    time: TimeOutcome,
    iv: Interval,
    start: int,
    end: int,
    flags: int,
    rows_in: int,
) -> ConformanceResult:
    assert schema.frame is not None and time.ns is not None
    validated = schema.frame
    ns = time.ns
    sec = ns // NS
    bar = sec - sec % iv.seconds
    values = [validated[c].to_numpy(dtype=np.float64) for c in ("open", "high", "low", "close")]
    volume = validated["volume"].to_numpy(dtype=np.float64)
    rows = BarArrays(bar, *values, volume, np.full(rows_in, flags, dtype=FLAG_DTYPE))

    inside = (bar >= start) & (bar < end)
    dropped = rows_in - int(np.count_nonzero(inside))
    if dropped:
        rows, ns = rows.take(inside), ns[inside]

    out_of_order = _mark_out_of_order(ns, rows.flags)
    if is_one_row_per_bar(rows.bar):
        bars, duplicates, rolled_up, merged = rows, 0, 0, 0
    else:
        rolled = roll_up(ns, rows)
        bars, duplicates = rolled.bars, rolled.duplicates
        rolled_up, merged = rolled.rolled_up, rolled.samples_merged

    quality = check_quality(bars.open, bars.high, bars.low, bars.close, bars.volume)
    rejected = RangeSet()
    if quality.bad is not None:
        rejected = RangeSet((int(b), int(b) + iv.seconds) for b in bars.bar[quality.bad])
        bars = bars.take(~quality.bad)

    out = _frame(bars)
    report = ConformanceReport(
        ok=quality.bad is None,
        rows_in=rows_in,
        rows_out=len(bars),
        dropped_outside_window=dropped,
        duplicates=duplicates,
        rolled_up=rolled_up,
        out_of_order=out_of_order,
        rejected_bars=quality.rejected,
        flag_counts=count_flags(bars.flags),
        rule_violations=quality.counts,
        stages={
            "schema": schema.details(),
            "time": {"ok": True, "ts_kind": time.kind, "dropped_outside_window": dropped},
            "dedup": {"ok": True, "duplicates": duplicates},
            "rollup": {"ok": True, "rolled_up": rolled_up, "samples_merged": merged},
            "quality": {
                "ok": quality.bad is None,
                "rejected_bars": quality.rejected,
                **{f"rule:{k}": v for k, v in quality.counts.items()},
            },
        },
    )
    return ConformanceResult(out, report, rejected)


def _mark_out_of_order(ns: np.ndarray, flags: np.ndarray) -> int:
    """Flag rows whose time is before an earlier row's; returns how many."""
    if len(ns) < 2 or (ns[1:] >= ns[:-1]).all():
        return 0
    late = np.zeros(len(ns), dtype=bool)
    late[1:] = ns[1:] < np.maximum.accumulate(ns)[:-1]
    flags[late] |= FLAG_DTYPE(BarFlag.OUT_OF_ORDER)
    return int(np.count_nonzero(late))


def _parse_time(frame: pd.DataFrame) -> TimeOutcome | None:
    if "ts" not in frame.columns or not isinstance(frame["ts"], pd.Series):
        return None  # missing (or repeated) ts is reported by the schema stage
    return to_utc_ns(frame["ts"])


def _kind(time: TimeOutcome | None) -> str:
    return "missing" if time is None else time.kind


def _frame(bars: BarArrays) -> pd.DataFrame:
    ts = pd.DatetimeIndex((bars.bar * NS).view("M8[ns]"), dtype=_UTC_NS)
    columns = dict(
        zip(
            STORED_COLUMNS,
            (ts, bars.open, bars.high, bars.low, bars.close, bars.volume, bars.flags),
            strict=True,
        )
    )
    return pd.DataFrame(columns)


_ARRAY_DTYPES = (np.int64, *(np.float64,) * 5, FLAG_DTYPE)


def _check_arguments(iv: Interval, start: int, end: int, flags: int) -> None:
    for name, value in (("start", start), ("end", end)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise InvalidRequestError(name, f"{value!r} is not int epoch seconds")
        if not iv.is_aligned(int(value)):
            raise InvalidRequestError(name, f"{value} is not aligned to {iv.name}")
    if start > end:
        raise InvalidRequestError("start", f"{start} is after end {end}")
    if isinstance(flags, bool) or not isinstance(flags, (int, np.integer)):
        raise InvalidRequestError("flags", f"{flags!r} is not an int bitset")
    if not 0 <= int(flags) <= _MAX_FLAGS:
        raise InvalidRequestError("flags", f"{flags} is outside 0..{_MAX_FLAGS}")


def _empty_report() -> ConformanceReport:
    return ConformanceReport(
        stages={"schema": {"ok": True, "name": SCHEMA_NAME, "version": SCHEMA_VERSION}}
    )


def _blocked(
    start: int,
    end: int,
    rows_in: int,
    errors: list[str],
    cases: list[dict[str, Any]],
    schema_stage: dict[str, Any],
    stages: dict[str, dict[str, Any]] | None = None,
) -> ConformanceResult:
    report = ConformanceReport(
        ok=False,
        rows_in=rows_in,
        schema_errors=list(errors),
        failure_cases=cases[:MAX_FAILURE_CASES],
        stages=stages or {"schema": schema_stage},
    )
    return ConformanceResult(empty_bar_frame(), report, RangeSet.span(start, end))
