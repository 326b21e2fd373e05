"""The ``seamless`` CLI opens the store that ``seamless.yaml`` selects, of any kind.

A config whose ``store:`` is ``{kind: postgres, dsn: ...}`` makes ``read``
fill and ``coverage`` list the PostgresStore on the suite's real
PostgreSQL; ``--store FILE`` still means that LocalStore file; ``store
verify`` refuses a server store by name rather than checking some file.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from seamless_sdk import LocalStore, parse_interval
from seamless_sdk.cli import main
from seamless_sdk.ranges import RangeSet
from seamless_sdk.stores.postgres import PostgresStore

M1 = parse_interval("1m")
D0 = 1_704_067_200  # 2024-01-01
DAY = 86_400


@pytest.fixture
def config(tmp_path: Path, postgres_dsn: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "seamless.yaml"
    path.write_text(f'store: {{kind: postgres, dsn: "{postgres_dsn}"}}\nfetcher: "synthetic:3"\n')
    monkeypatch.setenv("SEAMLESS_CONFIG", str(path))
    monkeypatch.delenv("SEAMLESS_STORE", raising=False)
    monkeypatch.chdir(tmp_path)
    return path


def test_read_and_coverage_use_the_configured_postgres_store(
    config: Path, postgres_dsn: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fill = ["read", "demo:A", "1m", str(D0), str(D0 + DAY), "--strategy", "auto_backfill"]
    assert main(fill) == 0
    with PostgresStore(postgres_dsn) as store:
        assert store.coverage("demo:A", M1) == RangeSet([(D0, D0 + DAY)])
    assert not (tmp_path / "var").exists(), "no LocalStore file was made"
    capsys.readouterr()

    assert main(["coverage"]) == 0
    out = capsys.readouterr().out
    assert "demo:A" in out and "1,440" in out
    fail_fast = ["read", "demo:A", "1m", str(D0), str(D0 + 60), "--strategy", "fail_fast"]
    assert main(fail_fast) == 0

    # --store names a LocalStore file, whatever the config says.
    local = tmp_path / "local.sqlite"
    assert main([*fill, "--store", str(local)]) == 0
    with LocalStore(local) as store:
        assert store.coverage("demo:A", M1) == RangeSet([(D0, D0 + DAY)])


def test_store_verify_names_the_server_store_it_cannot_check(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["store", "verify"]) != 0
    err = capsys.readouterr()
    text = err.out + err.err
    assert "checks LocalStore files" in text and "PostgresStore" in text


@pytest.mark.parametrize(
    "store",
    ["{kind: postgres}", '{kind: postgres, dsn: "not a uri at all"}', '{kind: postgres, dsn: " "}'],
    ids=["missing", "not_a_uri", "blank"],
)
def test_a_bad_store_mapping_is_an_error_naming_the_key(
    store: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # A DSN that is no URI once loaded, then failed at connect naming no key.
    path = tmp_path / "seamless.yaml"
    path.write_text(f"store: {store}\n")
    monkeypatch.setenv("SEAMLESS_CONFIG", str(path))
    assert main(["coverage"]) != 0
    err = capsys.readouterr()
    assert "store.dsn" in err.out + err.err


def test_cli_fills_claim_their_windows_in_the_configured_coordinator(
    tmp_path: Path, postgres_dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The CLI's fills ignored coordinator: and so could fetch a window a
    # code location on another host was fetching.
    import psycopg

    path = tmp_path / "seamless.yaml"
    path.write_text(
        f'store: local.sqlite\ncoordinator: {{kind: postgres, dsn: "{postgres_dsn}"}}\n'
        'fetcher: "synthetic:3"\n'
    )
    monkeypatch.setenv("SEAMLESS_CONFIG", str(path))
    monkeypatch.delenv("SEAMLESS_STORE", raising=False)
    monkeypatch.chdir(tmp_path)
    node = "demo:COORD"
    fill = ["read", node, "1m", str(D0), str(D0 + DAY), "--strategy", "auto_backfill"]
    assert main(fill) == 0
    with psycopg.connect(postgres_dsn) as conn:
        rows = conn.execute(
            "SELECT window_start, window_end, state FROM backfill_jobs WHERE node_id = %s",
            (node,),
        ).fetchall()
    assert rows == [(D0, D0 + DAY, "SUCCEEDED")]
