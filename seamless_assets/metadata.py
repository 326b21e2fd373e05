"""Materialization events of a partition window, for runs and for runless reports.

A run's materialization and a runless report of the same window carry the
same metadata and the same data version (the window's content fingerprint),
so Dagster cannot tell which path filled a window, and neither can a reader.
"""

from __future__ import annotations

from typing import Any

import dagster as dg

from seamless_assets.checks.evaluate import iso
from seamless_sdk.backfill.dagster import PartitionKey
from seamless_sdk.backfill.fill import FillResult
from seamless_sdk.policy_settings import FingerprintPolicy, window_is_final
from seamless_sdk.ranges import RangeSet

# Dagster stores a materialization's data version in these tags (the values
# ``Output(data_version=...)`` writes); an event yielded or reported by hand
# sets them itself. Pinned against Dagster by a unit test.
DATA_VERSION_TAG = "dagster/data_version"
DATA_VERSION_IS_USER_PROVIDED_TAG = "dagster/data_version_is_user_provided"
ROW_COUNT_KEY = "dagster/row_count"


def data_version_tags(fingerprint: str) -> dict[str, str]:
    """Tags that make ``fingerprint`` the event's ``DataVersion``."""
    return {DATA_VERSION_TAG: fingerprint, DATA_VERSION_IS_USER_PROVIDED_TAG: "true"}


def published_fingerprint(
    fingerprint: str,
    key: PartitionKey,
    covered: RangeSet,
    policy: FingerprintPolicy | None = None,
    *,
    now: float | None = None,
) -> tuple[dict[str, Any], dict[str, str]]:
    """The fingerprint metadata and data-version tags a materialization of ``key``
    carries under ``policy`` (seed 004's flags; default: publish final windows
    only): ``fingerprint`` and the data version for a closed, wholly
    ``covered`` window; for one still open or with holes nothing, a
    ``preview_fingerprint`` (metadata only) or an early, provisional one."""
    ws, we = key.window
    final = window_is_final(key.interval, ws, we, covered, now=now)
    published = (policy or FingerprintPolicy()).publication(fingerprint, final=final)
    metadata: dict[str, Any] = {
        k: dg.MetadataValue.bool(v) if isinstance(v, bool) else dg.MetadataValue.text(v)
        for k, v in published.metadata().items()
    }
    tags = data_version_tags(published.fingerprint) if published.fingerprint else {}
    return metadata, tags


def ranges_iso(ranges: RangeSet) -> list[list[str | None]]:
    """A RangeSet as ``[[start, end], ...]`` ISO strings, readable in the UI."""
    return [[iso(s), iso(e)] for s, e in ranges]


def window_metadata(
    *,
    node_id: str,
    interval: str,
    start: int,
    end: int,
    stored_rows: int,
    covered: RangeSet,
    fingerprint: str,
    source: str,
) -> dict[str, Any]:
    """Metadata every materialization of a window carries."""
    return {
        ROW_COUNT_KEY: dg.MetadataValue.int(stored_rows),
        "node_id": dg.MetadataValue.text(node_id),
        "interval": dg.MetadataValue.text(interval),
        "window": dg.MetadataValue.text(f"[{iso(start)}, {iso(end)})"),
        "covered": dg.MetadataValue.json(ranges_iso(covered)),
        "covered_seconds": dg.MetadataValue.int(covered.total()),
        "fingerprint": dg.MetadataValue.text(fingerprint),
        "source": dg.MetadataValue.text(source),
    }


def fill_metadata(result: FillResult, stored_rows: int, covered: RangeSet) -> dict[str, Any]:
    """Window metadata plus what this fill did (rows written, conformance report)."""
    return {
        **window_metadata(
            node_id=result.node_id,
            interval=result.interval.name,
            start=result.start,
            end=result.end,
            stored_rows=stored_rows,
            covered=covered,
            fingerprint=result.fingerprint,
            source="dagster",
        ),
        "bars_written": dg.MetadataValue.int(result.rows),
        "fetched": dg.MetadataValue.json(ranges_iso(result.fetched)),
        "skipped": dg.MetadataValue.bool(result.skipped),
        "conformance_summary": dg.MetadataValue.text(result.report.summary),
        "conformance": dg.MetadataValue.json(result.report.to_dict()),
        "notes": dg.MetadataValue.json(list(result.notes)),
    }
