"""The registry's schemas as Great Expectations suites (GX 1.x, ephemeral context).

:func:`build_suite` turns one registered schema version into an
``ExpectationSuite``, rule by rule, so the same contract can be run by GX
tooling and shown as GX results (the Dagster check ``gx_check.py`` does):

======================================  ===========================================
registry (pandera)                      expectation
======================================  ===========================================
required columns (strict, ordered,      ``ExpectTableColumnsToMatchOrderedList``
no optional columns)
required column (otherwise)             ``ExpectColumnToExist``
dtype                                   ``ExpectColumnValuesToBeOfType`` (tz-aware
                                        times: ``Timestamp``; GX cannot see the unit)
not nullable                            ``ExpectColumnValuesToNotBeNull``
``unique``                              ``ExpectColumnValuesToBeUnique``
``ascending``                           ``ExpectColumnValuesToBeIncreasing``
                                        (``strictly`` when also unique)
``greater_than_or_equal_to``            ``ExpectColumnValuesToBeBetween(min_value)``
a frame check of the rules table        each rule's ``expectations`` (``spec/rules.py``):
(``high_ge_max_open_close``,            column pairs for high and low, ±float max
``low_le_min_open_close``,              bounds per column for ``finite_values`` (NaN
``finite_values``)                      is the null check's)
======================================  ===========================================

Each expectation's ``meta`` names the rule it stands for. The statistical
rules (``anomalies.py``) are judgements about neighbours with a configurable
severity, not a fixed contract, and are not part of the suite.

GX takes about two seconds to import, so it is imported here, on first use,
and never by ``import seamless_sdk``. Its import-time deprecation warnings
(Python's ``sre_constants``) are silenced for that import only.
"""

from __future__ import annotations

import threading
import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pandas as pd

from seamless_sdk.conformance.spec.registry import (
    RegisteredSchema,
    SchemaRegistry,
    default_registry,
)
from seamless_sdk.conformance.spec.rules import rules_of_check
from seamless_sdk.jsonable import jsonable

if TYPE_CHECKING:
    import great_expectations as gx

MAX_UNEXPECTED = 10
"""Unexpected values listed per expectation in a result summary."""
_LOCK = threading.RLock()
_STATE: dict[str, Any] = {}


