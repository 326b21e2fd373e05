"""``seamless backfill`` (the code location's CLI plugin): progress and summary, quiet Dagster."""

from __future__ import annotations

from pathlib import Path

import pytest

from seamless_sdk import LocalStore, parse_interval
from seamless_sdk.cli import main

CONFIG = """\
store: store/bars.sqlite
partition_start: "2024-01-01"
intervals: [1d]
fetcher: synthetic:5
backfill:
  gx_check: false
  retries: 0
"""


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "seamless.yaml"
    path.write_text(CONFIG)
    monkeypatch.setenv("SEAMLESS_CONFIG", str(path))
    for name in ("SEAMLESS_STORE", "DAGSTER_HOME"):  # an ephemeral Dagster instance
        monkeypatch.delenv(name, raising=False)
    return path


def test_backfill_prints_progress_and_summary_and_files_dagster_logs(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["backfill", "demo:A", "--register", "--interval", "1d", "--start", "2024-01-01"]
    assert main([*argv, "--end", "2024-03-01"]) == 0
    captured = capsys.readouterr()
    terminal = captured.out + captured.err
    assert "1 partitions in 1 runs, 0 failed" in terminal
    assert "run " in terminal and " ok: demo:A|2024" in terminal
    assert "DEBUG" not in terminal and "Warning" not in terminal
    log = config.parent / "store" / "seamless-backfill.log"
    assert "RUN_SUCCESS" in log.read_text()
    with LocalStore(config.parent / "store" / "bars.sqlite") as store:
        assert store.coverage("demo:A", parse_interval("1d")).total() == 366 * 86_400


def test_verbose_shows_dagster_events(
    config: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    store = tmp_path / "verbose.sqlite"
    argv = [
        "backfill",
        "demo:A",
        "--interval",
        "1d",
        "--start",
        "2024-01-01",
        "--end",
        "2024-01-02",
    ]
    assert main([*argv, "--register", "--verbose", "--store", str(store)]) == 0
    captured = capfd.readouterr()
    assert "RUN_SUCCESS" in captured.out + captured.err
    assert not (tmp_path / "seamless-backfill.log").exists()
    with LocalStore(store) as local:  # --store after the subcommand is the store filled
        assert local.coverage("demo:A", parse_interval("1d"))


@pytest.mark.parametrize(
    ("start", "end", "says"),
    [
        ("2023-01-01", "2023-06-01", "start: 2023-01-01T00:00:00Z is before the first partition ("),
        ("2023-12-01", "2024-02-01", "before the first partition"),
        ("2024-01-01", "2199-01-01", "after the last partition (configured partitions of bars_1d"),
        ("2024-02-01", "2024-01-01", "is not after start"),
    ],
)
def test_dates_outside_the_partitions_exit_non_zero(
    config: Path, start: str, end: str, says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["backfill", "demo:A", "--interval", "1d", "--start", start, "--end", end]
    assert main(argv) == 1
    out = capsys.readouterr().out
    assert says in out
    assert not (config.parent / "store").exists()  # nothing ran, nothing was created


def test_an_interval_without_an_asset_is_an_error(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [
        "backfill",
        "demo:A",
        "--interval",
        "1h",
        "--start",
        "2024-01-01",
        "--end",
        "2024-02-01",
    ]
    assert main(argv) == 1
    assert "interval: 1h has no asset" in capsys.readouterr().out


def test_an_unknown_node_is_an_error_without_register(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A typo must not become a partition the tail fills forever."""
    argv = ["backfill", "demo:TYPO", "--interval", "1d", "--start", "2024-01-01"]
    assert main([*argv, "--end", "2024-02-01"]) == 1
    out = capsys.readouterr().out
    assert "nodes: ['demo:TYPO'] are not registered" in out and "--register" in out
    assert "\n\n" not in out and "partitions" not in out  # no empty progress bar first
    with LocalStore(config.parent / "store" / "bars.sqlite") as store:
        assert not store.coverage("demo:TYPO", parse_interval("1d"))


def test_reprocess_of_an_unknown_node_is_an_error_and_writes_nothing(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """It filled the typo's partitions and registered it as a node."""
    argv = ["reprocess", "--nodes", "demo:TYPO", "--interval", "1d", "--start", "2024-01-01"]
    assert main([*argv, "--end", "2024-02-01"]) == 1
    out = capsys.readouterr().out
    assert "nodes: ['demo:TYPO'] are neither registered, configured nor stored" in out
    assert sorted(p.name for p in config.parent.iterdir()) == ["seamless.yaml"]


@pytest.mark.parametrize("where", ["directory", "under-a-file"])
def test_a_log_file_that_cannot_be_written_is_an_error(
    config: Path, where: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # It was an IsADirectoryError / FileExistsError traceback.
    (config.parent / "adir").mkdir()
    (config.parent / "afile").write_text("")
    log = config.parent / ("adir" if where == "directory" else "afile/log.txt")
    argv = ["backfill", "demo:A", "--register", "--interval", "1d", "--start", "2024-01-01"]
    assert main([*argv, "--end", "2024-02-01", "--log-file", str(log)]) == 1
    out = capsys.readouterr().out
    assert f"error: log_file: {log} cannot be written" in out
    assert not (config.parent / "store").exists()


BACKFILL = ["backfill", "demo:A", "--register", "--start", "2024-01-01", "--end", "2024-01-03"]
CANARY = ["canary", "--fetcher", "synthetic:9", "--nodes", "demo:A", "--start", "2024-01-01",
          "--end", "2024-01-03"]  # fmt: skip
REPROCESS = ["reprocess", "--nodes", "demo:A", "--start", "2024-01-01", "--end", "2024-01-03"]
MODES = ("SEAMLESS_CONFORMANCE_CONFIG", "conformance_config: SEAMLESS_CONFORMANCE_CONFIG=")


@pytest.mark.parametrize(
    ("argv", "variable", "says"),
    [
        (BACKFILL, *MODES),
        (CANARY, *MODES),
        (REPROCESS, *MODES),
        (BACKFILL, "DAGSTER_HOME", "DAGSTER_HOME: "),
        (REPROCESS, "DAGSTER_HOME", "DAGSTER_HOME: "),
    ],
    ids=["backfill-modes", "canary-modes", "reprocess-modes", "backfill-home", "reprocess-home"],
)
def test_a_bad_variable_is_an_error_before_anything_is_written(
    config: Path,
    argv: list[str],
    variable: str,
    says: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A missing modes file or Dagster home was found after the store, the Dagster log,
    the shadow store or the work directory had been created (or only inside the run)."""
    monkeypatch.setenv(variable, str(config.parent / "missing"))
    assert main([*argv, "--interval", "1d"]) == 1
    out = capsys.readouterr().out
    assert out.startswith(f"error: {says}") and "missing" in out
    assert sorted(p.name for p in config.parent.iterdir()) == ["seamless.yaml"]
