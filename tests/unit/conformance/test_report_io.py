"""Reports on disk: one JSON file per node, interval and window, written atomically."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import pytest

from seamless_sdk.conformance import ConformanceReport, conform_bars, read_report, write_report
from seamless_sdk.conformance.engine.report_io import node_dir_name, node_id_of, report_path
from seamless_sdk.errors import InvalidRequestError

T0 = 1_710_028_800


def report(volume: float = 1.0) -> ConformanceReport:
    frame = pd.DataFrame(
        {"ts": [T0], "open": 1.0, "high": 2.0, "low": 0.5, "close": 1.5, "volume": volume}
    )
    return conform_bars(frame, "1m", T0, T0 + 86_400).report


def test_write_and_read_back(tmp_path: Path) -> None:
    """The file holds the report and where it belongs; the path is safe and predictable."""
    path = write_report(report(), tmp_path, "demo:BTC-USD.x", "1m", T0, T0 + 86_400)
    assert path == tmp_path / "demo%3ABTC-USD.x" / "1m" / "20240310T000000Z_20240311T000000Z.json"
    assert path == report_path(tmp_path, "demo:BTC-USD.x", "1m", T0, T0 + 86_400)
    data = read_report(path)
    assert data["node_id"] == "demo:BTC-USD.x" and data["interval"] == "1m"
    assert (data["window_start"], data["window_end"]) == (T0, T0 + 86_400)
    assert data["report"] == json.loads(json.dumps(report().to_dict()))
    assert node_id_of(path.parent.parent.name) == "demo:BTC-USD.x"


def test_rewrite_replaces_and_leaves_no_temp_files(tmp_path: Path) -> None:
    """Writing a window again replaces its report; nothing else is left behind."""
    first = write_report(report(), tmp_path, "demo:A", "1m", T0, T0 + 86_400)
    second = write_report(report(-1.0), tmp_path, "demo:A", "1m", T0, T0 + 86_400)
    assert first == second
    assert read_report(second)["report"]["ok"] is False
    assert os.listdir(second.parent) == [second.name]


def test_failed_write_keeps_the_old_report(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A write that dies before the rename leaves the previous file intact and no temp file."""
    path = write_report(report(), tmp_path, "demo:A", "1m", T0, T0 + 86_400)

    def crash(src: str, dst: str) -> None:
        raise OSError("disk went away")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk went away"):
        write_report(report(-1.0), tmp_path, "demo:A", "1m", T0, T0 + 86_400)
    monkeypatch.undo()
    assert read_report(path)["report"]["ok"] is True
    assert os.listdir(path.parent) == [path.name]
    with pytest.raises(ValueError):  # NaN is not JSON: refused before anything is written
        write_report({"bad": float("nan")}, tmp_path, "demo:A", "1m", T0, T0 + 86_400)


@pytest.mark.parametrize("node", ["../etc", "a/b", "", ".hidden"])
def test_node_ids_that_are_not_ids_never_reach_the_file_system(node: str) -> None:
    with pytest.raises(InvalidRequestError) as info:
        node_dir_name(node)
    assert info.value.field == "node_id"
