"""The pandera schemas of the ``ohlcv_bars`` dataset kind, and input views of any kind.

The registry (``registry.py``, files in ``schemas/``) holds every version of
every dataset kind. Two views of ``ohlcv_bars`` are built once at import:

* ``INPUT_SCHEMA`` (``OHLCV_INPUT.schema``) checks what a fetcher returned
  before time is normalised: the ``ts open high low close volume`` columns
  must be there, prices and volume must be (or coerce to) float64. NaN is
  allowed here because "no NaN prices" is a quality rule with its own count;
  ``ts`` may have any dtype because the time stage parses it. Extra columns
  are ignored (and then dropped by the pipeline).
* ``STORED_SCHEMA`` is the registry's ``ohlcv_bars`` v1, the stored bar frame
  with every rule the pipeline guarantees: exact dtypes and column order,
  ``ts`` unique and ascending, the quality rules. Asset checks and tests
  validate against it; the hot path does not need to, since it builds the
  frame to satisfy it. ``OHLCVBars`` is the same contract as a typed pandera
  model (a test keeps the two equal).

:func:`input_spec_for` derives the input view of any registered version: its
value columns are the required columns other than the time column and the
ones the pipeline generates (``flags``); optional columns (``vwap`` in v2)
are checked only when the caller keeps them.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Annotated, Any

import numpy as np
import pandas as pd
import pandera.pandas as pa
from pandera.errors import SchemaErrors
from pandera.typing import Series

from seamless_sdk.conformance.engine.report import MAX_FAILURE_CASES, json_safe
from seamless_sdk.conformance.spec.registry import RegisteredSchema, default_registry
from seamless_sdk.errors import InvalidRequestError
from seamless_sdk.stores.base import BAR_COLUMNS

SCHEMA_NAME = "ohlcv_bars"
SCHEMA_VERSION = "1"
"""The version of ``ohlcv_bars`` the store holds (v2 only adds an optional column)."""
VALUE_COLUMNS: tuple[str, ...] = BAR_COLUMNS[1:]
_FLOAT64 = np.dtype(np.float64)


class OHLCVBars(pa.DataFrameModel):
    """The stored bar frame of ``ohlcv_bars`` version 1 (see ``stores/base.py``)."""

    ts: Series[Annotated[pd.DatetimeTZDtype, "ns", "UTC"]] = pa.Field(unique=True)
    open: Series[np.float64]
    high: Series[np.float64]
    low: Series[np.float64]
    close: Series[np.float64]
    volume: Series[np.float64] = pa.Field(ge=0)
    flags: Series[np.int32]

    class Config:
        name = SCHEMA_NAME
        description = f"{SCHEMA_NAME} v{SCHEMA_VERSION}: the stored bar frame"
        metadata = {"version": SCHEMA_VERSION}  # noqa: RUF012  (pandera reads a plain dict)
        strict = True
        ordered = True

    @pa.check("ts", name="ascending", element_wise=False)
    def _ts_ascending(cls, ts: Series[Any]) -> bool:
        return bool(ts.is_monotonic_increasing)

    @pa.dataframe_check(name="high_ge_max_open_close")
    def _high_ge_max_open_close(cls, df: pd.DataFrame) -> Series[bool]:
        return df["high"] >= np.maximum(df["open"], df["close"])

    @pa.dataframe_check(name="low_le_min_open_close")
    def _low_le_min_open_close(cls, df: pd.DataFrame) -> Series[bool]:
        return df["low"] <= np.minimum(df["open"], df["close"])

    @pa.dataframe_check(name="finite_values")
    def _finite_values(cls, df: pd.DataFrame) -> Series[bool]:
        return pd.Series(np.isfinite(df[list(VALUE_COLUMNS)].to_numpy()).all(axis=1), df.index)


@dataclass(frozen=True)
class InputSpec:
    """What a dataset kind's raw input must look like: ``ts`` plus float64 values.

    Holds two pandera schemas built once: ``schema`` coerces the value
    columns to float64 (strings that are not numbers become failure cases);
    ``exact`` skips coercion for frames already float64, since coercing costs
    ~0.8 ms per 1,440 rows even when nothing changes. ``optional_columns``
    (float64, nullable) are checked only when a caller keeps them
    (:meth:`schema_for`).
    """

    name: str
    version: str
    value_columns: tuple[str, ...]
    schema: pa.DataFrameSchema
    exact: pa.DataFrameSchema
    optional_columns: tuple[str, ...] = ()

    @property
    def columns(self) -> tuple[str, ...]:
        return ("ts", *self.value_columns)

    def schema_for(self, coerce: bool, optional: tuple[str, ...] = ()) -> pa.DataFrameSchema:
        """The input schema, coercing or not, also checking the ``optional`` columns given."""
        if not optional:
            return self.schema if coerce else self.exact
        return _build_input(self.name, self.version, self.value_columns, coerce, optional)


@lru_cache(maxsize=64)
def _build_input(
    name: str,
    version: str,
    value_columns: tuple[str, ...],
    coerce: bool,
    optional: tuple[str, ...] = (),
) -> pa.DataFrameSchema:
    value = {c: pa.Column(_FLOAT64, nullable=True, coerce=coerce) for c in value_columns}
    extra = {c: pa.Column(_FLOAT64, nullable=True, coerce=coerce) for c in optional}
    return pa.DataFrameSchema(
        {"ts": pa.Column(None, nullable=True), **value, **extra},
        name=name,
        description=f"{name} v{version}: a fetcher's frame before conformance",
        metadata={"version": version},
        strict=False,
    )


def input_spec(
    name: str,
    version: str,
    value_columns: tuple[str, ...],
    optional_columns: tuple[str, ...] = (),
) -> InputSpec:
    """Build the input spec (and its pandera schemas) of one dataset kind."""
    return InputSpec(
        name,
        version,
        value_columns,
        _build_input(name, version, value_columns, coerce=True),
        _build_input(name, version, value_columns, coerce=False),
        optional_columns,
    )


_SPECS: dict[tuple[str, str, str], InputSpec] = {}
_SPECS_LOCK = threading.Lock()


def input_spec_for(registered: RegisteredSchema) -> InputSpec:
    """The input view of a registered schema version (built once per file content)."""
    key = (registered.name, registered.version, registered.fingerprint)
    spec = _SPECS.get(key)
    if spec is not None:
        return spec
    skip = {registered.time_column, *registered.generated}
    values, optional = [], []
    for column in registered.columns:
        if column.name in skip:
            continue
        if column.dtype != "float64":
            raise InvalidRequestError(
                "schema_registry",
                f"{registered.source}: input column {column.name!r} is {column.dtype}; "
                "the pipeline reads float64 values only",
            )
        (values if column.required else optional).append(column.name)
    spec = input_spec(registered.name, registered.version, tuple(values), tuple(optional))
    with _SPECS_LOCK:
        _SPECS[key] = spec
    return spec


_STORED = default_registry().get(SCHEMA_NAME, SCHEMA_VERSION)
OHLCV_INPUT = input_spec_for(_STORED)
INPUT_SCHEMA = OHLCV_INPUT.schema
STORED_SCHEMA = _STORED.schema


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
    columns = [str(c) for c in frame.columns.tolist()]
    optional = tuple(c for c in spec.optional_columns if c in columns) if keep_optional else ()
    wanted = (*spec.columns, *optional)
    dropped = [c for c in columns if c not in wanted]
    repeated = sorted({c for c in columns if c in wanted and columns.count(c) > 1})
    if repeated:
        errors = [f"column {c!r} appears {columns.count(c)} times" for c in repeated]
        cases = [_case(c, "unique_column_names", None, c) for c in repeated]
        return SchemaOutcome(spec, None, errors, cases, dropped)
    dtypes = frame.dtypes
    checked = (*spec.value_columns, *optional)
    coerced = [c for c in checked if c in columns and dtypes[c] != _FLOAT64]
    schema = spec.schema_for(coerce=bool(coerced), optional=optional)
    try:
        validated = schema.validate(frame, lazy=True)
    except SchemaErrors as exc:
        errors, cases = failures_from(exc)
        return SchemaOutcome(spec, None, errors, cases, dropped, coerced)
    return SchemaOutcome(spec, validated, [], [], dropped, coerced, optional)


def validate_stored(frame: pd.DataFrame) -> tuple[list[str], list[dict[str, Any]]]:
    """Check a stored bar frame against ``STORED_SCHEMA``.

    Returns ``(errors, failure_cases)``, both empty when the frame conforms;
    meant for asset checks and tests, which report rather than raise.
    """
    try:
        STORED_SCHEMA.validate(frame, lazy=True)
    except SchemaErrors as exc:
        return failures_from(exc)
    return [], []


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
        failure = json_safe(row.failure_case)
        index = json_safe(row.index)
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
