"""``seamless nodes add|remove|list`` on the instance of ``$DAGSTER_HOME``."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest

from seamless_sdk.backfill.dagster import NODES_PARTITIONS
from seamless_sdk.cli import main

CONFIG = """\
store: store/bars.sqlite
intervals: [1d]
nodes:
  - {id: "demo:SPY", calendar: XNYS}
backfill:
  gx_check: false
"""


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "seamless.yaml"
    path.write_text(CONFIG)
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    monkeypatch.setenv("SEAMLESS_CONFIG", str(path))
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.delenv("SEAMLESS_STORE", raising=False)
    return home


def registered() -> list[str]:
    with dg.DagsterInstance.get() as instance:
        return list(instance.get_dynamic_partitions(NODES_PARTITIONS))


def test_add_list_remove(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["nodes", "add", "demo:A", "demo:B"]) == 0
    assert registered() == ["demo:A", "demo:B"]
    assert main(["nodes", "add", "demo:A"]) == 0
    assert "already registered: demo:A" in capsys.readouterr().out

    assert main(["nodes", "list"]) == 0
    listing = capsys.readouterr().out
    assert "demo:A" in listing and "demo:SPY" in listing and "XNYS" in listing

    assert main(["nodes", "remove", "demo:A"]) == 0
    assert registered() == ["demo:B"]


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["nodes", "remove", "demo:SPY"], "are listed in"),
        (["nodes", "remove", "demo:NOPE"], "['demo:NOPE'] are not registered"),
        (["nodes", "add", "bad id"], "node_id: 'bad id' does not match"),
    ],
)
def test_refusals_change_nothing(
    home: Path, argv: list[str], says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["nodes", "add", "demo:B"]) == 0
    assert main(argv) == 1
    assert says in capsys.readouterr().out
    assert registered() == ["demo:B"]


def test_without_dagster_home_is_an_error(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("DAGSTER_HOME")
    assert main(["nodes", "list"]) == 1
    assert "DAGSTER_HOME: is not set" in capsys.readouterr().out


@pytest.mark.parametrize("action", ["add", "remove"])
def test_a_bad_node_id_creates_nothing_in_dagster_home(
    home: Path, action: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # Opening the instance writes its run and schedule storage: the ids were checked after.
    assert main(["nodes", action, "demo:A", "bad id"]) == 1
    assert "node_id: 'bad id' does not match" in capsys.readouterr().out
    assert [p.name for p in home.iterdir()] == ["dagster.yaml"]


@pytest.mark.parametrize("kind", ["missing", "file"])
@pytest.mark.parametrize("argv", [["list"], ["add", "demo:A"], ["remove", "demo:A"]])
def test_a_dagster_home_that_is_no_directory_is_an_error(
    home: Path,
    kind: str,
    argv: list[str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # It was Dagster's DagsterInvariantViolationError, with a traceback.
    bad = home.parent / "no_home"
    if kind == "file":
        bad.write_text("")
    monkeypatch.setenv("DAGSTER_HOME", str(bad))
    assert main(["nodes", *argv]) == 1
    out = capsys.readouterr().out
    assert out.startswith(f"error: DAGSTER_HOME: {bad} ")
    assert len(out.strip().splitlines()) == 1
    assert bad.exists() == (kind == "file")


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("run_launcher:\n  module: x\n  : bad\n", "dagster.yaml:3:3: not valid YAML: expected"),
        ("nonsense_key: 1\n", 'unexpected config entry "nonsense_key" at the root.'),
        ("telemetry:\n  enabled: maybe\n", 'Value "maybe"'),
        ("\udcff\n", "'utf-8' codec can't decode"),
    ],
    ids=["syntax", "unknown-key", "bad-value", "not-utf8"],
)
@pytest.mark.parametrize(
    "argv",
    [
        ["nodes", "list"],
        ["nodes", "add", "demo:A"],
        [
            "backfill",
            "demo:SPY",
            "--interval",
            "1d",
            "--start",
            "2024-01-01",
            "--end",
            "2024-02-01",
        ],
    ],
    ids=["list", "add", "backfill"],
)
def test_an_unusable_dagster_yaml_is_one_error_and_creates_nothing(
    home: Path, text: str, says: str, argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    # It was Dagster's YAML or config error with a traceback (and, for an
    # unknown key, the whole instance schema).
    (home / "dagster.yaml").write_bytes(text.encode("utf-8", "surrogateescape"))
    assert main(argv) == 1
    out = capsys.readouterr().out
    error = out.strip().splitlines()[-1]
    assert error.startswith(f"error: DAGSTER_HOME: {home / 'dagster.yaml'}")
    assert says in error and len(error) - len(str(home)) < 200
    assert "partitions" not in out  # no empty progress bar before the error
    assert [p.name for p in home.iterdir()] == ["dagster.yaml"]
