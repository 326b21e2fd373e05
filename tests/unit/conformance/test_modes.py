"""Conformance modes: strict blocks, canary reports, and the config switches them.

The promise under test (DESIGN "Conformance", seed 002 "schema registry
governance"): a node or dataset goes from strict to canary by a config
change, canary never blocks, and in no mode is a non-conformant row written.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from seamless_sdk import LocalStore
from seamless_sdk.backfill.fill import fill_window
from seamless_sdk.backfill.policy import FillPolicy
from seamless_sdk.conformance import (
    ENV_VAR,
    ConformanceReport,
    conform_bars,
    load_config,
    policy_for,
)
from seamless_sdk.conformance.spec.modes import current_config
from seamless_sdk.errors import ConformanceError, InvalidRequestError
from seamless_sdk.intervals import parse_interval
from seamless_sdk.ranges import RangeSet

T0 = 1_710_028_800
M1 = parse_interval("1m")


def bars(n: int, *, bad: tuple[int, ...] = ()) -> pd.DataFrame:
    price = 100.0 + 0.05 * (np.arange(n) % 3)
    frame = pd.DataFrame(
        {
            "ts": T0 + 60 * np.arange(n),
            "open": price,
            "high": price + 0.1,
            "low": price - 0.1,
            "close": price,
            "volume": np.full(n, 5.0),
        }
    )
    frame.loc[list(bad), "volume"] = -1.0
    return frame


def overlay(data: dict[str, Any]) -> Any:
    return load_config().with_overlay(data)


def test_shipped_defaults() -> None:
    """Out of the box: strict, latest schema, roll-up, a 2-bar window, warn-level statistics."""
    policy = policy_for("ohlcv_bars", "demo:BTCUSDT", load_config())
    assert (policy.mode, policy.schema_version, policy.dedup) == ("strict", "latest", "rollup")
    assert policy.out_of_order_window_bars == 2.0
    assert policy.source_priority == ("cache", "storage", "backfill", "live")
    assert policy.severity("negative_volume") == "block"
    assert policy.severity("abnormal_jump") == policy.severity("stale_price") == "warn"
    assert policy.rules["abnormal_jump"].params == {
        "threshold": 16,
        "min_returns": 20,
        "min_move": 0.01,
    }
    assert policy.matched == ("defaults", "datasets.ohlcv_bars")


def test_precedence_defaults_dataset_patterns_exact() -> None:
    """Later, more specific entries win: dataset over defaults, pattern over dataset, exact last."""
    config = overlay(
        {
            "defaults": {"mode": "canary"},
            "datasets": {"ohlcv_bars": {"mode": "strict", "dedup": "ingest_time"}},
            "nodes": {
                "demo:*": {"mode": "canary"},
                "demo:BTC*": {"dedup": "source_priority"},
                "demo:BTCUSDT": {"mode": "strict"},
            },
        }
    )
    assert policy_for("trades", None, config).mode == "canary"
    assert policy_for("ohlcv_bars", None, config).mode == "strict"
    eth = policy_for("ohlcv_bars", "demo:ETHUSDT", config)
    assert (eth.mode, eth.dedup) == ("canary", "ingest_time")
    btc = policy_for("ohlcv_bars", "demo:BTCUSDT", config)
    assert (btc.mode, btc.dedup) == ("strict", "source_priority")
    assert btc.matched == (
        "defaults",
        "datasets.ohlcv_bars",
        "nodes.demo:*",
        "nodes.demo:BTC*",
        "nodes.demo:BTCUSDT",
    )
    assert policy_for("ohlcv_bars", "other:X", config).matched == (
        "defaults",
        "datasets.ohlcv_bars",
    )


def test_rule_settings_merge_key_by_key() -> None:
    """A node that only raises a threshold keeps the other parameters and the severity."""
    config = overlay({"nodes": {"x:*": {"rules": {"abnormal_jump": {"threshold": 30}}}}})
    jump = policy_for("ohlcv_bars", "x:1", config).rules["abnormal_jump"]
    assert jump.severity == "warn"
    assert jump.params == {"threshold": 30, "min_returns": 20, "min_move": 0.01}


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"default": {}}, "default", "unknown key (known: defaults, datasets, nodes)"),
        ({"defaults": {"mode": "lenient"}}, "defaults.mode", "'lenient' is not one of"),
        ({"defaults": {"colour": "red"}}, "defaults.colour", "unknown key"),
        ({"nodes": {"a:*": {"dedup": "newest"}}}, "nodes.a:*.dedup", "'newest' is not one of"),
        (
            {"defaults": {"rules": {"negative_volume": {"severity": "warn"}}}},
            "defaults.rules.negative_volume",
            "structural rules are always 'block'",
        ),
        (
            {"defaults": {"rules": {"spiky": {"severity": "warn"}}}},
            "defaults.rules.spiky",
            "unknown key",
        ),
        (
            {"defaults": {"rules": {"abnormal_jump": {"threshold": -1}}}},
            "defaults.rules.abnormal_jump.threshold",
            "-1 is not > 0",
        ),
        (
            {"defaults": {"rules": {"stale_price": {"min_run": 2.5}}}},
            "defaults.rules.stale_price.min_run",
            "2.5 is not an integer",
        ),
        (
            {"defaults": {"rules": {"stale_price": {"severity": "loud"}}}},
            "defaults.rules.stale_price.severity",
            "'loud' is not one of",
        ),
        ({"defaults": {"source_priority": "live"}}, "defaults.source_priority", "is not a list"),
        (
            {"defaults": {"out_of_order_window_bars": -2}},
            "defaults.out_of_order_window_bars",
            "is not >= 0",
        ),
        ({"nodes": ["a"]}, "nodes", "is not a mapping"),
    ],
    ids=[
        "unknown_top_key",
        "unknown_mode",
        "unknown_entry_key",
        "bad_node_dedup",
        "structural_rule_downgraded",
        "unknown_rule",
        "negative_threshold",
        "fractional_run",
        "unknown_severity",
        "priority_not_a_list",
        "negative_window",
        "nodes_not_a_mapping",
    ],
)
def test_bad_config_is_a_typed_error(data: dict[str, Any], field: str, message: str) -> None:
    """A config mistake fails when loaded, naming the key path and the files."""
    with pytest.raises(InvalidRequestError) as info:
        overlay(data)
    assert info.value.field == field
    assert str(info.value).startswith(f"{field}: in modes.yaml + <overlay>: ")
    assert message in str(info.value)


def test_env_var_switches_a_node_without_code_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Point the env var at a file: the node goes canary; edit the file: strict again."""
    path = tmp_path / "modes.yaml"
    path.write_text("nodes:\n  'demo:*': {mode: canary}\n", "utf-8")
    monkeypatch.setenv(ENV_VAR, str(path))
    frame = bars(5, bad=(2,))
    canary = conform_bars(frame, M1, T0, T0 + 3600, node_id="demo:BTC").report
    assert (canary.ok, canary.mode, canary.blocking, canary.violations) == (
        True,
        "canary",
        False,
        1,
    )
    assert conform_bars(frame, M1, T0, T0 + 3600, node_id="prod:BTC").report.ok is False
    path.write_text("nodes:\n  'demo:*': {mode: strict, dedup: rollup}\n", "utf-8")
    os.utime(path, ns=(1, 1))  # a new mtime even on coarse clocks
    again = conform_bars(frame, M1, T0, T0 + 3600, node_id="demo:BTC").report
    assert (again.ok, again.mode) == (False, "strict")
    assert current_config().sources == ("modes.yaml", str(path))


