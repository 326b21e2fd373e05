"""The ``seamless`` command line: commands, options anywhere, the configured fetcher, plugins."""

from __future__ import annotations

import argparse
import subprocess
import sys
from dataclasses import dataclass
from importlib.metadata import EntryPoint
from pathlib import Path
from typing import ClassVar

import pandas as pd
import pytest

from seamless_sdk import LocalStore, parse_interval
from seamless_sdk.cli import build_parser, main, package_version, plugins
from seamless_sdk.cli import store as store_cmd
from seamless_sdk.fetchers import SyntheticFetcher

REPO = Path(__file__).resolve().parents[2]
H1 = parse_interval("1h")
T0 = 1_704_067_200  # 2024-01-01
DAY = 86_400


def _python(*args: str) -> subprocess.CompletedProcess[str]:
    """This interpreter in a fresh process, from the repository root."""
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, cwd=REPO, timeout=120, check=False
    )


def _stored(path: Path, node: str, start: int, end: int) -> pd.DataFrame:
    with LocalStore(path) as store:
        return store.read(node, H1, start, end)


def _synthetic(seed: int, node: str, start: int, end: int) -> pd.Series:
    return SyntheticFetcher(seed).fetch(node, "1h", start, end)["close"].reset_index(drop=True)


@pytest.fixture
def no_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory with no seamless.yaml, and no variables pointing anywhere."""
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    for name in ("SEAMLESS_CONFIG", "SEAMLESS_STORE", "DAGSTER_HOME"):
        monkeypatch.delenv(name, raising=False)
    return work


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


@pytest.mark.parametrize(
    ("argv", "field"),
    [
        (["read", "bad id", "1m", "2024-01-01", "2024-01-02"], "node_id"),
        (["read", "demo:X", "0m", "2024-01-01", "2024-01-02"], "interval"),
        (["read", "demo:X", "1m", "notadate", "2024-01-02"], "start"),
        (["read", "demo:X", "1m", "2024-01-02", "2024-01-01"], "end"),
        (["demo", "--nodes", "a b"], "node_id"),
    ],
)
def test_a_refused_command_creates_no_store(
    argv: list[str], field: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The store (and its folder) was created before the request was checked.
    assert main([*argv, "--store", str(tmp_path / "new" / "s.sqlite")]) == 1
    assert f"{field}:" in capsys.readouterr().out
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "argv",
    [["coverage"], ["read", "demo:X", "1m", "2024-01-01", "2024-01-02", "--strategy", "fail_fast"]],
    ids=["coverage", "read_fail_fast"],
)
def test_a_reading_command_leaves_an_empty_file_alone(
    argv: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "e.sqlite"
    empty.touch()
    assert main([*argv, "--store", str(empty)]) == 1
    assert "is empty" in capsys.readouterr().out
    assert empty.stat().st_size == 0


def test_a_bad_named_config_is_an_error_even_with_a_store(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # --store made the config unread, so --config bad.yaml passed silently.
    store = tmp_path / "s.sqlite"
    LocalStore(store).close()
    bad = tmp_path / "bad.yaml"
    bad.write_text("store: [\n")
    assert main(["coverage", "--store", str(store), "--config", str(bad)]) == 1
    assert "not valid YAML" in capsys.readouterr().out
    bad.write_bytes(b"\xff\xfe\x00bad")
    assert main(["coverage", "--store", str(store), "--config", str(bad)]) == 1
    assert "is not UTF-8 text" in capsys.readouterr().out
    monkeypatch.setenv("SEAMLESS_CONFIG", str(tmp_path / "missing.yaml"))
    assert main(["coverage", "--store", str(store)]) == 1
    assert "SEAMLESS_CONFIG" in capsys.readouterr().out


@pytest.mark.parametrize("content", [None, b"\xff\xfe\x00modes", b"defaults: [\n"])
@pytest.mark.parametrize(
    "argv",
    [["read", "demo:X", "1h", "2024-01-01", "2024-01-02"], ["demo", "--days", "1"]],
    ids=["read", "demo"],
)
def test_a_bad_conformance_config_is_an_error_before_the_store_is_created(
    argv: list[str],
    content: bytes | None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # It was read by the first fetch's conformance, after the store had been created.
    modes = tmp_path / "modes.yaml"
    if content is not None:
        modes.write_bytes(content)
    monkeypatch.setenv("SEAMLESS_CONFORMANCE_CONFIG", str(modes))
    assert main([*argv, "--store", str(tmp_path / "new" / "s.sqlite")]) == 1
    out = capsys.readouterr().out
    assert out.startswith("error: conformance_config: ") and "modes.yaml" in out
    assert len(out.strip().splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ([] if content is None else ["modes.yaml"])


def test_a_fail_fast_read_does_not_need_the_conformance_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """It never fetches, so nothing is conformed: the file is not asked for."""
    store = tmp_path / "s.sqlite"
    words = ["read", "demo:X", "1h", str(T0), str(T0 + 3600), "--store", str(store)]
    assert main(words) == 0
    monkeypatch.setenv("SEAMLESS_CONFORMANCE_CONFIG", str(tmp_path / "missing.yaml"))
    assert main([*words, "--strategy", "fail_fast"]) == 0


@pytest.mark.parametrize(
    ("argv", "option", "says"),
    [
        (["demo", "--days", "0"], "--days", "0 is not a whole number >= 1"),
        (["demo", "--days", "-3"], "--days", "-3 is not a whole number >= 1"),
        (["demo", "--days", "1.5"], "--days", "'1.5' is not a whole number"),
        (["schemas", "plan", "--sample", "0"], "--sample", "0 is not a whole number >= 1"),
        (["metrics", "serve", "--port", "-1"], "--port", "-1 is not a whole number in [0, 65535]"),
        (["metrics", "serve", "--port", "65536"], "--port", "65536 is not a whole number in"),
        (["metrics", "serve", "--port", "http"], "--port", "'http' is not a whole number"),
    ],
)
def test_integer_options_refuse_values_out_of_range(
    argv: list[str], option: str, says: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as info:
        main([*argv, "--store", str(tmp_path / "s.sqlite")])
    assert info.value.code == 2
    assert f"error: argument {option}: {says}" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_schemas_check_passes_on_the_shipped_registry(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schemas", "check"]) == 0
    assert "ohlcv_bars" in capsys.readouterr().out


# -- defect 5: the fetcher and store the configuration names -----------------------------


def test_read_uses_the_configured_fetcher_and_store(
    no_config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """With a seamless.yaml in the working directory, `read` fills *its* store with *its*
    fetcher's bars (seed 7 here), which Dagster would have written too."""
    (no_config / "seamless.yaml").write_text("store: data/bars.sqlite\nfetcher: synthetic:7\n")
    end = T0 + 6 * 3600
    assert main(["read", "demo:A", "1h", str(T0), str(end), "--strategy", "auto_backfill"]) == 0
    stored = _stored(no_config / "data" / "bars.sqlite", "demo:A", T0, end)
    assert len(stored) == 6
    assert stored["close"].reset_index(drop=True).equals(_synthetic(7, "demo:A", T0, end))
    assert not stored["close"].reset_index(drop=True).equals(_synthetic(42, "demo:A", T0, end))
    assert not (no_config / "var").exists()  # nothing written to the CLI's own store


