"""conform_bars: one fetched window in, a stored bar frame and a report out.

Stages, in order (DESIGN.md "Conformance" and "Messy timestamps"):

0. policy  – the mode, schema version, dedup policy and rule settings of
   ``(dataset, node_id)`` from the modes config (``modes.py``), overridden by
   keyword arguments.
1. schema  – a DataFrame with the registered version's columns (``registry.py``);
   values to float64 (pandera, lazily validated); undeclared columns
   dropped, declared optional ones (``vwap``) kept only on request.
2. time    – ``ts`` to UTC, each row bucketed to the bar that contains it;
   rows whose bar is outside ``[start, end)`` dropped and counted; rows that
   arrive after a newer row flagged ``OUT_OF_ORDER`` (and counted ``late``
   past the policy's window). Unparseable times are a schema error.
3. dedup and roll-up – the dedup policy picks the rows that speak for each
   bar (``claims.py``); identical rows dropped, samples combined
   (``rollup.py``); output ascending and unique on ``ts``.
4. quality – structural rules reject bars; statistical rules warn
   (``SUSPECT``) or reject, per the policy (``judge.py``). Rejected bars are
   removed and their windows returned in ``rejected``.
5. flags   – the caller's flags on every row, plus what the pipeline did.

Schema errors and rejected bars are *violations*. In ``strict`` mode they set
``report.ok = False`` and the caller decides whether to raise
``ConformanceError`` or, with ``partial_ok``, use the rows that did conform.
In ``canary`` mode ``ok`` stays True: the violations are reported and
nothing blocks. In both modes the rejected bars are gone from the frame:
nothing non-conformant is ever written. A clean frame (one row per bar,
ascending) skips sorting and grouping.

Trades (``trades.py``) run the same stages with their own schema and no
dedup: two identical trades are two trades.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from seamless_sdk.bars import NS, STORED_COLUMNS, empty_bar_frame, ts_from_seconds
from seamless_sdk.conformance.engine import claims
from seamless_sdk.conformance.engine.judge import judge
from seamless_sdk.conformance.engine.report import MAX_FAILURE_CASES, ConformanceReport
from seamless_sdk.conformance.engine.rollup import (
    BarArrays,
    RollupOutcome,
    is_one_row_per_bar,
    roll_up,
)
from seamless_sdk.conformance.engine.time import TimeOutcome, int_seconds_ns, to_utc_ns
from seamless_sdk.conformance.spec.flags import FLAG_DTYPE, BarFlag, count_flags
from seamless_sdk.conformance.spec.modes import ConformanceConfig, Dedup, Mode, Policy, policy_for
from seamless_sdk.conformance.spec.registry import default_registry
from seamless_sdk.errors import InvalidRequestError
from seamless_sdk.frames import Bars, column_array
from seamless_sdk.intervals import Interval, parse_interval
from seamless_sdk.ranges import RangeSet
from seamless_sdk.request import describe, validate_node_id

if TYPE_CHECKING:
    from seamless_sdk.conformance.engine.validate import SchemaOutcome
    from seamless_sdk.conformance.spec.schema import InputSpec

_MAX_FLAGS = np.iinfo(np.int32).max
_SUSPECT = FLAG_DTYPE(BarFlag.SUSPECT)

Values = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]


class ConformanceResult:
    """A conformed window.

    ``frame`` is a stored bar frame (see ``seamless_sdk/bars.py``) whose ``ts`` are
    unique, ascending, aligned to the interval and inside ``[start, end)``,
    plus the kept optional columns (``vwap``) when the caller asked for them.
    ``rejected`` holds the bar windows ``[ts, ts + interval)`` whose rows were
    dropped for breaking a ``block`` rule; when the schema stage fails nothing
    conformed, so it is the whole window. It is empty when nothing was
    rejected; in ``strict`` mode that is exactly when ``report.ok``.

    ``bars`` are the frame's own arrays (the same memory) when the pipeline
    built them without optional columns: what a fill hands the store, which
    then checks and writes them without pandas' per-column extraction; ``None``
    otherwise. A result built from ``bars`` alone (``frame=None``) makes its
    frame on first use: a fill writes the arrays and never needs a frame per
    window. Immutable, like the report it carries.
    """

    __slots__ = ("_frame", "bars", "rejected", "report")

    _frame: pd.DataFrame | None
    report: ConformanceReport
    rejected: RangeSet
    bars: Bars | None

    def __init__(
        self,
        frame: pd.DataFrame | None,
        report: ConformanceReport,
        rejected: RangeSet,
        bars: Bars | None = None,
    ) -> None:
        if frame is None and bars is None:
            raise TypeError("a ConformanceResult needs its frame or its bars")
        object.__setattr__(self, "_frame", frame)
        object.__setattr__(self, "report", report)
        object.__setattr__(self, "rejected", rejected)
        object.__setattr__(self, "bars", bars)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"ConformanceResult is immutable (cannot set {name!r})")

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickle and copy through __init__: the default would set the slots.
        return (ConformanceResult, (self._frame, self.report, self.rejected, self.bars))

    def __repr__(self) -> str:
        return (
            f"ConformanceResult(rows={self.rows}, report={self.report.summary!r}, "
            f"rejected={self.rejected!r})"
        )

    @property
    def frame(self) -> pd.DataFrame:
        """The stored bar frame (built from ``bars`` once, on first use)."""
        if self._frame is None:
            assert self.bars is not None  # __init__ refuses neither
            object.__setattr__(self, "_frame", self.bars.to_frame(flags=True))
        assert self._frame is not None
        return self._frame

    @property
    def rows(self) -> int:
        """How many bars conformed (``len(frame)``, without building it)."""
        return len(self.bars) if self.bars is not None else len(self.frame)

    def stored_bars(self) -> Bars:
        """The conformed bars as ``Bars`` (``bars``, or taken from the frame)."""
        return self.bars if self.bars is not None else Bars.from_frame(self.frame)

    @property
    def ok(self) -> bool:
        """Shorthand for ``report.ok``."""
        return self.report.ok


@dataclass(frozen=True)
class DatasetKind:
    """How one dataset kind enters the pipeline.

    ``name`` is its name in the schema registry; ``values`` turns a validated
    input frame's float64 columns (``SchemaOutcome.values``) into
    open/high/low/close/volume samples; ``vwap`` gives each sample's vwap from
    those columns and the optional columns kept (None: there is none);
    ``dedup`` says whether identical rows are repeats (bars) or distinct
    events (trades, which also ignore the ``dedup`` policy).
    """

    name: str
    values: Callable[[Mapping[str, np.ndarray]], Values]
    dedup: bool
    vwap: Callable[[Mapping[str, np.ndarray], tuple[str, ...]], np.ndarray | None]


def _bar_values(columns: Mapping[str, np.ndarray]) -> Values:
    return (
        columns["open"],
        columns["high"],
        columns["low"],
        columns["close"],
        columns["volume"],
    )


def _bar_vwap(columns: Mapping[str, np.ndarray], kept: tuple[str, ...]) -> np.ndarray | None:
    # Only a vwap the selected schema version declares (v1 does not).
    return columns["vwap"] if "vwap" in kept else None


OHLCV_BARS = DatasetKind("ohlcv_bars", _bar_values, dedup=True, vwap=_bar_vwap)


@dataclass(frozen=True)
class _Run:
    """Everything one call decided before looking at the data."""

    kind: DatasetKind
    spec: InputSpec
    policy: Policy
    fingerprint: str
    interval: Interval
    start: int
    end: int
    flags: int
    keep_optional: bool

    def report(self, **fields: Any) -> ConformanceReport:
        """A report carrying this run's identity (schema, mode, policy)."""
        violations = int(fields.get("violations", 0))
        return ConformanceReport(
            ok=not (violations and self.policy.blocking),
            schema=self.spec.name,
            schema_version=self.spec.version,
            schema_fingerprint=self.fingerprint,
            mode=self.policy.mode,
            blocking=self.policy.blocking,
            policy=self.policy.to_dict(),
            **fields,
        )


