"""The schema stage: a fetcher's frame against its dataset kind's input schema.

:func:`check_input` first makes sure the frame is a flat table whose columns
can hold what the schema declares (issue 9: a MultiIndex of columns, complex
prices, booleans, timedeltas or categories are refused with a reason, never
coerced or crashed on), then validates it with pandera, lazily, so every
problem is reported at once. :func:`validate_stored` checks a stored bar
frame for asset checks and tests. The schemas themselves are
``spec/schema.py``'s.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import numpy as np
import pandas as pd
from pandera.errors import SchemaError, SchemaErrors

from seamless_sdk.bars import NS, VALUE_DTYPE
from seamless_sdk.conformance.engine.report import MAX_FAILURE_CASES
from seamless_sdk.conformance.spec.schema import OHLCV_INPUT, STORED_SCHEMA, InputSpec
from seamless_sdk.frames import column_array
from seamless_sdk.jsonable import jsonable


@dataclass(frozen=True)
class SchemaOutcome:
    """The schema stage's verdict on one input frame.

    ``frame`` holds the value columns as float64 (plus ``ts`` untouched) when
    the frame passed, else None.
    """

    spec: InputSpec
    frame: pd.DataFrame | None
    errors: list[str] = field(default_factory=list)
    failure_cases: list[dict[str, Any]] = field(default_factory=list)
    columns_dropped: list[str] = field(default_factory=list)
    coerced: list[str] = field(default_factory=list)
    optional: tuple[str, ...] = ()
    """Optional columns of the spec that the frame has and the caller keeps."""
    values: dict[str, np.ndarray] = field(default_factory=dict)
    """The value columns (and the kept optional ones) as float64 arrays, when
    the frame passed: what the later stages compute on, taken from the frame
    once instead of through pandas' per-column lookup at every use."""

    @property
    def ok(self) -> bool:
        return self.frame is not None

    def details(self) -> dict[str, Any]:
        """The schema stage entry of the report."""
        return {
            "ok": self.ok,
            "name": self.spec.name,
            "version": self.spec.version,
            "errors": len(self.errors),
            "columns_dropped": list(self.columns_dropped),
            "coerced": list(self.coerced),
            "optional_kept": list(self.optional),
        }


def check_input(
    frame: pd.DataFrame, spec: InputSpec = OHLCV_INPUT, *, keep_optional: bool = False
) -> SchemaOutcome:
    """Validate a fetcher's frame against ``spec`` (lazily: all errors at once).

    With ``keep_optional`` the spec's optional columns that the frame has are
    checked and kept (``SchemaOutcome.optional``); otherwise they are dropped.
    """
    if isinstance(frame.columns, pd.MultiIndex):
        levels = frame.columns.nlevels
        problem = f"columns are a MultiIndex of {levels} levels; expected one flat row of names"
        return SchemaOutcome(spec, None, [problem], [_case("", "flat_columns", None, problem)])
    columns = [str(c) for c in frame.columns.tolist()]
    optional = tuple(c for c in spec.optional_columns if c in columns) if keep_optional else ()
    wanted = (*spec.columns, *optional)
    dropped = [c for c in columns if c not in wanted]
    repeated = sorted({c for c in columns if c in wanted and columns.count(c) > 1})
    if repeated:
        errors = [f"column {c!r} appears {columns.count(c)} times" for c in repeated]
        cases = [_case(c, "unique_column_names", None, c) for c in repeated]
        return SchemaOutcome(spec, None, errors, cases, dropped)
    checked = (*spec.value_columns, *optional)
    # Each checked column's array, by position (their names are unique here):
    # pandas' label lookup costs ~15 µs a column, more than the checks below.
    arrays = {c: column_array(frame, columns.index(c)) for c in checked if c in columns}
    # A numeric numpy dtype needs no look at the values (the common case).
    unfit = [
        (c, p)
        for c, a in arrays.items()
        if not _plain_numeric(a.dtype) and (p := _value_kind_problem(frame[c]))
    ]
    if unfit:
        errors = [f"column {c!r}: {p}" for c, p in unfit]
        cases = [_case(c, "real_dtype", None, p) for c, p in unfit]
        return SchemaOutcome(spec, None, errors, cases, dropped)
    coerced = [c for c, a in arrays.items() if a.dtype != VALUE_DTYPE]
    if not coerced and len(arrays) == len(checked) and "ts" in columns:
        # Every column is there and every value column is float64 already: the
        # input schema (``spec/schema.py``: presence, float64, nullable, no other
        # check) holds by what was just checked, so pandera would only repeat it
        # (~1.8 ms per 1,440 rows, a third of a fill's time).
        return SchemaOutcome(spec, frame, [], [], dropped, [], optional, arrays)
    schema = spec.schema_for(coerce=bool(coerced), optional=optional)
    try:
        validated = schema.validate(frame, lazy=True)
    except SchemaErrors as exc:
        errors, cases = failures_from(exc)
        return SchemaOutcome(spec, None, errors, cases, dropped, coerced)
    except (SchemaError, TypeError, ValueError, OverflowError) as exc:
        # Values pandera could not even try to coerce (a huge int, an odd object):
        # still the source's problem, reported like any other.
        problem = f"cannot be read as float64 values ({type(exc).__name__}: {exc})"
        return SchemaOutcome(spec, None, [problem], [_case("", "coerce", None, problem)], dropped)
    values = {c: validated[c].to_numpy(dtype=np.float64) for c in checked if c in validated}
    return SchemaOutcome(spec, validated, [], [], dropped, coerced, optional, values)


