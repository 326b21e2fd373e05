"""Reprocess: re-fill stored windows with the current fetcher and schema (seed 003 §9).

After a fetcher fix or a schema change the stored bars are stale, but
covered, so an ordinary fill would never touch them. :func:`reprocess` fills
each partition again into a scratch store beside the main one (the SDK's
``fill_window``: fetch, conform with the schema in force, write) and then
compares fingerprints:

* equal: nothing is written and the Dagster data version stays;
* different: the window is copied into the main store in one transaction
  (:func:`~seamless_sdk.changes.windows.copy_window`), so readers are served
  the old bars until the new ones commit, and coverage never shrinks; then
  ``on_changed`` is called (the code location reports a materialization with
  the new fingerprint as its data version).

Progress is a JSON-lines file (``<work_dir>/progress.jsonl``), appended and
fsynced per step: ``committing`` with the new fingerprint before the copy,
then ``done``. Killed anywhere and run again with the same arguments, it
skips the partitions already ``done``; one killed between ``committing`` and
``done`` is filled again, found equal to the main store, and its change is
still reported, so Dagster never misses a new data version. A run that
finishes renames the file to ``finished-<ns>.jsonl``, so the next request
(after the next fix) fills everything again; with the same fetcher that
finds every fingerprint equal and writes nothing (idempotent).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from seamless_sdk.backfill.dagster.partition_key import PartitionKey
from seamless_sdk.backfill.fill import fill_window
from seamless_sdk.backfill.policy import FillPolicy
from seamless_sdk.changes.windows import copy_window, window_state
from seamless_sdk.errors import ConformanceError, FetchError, InvalidRequestError
from seamless_sdk.ranges import RangeSet
from seamless_sdk.stores.base import BarStore
from seamless_sdk.stores.local import LocalStore

Outcome = Literal["changed", "unchanged", "failed"]
PROGRESS_NAME = "progress.jsonl"
SCRATCH_NAME = "scratch.sqlite"


@dataclass(frozen=True, slots=True)
class Reprocessed:
    """One partition's outcome: ``changed`` (new bars committed), ``unchanged``
    (the fill gave the bars already stored) or ``failed`` (the fetch or its
    conformance failed; the main store keeps its bars); ``resumed`` when a
    previous run had already done it."""

    key: PartitionKey
    outcome: Outcome
    old_fingerprint: str
    new_fingerprint: str
    resumed: bool = False
    error: str | None = None


def work_dir_for(root: Path, keys: Sequence[PartitionKey], fetcher_spec: str) -> Path:
    """The work directory of one reprocess request: the same request (partitions
    and fetcher) finds its progress again after a kill."""
    digest = hashlib.sha256(fetcher_spec.encode())
    for key in keys:
        digest.update(f"{key.interval.name}|{key}\n".encode())
    return root / f"reprocess-{digest.hexdigest()[:16]}"


class Progress:
    """The progress file: what a previous run of the same request finished."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.done: dict[str, dict[str, Any]] = {}
        self.committing: dict[str, str] = {}
        raw = path.read_bytes() if path.exists() else b""
        if raw and not raw.endswith(b"\n"):
            # A kill cut the last line short: drop it, so the next append starts a line.
            raw = raw[: raw.rfind(b"\n") + 1]
            with path.open("r+b") as handle:
                handle.truncate(len(raw))
        for number, line in enumerate(raw.decode("utf-8").splitlines(), 1):
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                raise InvalidRequestError("progress", f"{path}:{number} is not JSON") from None
            if entry.get("step") == "committing":
                self.committing[entry["partition"]] = entry["new"]
            elif entry.get("step") == "done":
                self.done[entry["partition"]] = entry

    def append(self, **entry: Any) -> None:
        """Append one step durably (fsync) before the caller moves on."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as out:
            out.write(json.dumps(entry, sort_keys=True) + "\n")
            out.flush()
            os.fsync(out.fileno())


def reprocess(
    main: BarStore,
    fetcher: Any,
    keys: Sequence[PartitionKey],
    *,
    work_dir: Path,
    policy: FillPolicy,
    now: float | None = None,
    on_changed: Callable[[Reprocessed], None] | None = None,
    progress: Callable[[Reprocessed], None] | None = None,
) -> list[Reprocessed]:
    """Re-fill ``keys`` of ``main`` with ``fetcher`` (see the module docstring)."""
    log = Progress(work_dir / PROGRESS_NAME)
    scratch = LocalStore(work_dir / SCRATCH_NAME)
    out: list[Reprocessed] = []
    try:
        for key in keys:
            name = str(key)
            if name in log.done:
                entry = log.done[name]
                item = Reprocessed(key, entry["outcome"], entry["old"], entry["new"], resumed=True)
            else:
                item = _one(main, scratch, fetcher, key, log, policy, now, on_changed)
            out.append(item)
            if progress is not None:
                progress(item)
    finally:
        scratch.close()
    # Finished: the next run (after the next fetcher fix) starts over rather than
    # finding every partition done. The log is kept, named by when it finished.
    if log.path.exists():
        log.path.rename(log.path.with_name(f"finished-{time.time_ns()}.jsonl"))
    return out


def _one(
    main: BarStore,
    scratch: BarStore,
    fetcher: Any,
    key: PartitionKey,
    log: Progress,
    policy: FillPolicy,
    now: float | None,
    on_changed: Callable[[Reprocessed], None] | None,
) -> Reprocessed:
    name, (ws, we) = str(key), key.window
    old = window_state(main, key).fingerprint
    scratch.remove_coverage(key.node_id, key.interval, RangeSet.span(ws, we))
    try:
        fill_window(
            scratch, fetcher, key.node_id, key.interval, ws, we,
            policy=policy, now=now, request_id=f"reprocess:{key}", fingerprint=False,
        )  # fmt: skip
    except (ConformanceError, FetchError) as exc:
        item = Reprocessed(key, "failed", old, old, error=str(exc))
        log.append(step="done", partition=name, outcome="failed", old=old, new=old)
        return item
    new = window_state(scratch, key).fingerprint
    if new == old:
        # A run killed after its copy committed: the change is in the store, but
        # Dagster may not have heard of it yet.
        outcome: Outcome = "changed" if log.committing.get(name) == new else "unchanged"
    else:
        log.append(step="committing", partition=name, old=old, new=new)
        copy_window(scratch, main, key)
        new = window_state(main, key).fingerprint
        outcome = "changed" if new != old else "unchanged"
    item = Reprocessed(key, outcome, old, new)
    if outcome == "changed" and on_changed is not None:
        on_changed(item)
    log.append(step="done", partition=name, outcome=outcome, old=old, new=new)
    return item