def conform_bars(
    frame: object,
    interval: Interval | str,
    start: int,
    end: int,
    *,
    flags: int = 0,
    node_id: str | None = None,
    mode: Mode | None = None,
    dedup: Dedup | None = None,
    keep_optional: bool = False,
    schema_version: str | int | None = None,
    out_of_order_window: int | None = None,
    source_priority: Sequence[str] | None = None,
    config: ConformanceConfig | None = None,
) -> ConformanceResult:
    """Conform what a fetcher returned for ``[start, end)`` into a stored bar frame.

    ``flags`` (a ``BarFlag`` combination, e.g. ``BarFlag.BACKFILLED``) is set on
    every output row. ``node_id`` selects the node's entry in the modes config
    (``modes.py``); ``mode`` (``"strict"``/``"canary"``), ``dedup``
    (``"rollup"``/``"source_priority"``/``"ingest_time"``), ``schema_version``,
    ``out_of_order_window`` (seconds) and ``source_priority`` override it for
    this call, and ``config`` replaces the config in force. ``keep_optional``
    keeps the optional columns the schema version declares (``vwap`` in
    ``ohlcv_bars`` v2) after ``flags``; the store holds only the stored
    columns, so leave it off for frames that are written.

    Data problems never raise: they are in the report. ``InvalidRequestError``
    is raised only for a bad ``interval``, window, ``flags``, ``node_id`` or
    override, which are the caller's bugs rather than the source's.
    """
    return conform(
        OHLCV_BARS,
        frame,
        interval,
        start,
        end,
        flags=flags,
        node_id=node_id,
        mode=mode,
        dedup=dedup,
        keep_optional=keep_optional,
        schema_version=schema_version,
        out_of_order_window=out_of_order_window,
        source_priority=source_priority,
        config=config,
    )


