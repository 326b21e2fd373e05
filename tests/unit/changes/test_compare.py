"""Bar comparison with tolerances, and the changes config's typed errors (hypothesis)."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seamless_sdk.bars import VALUE_COLUMNS
from seamless_sdk.changes.compare import compare_frames, within
from seamless_sdk.changes.config import ChangesConfig, Tolerance, load_changes_config
from seamless_sdk.changes.windows import partition_keys
from seamless_sdk.config_model import validate
from seamless_sdk.errors import InvalidRequestError

values = st.floats(allow_nan=True, allow_infinity=True, width=64)
finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False)
tolerances = st.builds(
    Tolerance,
    abs=st.floats(min_value=0, max_value=10, allow_nan=False),
    rel=st.floats(min_value=0, max_value=1, allow_nan=False),
)


def _frame(ts: list[int], **columns: list[float]) -> pd.DataFrame:
    data: dict[str, object] = {"ts": pd.to_datetime(ts, unit="s", utc=True).as_unit("ns")}
    for c in VALUE_COLUMNS:
        data[c] = np.asarray(columns.get(c, [1.0] * len(ts)), dtype=np.float64)
    data["flags"] = np.ones(len(ts), dtype=np.int32)
    return pd.DataFrame(data)


@given(a=st.lists(values, min_size=1, max_size=30), data=st.data(), tol=tolerances)
def test_within_is_the_documented_formula(
    a: list[float], data: st.DataObject, tol: Tolerance
) -> None:
    b = data.draw(st.lists(values, min_size=len(a), max_size=len(a)))
    got = within(np.array(a), np.array(b), tol)
    for x, y, ok in zip(a, b, got, strict=True):
        if math.isnan(x) or math.isnan(y):
            assert ok == (math.isnan(x) and math.isnan(y))
        elif x == y:
            assert ok
        else:
            diff = abs(y - x)
            expected = not math.isnan(diff) and diff <= tol.abs + tol.rel * abs(x)
            assert ok == expected


@given(
    main=st.lists(finite, min_size=1, max_size=40),
    noise=st.lists(st.floats(min_value=-5, max_value=5, allow_nan=False), min_size=40),
    tol=tolerances,
)
def test_every_bar_beyond_tolerance_is_listed(
    main: list[float], noise: list[float], tol: Tolerance
) -> None:
    n = len(main)
    shadow = [m + d for m, d in zip(main, noise, strict=False)]
    ts = [3600 * i for i in range(n)]
    a, b = _frame(ts, volume=main), _frame(ts, volume=shadow)
    result = compare_frames(a, b, {"volume": tol})
    off = ~within(np.array(main), np.array(shadow), tol)
    assert [d.ts for d in result.differing] == [t for t, o in zip(ts, off, strict=True) if o]
    for d in result.differing:
        assert set(d.values) == {"volume"}
    assert result.identical == (not off.any())


@given(
    main_ts=st.sets(st.integers(0, 500), max_size=40),
    shadow_ts=st.sets(st.integers(0, 500), max_size=40),
)
def test_one_sided_bars_are_listed_by_side(main_ts: set[int], shadow_ts: set[int]) -> None:
    a = _frame([t * 60 for t in sorted(main_ts)])
    b = _frame([t * 60 for t in sorted(shadow_ts)])
    result = compare_frames(a, b)
    assert result.only_main == tuple(sorted(t * 60 for t in main_ts - shadow_ts))
    assert result.only_shadow == tuple(sorted(t * 60 for t in shadow_ts - main_ts))
    assert result.differing == ()


@settings(max_examples=50)
@given(
    column=st.sampled_from(["default", *VALUE_COLUMNS]),
    key=st.sampled_from(["abs", "rel"]),
    value=st.one_of(
        st.floats(max_value=-1e-9, allow_nan=False, allow_infinity=False),
        st.just(float("nan")),
        st.text(max_size=5),
        st.booleans(),
    ),
)
def test_a_bad_tolerance_is_an_error_naming_its_key(column: str, key: str, value: object) -> None:
    raw = {"canary": {"tolerances": {column: {key: value}}}}
    with pytest.raises(InvalidRequestError) as err:
        validate(ChangesConfig, raw)
    assert err.value.field == f"canary.tolerances.{column}.{key}"


@settings(max_examples=30)
@given(
    name=st.sampled_from(
        [
            "max_differing_bars",
            "max_only_main_bars",
            "max_only_shadow_bars",
            "max_check_regressions",
        ]
    ),
    value=st.one_of(st.integers(max_value=-1), st.floats(allow_nan=False), st.text(max_size=3)),
)
def test_a_bad_threshold_is_an_error_naming_it(name: str, value: object) -> None:
    with pytest.raises(InvalidRequestError) as err:
        validate(ChangesConfig, {"canary": {"thresholds": {name: value}}})
    assert err.value.field == f"canary.thresholds.{name}"


@pytest.mark.parametrize("value", [float("inf"), float("nan"), -0.5])
def test_a_tolerance_that_lets_everything_pass_is_refused(value: float) -> None:
    with pytest.raises(InvalidRequestError) as err:
        validate(ChangesConfig, {"canary": {"tolerances": {"close": {"abs": value}}}})
    assert err.value.field == "canary.tolerances.close.abs"
    with pytest.raises(InvalidRequestError) as err:
        validate(ChangesConfig, {"canary": {"thresholds": {"max_differing_bars": 2**64}}})
    assert err.value.field == "canary.thresholds.max_differing_bars"


def test_unknown_keys_and_columns_are_named(tmp_path: Path) -> None:
    with pytest.raises(InvalidRequestError) as err:
        validate(ChangesConfig, {"canary": {"tolerance": {}}})
    assert err.value.field == "canary.tolerance"
    with pytest.raises(InvalidRequestError) as err:
        validate(ChangesConfig, {"canary": {"tolerances": {"vwap": {"abs": 1}}}})
    assert err.value.field == "canary.tolerances"
    with pytest.raises(InvalidRequestError) as err:
        validate(ChangesConfig, {"schemas": {"approval": "maybe"}})
    assert err.value.field == "schemas.approval"
    path = tmp_path / "changes.yaml"
    path.write_text("canary:\n  shadow_dir: shadows\n  tolerances: {volume: {abs: 0.5}}\n")
    config = load_changes_config(path)
    assert config.shadow_dir() == tmp_path / "shadows"
    assert config.canary.tolerance("volume") == Tolerance(abs=0.5)
    assert config.canary.tolerance("close") == Tolerance()


@settings(max_examples=60)
@given(
    node=st.text(min_size=1, max_size=20).filter(
        lambda s: not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}", s)
    )
)
def test_a_bad_node_is_an_error_naming_it(node: str) -> None:
    with pytest.raises(InvalidRequestError) as err:
        partition_keys([node], "1h", "2024-01-01", "2025-01-01")
    assert err.value.field == "node_id"


@given(start=st.integers(1_700_000_000, 1_800_000_000), back=st.integers(0, 10**7))
def test_an_empty_or_reversed_range_is_an_error_naming_end(start: int, back: int) -> None:
    with pytest.raises(InvalidRequestError) as err:
        partition_keys(["demo:A"], "1h", start, start - back)
    assert err.value.field == "end"


@given(text=st.text(max_size=12).filter(lambda s: not s.strip().lstrip("-").isdigit()))
def test_a_bad_time_is_an_error_naming_it(text: str) -> None:
    try:
        pd.Timestamp(text)
        return  # pandas reads it: a time, not a bad one
    except (ValueError, TypeError, OverflowError):
        pass
    with pytest.raises(InvalidRequestError) as err:
        partition_keys(["demo:A"], "1h", text, "2025-01-01")
    assert err.value.field == "start"
