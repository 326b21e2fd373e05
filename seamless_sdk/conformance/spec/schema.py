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

The quality rules of ``OHLCVBars`` come from the rules table (``rules.py``):
its frame checks are the table's registered checks, its column checks the
table's built-in ones. This module builds pandera objects, so it imports
pandera; the pipeline imports it on the first conform, not at SDK import.
Validating a frame against these schemas is ``engine/validate.py``.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import lru_cache
from typing import Annotated, Any

import numpy as np
import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

from seamless_sdk.bars import VALUE_DTYPE
from seamless_sdk.conformance.spec.checks import register_checks
from seamless_sdk.conformance.spec.registry import RegisteredSchema, default_registry
from seamless_sdk.conformance.spec.rules import FRAME_CHECKS, QUALITY_TABLE, rules_of_check
from seamless_sdk.errors import InvalidRequestError

SCHEMA_NAME = "ohlcv_bars"
SCHEMA_VERSION = "1"
"""The version of ``ohlcv_bars`` the store holds (v2 only adds an optional column)."""
# pandera's Field keyword for each built-in column check the rules table names.
_FIELD_KEYWORDS = {"greater_than_or_equal_to": "ge"}


def _field(column: str, **extra: Any) -> Any:
    """The model field of ``column``, with the built-in checks the rules table puts on it."""
    checks = {
        _FIELD_KEYWORDS[r.check]: r.check_value for r in QUALITY_TABLE if r.check_column == column
    }
    return pa.Field(**checks, **extra)


def _frame_checks() -> dict[str, Any]:
    """The table's frame checks as ``DataFrameModel.Config`` entries (pandera turns
    every unknown Config attribute into ``Check.<name>(**value)``)."""
    register_checks()
    out: dict[str, Any] = {}
    for name in FRAME_CHECKS:
        rules = rules_of_check(name)
        if all(r.any_columns for r in rules):
            # A check over any columns gets every column its rules name, in order.
            out[name] = {"columns": list(dict.fromkeys(c for r in rules for c in r.columns))}
        else:
            out[name] = ...  # pandera: Check.<name>() with no arguments
    return out


class OHLCVBars(pa.DataFrameModel):
    """The stored bar frame of ``ohlcv_bars`` version 1 (see ``seamless_sdk/bars.py``)."""

    ts: Series[Annotated[pd.DatetimeTZDtype, "ns", "UTC"]] = pa.Field(unique=True)
    open: Series[np.float64] = _field("open")
    high: Series[np.float64] = _field("high")
    low: Series[np.float64] = _field("low")
    close: Series[np.float64] = _field("close")
    volume: Series[np.float64] = _field("volume")
    flags: Series[np.int32]

    Config = type(
        "Config",
        (),
        {
            "name": SCHEMA_NAME,
            "description": f"{SCHEMA_NAME} v{SCHEMA_VERSION}: the stored bar frame",
            "metadata": {"version": SCHEMA_VERSION},
            "strict": True,
            "ordered": True,
            **_frame_checks(),
        },
    )

    @pa.check("ts", name="ascending", element_wise=False)
    def _ts_ascending(cls, ts: Series[Any]) -> bool:
        return bool(ts.is_monotonic_increasing)


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
    value = {c: pa.Column(VALUE_DTYPE, nullable=True, coerce=coerce) for c in value_columns}
    extra = {c: pa.Column(VALUE_DTYPE, nullable=True, coerce=coerce) for c in optional}
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
