"""Timestamp normalisation: whatever a fetcher put in ``ts`` to UTC epoch nanoseconds.

Accepted forms: int or float epoch seconds; ``datetime64`` of any unit, naive
(meaning UTC) or tz-aware in any zone; Python ``datetime``/``Timestamp``
objects, mixed zones allowed; ISO-8601 strings, mixed offsets allowed (naive
strings mean UTC). Anything that does not give a time — unparseable text,
NaN/NaT/None, infinities, times outside the ``datetime64[ns]`` range — is a
blocking schema error listing the offending rows.

Everything downstream works on int64 arrays; pandas only comes back when the
output ``ts`` column is built (``datetime64[ns, UTC]``, set explicitly because
pandas 3 infers microseconds from ints and strings).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from seamless_sdk.bars import NS
from seamless_sdk.conformance.engine.report import MAX_FAILURE_CASES
from seamless_sdk.jsonable import jsonable

# datetime64[ns] spans about 1677-09-21 .. 2262-04-11; stay a day inside so
# aligning a bar down never leaves the representable range.
_MIN_S = -9_223_286_400
_MAX_S = 9_223_286_400
_UNIT_NS = {"s": NS, "ms": 1_000_000, "us": 1_000, "ns": 1}


@dataclass(frozen=True)
class TimeOutcome:
    """UTC epoch nanoseconds per input row, or the rows that have no valid time."""

    ns: np.ndarray | None
    kind: str
    errors: list[str] = field(default_factory=list)
    failure_cases: list[dict[str, Any]] = field(default_factory=list)


def to_utc_ns(ts: pd.Series) -> TimeOutcome:
    """Parse a ``ts`` column into int64 UTC epoch nanoseconds (one per row)."""
    dtype = ts.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        # A category is its values: text, numbers or times, parsed as such
        # (handing the categorical to a text parser would read ints as nanoseconds).
        values = ts.to_numpy()
        ts = pd.Series(values, index=ts.index, dtype=object if values.dtype == object else None)
        dtype = ts.dtype
    if isinstance(dtype, pd.IntervalDtype) or dtype.kind in "cm":
        # Intervals, complex numbers and durations are not instants.
        return _bad(ts, np.ones(len(ts), dtype=bool), str(dtype), "is not a time")
    if isinstance(dtype, pd.PeriodDtype):
        ts = ts.dt.to_timestamp()  # a period stands for its start, naive = UTC
        dtype = ts.dtype
    if isinstance(dtype, pd.ArrowDtype) and dtype.kind == "M":
        ts = pd.Series(pd.DatetimeIndex(ts), index=ts.index)  # Arrow timestamps have no asi8
        dtype = ts.dtype
    if isinstance(dtype, pd.DatetimeTZDtype) or (dtype.kind == "M"):
        return _from_datetime64(ts)
    if dtype.kind in "iu":
        if isinstance(dtype, pd.api.extensions.ExtensionDtype) and ts.hasnans:
            return _bad(ts, ts.isna().to_numpy(), "int", "is missing")
        return _from_int_seconds(ts)
    if dtype.kind == "f":
        return _from_float_seconds(ts)
    if dtype.kind == "b":
        return _bad(ts, np.ones(len(ts), dtype=bool), "bool", "is not a time")
    return _from_objects(ts)


def _from_int_seconds(ts: pd.Series) -> TimeOutcome:
    if ts.dtype.kind == "i":
        return int_seconds_ns(ts.to_numpy(dtype=np.int64, copy=False), lambda: ts)
    # Unsigned: refuse values that do not fit int64 rather than wrap.
    raw = ts.to_numpy()
    bad = raw > _MAX_S
    if bad.any():
        return _bad(ts, bad, "int", "is outside the datetime64[ns] range")
    return int_seconds_ns(raw.astype(np.int64), lambda: ts)


def int_seconds_ns(sec: np.ndarray, column: Callable[[], pd.Series]) -> TimeOutcome:
    """int64 epoch seconds to UTC epoch nanoseconds, the ``to_utc_ns`` of an int
    column; ``column`` gives the column itself, asked for only to report rows
    out of range (the common, valid call never builds a Series)."""
    if len(sec):
        lo, hi = sec.min(), sec.max()
        if lo < _MIN_S or hi > _MAX_S:
            bad = (sec < _MIN_S) | (sec > _MAX_S)
            return _bad(column(), bad, "int", "is outside the datetime64[ns] range")
    return TimeOutcome(sec * NS, "int")


def _from_float_seconds(ts: pd.Series) -> TimeOutcome:
    raw = ts.to_numpy(dtype=np.float64, na_value=np.nan)
    bad = _out_of_range(raw)
    if bad.any():
        return _bad(ts, bad, "float", "is not a finite epoch-seconds time in range")
    # Whole seconds exactly, the fraction separately: raw * 1e9 alone would
    # round to multiples of 256 ns at today's epoch and could cross a second.
    whole = np.floor(raw)
    frac = np.floor((raw - whole) * NS).astype(np.int64)
    return TimeOutcome(whole.astype(np.int64) * NS + np.minimum(frac, NS - 1), "float")


def _from_datetime64(ts: pd.Series) -> TimeOutcome:
    dtype = ts.dtype
    aware = isinstance(dtype, pd.DatetimeTZDtype)
    kind = f"datetime64[{ts.dt.unit}{', ' + str(dtype.tz) if aware else ''}]"
    nat = ts.isna().to_numpy()
    if nat.any():
        return _bad(ts, nat, kind, "is NaT")
    # asi8 is the UTC instant for aware data and the wall time for naive data,
    # which is what "naive means UTC" asks for.
    return _as_ns(ts.array.asi8, ts.dt.unit, ts, kind)


def _as_ns(values: np.ndarray, unit: str, ts: pd.Series, kind: str) -> TimeOutcome:
    """Epoch ``values`` in ``unit`` as ns; rows outside the ns range are bad rows of ``ts``."""
    factor = _UNIT_NS[unit]
    if factor == 1:
        return TimeOutcome(values, kind)
    sec_bad = (values < _MIN_S * (NS // factor)) | (values > _MAX_S * (NS // factor))
    if sec_bad.any():
        return _bad(ts, sec_bad, kind, "is outside the datetime64[ns] range")
    return TimeOutcome(values * factor, kind)


def _from_objects(ts: pd.Series) -> TimeOutcome:
    kind = "string" if isinstance(ts.dtype, pd.StringDtype) else "object"
    if kind == "object" and len(ts):
        raw = ts.to_numpy(dtype=object)
        number = np.fromiter((_is_number(v) for v in raw), dtype=bool, count=len(raw))
        if number.all():
            return _from_number_objects(ts, raw)
        if number.any():
            # Text parsers would guess what a bare number among times means.
            return _bad(ts, number, kind, "is a number among times (one column, one spelling)")
    parsed = _parse_mixed(ts)
    if parsed is None:
        return _bad(ts, np.ones(len(ts), dtype=bool), kind, "is not a time")
    nat = parsed.isna().to_numpy()
    if nat.any():
        return _bad(ts, nat, kind, "is not a parseable time")
    # Text parses to the unit it needs, so a year like 2300 parses fine; the
    # ns range is checked here, as for datetime64 columns.
    return _as_ns(parsed.array.asi8, parsed.dt.unit, ts, kind)


def _is_number(value: Any) -> bool:
    """A real number that is not NaN (a NaN among text is a missing time, reported as such)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.number)):
        return False
    return not (isinstance(value, (float, np.floating)) and value != value)