def conform(
    kind: DatasetKind,
    frame: object,
    interval: Interval | str,
    start: int,
    end: int,
    *,
    flags: int = 0,
    node_id: str | None = None,
    mode: Mode | None = None,
    dedup: Dedup | None = None,
    keep_optional: bool = False,
    schema_version: str | int | None = None,
    out_of_order_window: int | None = None,
    source_priority: Sequence[str] | None = None,
    config: ConformanceConfig | None = None,
) -> ConformanceResult:
    """Run the pipeline for any dataset kind (``conform_bars`` is the OHLCV one)."""
    iv = parse_interval(interval)
    _check_arguments(iv, start, end, flags)
    if node_id is not None:
        validate_node_id(node_id)
    window_bars = None
    if out_of_order_window is not None:
        if isinstance(out_of_order_window, bool) or not isinstance(out_of_order_window, int):
            raise InvalidRequestError(
                "out_of_order_window", f"{out_of_order_window!r} is not int seconds"
            )
        window_bars = out_of_order_window / iv.seconds
    policy = policy_for(kind.name, node_id, config).with_overrides(
        mode=mode,
        dedup=dedup,
        schema_version=schema_version,
        out_of_order_window_bars=window_bars,
        source_priority=source_priority,
    )
    # The schema stage is the only one that needs pandera (~0.5 s to import):
    # loaded on the first conform, so that importing the SDK and reading stored
    # bars never pays for it.
    from seamless_sdk.conformance.engine.validate import check_input
    from seamless_sdk.conformance.spec.schema import input_spec_for

    registry = default_registry()
    spec = input_spec_for(registry.get(kind.name, policy.schema_version))
    run = _Run(kind, spec, policy, registry.fingerprint, iv, start, end, int(flags), keep_optional)
    if not isinstance(frame, pd.DataFrame):
        problem = f"expected a pandas DataFrame, got {type(frame).__name__}"
        case = {"column": None, "check": "is_dataframe", "index": None, "failure_case": problem}
        stage = {"ok": False, "name": spec.name, "version": spec.version, "errors": 1}
        return _blocked(run, 0, [problem], [case], {"schema": stage})
    try:
        if "ts" not in frame.columns and frame.index.name == "ts":
            frame = frame.reset_index()  # a DatetimeIndex named ts is just as clear
        rows_in = len(frame)
        if rows_in == 0 and frame.shape[1] == 0:
            # A bare ``pd.DataFrame()`` is how many fetchers say "nothing here".
            stages = {"schema": {"ok": True, "name": spec.name, "version": spec.version}}
            return ConformanceResult(empty_bar_frame(), run.report(stages=stages), RangeSet())
        schema = check_input(frame, spec, keep_optional=keep_optional)
        time = _parse_time(frame)
        # Trades are never duplicates of each other, so no policy may drop one.
        ranks = _ranks(frame, policy) if schema.ok and kind.dedup else claims.Ranks(None, None)
    except Exception as exc:
        # A frame can break while it is read (a subclass whose len() raises, a
        # cell or column name whose str() raises): a data problem, so a blocked
        # report like any other, never the frame's own exception.
        problem = f"the frame could not be read: {describe(exc)}"
        case = {"column": None, "check": "readable", "index": None, "failure_case": problem}
        stage = {"ok": False, "name": spec.name, "version": spec.version, "errors": 1}
        return _blocked(run, 0, [problem], [case], {"schema": stage})
    if not schema.ok or time is None or time.ns is None or ranks.problem:
        errors = [*schema.errors, *(time.errors if time else [])]
        cases = [*schema.failure_cases, *(time.failure_cases if time else [])]
        if ranks.problem:
            errors.append(ranks.problem)
        stages = {
            "schema": schema.details(),
            "time": {"ok": False, "ts_kind": "missing" if time is None else time.kind},
        }
        return _blocked(run, rows_in, errors, cases, stages)
    return _conform(run, schema, time, ranks, rows_in)


