"""Canary and reprocess act on a LocalStore main store: with a server store configured
they refuse by name instead of changing the LocalStore file beside the config."""

from __future__ import annotations

from pathlib import Path

import pytest

from seamless_assets.changes_support import local_main_store
from seamless_sdk.cli import main as cli
from seamless_sdk.errors import InvalidRequestError

CONFIG = """
store: {kind: postgres, dsn: "postgresql://nobody@127.0.0.1:1/none"}
partition_start: "2024-01-01"
intervals: [1h]
nodes: [demo:A]
"""


@pytest.mark.parametrize("command", ["canary", "reprocess"])
def test_a_server_store_is_refused_naming_the_store(
    command: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = tmp_path / "seamless.yaml"
    config.write_text(CONFIG)
    monkeypatch.setenv("SEAMLESS_CONFIG", str(config))
    args = [command, "--interval", "1h", "--nodes", "demo:A"]
    args += ["--start", "2024-01-01", "--end", "2024-02-01"]
    if command == "canary":
        args += ["--fetcher", "synthetic:1"]
    assert cli(args) == 1
    out = capsys.readouterr().out
    assert "store: " in out and "postgres store" in out
    assert not (tmp_path / "var").exists()  # nothing was opened or written beside the config


def test_a_local_store_is_its_file(tmp_path: Path) -> None:
    assert local_main_store("local", tmp_path / "bars.sqlite") == tmp_path / "bars.sqlite"
    with pytest.raises(InvalidRequestError) as err:
        local_main_store("questdb", tmp_path / "bars.sqlite")
    assert err.value.field == "store"
