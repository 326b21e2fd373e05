"""The quality rules of a bar, written once, as data.

Every consumer is built from :data:`QUALITY_TABLE`: the pipeline's quality
stage (``engine/quality.py`` counts and rejects), the named pandera checks
the schema files use (``checks.py``), the typed model ``OHLCVBars``
(``schema.py``), the Great Expectations suite
(``seamless_assets/checks/expectations.py``) and the store's column check
(``stores/_arrow.py``). Adding a row here adds the rule everywhere.

| rule | a row breaks it when | schema files enforce it with |
| --- | --- | --- |
| ``high_lt_max_open_close`` | high < max(open, close) | ``high_ge_max_open_close`` |
| ``low_gt_min_open_close`` | low > min(open, close) | ``low_le_min_open_close`` |
| ``negative_volume`` | volume < 0 | ``greater_than_or_equal_to(0)`` on volume |
| ``nan_price`` | open, high, low or close is NaN | ``finite_values`` |
| ``nan_volume`` | volume is NaN | ``finite_values`` |
| ``inf_value`` | any of open..volume is ±inf | ``finite_values`` |

Predicates say where a row *breaks* the rule. Comparisons with NaN are
false, so a NaN row breaks only the ``nan_*`` rules: each problem is counted
under one name. Every structural rule has severity ``block``: the store
cannot hold a bar that breaks one.

The statistical rules (``engine/anomalies.py``) judge a bar against its
neighbours; only their names and parameter types are declared here
(:data:`STATISTICAL_RULES`, :data:`RULE_PARAMS`), because their severity and
parameters come from the modes config.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from seamless_sdk.bars import PRICE_COLUMNS, VALUE_COLUMNS

Predicate = Callable[..., np.ndarray]
"""Aligned float64 arrays (one per listed column, in order) -> bool mask of breaking rows."""


@dataclass(frozen=True, slots=True)
class GXExpectation:
    """One Great Expectations expectation: its class name in ``great_expectations.expectations``
    and its keyword arguments (without ``meta``)."""

    kind: str
    kwargs: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class QualityRule:
    """One structural rule (see the module docstring's table).

    ``check`` is the pandera check that enforces the rule in schema files:
    a frame-wide check registered by ``checks.py`` when ``check_column`` is
    None, else pandera's built-in column check on ``check_column`` with
    ``check_value``. ``any_columns`` marks a predicate that means the same on
    any columns (NaN, inf), so a check may apply it to the columns a schema
    file lists (``finite_values: columns: [price, size]`` for trades).
    ``expectations`` gives the Great Expectations form over the columns a
    check names (empty when another expectation already covers it: GX treats
    NaN as null, which the schema's not-null expectations reject).
    """

    name: str
    columns: tuple[str, ...]
    breaks: Predicate
    check: str
    description: str
    severity: Literal["block"] = "block"
    check_column: str | None = None
    check_value: float | None = None
    any_columns: bool = False
    expectations: Callable[[Sequence[str]], tuple[GXExpectation, ...]] = field(
        default=lambda columns: ()
    )


# numpy compares NaN quietly (False, no warning), so the predicates need no
# errstate; they run on every conform and every store write, so they stay lean.
def _high_breaks(open_: np.ndarray, high: np.ndarray, close: np.ndarray) -> np.ndarray:
    return np.asarray(high < np.maximum(open_, close))


def _low_breaks(open_: np.ndarray, low: np.ndarray, close: np.ndarray) -> np.ndarray:
    return np.asarray(low > np.minimum(open_, close))


def _negative(values: np.ndarray) -> np.ndarray:
    return np.asarray(values < 0)


def _any_nan(*arrays: np.ndarray) -> np.ndarray:
    out = np.isnan(arrays[0])
    for a in arrays[1:]:
        out |= np.isnan(a)
    return out


def _any_inf(*arrays: np.ndarray) -> np.ndarray:
    out = np.isinf(arrays[0])
    for a in arrays[1:]:
        out |= np.isinf(a)
    return out


def _pairs(a: Sequence[str], b: Sequence[str]) -> tuple[GXExpectation, ...]:
    kind = "ExpectColumnPairValuesAToBeGreaterThanB"
    return tuple(
        GXExpectation(kind, {"column_A": x, "column_B": y, "or_equal": True}) for x in a for y in b
    )


_FLOAT_MAX = float(np.finfo(np.float64).max)


def _finite(columns: Sequence[str]) -> tuple[GXExpectation, ...]:
    kind = "ExpectColumnValuesToBeBetween"
    return tuple(
        GXExpectation(kind, {"column": c, "min_value": -_FLOAT_MAX, "max_value": _FLOAT_MAX})
        for c in columns
    )


def _at_least_zero(columns: Sequence[str]) -> tuple[GXExpectation, ...]:
    kind = "ExpectColumnValuesToBeBetween"
    return tuple(GXExpectation(kind, {"column": c, "min_value": 0}) for c in columns)


QUALITY_TABLE: tuple[QualityRule, ...] = (
    QualityRule(
        "high_lt_max_open_close",
        ("open", "high", "close"),
        _high_breaks,
        "high_ge_max_open_close",
        "high >= max(open, close)",
        expectations=lambda _: _pairs(("high",), ("open", "close")),
    ),
    QualityRule(
        "low_gt_min_open_close",
        ("open", "low", "close"),
        _low_breaks,
        "low_le_min_open_close",
        "low <= min(open, close)",
        expectations=lambda _: _pairs(("open", "close"), ("low",)),
    ),
    QualityRule(
        "negative_volume",
        ("volume",),
        _negative,
        "greater_than_or_equal_to",
        "volume >= 0",
        check_column="volume",
        check_value=0.0,
        expectations=_at_least_zero,
    ),
    QualityRule(
        "nan_price",
        PRICE_COLUMNS,
        _any_nan,
        "finite_values",
        "no NaN price",
        any_columns=True,
    ),
    QualityRule(
        "nan_volume",
        ("volume",),
        _any_nan,
        "finite_values",
        "no NaN volume",
        any_columns=True,
    ),
    QualityRule(
        "inf_value",
        VALUE_COLUMNS,
        _any_inf,
        "finite_values",
        "no infinite value",
        any_columns=True,
        expectations=_finite,
    ),
)
"""Every structural rule, in the order rules are evaluated and reported."""

QUALITY_RULES: tuple[str, ...] = tuple(rule.name for rule in QUALITY_TABLE)
"""Names of the structural rules, in table order."""

FRAME_CHECKS: tuple[str, ...] = tuple(
    dict.fromkeys(r.check for r in QUALITY_TABLE if r.check_column is None)
)
"""The frame-wide pandera checks the table defines (registered by ``checks.py``)."""


def rules_of_check(check: str) -> tuple[QualityRule, ...]:
    """The rules a named check enforces (empty for checks that are not quality rules)."""
    return tuple(r for r in QUALITY_TABLE if r.check == check)


def breaking_rows(columns: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Per rule, the mask of rows that break it, over aligned float64 ``columns`` by name."""
    return {r.name: r.breaks(*(columns[c] for c in r.columns)) for r in QUALITY_TABLE}


STATISTICAL_RULES: tuple[str, ...] = ("abnormal_jump", "stale_price")
"""Names of the statistical rules, in evaluation order (after the structural rules)."""

RULE_PARAMS: dict[str, dict[str, type]] = {
    "abnormal_jump": {"threshold": float, "min_returns": int, "min_move": float},
    "stale_price": {"min_run": int},
}
"""Each statistical rule's parameters and their types (the modes config is checked against it)."""
