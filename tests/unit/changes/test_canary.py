"""Canary backfill: a shadow fill compared with the main store, the main store untouched."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from seamless_sdk.bars import VALUE_COLUMNS, epoch_seconds, iso_utc
from seamless_sdk.changes.canary import CanaryReport, run_canary
from seamless_sdk.changes.config import CanarySettings, CanaryThresholds
from seamless_sdk.changes.promote import promote
from seamless_sdk.errors import ChangeRefusedError, InvalidRequestError
from seamless_sdk.fetchers.synthetic import SyntheticFetcher
from seamless_sdk.stores.local import LocalStore
from tests.unit.changes.support import POLICY, fill, fingerprints, keys


def _bytes(path: Path) -> str:
    """Digest of the store file and its WAL, if any. The ``-shm`` file is SQLite's
    shared-memory index of the WAL, which every reader maps and updates; it holds
    no data and is rebuilt whenever the store is opened. A reader may create an
    empty WAL file: empty and absent are the same bytes."""
    digest = hashlib.sha256()
    for p in (path, path.with_name(path.name + "-wal")):
        digest.update(p.name.encode() + (p.read_bytes() if p.exists() else b""))
    return digest.hexdigest()


def _canary(
    main_path: Path, shadow_path: Path, seed: int, settings: CanarySettings | None = None
) -> CanaryReport:
    main = LocalStore(main_path, read_only=True)
    shadow = LocalStore(shadow_path)
    try:
        return run_canary(
            main, shadow, SyntheticFetcher(seed=seed), keys(),
            fetcher_spec=f"synthetic:{seed}", main_path=str(main_path),
            shadow_path=str(shadow_path), policy=POLICY, settings=settings or CanarySettings(),
        )  # fmt: skip
    finally:
        main.close()
        shadow.close()


@pytest.fixture(scope="module")
def main_seed1(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return fill(tmp_path_factory.mktemp("main") / "main.sqlite", seed=1)


@pytest.fixture(scope="module")
def reference_seed0(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return fill(tmp_path_factory.mktemp("ref") / "ref.sqlite", seed=0)


def test_a_different_fetcher_lists_every_differing_bar(
    main_seed1: Path, reference_seed0: Path, tmp_path: Path
) -> None:
    before = _bytes(main_seed1)
    report = _canary(main_seed1, tmp_path / "shadow.sqlite", seed=0)
    assert _bytes(main_seed1) == before  # the main store is never written
    assert not report.passed
    main, ref = LocalStore(main_seed1, read_only=True), LocalStore(reference_seed0, read_only=True)
    try:
        for key, item in zip(report.partition_keys(), report.partitions, strict=True):
            a = main.read(key.node_id, key.interval, *key.window)
            b = ref.read(key.node_id, key.interval, *key.window)
            assert (epoch_seconds(a["ts"]) == epoch_seconds(b["ts"])).all()
            off = np.zeros(len(a), dtype=bool)
            for c in VALUE_COLUMNS:
                off |= a[c].to_numpy() != b[c].to_numpy()
            expected = [iso_utc(int(t)) for t in epoch_seconds(a["ts"])[off]]
            assert [d["ts"] for d in item["differing"]] == expected
            assert len(expected) > 8000  # another seed: (nearly) every bar differs
            first = item["differing"][0]
            j = int(np.flatnonzero(off)[0])
            for column, values in first["columns"].items():
                assert values == {"main": a[column].iat[j], "shadow": b[column].iat[j]}
            assert item["only_main"] == item["only_shadow"] == []
    finally:
        main.close()
        ref.close()
    assert report.totals["differing_bars"] == sum(len(p["differing"]) for p in report.partitions)
    assert any("max_differing_bars" in r for r in report.data["verdict"]["reasons"])


def test_the_same_fetcher_finds_no_difference(main_seed1: Path, tmp_path: Path) -> None:
    before = _bytes(main_seed1)
    report = _canary(main_seed1, tmp_path / "shadow.sqlite", seed=1)
    assert report.passed
    assert report.totals["differing_bars"] == 0
    assert report.totals["only_main_bars"] == report.totals["only_shadow_bars"] == 0
    assert report.totals["identical_partitions"] == len(keys())
    assert all(p["main_fingerprint"] == p["shadow_fingerprint"] for p in report.partitions)
    assert _bytes(main_seed1) == before


def test_a_rerun_canary_fetches_again_and_the_report_round_trips(
    main_seed1: Path, tmp_path: Path
) -> None:
    shadow = tmp_path / "shadow.sqlite"
    _canary(main_seed1, shadow, seed=0)
    report = _canary(main_seed1, shadow, seed=1)  # same shadow file, other candidate
    assert report.passed
    path = report.write(tmp_path / "report.json")
    again = CanaryReport.load(path)
    assert again.to_dict() == report.to_dict()
    assert [str(k) for k in again.partition_keys()] == [str(k) for k in keys()]


def test_thresholds_decide_the_verdict(main_seed1: Path, tmp_path: Path) -> None:
    lenient = CanarySettings(thresholds=CanaryThresholds(max_differing_bars=10**9))
    assert _canary(main_seed1, tmp_path / "s.sqlite", seed=0, settings=lenient).passed


def test_promotion_copies_the_shadow_and_a_failed_canary_needs_force(
    main_seed1: Path, reference_seed0: Path, tmp_path: Path
) -> None:
    main_path = tmp_path / "main.sqlite"
    main_path.write_bytes(main_seed1.read_bytes())
    shadow_path = tmp_path / "shadow.sqlite"
    report = _canary(main_path, shadow_path, seed=0)
    main, shadow = LocalStore(main_path), LocalStore(shadow_path, read_only=True)
    audit = tmp_path / "audit.jsonl"
    seen: list[str] = []
    try:
        with pytest.raises(ChangeRefusedError) as refused:
            promote(report, main, shadow, audit_path=audit)
        assert refused.value.reason == "failed_canary"
        assert not audit.exists()
        done = promote(
            report, main, shadow, force=True, audit_path=audit,
            on_promoted=lambda p: seen.append(str(p.key)),
        )  # fmt: skip
    finally:
        main.close()
        shadow.close()
    assert [p.status for p in done] == ["promoted"] * len(keys())
    assert not any(p.main_changed for p in done)
    assert seen == [str(k) for k in keys()]
    assert fingerprints(main_path) == fingerprints(reference_seed0)
    assert '"canary.promoted"' in audit.read_text()


def test_a_shadow_changed_after_the_canary_is_not_promoted(
    main_seed1: Path, tmp_path: Path
) -> None:
    shadow_path = tmp_path / "shadow.sqlite"
    report = _canary(main_seed1, shadow_path, seed=1)
    fill(shadow_path, seed=5, ks=keys()[:1])  # covered already: nothing changes
    key = keys()[0]
    store = LocalStore(shadow_path)
    frame = store.read(key.node_id, key.interval, *key.window)
    frame.loc[0, "volume"] += 1.0
    store.write(key.node_id, key.interval, *key.window, frame)
    store.close()
    main, shadow = LocalStore(main_seed1, read_only=True), LocalStore(shadow_path, read_only=True)
    try:
        with pytest.raises(ChangeRefusedError) as refused:
            promote(report, main, shadow, audit_path=tmp_path / "audit.jsonl")
    finally:
        main.close()
        shadow.close()
    assert refused.value.reason == "stale"


def test_a_report_that_is_not_one_is_a_typed_error(tmp_path: Path) -> None:
    bad = tmp_path / "r.json"
    bad.write_text('{"kind": "other"}')
    with pytest.raises(InvalidRequestError) as err:
        CanaryReport.load(bad)
    assert err.value.field == "report"
    with pytest.raises(InvalidRequestError, match=r"^report"):
        CanaryReport.load(tmp_path / "missing.json")


def test_a_candidate_with_holes_is_a_check_regression(main_seed1: Path, tmp_path: Path) -> None:
    """Bars missing from the candidate: listed as main-only, and ``completeness``
    (the asset check itself) passes on main and fails on the shadow."""
    from seamless_assets.changes_support import partition_checks
    from seamless_sdk.calendars import calendar_for

    holes = SyntheticFetcher(seed=1, gaps=lambda ts: ts % (24 * 3600) == 0)  # midnights
    main, shadow = LocalStore(main_seed1, read_only=True), LocalStore(tmp_path / "s.sqlite")
    lenient = CanarySettings(thresholds=CanaryThresholds(max_only_main_bars=10**6))
    try:
        report = run_canary(
            main, shadow, holes, keys(), fetcher_spec="holes", main_path="m", shadow_path="s",
            policy=POLICY, settings=lenient,
            checks=partition_checks(lambda node: calendar_for("24/7"), strict=False),
        )  # fmt: skip
    finally:
        main.close()
        shadow.close()
    first = report.partitions[0]
    assert len(first["only_main"]) == 366  # 2024's midnights
    assert first["only_main"][0] == "2024-01-01T00:00:00Z"
    assert first["differing"] == [] and first["only_shadow"] == []
    assert first["checks"]["completeness"]["main"] is True
    assert first["checks"]["completeness"]["shadow"] is False
    assert first["check_regressions"] == ["completeness"]
    assert not report.passed
    assert any("check_regressions" in r for r in report.data["verdict"]["reasons"])


def test_an_open_window_is_compared_up_to_the_older_edge(tmp_path: Path) -> None:
    """Main was filled three hours ago, the shadow now: the three new bars are the
    tail's, not a difference of the candidate."""
    from seamless_sdk.backfill.fill import fill_window
    from seamless_sdk.changes.windows import partition_keys

    now = 1_780_000_000  # 2026-05-28, inside the open 2026 window of 1h bars
    (key,) = partition_keys(["demo:A"], "1h", "2026-01-01", "2026-02-01", now=now)
    main = LocalStore(tmp_path / "main.sqlite")
    fill_window(main, SyntheticFetcher(seed=1), "demo:A", key.interval, *key.window,
                policy=POLICY, now=now - 3 * 3600)  # fmt: skip
    shadow = LocalStore(tmp_path / "shadow.sqlite")
    try:
        report = run_canary(
            main, shadow, SyntheticFetcher(seed=1), [key], fetcher_spec="s", main_path="m",
            shadow_path="s", policy=POLICY, settings=CanarySettings(), now=now,
        )  # fmt: skip
    finally:
        main.close()
        shadow.close()
    (item,) = report.partitions
    assert item["shadow_covered_s"] - item["main_covered_s"] == 3 * 3600
    assert item["shadow_rows"] == item["main_rows"]  # the bars compared
    assert item["only_shadow"] == [] and item["differing"] == []
    assert item["compared_until"] == iso_utc((now - 3 * 3600) // 3600 * 3600)
    assert report.passed
