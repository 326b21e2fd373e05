"""conform_bars: one fetched window in, a stored bar frame and a report out.

Stages, in order (DESIGN.md "Conformance" and "Messy timestamps"):

1. schema  – a DataFrame with ``ts open high low close volume``; values to
   float64 (pandera, lazily validated); other columns dropped. Blocking.
2. time    – ``ts`` to UTC, each row bucketed to the bar that contains it;
   rows whose bar is outside ``[start, end)`` dropped and counted.
   Unparseable times are blocking.
3. dedup and roll-up – identical rows dropped, samples of one bar combined
   (``rollup.py``); output ascending and unique on ``ts``.
4. quality – named rules on every sample and every bar (``quality.py``);
   bad bars are removed and their windows returned in ``rejected``. Blocking.
5. flags   – the caller's flags on every row, plus what the pipeline did.

"Blocking" sets ``report.ok = False``; the caller decides whether to raise
``ConformanceError`` or, with ``partial_ok``, use the rows that did conform.
A clean frame (one row per bar, ascending) skips sorting and grouping.

Trades (``trades.py``) run the same stages with their own schema and no
dedup: two identical trades are two trades.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from seamless_sdk.conformance.flags import FLAG_DTYPE, BarFlag, count_flags
from seamless_sdk.conformance.quality import check_quality, combine_counts
from seamless_sdk.conformance.report import MAX_FAILURE_CASES, ConformanceReport
from seamless_sdk.conformance.rollup import (
    BarArrays,
    RollupOutcome,
    is_one_row_per_bar,
    roll_up,
)
from seamless_sdk.conformance.schema import OHLCV_INPUT, InputSpec, SchemaOutcome, check_input
from seamless_sdk.conformance.time import NS, TimeOutcome, to_utc_ns, ts_column
from seamless_sdk.errors import InvalidRequestError
from seamless_sdk.intervals import Interval, parse_interval
from seamless_sdk.ranges import RangeSet
from seamless_sdk.stores.base import STORED_COLUMNS

_MAX_FLAGS = np.iinfo(np.int32).max
_ARRAY_DTYPES = (np.int64, *(np.float64,) * 5, FLAG_DTYPE)

Values = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]


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


@dataclass(frozen=True)
class DatasetKind:
    """How one dataset kind enters the pipeline.

    ``values`` turns a validated input frame into open/high/low/close/volume
    samples; ``dedup`` says whether identical rows are repeats (bars) or
    distinct events (trades).
    """

    spec: InputSpec
    values: Callable[[pd.DataFrame], Values]
    dedup: bool


def _bar_values(frame: pd.DataFrame) -> Values:
    o, h, low, c, v = (frame[c].to_numpy(dtype=np.float64) for c in OHLCV_INPUT.value_columns)
    return o, h, low, c, v


OHLCV_BARS = DatasetKind(OHLCV_INPUT, _bar_values, dedup=True)


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
    return conform(OHLCV_BARS, frame, interval, start, end, flags=flags)


def conform(
    kind: DatasetKind,
    frame: object,
    interval: Interval | str,
    start: int,
    end: int,
    *,
    flags: int = 0,
) -> ConformanceResult:
    """Run the pipeline for any dataset kind (``conform_bars`` is the OHLCV one)."""
    iv = parse_interval(interval)
    _check_arguments(iv, start, end, flags)
    spec = kind.spec
    if not isinstance(frame, pd.DataFrame):
        problem = f"expected a pandas DataFrame, got {type(frame).__name__}"
        case = {"column": None, "check": "is_dataframe", "index": None, "failure_case": problem}
        stage = {"ok": False, "name": spec.name, "version": spec.version, "errors": 1}
        return _blocked(spec, start, end, 0, [problem], [case], {"schema": stage})
    if "ts" not in frame.columns and frame.index.name == "ts":
        frame = frame.reset_index()  # a DatetimeIndex named ts is just as clear
    rows_in = len(frame)
    if rows_in == 0 and frame.shape[1] == 0:
        # A bare ``pd.DataFrame()`` is how many fetchers say "nothing here".
        stages = {"schema": {"ok": True, "name": spec.name, "version": spec.version}}
        report = ConformanceReport(stages=stages, schema=spec.name, schema_version=spec.version)
        return ConformanceResult(empty_bar_frame(), report, RangeSet())

    schema = check_input(frame, spec)
    time = _parse_time(frame)
    if not schema.ok or time is None or time.ns is None:
        errors = [*schema.errors, *(time.errors if time else [])]
        cases = [*schema.failure_cases, *(time.failure_cases if time else [])]
        stages = {
            "schema": schema.details(),
            "time": {"ok": False, "ts_kind": "missing" if time is None else time.kind},
        }
        return _blocked(spec, start, end, rows_in, errors, cases, stages)
    return _conform(kind, schema, time, iv, start, end, flags, rows_in)


def _conform(
    kind: DatasetKind,
    schema: SchemaOutcome,
    time: TimeOutcome,
    iv: Interval,
    start: int,
    end: int,
    flags: int,
    rows_in: int,
) -> ConformanceResult:
    assert schema.frame is not None and time.ns is not None
    ns = time.ns
    sec = ns // NS
    bar = sec - sec % iv.seconds
    rows = BarArrays(bar, *kind.values(schema.frame), np.full(rows_in, flags, dtype=FLAG_DTYPE))

    inside = (bar >= start) & (bar < end)
    dropped = rows_in - int(np.count_nonzero(inside))
    if dropped:
        rows, ns = rows.take(inside), ns[inside]

    out_of_order = _mark_out_of_order(ns, rows.flags)
    rolled: RollupOutcome | None = None
    if is_one_row_per_bar(rows.bar):
        bars, duplicates, rolled_up, merged = rows, 0, 0, 0
    else:
        rolled = roll_up(ns, rows, dedup=kind.dedup)
        bars, duplicates = rolled.bars, rolled.duplicates
        rolled_up, merged = rolled.rolled_up, rolled.samples_merged

    rule_counts, bad = _judge(bars, rolled)
    rejected = RangeSet()
    n_rejected = 0
    if bad is not None:
        rejected = RangeSet((int(b), int(b) + iv.seconds) for b in bars.bar[bad])
        n_rejected = int(np.count_nonzero(bad))
        bars = bars.take(~bad)

    report = ConformanceReport(
        ok=bad is None,
        rows_in=rows_in,
        rows_out=len(bars),
        dropped_outside_window=dropped,
        duplicates=duplicates,
        rolled_up=rolled_up,
        out_of_order=out_of_order,
        rejected_bars=n_rejected,
        flag_counts=count_flags(bars.flags),
        rule_violations=rule_counts,
        stages={
            "schema": schema.details(),
            "time": {"ok": True, "ts_kind": time.kind, "dropped_outside_window": dropped},
            "dedup": {"ok": True, "duplicates": duplicates},
            "rollup": {"ok": True, "rolled_up": rolled_up, "samples_merged": merged},
            "quality": {
                "ok": bad is None,
                "rejected_bars": n_rejected,
                **{f"rule:{k}": v for k, v in rule_counts.items()},
            },
        },
        schema=kind.spec.name,
        schema_version=kind.spec.version,
    )
    return ConformanceResult(_frame(bars), report, rejected)


def _judge(bars: BarArrays, rolled: RollupOutcome | None) -> tuple[dict[str, int], Any]:
    """Rule counts and the mask of bad bars (None if none): see quality.py."""
    if rolled is None or rolled.rolled_up == 0:
        outcome = check_quality(*_values(bars))  # every bar is its own single sample
        return outcome.counts, outcome.bad
    per_sample = check_quality(*_values(rolled.samples))
    bad = np.zeros(len(bars), dtype=bool)
    if per_sample.bad is not None:
        bad[rolled.bar_index[per_sample.bad]] = True
    rest = np.flatnonzero(~bad)
    per_bar = check_quality(*_values(bars.take(rest)))
    if per_bar.bad is not None:
        bad[rest[per_bar.bad]] = True
    counts = combine_counts(per_sample.counts, per_bar.counts)
    return counts, (bad if bad.any() else None)


def _values(a: BarArrays) -> Values:
    return a.open, a.high, a.low, a.close, a.volume


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


def _frame(bars: BarArrays) -> pd.DataFrame:
    columns = (
        ts_column(bars.bar),
        bars.open,
        bars.high,
        bars.low,
        bars.close,
        bars.volume,
        bars.flags,
    )
    # The dict constructor copies, so the output never shares memory with the input.
    return pd.DataFrame(dict(zip(STORED_COLUMNS, columns, strict=True)))


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


def _blocked(
    spec: InputSpec,
    start: int,
    end: int,
    rows_in: int,
    errors: list[str],
    cases: list[dict[str, Any]],
    stages: dict[str, dict[str, Any]],
) -> ConformanceResult:
    report = ConformanceReport(
        ok=False,
        rows_in=rows_in,
        schema_errors=list(errors),
        failure_cases=cases[:MAX_FAILURE_CASES],
        stages=stages,
        schema=spec.name,
        schema_version=spec.version,
    )
    return ConformanceResult(empty_bar_frame(), report, RangeSet.span(start, end))
