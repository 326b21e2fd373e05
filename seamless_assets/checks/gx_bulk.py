"""The Great Expectations check of many partitions with one suite run.

A GX validation costs 0.15–0.2 s whatever its size, so running the suite once
per partition dominates a backfill of many small windows. Here the windows
are laid end to end in one frame and validated once: each window's ``ts`` is
shifted by a constant so it starts where the previous window ended. A
constant shift keeps a window's order, uniqueness, nulls and dtype, and the
windows cannot overlap, so every expectation of the suite (per-row rules,
column list and types, unique ascending ``ts``) passes on the joined frame
exactly when it passes on every window. A joined run that passes therefore
gives each partition the verdict and the statistics its own run would give;
one that fails is re-run window by window, so a failed partition's metadata
(unexpected values, real timestamps) is exactly its own run's.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from seamless_assets.checks.evaluate import CheckOutcome
from seamless_assets.checks.expectations import GXResult, run_suite
from seamless_assets.checks.gx_check import gx_result_outcome
from seamless_sdk.errors import InvalidRequestError

MAX_JOINED_SPAN_S = 100 * 365 * 86_400
"""Seconds of windows joined in one frame: shifted times stay far inside
``datetime64[ns]`` (which ends in 2262) for any window start it can hold."""

TS_DTYPE = pd.DatetimeTZDtype("ns", "UTC")


def gx_outcomes(
    frames: Sequence[pd.DataFrame], windows: Sequence[tuple[int, int]]
) -> list[CheckOutcome]:
    """The GX check outcome of each ``(frame, window)`` pair, in order.

    ``frames[i]`` holds the stored bars of ``windows[i]`` (``[start, end)``
    epoch seconds). Empty frames, frames whose ``ts`` is not
    ``datetime64[ns, UTC]`` and frames whose columns or dtypes differ from
    the first joinable frame's are validated on their own.
    """
    if len(frames) != len(windows):
        raise InvalidRequestError("frames", f"{len(frames)} frames for {len(windows)} windows")
    results: list[GXResult | None] = [None] * len(frames)
    group: list[int] = []
    span = 0
    shape: tuple[tuple[str, str], ...] | None = None
    for i, (frame, (start, end)) in enumerate(zip(frames, windows, strict=True)):
        shape = shape or (_shape(frame) if _joinable(frame) else None)
        if not _joinable(frame) or _shape(frame) != shape:
            results[i] = run_suite(frame)
            continue
        if group and span + (end - start) > MAX_JOINED_SPAN_S:
            _run_group(group, frames, windows, results)
            group, span = [], 0
        group.append(i)
        span += end - start
    if group:
        _run_group(group, frames, windows, results)
    return [gx_result_outcome(r) for r in results if r is not None]


def _shape(frame: pd.DataFrame) -> tuple[tuple[str, str], ...]:
    # Joining frames of other column orders or dtypes would reorder or upcast
    # them, and the joint run would judge the joined shape, not theirs.
    return tuple((str(c), str(t)) for c, t in frame.dtypes.items())


def _joinable(frame: pd.DataFrame) -> bool:
    # An empty frame or one of another ts type is judged alone: GX's verdict on
    # it (an empty column, a wrong type) must be its own, not the group's.
    return not frame.empty and "ts" in frame.columns and frame["ts"].dtype == TS_DTYPE


def _run_group(
    group: list[int],
    frames: Sequence[pd.DataFrame],
    windows: Sequence[tuple[int, int]],
    results: list[GXResult | None],
) -> None:
    if len(group) == 1:
        results[group[0]] = run_suite(frames[group[0]])
        return
    joined = run_suite(_joined(group, frames, windows))
    for i in group:
        if joined.success:
            results[i] = GXResult(
                success=True,
                suite=joined.suite,
                schema_fingerprint=joined.schema_fingerprint,
                rows=len(frames[i]),
                statistics=dict(joined.statistics),
                results=[dict(r) for r in joined.results],
            )
        else:
            results[i] = run_suite(frames[i])


def _joined(
    group: list[int], frames: Sequence[pd.DataFrame], windows: Sequence[tuple[int, int]]
) -> pd.DataFrame:
    """The group's frames end to end, each window moved to start where the last ended."""
    base = windows[group[0]][0]
    parts = []
    offset = 0
    for i in group:
        start, end = windows[i]
        shift = np.int64(base + offset - start) * np.int64(1_000_000_000)
        ts = frames[i]["ts"].to_numpy(dtype="datetime64[ns]").view(np.int64) + shift
        parts.append(frames[i].assign(ts=pd.DatetimeIndex(ts.view("datetime64[ns]"), tz="UTC")))
        offset += end - start
    return pd.concat(parts, ignore_index=True)