def test_env_var_pointing_nowhere_raises(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A typo in the path must not silently mean 'the defaults'."""
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "missing.yaml"))
    with pytest.raises(InvalidRequestError) as info:
        conform_bars(bars(1), M1, T0, T0 + 60)
    assert info.value.field == "conformance_config" and "missing.yaml" in str(info.value)


def test_canary_reports_but_never_keeps_a_bad_bar() -> None:
    """Canary: ok stays True, the violation is counted, the bad bar is still removed."""
    frame = bars(6, bad=(1, 4))
    strict = conform_bars(frame, M1, T0, T0 + 3600)
    canary = conform_bars(frame, M1, T0, T0 + 3600, mode="canary")
    pd.testing.assert_frame_equal(canary.frame, strict.frame)
    assert (
        canary.rejected == strict.rejected == RangeSet([(T0 + 60, T0 + 120), (T0 + 240, T0 + 300)])
    )
    assert (strict.report.ok, strict.report.blocking) == (False, True)
    assert (canary.report.ok, canary.report.blocking) == (True, False)
    assert strict.report.violations == canary.report.violations == 2
    assert canary.report.summary.startswith("ok (canary: 2 violation(s) not blocking)")
    assert canary.report.policy["mode"] == "canary"
    assert canary.report.policy["matched"][-1] == "arguments"


def test_canary_schema_error_returns_nothing_without_blocking() -> None:
    """A frame that misses a column conforms to nothing: empty, whole window rejected, ok."""
    result = conform_bars(bars(3).drop(columns=["low"]), M1, T0, T0 + 3600, mode="canary")
    assert result.report.ok and result.report.violations == 1
    assert result.frame.empty and result.rejected == RangeSet([(T0, T0 + 3600)])
    assert result.report.schema_errors == ["missing column 'low'"]


def test_merge_keeps_mode_and_marks_mixed() -> None:
    """One read spans windows: their reports merge; differing modes say so."""
    a = conform_bars(bars(2), M1, T0, T0 + 120, mode="canary").report
    b = conform_bars(bars(2), M1, T0, T0 + 120).report
    assert ConformanceReport.empty().merge(a).mode == "canary"
    merged = a.merge(b)
    assert merged.mode == "mixed" and merged.blocking
    assert merged.watermark_low == T0 and merged.watermark_high == T0 + 120


@pytest.mark.parametrize("mode", ["strict", "canary"])
def test_fill_writes_only_conformant_bars_in_any_mode(
    mode: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Through fill_window (dataset-level config, no node id needed): strict raises and
    writes nothing; canary writes the good bars and leaves the bad ones uncovered."""
    path = tmp_path / "modes.yaml"
    path.write_text(f"datasets:\n  ohlcv_bars: {{mode: {mode}}}\n", "utf-8")
    monkeypatch.setenv(ENV_VAR, str(path))

    class Fetcher:
        def fetch(self, node_id: str, interval: str, start: int, end: int) -> pd.DataFrame:
            return bars(10, bad=(3,))

    with LocalStore(tmp_path / "bars.sqlite") as store:
        window = (T0, T0 + 600)
        if mode == "strict":
            with pytest.raises(ConformanceError) as info:
                fill_window(
                    store, Fetcher(), "demo:A", M1, *window, now=T0 + 86_400, policy=FillPolicy()
                )
            assert info.value.report.violations == 1
            assert store.coverage("demo:A", M1) == RangeSet()
            assert store.read("demo:A", M1, *window).empty
        else:
            result = fill_window(
                store, Fetcher(), "demo:A", M1, *window, now=T0 + 86_400, policy=FillPolicy()
            )
            assert result.report.ok and result.report.mode == "canary"
            stored = store.read("demo:A", M1, *window)
            assert len(stored) == 9 and (stored["volume"] >= 0).all()
            assert store.coverage("demo:A", M1) == RangeSet([(T0, T0 + 180), (T0 + 240, T0 + 600)])
    json.dumps(ConformanceReport.empty().to_dict(), allow_nan=False)
