"""SIGKILL at random points: a promotion or a reprocess leaves every partition wholly
old or wholly new, and a restarted reprocess finishes with no bar lost or doubled."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from seamless_sdk.bars import epoch_seconds
from seamless_sdk.changes.canary import run_canary
from seamless_sdk.changes.config import CanarySettings
from seamless_sdk.changes.reprocess import PROGRESS_NAME, reprocess
from seamless_sdk.fetchers.synthetic import SyntheticFetcher
from seamless_sdk.stores.local import LocalStore
from tests.unit.changes.support import POLICY, fill, fingerprints, keys
from tests.unit.changes.workers import WIDE

REPO = Path(__file__).resolve().parents[3]
ROUNDS = 4

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A pristine main store of seed 1 and a reference store of seed 0, twelve partitions."""
    root = tmp_path_factory.mktemp("kills")
    return {
        "main": fill(root / "main.sqlite", seed=1, ks=keys(WIDE)),
        "ref": fill(root / "ref.sqlite", seed=0, ks=keys(WIDE)),
    }


def _copy(src: Path, dest: Path) -> Path:
    dest.write_bytes(src.read_bytes())
    return dest


def _run_and_kill(args: list[str], rng: random.Random, longest_s: float) -> str:
    """Start a worker, SIGKILL it a random time after it is ready; its output."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.unit.changes.workers", *args],
        stdout=subprocess.PIPE, text=True, cwd=REPO, env=env,
    )  # fmt: skip
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    time.sleep(rng.uniform(0, longest_s))
    proc.send_signal(signal.SIGKILL)
    out, _ = proc.communicate(timeout=60)
    return out


def _assert_old_or_new(path: Path, old: dict[str, str], new: dict[str, str]) -> int:
    """Every partition is wholly old or wholly new; how many are new."""
    now = fingerprints(path, keys(WIDE))
    for name, fp in now.items():
        assert fp in (old[name], new[name]), f"{name} is neither old nor new"
    return sum(now[n] == new[n] for n in now)


def _assert_complete(path: Path) -> None:
    """Every window fully covered, bars unique and ascending, as many as hours."""
    store = LocalStore(path, read_only=True)
    try:
        for key in keys(WIDE):
            ws, we = key.window
            assert store.coverage(key.node_id, key.interval).covers(ws, we)
            ts = epoch_seconds(store.read(key.node_id, key.interval, ws, we)["ts"])
            assert len(ts) == (we - ws) // 3600
            assert (np.diff(ts) > 0).all()
    finally:
        store.close()


def test_a_promotion_killed_anywhere_leaves_each_partition_old_or_new(
    stores: dict[str, Path], tmp_path: Path
) -> None:
    old = fingerprints(stores["main"], keys(WIDE))
    new = fingerprints(stores["ref"], keys(WIDE))
    rng = random.Random(14)
    seen_new = []
    for round_ in range(ROUNDS):
        main = _copy(stores["main"], tmp_path / f"main{round_}.sqlite")
        shadow_path = tmp_path / f"shadow{round_}.sqlite"
        m, s = LocalStore(main, read_only=True), LocalStore(shadow_path)
        try:
            report = run_canary(
                m, s, SyntheticFetcher(seed=0), keys(WIDE), fetcher_spec="synthetic:0",
                main_path=str(main), shadow_path=str(shadow_path), policy=POLICY,
                settings=CanarySettings(),
            )  # fmt: skip
        finally:
            m.close()
            s.close()
        path = report.write(tmp_path / f"report{round_}.json")
        _run_and_kill(["promote", str(path), str(tmp_path / "audit.jsonl")], rng, 0.8)
        seen_new.append(_assert_old_or_new(main, old, new))
        _assert_complete(main)
    # At least one kill landed before the work was done (0.085 s after ready).
    assert min(seen_new) < len(keys(WIDE)), seen_new


def test_a_reprocess_killed_and_restarted_loses_and_doubles_nothing(
    stores: dict[str, Path], tmp_path: Path
) -> None:
    old = fingerprints(stores["main"], keys(WIDE))
    new = fingerprints(stores["ref"], keys(WIDE))
    rng = random.Random(9)
    cut_short = 0
    for round_ in range(ROUNDS):
        main = _copy(stores["main"], tmp_path / f"main{round_}.sqlite")
        work = tmp_path / f"work{round_}"
        out = _run_and_kill(["reprocess", str(main), str(work), "0"], rng, 1.0)
        # A run that finished before its kill renamed its progress file: the restart
        # then starts over, so only a run cut short has anything to resume. A kill
        # before the first partition was done also cut the run short (the busy
        # machine is slow to get there): it has nothing to resume either.
        killed_mid_way = (work / PROGRESS_NAME).exists()
        cut_short += not any(work.glob("finished-*.jsonl"))
        done_before = len(out.splitlines()) if killed_mid_way else 0
        _assert_old_or_new(main, old, new)
        _assert_complete(main)
        # Restarted with the same request: it resumes, then finishes.
        store = LocalStore(main)
        try:
            result = reprocess(
                store, SyntheticFetcher(seed=0), keys(WIDE), work_dir=work, policy=POLICY
            )
        finally:
            store.close()
        # Every partition the killed run reported done is skipped, not filled again.
        assert sum(r.resumed for r in result) >= done_before
        assert fingerprints(main, keys(WIDE)) == new
        _assert_complete(main)
        assert not (work / PROGRESS_NAME).exists()  # finished: the next run starts over
    assert cut_short, "no kill landed before the reprocess finished"
