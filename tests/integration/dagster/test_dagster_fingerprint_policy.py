"""Seed 004's fingerprint flags decide what real runs publish.

A final window (2024: closed, wholly covered) and the window still open (the
current year of 1h bars) are materialized in process on a temporary instance
under each setting of ``seamless: publish_fingerprint / preview_fingerprint /
early_fingerprint``; the stored materializations say what was published.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import pytest

from seamless_assets import build_definitions
from seamless_sdk.backfill.dagster import register_nodes
from seamless_sdk.backfill.fill import window_fingerprint
from seamless_sdk.intervals import parse_interval
from seamless_sdk.stores.local import LocalStore
from tests.integration.dagster.support import CONFIG, Y2024, make_env

H1 = parse_interval("1h")
BARS_1H = dg.AssetKey("bars_1h")
THIS_YEAR = datetime.now(UTC).year


def _latest(instance: dg.DagsterInstance, key: str) -> dg.AssetMaterialization:
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=BARS_1H, asset_partitions=[key]), limit=1
    ).records
    event = records[0].asset_materialization
    assert event is not None
    return event


def _materialize(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, flags: str
) -> tuple[dg.AssetMaterialization, dg.AssetMaterialization, str, str]:
    config = CONFIG.replace("backfill:\n", "backfill:\n  gx_check: false\n") + flags
    env = make_env(tmp_path, monkeypatch, config)
    job = build_definitions(env.config).resolve_job_def("bars_1h_job")
    open_key = f"demo:A|{THIS_YEAR}"
    with dg.DagsterInstance.get() as instance:
        register_nodes(instance, ["demo:A"])
        for key in ("demo:A|2024", open_key):
            assert job.execute_in_process(instance=instance, partition_key=key).success
        final, current = _latest(instance, "demo:A|2024"), _latest(instance, open_key)
    start = int(datetime(THIS_YEAR, 1, 1, tzinfo=UTC).timestamp())
    end = int(datetime(THIS_YEAR + 1, 1, 1, tzinfo=UTC).timestamp())
    assert time.time() < end, "the test needs the current year still open"
    with LocalStore(env.config.store) as store:
        return (
            final,
            current,
            window_fingerprint(store, "demo:A", H1, *Y2024),
            window_fingerprint(store, "demo:A", H1, start, end),
        )


def test_defaults_publish_final_windows_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    final, current, fp_final, _ = _materialize(tmp_path, monkeypatch, "")
    assert final.metadata["fingerprint"].value == fp_final
    assert final.tags["dagster/data_version"] == fp_final
    assert "fingerprint" not in current.metadata
    assert "preview_fingerprint" not in current.metadata
    assert "dagster/data_version" not in current.tags


def test_preview_shows_the_open_windows_fingerprint_as_metadata_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    flags = "seamless:\n  preview_fingerprint: true\n"
    final, current, fp_final, fp_open = _materialize(tmp_path, monkeypatch, flags)
    assert final.tags["dagster/data_version"] == fp_final
    assert current.metadata["preview_fingerprint"].value == fp_open
    assert "fingerprint" not in current.metadata
    assert "dagster/data_version" not in current.tags


def test_early_publishes_a_provisional_fingerprint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    flags = "seamless:\n  early_fingerprint: true\n"
    _, current, _, fp_open = _materialize(tmp_path, monkeypatch, flags)
    assert current.metadata["fingerprint"].value == fp_open
    assert current.metadata["fingerprint_provisional"].value is True
    assert current.tags["dagster/data_version"] == fp_open


def test_publish_off_publishes_no_fingerprint_at_all(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    flags = "seamless:\n  publish_fingerprint: false\n"
    final, current, _, _ = _materialize(tmp_path, monkeypatch, flags)
    for event in (final, current):
        assert "fingerprint" not in event.metadata
        assert "dagster/data_version" not in event.tags
    assert final.metadata["dagster/row_count"].value == 366 * 24  # the rest is unchanged
