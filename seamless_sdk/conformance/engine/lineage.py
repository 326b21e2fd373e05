"""Row lineage: where a bar came from, when it was taken in and by which backfill.

Seed 003 §4 names the per-row metadata ``__source``, ``__ingest_at``,
``__backfill_job_id`` and ``__flags``. Here they are plain columns (the
result frame of a read with ``lineage=True`` already has ``source`` and
``flags``): :func:`add_lineage` adds the rest when a caller wants them. The
stored frame does not keep them; the flag bits are in ``flags.py``.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd

from seamless_sdk.bars import UTC_NS
from seamless_sdk.errors import InvalidRequestError

LINEAGE_COLUMNS: tuple[str, ...] = ("source", "ingest_at", "backfill_run_id")
"""Columns :func:`add_lineage` adds (``source`` before ``flags``, the others at the end)."""


def add_lineage(
    frame: pd.DataFrame,
    *,
    source: str | None,
    ingest_at: datetime | pd.Timestamp | str | int | None = None,
    backfill_run_id: str | None = None,
) -> pd.DataFrame:
    """A copy of ``frame`` with lineage columns on every row.

    ``source`` (e.g. ``"backfill"``) becomes a ``str`` column placed before
    ``flags`` as in a read's lineage frame; ``None`` keeps an existing
    ``source`` column (a read may mix sources). ``ingest_at`` (a datetime,
    ISO string or epoch seconds; naive means UTC; ``None`` means now) becomes
    ``datetime64[ns, UTC]``; ``backfill_run_id`` a ``str`` column (missing
    when ``None``: the bars did not come from a backfill).
    """
    if not isinstance(frame, pd.DataFrame):
        raise InvalidRequestError(
            "frame", f"expected a pandas DataFrame, got {type(frame).__name__}"
        )
    out = frame.copy()
    n = len(out)
    if source is not None:
        if not isinstance(source, str) or not source:
            raise InvalidRequestError("source", f"{source!r} is not a non-empty string")
        column = pd.array(np.full(n, source, dtype=object), dtype="str")
        if "source" in out.columns:
            out["source"] = column
        else:
            at = out.columns.get_loc("flags") if "flags" in out.columns else len(out.columns)
            out.insert(int(at), "source", column)  # type: ignore[arg-type]
    elif "source" not in out.columns:
        raise InvalidRequestError("source", "None, and the frame has no source column to keep")
    out["ingest_at"] = pd.DatetimeIndex(np.full(n, _instant(ingest_at).value), dtype=UTC_NS)
    run = pd.array(np.full(n, backfill_run_id, dtype=object), dtype="str")
    if backfill_run_id is not None and not isinstance(backfill_run_id, str):
        raise InvalidRequestError("backfill_run_id", f"{backfill_run_id!r} is not a string")
    out["backfill_run_id"] = run
    return out


def _instant(value: datetime | pd.Timestamp | str | int | None) -> pd.Timestamp:
    if value is None:
        return pd.Timestamp.now(tz="UTC").as_unit("ns")
    try:
        if isinstance(value, bool):
            raise TypeError
        if isinstance(value, (int, np.integer)):
            stamp = pd.Timestamp(int(value), unit="s", tz="UTC")
        else:
            stamp = pd.Timestamp(value)
    except (TypeError, ValueError) as exc:
        raise InvalidRequestError("ingest_at", f"{value!r} is not a time: {exc}") from None
    if stamp is pd.NaT:
        raise InvalidRequestError("ingest_at", f"{value!r} is not a time")
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    return stamp.as_unit("ns")
