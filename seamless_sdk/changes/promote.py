"""Promote a canary: re-fill exactly its partitions in the main store from the shadow.

Every partition is one transaction (:func:`~seamless_sdk.changes.windows.copy_window`):
a reader, or a promotion killed at any point, sees each partition wholly old
or wholly new. Before anything is written every partition's shadow window is
checked against the fingerprint the report recorded, so bars changed in the
shadow after the canary (another canary, a hand edit) are never promoted
unseen. A failed canary is promoted only with ``force``.

Each partition whose content changed is handed to ``on_promoted`` (the
code location reports a runless materialization with the new fingerprint
as its data version, so Dagster sees the new data), and the promotion is
written to the audit log.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from seamless_sdk import audit
from seamless_sdk.backfill.dagster.partition_key import PartitionKey
from seamless_sdk.changes.canary import CanaryReport
from seamless_sdk.changes.windows import copy_window, window_state
from seamless_sdk.errors import ChangeRefusedError
from seamless_sdk.stores.base import BarStore

Status = Literal["promoted", "unchanged", "empty"]


@dataclass(frozen=True, slots=True)
class Promotion:
    """What promoting one partition did: ``promoted`` (main now holds the shadow's
    bars), ``unchanged`` (it already did) or ``empty`` (the shadow covers nothing
    of the window: the candidate could not fill it, main is left as it was)."""

    key: PartitionKey
    status: Status
    old_fingerprint: str
    new_fingerprint: str
    main_changed: bool = False
    """The main window was no longer what the canary compared (a fill or a
    reprocess since, or the tail of a window still open): promoted all the same."""


def check_promotable(report: CanaryReport, shadow: BarStore, *, force: bool = False) -> None:
    """Raise ``ChangeRefusedError`` unless ``report`` may be promoted from ``shadow``."""
    if not report.passed and not force:
        reasons = "; ".join(report.data["verdict"]["reasons"])
        raise ChangeRefusedError(
            "failed_canary", f"the canary failed ({reasons}): promote it with --force if you must"
        )
    for key, item in zip(report.partition_keys(), report.partitions, strict=True):
        now = window_state(shadow, key).fingerprint
        if now != item["shadow_fingerprint"]:
            raise ChangeRefusedError(
                "stale",
                f"partition {key}: the shadow store changed since the canary "
                f"(fingerprint {now[:12]}, the report says {item['shadow_fingerprint'][:12]}); "
                "run the canary again",
            )


def promote(
    report: CanaryReport,
    main: BarStore,
    shadow: BarStore,
    *,
    force: bool = False,
    on_promoted: Callable[[Promotion], None] | None = None,
    progress: Callable[[Promotion], None] | None = None,
    actor: str | None = None,
    audit_path: Path | None = None,
) -> list[Promotion]:
    """Re-fill the report's partitions of ``main`` from ``shadow``, one transaction each."""
    check_promotable(report, shadow, force=force)
    done: list[Promotion] = []
    for key, entry in zip(report.partition_keys(), report.partitions, strict=True):
        old = window_state(main, key).fingerprint
        moved = old != entry["main_fingerprint"]
        shadow_fp = window_state(shadow, key).fingerprint
        if old == shadow_fp:
            item = Promotion(key, "unchanged", old, old, moved)
        elif not copy_window(shadow, main, key):
            item = Promotion(key, "empty", old, old, moved)
        else:
            new = window_state(main, key).fingerprint
            item = Promotion(key, "promoted" if new != old else "unchanged", old, new, moved)
            if item.status == "promoted" and on_promoted is not None:
                on_promoted(item)
        done.append(item)
        if progress is not None:
            progress(item)
    audit.record(
        "canary.promoted",
        f"{report.data['interval']} from {report.data['shadow_store']}",
        old_fingerprint=None,
        new_fingerprint=None,
        detail={
            "fetcher": report.data["fetcher"],
            "main_store": report.data["main_store"],
            "forced": bool(force and not report.passed),
            "partitions": {
                str(p.key): {
                    "status": p.status,
                    "old": p.old_fingerprint,
                    "new": p.new_fingerprint,
                    "main_changed_since_canary": p.main_changed,
                }
                for p in done
            },
        },
        actor=actor,
        path=audit_path,
    )
    return done
