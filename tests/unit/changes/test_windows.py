"""Copying a window between stores, and reprocess outcomes without Dagster."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from seamless_sdk.backfill.fill import fill_window
from seamless_sdk.changes.reprocess import Progress, Reprocessed, reprocess
from seamless_sdk.changes.windows import copy_window, window_state
from seamless_sdk.fetchers.synthetic import SyntheticFetcher
from seamless_sdk.ranges import RangeSet
from seamless_sdk.stores.local import LocalStore
from tests.unit.changes.support import POLICY, fill, fingerprints, keys


def test_a_copy_replaces_only_what_the_source_covers(tmp_path: Path) -> None:
    key = keys()[0]
    ws, we = key.window
    half = ws + (we - ws) // 2 // 3600 * 3600
    target = LocalStore(fill(tmp_path / "t.sqlite", seed=1, ks=[key]))
    source = LocalStore(tmp_path / "s.sqlite")
    try:
        fill_window(source, SyntheticFetcher(seed=0), key.node_id, key.interval, ws, half,
                    policy=POLICY)  # fmt: skip
        kept = target.read(key.node_id, key.interval, half, we)
        assert copy_window(source, target, key) == RangeSet.span(ws, half)
        assert target.coverage(key.node_id, key.interval).covers(ws, we)  # never a gap
        pd.testing.assert_frame_equal(
            target.read(key.node_id, key.interval, ws, half),
            source.read(key.node_id, key.interval, ws, half),
        )
        pd.testing.assert_frame_equal(target.read(key.node_id, key.interval, half, we), kept)
        empty = LocalStore(tmp_path / "e.sqlite")
        before = window_state(target, key)
        assert copy_window(empty, target, key) == RangeSet()
        assert window_state(target, key) == before
        empty.close()
    finally:
        target.close()
        source.close()


class _Broken:
    def fetch(self, node_id: str, interval: str, start: int, end: int) -> pd.DataFrame:
        raise ConnectionError("source down")


def test_reprocess_is_idempotent_and_a_failed_fetch_keeps_the_old_bars(tmp_path: Path) -> None:
    main_path = fill(tmp_path / "main.sqlite", seed=1)
    old = fingerprints(main_path)
    changed: list[str] = []
    store = LocalStore(main_path)
    try:
        failed = reprocess(store, _Broken(), keys(), work_dir=tmp_path / "w", policy=POLICY)
        assert {r.outcome for r in failed} == {"failed"}
        assert all("source down" in (r.error or "") for r in failed)
        assert fingerprints(main_path) == old

        def note(r: Reprocessed) -> None:
            changed.append(str(r.key))

        first = reprocess(store, SyntheticFetcher(seed=0), keys(), work_dir=tmp_path / "w",
                          policy=POLICY, on_changed=note)  # fmt: skip
        assert [r.outcome for r in first] == ["changed"] * len(keys())
        assert changed == [str(k) for k in keys()]
        new = fingerprints(main_path)
        second = reprocess(store, SyntheticFetcher(seed=0), keys(), work_dir=tmp_path / "w",
                           policy=POLICY, on_changed=note)  # fmt: skip
        assert [r.outcome for r in second] == ["unchanged"] * len(keys())
        assert len(changed) == len(keys())  # nothing reported the second time
        assert fingerprints(main_path) == new
    finally:
        store.close()


@pytest.mark.parametrize("cut", [1, 7])
def test_a_progress_line_cut_short_by_a_kill_is_dropped(tmp_path: Path, cut: int) -> None:
    path = tmp_path / "progress.jsonl"
    path.write_text('{"step": "done", "partition": "demo:A|2024", "outcome": "unchanged", '
                    '"old": "x", "new": "x"}\n' + '{"step": "committing"}'[:cut])  # fmt: skip
    log = Progress(path)
    assert list(log.done) == ["demo:A|2024"]
    log.append(step="done", partition="demo:B|2024", outcome="changed", old="a", new="b")
    assert list(Progress(path).done) == ["demo:A|2024", "demo:B|2024"]


def test_a_run_killed_after_its_commit_still_reports_the_change(tmp_path: Path) -> None:
    """Killed between the copy's commit and its ``done`` line: the restart finds the
    main store already new, and still hands the partition to ``on_changed``."""
    key = keys()[0]
    main_path = fill(tmp_path / "main.sqlite", seed=1, ks=[key])
    new = fingerprints(fill(tmp_path / "ref.sqlite", seed=0, ks=[key]), [key])[str(key)]
    old = fingerprints(main_path, [key])[str(key)]
    work = tmp_path / "w"
    Progress(work / "progress.jsonl").append(
        step="committing", partition=str(key), old=old, new=new
    )
    source = LocalStore(tmp_path / "ref.sqlite", read_only=True)
    store = LocalStore(main_path)
    try:
        copy_window(source, store, key)  # the commit the killed run made
        told: list[str] = []
        (item,) = reprocess(store, SyntheticFetcher(seed=0), [key], work_dir=work, policy=POLICY,
                            on_changed=lambda r: told.append(r.new_fingerprint))  # fmt: skip
    finally:
        store.close()
        source.close()
    assert item.outcome == "changed"
    assert told == [new]