def _from_number_objects(ts: pd.Series, raw: np.ndarray) -> TimeOutcome:
    """Epoch seconds held as Python or numpy numbers in an object column."""
    try:
        values = raw.astype(np.float64)
    except (OverflowError, TypeError, ValueError):  # an int too large for a float
        return _bad(
            ts, np.ones(len(ts), dtype=bool), "object", "is outside the datetime64[ns] range"
        )
    outcome = _from_float_seconds(pd.Series(values, index=ts.index))
    if outcome.ns is None:
        return _bad(
            ts, _out_of_range(values), "object", "is not a finite epoch-seconds time in range"
        )
    return TimeOutcome(outcome.ns, "object")


def _out_of_range(values: np.ndarray) -> np.ndarray:
    return ~np.isfinite(values) | (values < _MIN_S) | (values > _MAX_S)


def _parse_mixed(ts: pd.Series) -> pd.Series | None:
    # ISO-8601 first (fast, exact); then pandas' per-element parser, which
    # handles datetime objects in several zones and looser text.
    for fmt in ("ISO8601", "mixed"):
        try:
            parsed = pd.to_datetime(ts, utc=True, format=fmt, errors="coerce")
        except (TypeError, ValueError, OverflowError):
            continue
        if not parsed.isna().any() or fmt == "mixed":
            return parsed
    return None


def _bad(ts: pd.Series, mask: np.ndarray, kind: str, problem: str) -> TimeOutcome:
    rows = np.flatnonzero(mask)
    values = ts.iloc[rows[:MAX_FAILURE_CASES]]
    cases = [
        {
            "column": "ts",
            "check": "parse_timestamp",
            "index": jsonable(i),
            "failure_case": _show(v),
        }
        for i, v in zip(values.index, values.array, strict=True)
    ]
    sample = ", ".join(repr(c["failure_case"]) for c in cases[:3])
    return TimeOutcome(None, kind, [f"ts: {len(rows)} value(s) {problem}, e.g. {sample}"], cases)


def _show(value: Any) -> Any:
    if value is None or value is pd.NaT or value is pd.NA:
        return None
    if isinstance(value, float) and value != value:
        return None
    return jsonable(value) if isinstance(value, (int, float, str)) else str(value)