# Elements of an object column that float() would accept but that are not
# numbers of a price or a volume (True is 1.0, a complex number its real part).
_NOT_REAL = (
    bool,
    np.bool_,
    complex,
    np.complexfloating,
    date,
    timedelta,
    np.datetime64,
    np.timedelta64,
    # Containers: pandera's coercion took a column of lists for one failure,
    # shown as 'nan', with no row.
    list,
    tuple,
    dict,
    np.ndarray,
)


def _plain_numeric(dtype: Any) -> bool:
    """A numpy int, uint or float dtype: :func:`_value_kind_problem` has nothing to say."""
    return isinstance(dtype, np.dtype) and dtype.kind in "iuf"


def _value_kind_problem(values: Any) -> str | None:
    """Why a value column cannot hold real numbers, or None when it can (or may coerce)."""
    if not isinstance(values, pd.Series):
        return None  # a repeated name: reported by the caller
    dtype = values.dtype
    if isinstance(dtype, (pd.CategoricalDtype, pd.IntervalDtype, pd.PeriodDtype)):
        return f"{dtype} is not a real numeric dtype"
    kind = dtype.kind
    if kind in "iuf":
        return None
    if kind in "OUS":
        # Text that parses as numbers is coerced (a CSV read as strings);
        # anything else fails pandera's coercion with failure cases.
        raw = values.to_numpy(dtype=object)
        odd = np.fromiter((isinstance(v, _NOT_REAL) for v in raw), dtype=bool, count=len(raw))
        if odd.any():
            sample = raw[odd][0]
            return f"holds {int(odd.sum())} value(s) that are not real numbers, e.g. {sample!r}"
        return None
    return f"{dtype} is not a real numeric dtype"


def validate_stored(frame: pd.DataFrame) -> tuple[list[str], list[dict[str, Any]]]:
    """Check a stored bar frame against ``STORED_SCHEMA``.

    Returns ``(errors, failure_cases)``, both empty when the frame conforms;
    meant for asset checks and tests, which report rather than raise.

    A frame that passes the store's own write check (``columns_from_frame``:
    exact columns and dtypes, ``ts`` strictly ascending, every quality rule,
    and here no NaN in any value column) keeps every rule of the schema, so
    it is answered without pandera (~50 ms per month of 15m bars). Any other
    frame is validated by pandera, which finds the failure cases.
    """
    if _keeps_stored_rules(frame):
        return [], []
    try:
        STORED_SCHEMA.validate(frame, lazy=True)
    except SchemaErrors as exc:
        return failures_from(exc)
    return [], []


_TS_LO = -(2**63 // NS)  # the widest window whose bounds in ns fit int64
_TS_HI = (2**63 - 1) // NS


def _keeps_stored_rules(frame: object) -> bool:
    """True only if ``frame`` provably passes ``STORED_SCHEMA`` (strict, ordered
    columns; ``ts`` UTC ns, non-null, unique, ascending; float64 values, non-null,
    finite, ``volume >= 0``, high/low rules; int32 ``flags``). False means "ask
    pandera", never "invalid"."""
    # Imported here: the stores import the conformance spec, not the reverse.
    from seamless_sdk.errors import StoreError
    from seamless_sdk.stores._arrow import columns_from_frame

    if not isinstance(frame, pd.DataFrame) or len(frame) == 0:
        return False
    try:
        # 1 s grid: sub-second times are legal in the schema, so they fall back.
        cols = columns_from_frame(frame, 1, _TS_LO, _TS_HI)
    except (StoreError, TypeError, ValueError, OverflowError):
        return False
    # The rules table forbids NaN prices and volume; the schema's non-null
    # columns say the same, checked again here so the shortcut never depends on it.
    return not any(np.isnan(v).any() for v in cols.values)


def failures_from(exc: SchemaErrors) -> tuple[list[str], list[dict[str, Any]]]:
    """Readable errors (one per column and check) and capped failure cases."""
    table = exc.failure_cases
    cases: list[dict[str, Any]] = []
    seen: set[tuple[Any, ...]] = set()
    groups: dict[tuple[str, str], list[Any]] = {}
    # A value that cannot be coerced is also reported by the dtype check that
    # follows; once is enough.
    uncoerced = {
        _label(c)
        for c, k in zip(table["column"], table["check"], strict=True)
        if str(k).startswith("coerce_dtype")
    }
    for row in table.itertuples(index=False):
        column = _label(row.column)
        check = str(row.check)
        if column in uncoerced and check.startswith("dtype("):
            continue
        failure = jsonable(row.failure_case)
        index = jsonable(row.index)
        if check.startswith("column_in_dataframe") or check == "column_in_schema":
            column = str(failure)
        key = (column, check, index, str(failure))
        if key in seen:
            continue
        seen.add(key)
        groups.setdefault((column, check), []).append(failure)
        if len(cases) < MAX_FAILURE_CASES:
            cases.append(_case(column, check, index, failure))
    return [_message(column, check, fails) for (column, check), fails in groups.items()], cases


def _message(column: str, check: str, failures: list[Any]) -> str:
    if check.startswith("column_in_dataframe"):
        return f"missing column {column!r}"
    sample = ", ".join(repr(f) for f in failures[:3])
    return f"column {column!r}: {check} failed for {len(failures)} value(s), e.g. {sample}"


def _label(value: Any) -> str:
    return "" if value is None or (isinstance(value, float) and value != value) else str(value)


def _case(column: str, check: str, index: Any, failure: Any) -> dict[str, Any]:
    return {"column": column, "check": check, "index": index, "failure_case": failure}