def _ranks(frame: pd.DataFrame, policy: Policy) -> claims.Ranks:
    if policy.dedup == "source_priority":
        return claims.source_ranks(frame, policy.source_priority)
    if policy.dedup == "ingest_time":
        return claims.ingest_ranks(frame)
    return claims.Ranks(None, None)


def _conform(
    run: _Run, schema: SchemaOutcome, time: TimeOutcome, ranks: claims.Ranks, rows_in: int
) -> ConformanceResult:
    assert schema.frame is not None and time.ns is not None
    iv, kind = run.interval, run.kind
    ns = time.ns
    sec = ns // NS
    bar = sec - sec % iv.seconds
    vwap = kind.vwap(schema.values, schema.optional) if run.keep_optional else None
    row_flags = np.full(rows_in, run.flags, dtype=FLAG_DTYPE)
    rows = BarArrays(bar, *kind.values(schema.values), row_flags, vwap)
    rank = ranks.rank

    inside = (bar >= run.start) & (bar < run.end)
    dropped = rows_in - int(np.count_nonzero(inside))
    if dropped:
        rows, ns = rows.take(inside), ns[inside]
        rank = None if rank is None else rank[inside]

    window_ns = round(run.policy.out_of_order_window_bars * iv.seconds * NS)
    out_of_order, late = _mark_out_of_order(ns, rows.flags, window_ns)
    superseded = 0
    rolled: RollupOutcome | None = None
    if is_one_row_per_bar(rows.bar):
        bars, duplicates, rolled_up, merged = rows, 0, 0, 0
    else:
        rolled = roll_up(ns, rows, dedup=kind.dedup, rank=rank)
        bars, duplicates, superseded = rolled.bars, rolled.duplicates, rolled.superseded
        rolled_up, merged = rolled.rolled_up, rolled.samples_merged

    verdict = judge(bars, rolled, run.policy)
    if verdict.suspect is not None:
        flags = bars.flags.copy()
        flags[verdict.suspect] |= _SUSPECT
        bars = bars.with_flags(flags)
    rejected = RangeSet()
    n_rejected = 0
    if verdict.rejected is not None:
        bad = verdict.rejected
        rejected = RangeSet((int(b), int(b) + iv.seconds) for b in bars.bar[bad])
        n_rejected = int(np.count_nonzero(bad))
        bars = bars.take(~bad)

    counts = verdict.counts
    report = run.report(
        violations=n_rejected,
        rows_in=rows_in,
        rows_out=len(bars),
        dropped_outside_window=dropped,
        duplicates=duplicates,
        rolled_up=rolled_up,
        out_of_order=out_of_order,
        late=late,
        superseded=superseded,
        rejected_bars=n_rejected,
        flag_counts=count_flags(bars.flags),
        rule_violations=counts,
        watermark_low=int(bars.bar[0]) if len(bars) else None,
        watermark_high=int(bars.bar[-1]) + iv.seconds if len(bars) else None,
        stages={
            "schema": schema.details(),
            "time": {
                "ok": True,
                "ts_kind": time.kind,
                "dropped_outside_window": dropped,
                "out_of_order": out_of_order,
                "late": late,
            },
            "dedup": {
                "ok": True,
                "policy": run.policy.dedup,
                "column": ranks.column or "none",
                "duplicates": duplicates,
                "superseded": superseded,
            },
            "rollup": {"ok": True, "rolled_up": rolled_up, "samples_merged": merged},
            "quality": {
                "ok": n_rejected == 0,
                "rejected_bars": n_rejected,
                "suspect_bars": 0 if verdict.suspect is None else int(verdict.suspect.sum()),
                **{f"rule:{k}": v for k, v in counts.items()},
            },
        },
    )
    if vwap is not None and bars.vwap is not None:
        return ConformanceResult(_frame_with_vwap(bars), report, rejected)
    stored = Bars.build(
        bars.bar * NS, (bars.open, bars.high, bars.low, bars.close, bars.volume), bars.flags
    )
    return ConformanceResult(None, report, rejected, stored)