@dataclass(frozen=True)
class GXResult:
    """One suite run over one frame, as plain data.

    ``statistics`` is GX's (evaluated, successful, unsuccessful expectations,
    success percent); ``results`` one summary per expectation: ``expectation``
    (its type), ``kwargs`` (column(s) and bounds), ``rule`` (the registry rule
    it stands for), ``success``, ``unexpected_count``, ``unexpected_percent``,
    ``partial_unexpected`` (at most ``MAX_UNEXPECTED`` values), ``observed_value``
    and ``exception`` (a message when GX could not evaluate it).
    """

    success: bool
    suite: str
    schema_fingerprint: str
    rows: int
    statistics: dict[str, Any] = field(default_factory=dict)
    results: list[dict[str, Any]] = field(default_factory=list)

    @property
    def failed(self) -> list[dict[str, Any]]:
        """The summaries of the expectations that did not pass."""
        return [r for r in self.results if not r["success"]]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (``json.dumps(..., allow_nan=False)`` works)."""
        return {
            "success": self.success,
            "suite": self.suite,
            "schema_fingerprint": self.schema_fingerprint,
            "rows": self.rows,
            "statistics": jsonable(self.statistics),
            "results": jsonable(self.results),
        }


def _gx() -> tuple[Any, Any]:
    """``great_expectations`` and its ``expectations`` module, imported once."""
    with _LOCK:
        if "gx" not in _STATE:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                import great_expectations as gx_module
                import great_expectations.expectations as gxe_module
            _STATE["gx"], _STATE["gxe"] = gx_module, gxe_module
        return _STATE["gx"], _STATE["gxe"]


def warm_up() -> threading.Thread | None:
    """Import Great Expectations and build its context and the stored-bar suite in
    a background thread, once per process; returns the thread (None if already
    started).

    The import alone takes 5–15 s on a small machine, once per run process: a
    run that starts it first does it while its fills wait on fetches and
    SQLite (both release the GIL), instead of after them. Later callers block
    on ``_LOCK`` until it is done; an error here is raised again by them.
    """
    with _LOCK:
        if "warm" in _STATE:
            return None
        # GX imports sqlalchemy.orm. Imported in the background thread, it races
        # with the run's event log on the PostgreSQL instance: dagster-postgres
        # calls sqlalchemy's inspect(), which goes through the ORM's inspectors as
        # soon as sqlalchemy.orm.base registers them, and finds sqlalchemy.orm.exc
        # half initialised (the run fails). Import it here, first, in this thread.
        import sqlalchemy.orm  # noqa: F401

        thread = threading.Thread(target=_warm, name="seamless-gx-warm-up", daemon=True)
        _STATE["warm"] = thread
    thread.start()
    return thread


def _warm() -> None:
    try:
        _registered_suite("ohlcv_bars", "1")
    except Exception:  # the check's own call raises it again, where it is reported
        return


def _context() -> Any:
    """One ephemeral context per process: in-memory stores, no analytics, no progress bars."""
    with _LOCK:
        if "context" not in _STATE:
            gx_module, _ = _gx()
            from great_expectations.data_context.types.base import (
                DataContextConfig,
                InMemoryStoreBackendDefaults,
                ProgressBarsConfig,
            )

            config = DataContextConfig(
                store_backend_defaults=InMemoryStoreBackendDefaults(),
                analytics_enabled=False,
                progress_bars=ProgressBarsConfig(globally=False),
            )
            context = gx_module.get_context(mode="ephemeral", project_config=config)
            asset = context.data_sources.add_pandas("seamless").add_dataframe_asset("frames")
            _STATE["context"] = context
            _STATE["batch"] = asset.add_batch_definition_whole_dataframe("whole_frame")
        return _STATE["context"]


def suite_name(schema: RegisteredSchema) -> str:
    """``ohlcv_bars.v1``."""
    return f"{schema.name}.v{schema.version}"


def build_suite(
    schema_name: str, version: str | int = "latest", *, registry: SchemaRegistry | None = None
) -> gx.ExpectationSuite:
    """The expectation suite of one registered schema version (a new, unsaved suite)."""
    registered = (registry or default_registry()).get(schema_name, version)
    gx_module, gxe = _gx()
    _context()  # GX builds suites only while a context is active
    suite = gx_module.ExpectationSuite(
        name=suite_name(registered),
        meta={"schema_fingerprint": registered.fingerprint, "source": registered.source},
    )
    for expectation in _expectations(registered, gxe):
        suite.add_expectation(expectation)
    return suite


def _expectations(registered: RegisteredSchema, gxe: Any) -> list[Any]:
    schema = registered.schema
    out: list[Any] = []
    required = list(registered.required_columns)
    if schema.strict and schema.ordered and not registered.optional_columns:
        out.append(
            gxe.ExpectTableColumnsToMatchOrderedList(column_list=required, meta=_rule("columns"))
        )
    else:
        out += [gxe.ExpectColumnToExist(column=c, meta=_rule("columns")) for c in required]
    for name, column in schema.columns.items():
        if not column.required:
            continue  # an optional column may be absent; GX would fail on it
        dtype = column.dtype.type if column.dtype is not None else None
        if dtype is not None:
            out.append(
                gxe.ExpectColumnValuesToBeOfType(
                    column=name, type_=_gx_type(dtype), meta=_rule("dtype")
                )
            )
        if not column.nullable:
            out.append(gxe.ExpectColumnValuesToNotBeNull(column=name, meta=_rule("not_null")))
        if column.unique:
            out.append(gxe.ExpectColumnValuesToBeUnique(column=name, meta=_rule("unique")))
        for check in column.checks:
            out += _column_check(name, check.name, dict(check.statistics), bool(column.unique), gxe)
    for check in schema.checks:
        out += _frame_check(check.name, dict(check.statistics), gxe)
    return out


def _gx_type(dtype: Any) -> str:
    # GX compares the column dtype's scalar type; a tz-aware datetime's is Timestamp.
    if isinstance(dtype, pd.DatetimeTZDtype):
        return "Timestamp"
    return str(dtype)


def _rule(name: str) -> dict[str, str]:
    return {"rule": name}


def _column_check(
    column: str, check: str, stats: dict[str, Any], unique: bool, gxe: Any
) -> list[Any]:
    table = [r for r in rules_of_check(check) if r.check_column == column]
    if table:  # a quality rule of the table (volume >= 0): its own GX form
        return [
            getattr(gxe, e.kind)(**e.kwargs, meta=_rule(check))
            for rule in table
            for e in rule.expectations((column,))
        ]
    if check == "ascending":
        return [
            gxe.ExpectColumnValuesToBeIncreasing(column=column, strictly=unique, meta=_rule(check))
        ]
    if check == "greater_than_or_equal_to":
        return [
            gxe.ExpectColumnValuesToBeBetween(
                column=column, min_value=stats["min_value"], meta=_rule(check)
            )
        ]
    raise ValueError(f"no Great Expectations equivalent for column check {check!r}")


def _frame_check(check: str, stats: dict[str, Any], gxe: Any) -> list[Any]:
    # A frame check stands for rules of the table (spec/rules.py); each rule
    # says what it is in GX over the columns the check names.
    rules = rules_of_check(check)
    if not rules:
        raise ValueError(f"no Great Expectations equivalent for frame check {check!r}")
    out: list[Any] = []
    for rule in rules:
        columns = stats.get("columns") or rule.columns
        for e in rule.expectations(tuple(columns)):
            out.append(getattr(gxe, e.kind)(**e.kwargs, meta=_rule(check)))
    return out


def _registered_suite(schema_name: str, version: str | int) -> tuple[Any, RegisteredSchema]:
    """The suite of a registered version, added to the context once."""
    registered = default_registry().get(schema_name, version)
    key = f"suite:{registered.name}:{registered.version}:{registered.fingerprint}"
    with _LOCK:
        if key not in _STATE:
            _STATE[key] = _context().suites.add(build_suite(registered.name, registered.version))
        return _STATE[key], registered


def run_suite(
    frame: pd.DataFrame, schema_name: str = "ohlcv_bars", version: str | int = "1"
) -> GXResult:
    """Validate ``frame`` against the suite of a registered schema version.

    The default is ``ohlcv_bars`` v1, the stored bar frame. GX keeps state in
    its context, so runs are serialised with a lock.
    """
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"expected a pandas DataFrame, got {type(frame).__name__}")
    suite, registered = _registered_suite(schema_name, version)
    with _LOCK:
        batch = _STATE["batch"].get_batch(batch_parameters={"dataframe": frame})
        outcome = batch.validate(suite, result_format="SUMMARY")
    results = [_summary(r) for r in outcome.results]
    return GXResult(
        success=bool(outcome.success),
        suite=suite_name(registered),
        schema_fingerprint=registered.fingerprint,
        rows=len(frame),
        statistics=dict(outcome.statistics),
        results=results,
    )


def _summary(result: Any) -> dict[str, Any]:
    config = result.expectation_config
    kwargs = {k: v for k, v in config.kwargs.items() if k != "batch_id"}
    body = result.result or {}
    info = result.exception_info or {}
    raised = info.get("raised_exception") if isinstance(info, dict) else False
    return {
        "expectation": config.type,
        "kwargs": jsonable(kwargs),
        "rule": (config.meta or {}).get("rule"),
        "success": bool(result.success),
        "unexpected_count": body.get("unexpected_count"),
        "unexpected_percent": body.get("unexpected_percent"),
        "partial_unexpected": jsonable(
            list(body.get("partial_unexpected_list") or [])[:MAX_UNEXPECTED]
        ),
        "observed_value": jsonable(body.get("observed_value")),
        "exception": info.get("exception_message") if raised else None,
    }
