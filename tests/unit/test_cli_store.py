"""``seamless store verify`` / ``repair`` on a real LocalStore with a damaged chunk."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from seamless_sdk import LocalStore, parse_interval
from seamless_sdk.cli import main

M1 = parse_interval("1m")
D0 = 1_704_067_200  # 2024-01-01
DAY = 86_400


def _damage_one_chunk(path: Path, chunk_start: int) -> None:
    """Flip one byte in the middle of a stored chunk, as a bad disk or a stray write would."""
    with sqlite3.connect(path) as conn:
        (blob,) = conn.execute(
            "SELECT data FROM chunks WHERE chunk_start = ?", (chunk_start,)
        ).fetchone()
        damaged = bytearray(blob)
        damaged[len(damaged) // 2] ^= 0xFF
        conn.execute(
            "UPDATE chunks SET data = ? WHERE chunk_start = ?", (bytes(damaged), chunk_start)
        )
    conn.close()


def test_verify_finds_the_damaged_chunk_and_repair_drops_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = tmp_path / "bars.sqlite"
    fill = ["read", "demo:A", "1m", str(D0), str(D0 + 2 * DAY), "--strategy", "auto_backfill"]
    assert main([*fill, "--store", str(store)]) == 0
    assert main(["store", "verify", "--store", str(store)]) == 0
    assert "every chunk is intact" in capsys.readouterr().out

    _damage_one_chunk(store, D0 + DAY)
    assert main(["--store", str(store), "store", "verify"]) == 1
    out = capsys.readouterr().out
    assert "Damaged chunks" in out and "demo:A" in out and "2024-01-02 00:00" in out

    assert main(["store", "repair", "--store", str(store)]) == 0
    assert "Dropped from" in capsys.readouterr().out
    assert main(["store", "verify", "--store", str(store)]) == 0
    with LocalStore(store) as local:
        assert list(local.coverage("demo:A", M1)) == [(D0, D0 + DAY)]  # the damaged day is gone
    second_day = ["read", "demo:A", "1m", str(D0 + DAY), str(D0 + 2 * DAY)]
    assert main([*second_day, "--strategy", "fail_fast", "--store", str(store)]) == 1


def test_verify_of_an_empty_file_changes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Opening it wrote a new store's schema, then said every chunk was intact.
    empty = tmp_path / "empty.sqlite"
    empty.touch()
    assert main(["store", "verify", "--store", str(empty)]) != 0
    assert "is empty" in capsys.readouterr().out
    assert empty.stat().st_size == 0