def _mark_out_of_order(ns: np.ndarray, flags: np.ndarray, window_ns: int) -> tuple[int, int]:
    """Flag rows whose time is before an earlier row's; returns (how many, how many late).

    A row is late when the newest row before it is more than ``window_ns``
    ahead. Late rows are still absorbed: a fetched window holds every row at
    once, so keeping them loses nothing and dropping them would lose bars
    that coverage then claims were checked.
    """
    if len(ns) < 2 or (ns[1:] >= ns[:-1]).all():
        return 0, 0
    behind = np.zeros(len(ns), dtype=np.int64)
    behind[1:] = np.maximum.accumulate(ns)[:-1] - ns[1:]
    ooo = behind > 0
    flags[ooo] |= FLAG_DTYPE(BarFlag.OUT_OF_ORDER)
    return int(np.count_nonzero(ooo)), int(np.count_nonzero(behind > window_ns))


def _parse_time(frame: pd.DataFrame) -> TimeOutcome | None:
    where = frame.columns.get_loc("ts") if "ts" in frame.columns else None
    if not isinstance(where, int):
        return None  # missing (or repeated) ts is reported by the schema stage
    values = column_array(frame, where)
    if isinstance(values, np.ndarray) and values.dtype.kind == "i":
        # Int seconds, what most fetchers return: no Series needed (~15 µs).
        return int_seconds_ns(values.astype(np.int64, copy=False), lambda: frame["ts"])
    return to_utc_ns(frame["ts"])


def _frame_with_vwap(bars: BarArrays) -> pd.DataFrame:
    columns = (
        ts_from_seconds(bars.bar),
        bars.open,
        bars.high,
        bars.low,
        bars.close,
        bars.volume,
        bars.flags,
    )
    # The dict constructor copies, so the output never shares memory with the input.
    data = dict(zip(STORED_COLUMNS, columns, strict=True))
    data["vwap"] = bars.vwap
    return pd.DataFrame(data)


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
    run: _Run,
    rows_in: int,
    errors: list[str],
    cases: list[dict[str, Any]],
    stages: dict[str, dict[str, Any]],
) -> ConformanceResult:
    report = run.report(
        violations=len(errors),
        rows_in=rows_in,
        schema_errors=list(errors),
        failure_cases=cases[:MAX_FAILURE_CASES],
        stages=stages,
    )
    return ConformanceResult(empty_bar_frame(), report, RangeSet.span(run.start, run.end))
