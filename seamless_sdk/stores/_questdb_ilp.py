"""The ILP side of QuestDBStore: the rows a write sends, the buffer they are
serialised into, and the sender that re-sends a batch whose flush failed.

The ``questdb`` client clears its *internal* buffer when a flush fails, so a
batch handed to it is lost on a network error. This module never lets the
client own a batch: the rows are kept as DataFrames (:class:`TableBatch`) and
a fresh buffer is built from them for every attempt. Re-sending is safe
because the bar and coverage tables deduplicate on their keys (``DEDUP
UPSERT``): a batch that did reach the server before the error replaces its own
rows when it arrives again, so nothing is stored twice.

Each flush is ``transactional=True`` (ILP over HTTP): the server commits the
request's rows of its one table as one WAL transaction, so readers see a whole
batch or none of it. QuestDB commits early inside a request that exceeds the
table's ``maxUncommittedRows`` (500,000 by default), so larger batches are sent
as several transactions of at most :data:`MAX_TXN_ROWS` rows.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from seamless_sdk.bars import VALUE_COLUMNS
from seamless_sdk.errors import StoreError

MAX_TXN_ROWS = 400_000
"""Rows per transactional flush: below QuestDB's default ``maxUncommittedRows``."""

SenderFactory = Callable[[str], Any]
"""Makes a connected sender from an ILP configuration string."""


@dataclass(frozen=True, slots=True)
class TableBatch:
    """Rows for one table, kept until the server has taken them: ``frames`` are
    ILP frames (``node`` first, ``ts`` last) sent in order in one flush."""

    table: str
    frames: tuple[pd.DataFrame, ...]

    @property
    def rows(self) -> int:
        return sum(len(f) for f in self.frames)

    def pieces(self, max_rows: int = MAX_TXN_ROWS) -> list[TableBatch]:
        """The batch cut into batches of at most ``max_rows`` rows."""
        if self.rows <= max_rows:
            return [self]
        out: list[TableBatch] = []
        current: list[pd.DataFrame] = []
        room = max_rows
        for frame in self.frames:
            at = 0
            while at < len(frame):
                take = min(room, len(frame) - at)
                current.append(frame.iloc[at : at + take])
                at += take
                room -= take
                if room == 0:
                    out.append(TableBatch(self.table, tuple(current)))
                    current, room = [], max_rows
        if current:
            out.append(TableBatch(self.table, tuple(current)))
        return out


def _node_column(node_id: str, n: int) -> pd.Categorical:
    # A categorical of one category: the client writes it as a SYMBOL without
    # a Python string per row.
    return pd.Categorical.from_codes(np.zeros(n, dtype=np.int8), categories=[node_id])


def _ts_column(ts_ns: np.ndarray) -> pd.DatetimeIndex:
    return pd.DatetimeIndex(np.asarray(ts_ns, dtype=np.int64).view("M8[ns]")).tz_localize("UTC")


def bars_frame(
    node_id: str, ts_ns: np.ndarray, values: Sequence[np.ndarray], flags: np.ndarray
) -> pd.DataFrame:
    """The ILP rows of live bars: ``node``, ``open high low close volume``,
    ``flags``, ``gone`` (false) and ``ts``."""
    n = len(ts_ns)
    data: dict[str, Any] = {"node": _node_column(node_id, n)}
    data.update(
        {c: np.asarray(v, dtype=np.float64) for c, v in zip(VALUE_COLUMNS, values, strict=True)}
    )
    data["flags"] = np.asarray(flags, dtype=np.int32)
    data["gone"] = np.zeros(n, dtype=bool)
    data["ts"] = _ts_column(ts_ns)
    return pd.DataFrame(data)


def tombstone_frame(node_id: str, ts_ns: np.ndarray) -> pd.DataFrame:
    """The ILP rows that delete the bars at ``ts_ns``: ``gone`` true and no
    values (QuestDB has no ``DELETE``; the upsert replaces the bar)."""
    n = len(ts_ns)
    return pd.DataFrame(
        {"node": _node_column(node_id, n), "gone": np.ones(n, dtype=bool), "ts": _ts_column(ts_ns)}
    )


def coverage_frame(rows: Sequence[tuple[str, int, int, str]]) -> pd.DataFrame:
    """The ILP rows of coverage: ``(node, interval_s, chunk_start, ranges text)``."""
    return pd.DataFrame(
        {
            "node": pd.Categorical([r[0] for r in rows]),
            "interval_s": np.array([r[1] for r in rows], dtype=np.int32),
            "ranges": pd.array([r[3] for r in rows], dtype=object),
            "ts": _ts_column(np.array([r[2] for r in rows], dtype=np.int64) * 1_000_000_000),
        }
    )


def fill_buffer(buffer: Any, batch: TableBatch) -> Any:
    """Serialise ``batch`` into ``buffer`` (a ``questdb`` ``Buffer``) and return it."""
    for frame in batch.frames:
        if len(frame):
            buffer.dataframe(frame, table_name=batch.table, symbols=["node"], at="ts")
    return buffer


def default_sender(conf: str) -> Any:
    """A connected ``questdb`` sender (imported here: the client is an
    optional dependency, loaded on first use)."""
    try:
        from questdb import Sender
    except ImportError as exc:
        raise StoreError(
            "QuestDBStore needs the questdb client: pip install 'seamless[questdb]'"
        ) from exc
    sender = Sender.from_conf(conf)
    sender.establish()
    return sender


class IlpWriter:
    """Sends :class:`TableBatch` es over one persistent ILP/HTTP sender.

    A failed flush is retried ``attempts`` times in all (with a backoff that
    doubles from ``backoff_s``) from the kept rows, on a new sender each time
    (the old one may be half-way through a broken connection). Thread-safe.
    """

    def __init__(
        self,
        conf: str,
        *,
        attempts: int = 3,
        backoff_s: float = 0.2,
        sender_factory: SenderFactory = default_sender,
    ) -> None:
        if attempts < 1:
            raise ValueError("attempts must be at least 1")
        self._conf = conf
        self._attempts = attempts
        self._backoff_s = backoff_s
        self._factory = sender_factory
        self._sender: Any = None
        self._lock = threading.Lock()
        self.flushes = 0
        """Flushes that succeeded (for tests and diagnostics)."""

    def send(self, batch: TableBatch) -> None:
        """Send ``batch`` (cut into transactions of at most ``MAX_TXN_ROWS``
        rows); ``StoreError`` once every attempt has failed."""
        with self._lock:
            for piece in batch.pieces():
                self._send_piece(piece)

    def _send_piece(self, piece: TableBatch) -> None:
        last: BaseException | None = None
        for attempt in range(self._attempts):
            if attempt:
                time.sleep(self._backoff_s * 2 ** (attempt - 1))
            try:
                if self._sender is None:
                    self._sender = self._factory(self._conf)
                buffer = fill_buffer(self._sender.new_buffer(), piece)
                self._sender.flush(buffer, transactional=True)
            except StoreError:
                raise
            except Exception as exc:  # the client raises QuestDBError, OSError, ...
                last = exc
                self._drop_sender()
                continue
            self.flushes += 1
            return
        raise StoreError(
            f"ILP write of {piece.rows} rows to {piece.table} failed {self._attempts} times: "
            f"{last}; nothing of it was marked covered"
        ) from last

    def _drop_sender(self) -> None:
        sender, self._sender = self._sender, None
        if sender is not None:
            # Closing a broken sender may fail too; it is gone either way.
            with contextlib.suppress(Exception):
                sender.close()

    def close(self) -> None:
        """Close the sender (a later ``send`` opens a new one)."""
        with self._lock:
            self._drop_sender()
