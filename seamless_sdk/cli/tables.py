"""The tables the CLI prints (rich), kept apart from the commands that fill them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from rich.table import Table

from seamless_sdk.intervals import parse_interval
from seamless_sdk.ranges import RangeSet
from seamless_sdk.result import HistoryMeta
from seamless_sdk.stores.base import BarStore
from seamless_sdk.stores.local import DamagedChunk


def iso(ts: int) -> str:
    """Epoch seconds as ``YYYY-MM-DD HH:MM`` UTC."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M")


def ranges_text(rs: RangeSet, limit: int = 3) -> str:
    """The first ``limit`` ranges, one a line, and how many more."""
    parts = [f"{iso(s)} → {iso(e)}" for s, e in list(rs)[:limit]]
    if len(rs) > limit:
        parts.append(f"… +{len(rs) - limit} more")
    return "\n".join(parts) or "—"


def coverage_table(store: BarStore, series: Sequence[tuple[str, str]]) -> Table:
    """Stored coverage per (node, interval)."""
    table = Table(title="Stored coverage")
    for column in ("node", "interval", "ranges", "bars covered"):
        table.add_column(column)
    for node, interval in series:
        iv = parse_interval(interval)
        cov = store.coverage(node, iv)
        table.add_row(node, iv.name, ranges_text(cov), f"{cov.total() // iv.seconds:,}")
    return table


def meta_table(rows: Sequence[tuple[str, int, HistoryMeta]], interval_s: int) -> Table:
    """One row per read: the span each source covered, what is missing, time and SLA.

    A source's span is counted in bar slots, so on a node with a calendar it
    includes the closed hours that ``rows`` has no bars for.
    """
    table = Table(title="Read metadata")
    for column in ("node", "rows", "covered per source", "missing", "ms", "SLA", "gaps"):
        table.add_column(column)
    for node, n, meta in rows:
        sources = ", ".join(
            f"{k} {v.total() // interval_s:,}" for k, v in meta.source_contributions.items()
        )
        table.add_row(
            node,
            f"{n:,}",
            sources,
            ranges_text(meta.missing),
            f"{meta.sla_report.total_ms:.2f}",
            str(meta.sla_report.violation or "ok"),
            str(meta.quality_summary["gaps"]),
        )
    return table


def damage_table(items: Sequence[DamagedChunk], title: str) -> Table:
    """Damaged chunks as ``LocalStore.verify()``/``repair()`` report them."""
    table = Table(title=title)
    for column in ("node", "interval", "chunk start", "reason"):
        table.add_column(column)
    for item in items:
        table.add_row(item.node_id, item.interval, iso(item.chunk_start), item.reason)
    return table