def test_read_keeps_to_the_configured_nodes_sessions(no_config: Path) -> None:
    """A node on XNYS gets its session bars only, as the code location stores them,
    and its closed hours are not missing."""
    (no_config / "seamless.yaml").write_text(
        'store: bars.sqlite\nnodes:\n  - {id: "demo:SPY", calendar: XNYS}\n'
    )
    monday, saturday = T0 + DAY, T0 + 5 * DAY  # 2024-01-01 is a holiday
    assert main(["read", "demo:SPY", "1h", str(monday), str(saturday + 2 * DAY)]) == 0
    stored = _stored(no_config / "bars.sqlite", "demo:SPY", monday, saturday + 2 * DAY)
    # 14:00-20:00 UTC holds the bars that open in the 14:30-21:00 session.
    assert 0 < len(stored) < 4 * 8
    assert set(stored["ts"].dt.hour) <= set(range(14, 21))
    assert set(stored["ts"].dt.day_of_week) <= {0, 1, 2, 3, 4}


def test_demo_fills_the_configured_nodes(
    no_config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (no_config / "seamless.yaml").write_text(
        'store: bars.sqlite\nnodes:\n  - id: "demo:A"\n  - {id: "demo:SPY", calendar: XNYS}\n'
    )
    assert main(["demo", "--days", "1", "--interval", "1h"]) == 0
    with LocalStore(no_config / "bars.sqlite") as local:
        assert sorted(local.series()) == [("demo:A", "1h"), ("demo:SPY", "1h")]
    assert "demo:SPY" in capsys.readouterr().out


def test_config_option_and_env_name_the_config(
    tmp_path: Path, no_config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    conf = tmp_path / "elsewhere" / "seamless.yaml"
    conf.parent.mkdir()
    conf.write_text("store: bars.sqlite\nfetcher: synthetic:3\n")
    end = T0 + 2 * 3600
    assert main(["read", "demo:B", "1h", str(T0), str(end), "--config", str(conf)]) == 0
    assert (
        _stored(conf.parent / "bars.sqlite", "demo:B", T0, end)["close"]
        .reset_index(drop=True)
        .equals(_synthetic(3, "demo:B", T0, end))
    )
    monkeypatch.setenv("SEAMLESS_CONFIG", str(conf))
    other = tmp_path / "explicit.sqlite"
    assert main(["--store", str(other), "read", "demo:C", "1h", str(T0), str(end)]) == 0
    assert (
        _stored(other, "demo:C", T0, end)["close"]
        .reset_index(drop=True)
        .equals(_synthetic(3, "demo:C", T0, end))
    )


def test_without_a_config_the_cli_has_its_own_store(no_config: Path) -> None:
    """No seamless.yaml: seed 0 into var/seamless-cli.sqlite, never the code location's file."""
    end = T0 + 3 * 3600
    assert main(["read", "demo:A", "1h", str(T0), str(end)]) == 0
    assert not (no_config / "var" / "seamless.sqlite").exists()
    stored = _stored(no_config / "var" / "seamless-cli.sqlite", "demo:A", T0, end)
    assert stored["close"].reset_index(drop=True).equals(_synthetic(0, "demo:A", T0, end))


def test_a_config_with_a_bad_key_is_an_error(
    no_config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (no_config / "seamless.yaml").write_text("backfill:\n  retries: 2.7\n")
    assert main(["read", "demo:A", "1h", str(T0), str(T0 + 3600)]) == 1
    assert "backfill.retries:" in capsys.readouterr().out


# -- options, version, help ----------------------------------------------------------------


@pytest.mark.parametrize("where", ["before", "after"])
def test_store_option_before_or_after_the_subcommand(
    where: str, tmp_path: Path, no_config: Path
) -> None:
    store = tmp_path / f"{where}.sqlite"
    words = ["read", "demo:A", "1h", str(T0), str(T0 + 3600)]
    argv = ["--store", str(store), *words] if where == "before" else [*words, "--store", str(store)]
    assert main(argv) == 0
    assert len(_stored(store, "demo:A", T0, T0 + 3600)) == 1
    coverage = ["coverage", "demo:A", "1h"]
    opts = ["--store", str(store)]
    assert main([*opts, *coverage] if where == "before" else [*coverage, *opts]) == 0


def test_nested_subcommands_take_options_anywhere(tmp_path: Path) -> None:
    parser = build_parser(["store"])
    for argv in (
        ["--store", "a.sqlite", "store", "verify"],
        ["store", "--store", "a.sqlite", "verify"],
        ["store", "verify", "--store", "a.sqlite"],
    ):
        assert parser.parse_args(argv).store == "a.sqlite"
    assert not hasattr(parser.parse_args(["store", "verify"]), "store")


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.strip() == f"seamless {package_version()}"
    assert package_version()[0].isdigit()


def _actions(parser: argparse.ArgumentParser, path: str) -> list[tuple[str, argparse.Action]]:
    out = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                out += _actions(child, f"{path} {name}")
        elif not isinstance(action, argparse._HelpAction):
            out.append((path, action))
    return out


def test_every_argument_has_help() -> None:
    """Every option and positional of every (sub)command, plugins included, says what it is."""
    actions = _actions(build_parser(["--help"]), "seamless")
    commands = {path for path, _ in actions}
    assert {"seamless read", "seamless store verify", "seamless backfill"} <= commands
    missing = [f"{p}: {a.dest}" for p, a in actions if not (a.help and a.help.strip())]
    assert missing == []


def _parsers(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    out = [parser]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                out += _parsers(child)
    return out


@pytest.mark.parametrize(
    ("argv", "abbreviation"),
    [
        (["--verb", "coverage"], "--verb"),
        (["coverage", "--sto", "x.sqlite"], "--sto"),
        (["store", "verify", "--conf", "x.yaml"], "--conf"),
        (["audit", "list", "--las", "1"], "--las"),
        (["read", "demo:A", "1h", "0", "3600", "--strat", "fail_fast"], "--strat"),
        (["backfill", "demo:A", "--start", "2024-01-01", "--end", "2024-02-01", "--reg"], "--reg"),
        (["nodes", "add", "demo:A", "--verb"], "--verb"),
    ],
)
def test_no_parser_takes_an_abbreviated_option(
    argv: list[str], abbreviation: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """argparse's default took ``--las`` for ``--last``: adding an option could change
    what an old command line meant. Every parser, plugins' too, refuses it."""
    parsers = _parsers(build_parser(["--help"]))
    assert {"backfill", "nodes", "canary"} <= {p.prog.split()[-1] for p in parsers}
    assert [p.prog for p in parsers if p.allow_abbrev] == []
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert f"unrecognized arguments: {abbreviation}" in err


def test_python_dash_m_runs_the_cli() -> None:
    """``--version`` answers without loading plugins (no Dagster import)."""
    code = (
        "import runpy, sys\n"
        "sys.argv = ['seamless', '--version']\n"
        "try:\n"
        "    runpy.run_module('seamless_sdk', run_name='__main__')\n"
        "except SystemExit as exc:\n"
        "    assert exc.code == 0, exc.code\n"
        "assert 'dagster' not in sys.modules and 'seamless_assets' not in sys.modules\n"
    )
    quiet = _python("-c", code)
    assert quiet.returncode == 0, quiet.stderr
    done = _python("-m", "seamless_sdk", "--version")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"seamless {package_version()}"


# -- a store that is not there ---------------------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        ["coverage"],
        ["coverage", "demo:A", "1h"],
        ["read", "demo:A", "1h", str(T0), str(T0 + 3600), "--strategy", "fail_fast"],
        ["store", "verify"],
        ["store", "repair"],
    ],
    ids=["coverage", "coverage_series", "read_fail_fast", "verify", "repair"],
)
def test_a_missing_store_is_an_error_not_a_new_file(
    argv: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "typo.sqlite"
    assert main([*argv, "--store", str(missing)]) == 1
    assert "store:" in capsys.readouterr().out
    assert list(tmp_path.iterdir()) == []


# -- the SDK's CLI never imports the code location ----------------------------------------


def test_sdk_commands_import_neither_dagster_nor_the_code_location(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from seamless_sdk.cli import main\n"
        f"assert main(['--store', {str(tmp_path / 'x.sqlite')!r}, 'read', 'demo:A', '1h',"
        f" '{T0}', '{T0 + 3600}']) == 0\n"
        "roots = {m.split('.')[0] for m in sys.modules}\n"
        "bad = sorted(roots & {'dagster', 'seamless_assets'})\n"
        "assert not bad, bad\n"
    )
    done = _python("-c", code)
    assert done.returncode == 0, done.stderr[-2000:]


def test_backfill_is_a_plugin_of_the_code_location() -> None:
    names = {ep.name: ep.value for ep in plugins.plugin_entry_points()}
    assert names["backfill"] == "seamless_assets.cli:register"
    assert plugins.requested_command(["--store", "x", "backfill", "demo:A"]) == "backfill"
    assert plugins.requested_command(["--verbose", "read"]) == "read"
    assert plugins.requested_command(["-h"]) is None


def test_a_plugin_that_cannot_load_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without the [dagster] extra the entry point is still declared; running it explains."""
    broken = EntryPoint("backfill", "seamless_assets_missing.cli:register", plugins.GROUP)
    monkeypatch.setattr(plugins, "plugin_entry_points", lambda reserved=(): [broken])
    assert main(["backfill", "demo:A", "--start", "2024-01-01", "--end", "2024-02-01"]) == 1
    out = capsys.readouterr().out
    assert "seamless backfill is not installed here" in out and "seamless[dagster]" in out


# -- store verify / repair -------------------------------------------------------------------


@dataclass(frozen=True)
class Damaged:
    node_id: str
    interval: str
    chunk_start: int
    reason: str


class FakeStore:
    """Stands in for a LocalStore whose file holds one damaged chunk."""

    found: ClassVar[list[Damaged]] = [Damaged("demo:A", "1m", T0, "checksum mismatch")]

    def __init__(self, path: object) -> None:
        self.path = path

    def verify(self) -> list[Damaged]:
        return list(self.found)

    def repair(self) -> list[Damaged]:
        return list(self.found)

    def close(self) -> None:
        pass


def test_verify_lists_damage_and_exits_1(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "s.sqlite"
    path.write_bytes(b"not empty")  # the CLI refuses an empty file before any store opens
    monkeypatch.setattr(store_cmd, "LocalStore", FakeStore)
    assert main(["store", "verify", "--store", str(path)]) == 1
    out = capsys.readouterr().out
    assert "Damaged chunks" in out and "checksum mismatch" in out and "2024-01-01" in out
    assert main(["store", "repair", "--store", str(path)]) == 0
    assert "Dropped from" in capsys.readouterr().out
    monkeypatch.setattr(FakeStore, "found", [])
    assert main(["store", "verify", "--store", str(path)]) == 0
    assert "every chunk is intact" in capsys.readouterr().out
