"""The `seamless` command line: the demo backfills, reads and reports."""

from __future__ import annotations

from pathlib import Path

import pytest

from seamless_sdk import LocalStore, parse_interval
from seamless_sdk.cli import main


def test_demo_backfills_and_prints_tables(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = tmp_path / "demo.sqlite"
    assert main(["--store", str(store), "demo", "--days", "2", "--nodes", "demo:X", "demo:Y"]) == 0
    out = capsys.readouterr().out
    assert "Stored coverage" in out and "Read metadata" in out
    assert "from cache" in out
    local = LocalStore(store)
    try:
        assert local.coverage("demo:X", parse_interval("1m")).total() == 2 * 86_400
        assert sorted(local.series()) == [("demo:X", "1m"), ("demo:Y", "1m")]
    finally:
        local.close()
    assert main(["--store", str(store), "coverage"]) == 0
    assert "demo:Y" in capsys.readouterr().out


def test_bad_input_is_a_clean_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["--store", str(tmp_path / "s.sqlite"), "read", "bad id", "1m", "0", "60"])
    assert code == 1
    assert "node_id:" in capsys.readouterr().out


def test_schemas_check_passes_on_the_shipped_registry(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schemas", "check"]) == 0
    assert "ohlcv_bars" in capsys.readouterr().out
