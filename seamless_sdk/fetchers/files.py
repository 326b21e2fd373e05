"""A fetcher that serves bars from CSV or Parquet files, one file per node.

File names: a node id may contain ``:`` (``demo:BTCUSDT``), which is not a
safe file-name character everywhere, so the ``{node}`` placeholder is the node
id with every ``:`` replaced by ``_`` (``demo_BTCUSDT``); see
``node_file_stem``. Node ids are validated first, so no ``/`` or leading dot
ever reaches a path. Two ids that differ only by ``:`` versus ``_`` share a
file.

Timestamps in a file may be epoch numbers (unit ``ts_unit``, seconds by
default) or ISO-8601 strings / datetimes (naive means UTC, offsets are
converted). The returned ``ts`` is always ``datetime64[ns, UTC]``, other
columns are passed through unchanged.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from seamless_sdk.bars import NS, empty_bar_frame
from seamless_sdk.errors import InvalidRequestError, SourceError
from seamless_sdk.intervals import parse_interval
from seamless_sdk.request import validate_node_id

_PARQUET_SUFFIXES = (".parquet", ".pq")
_CSV_SUFFIXES = (".csv", ".csv.gz", ".csv.bz2", ".csv.zst", ".csv.xz")
_EXTS = ("parquet", "csv", "csv.gz")  # tried in this order for ``{ext}``
_NODE_COLUMN = "node_id"


def node_file_stem(node_id: str) -> str:
    """The file-name stem for ``node_id``: validated, ``:`` replaced by ``_``."""
    return validate_node_id(node_id).replace(":", "_")


@dataclass(frozen=True, slots=True)
class _Table:
    """Parsed rows of one node, with int64 epoch-ns keys for fast windowing."""

    frame: pd.DataFrame
    ts_ns: np.ndarray
    is_sorted: bool

    def window(self, start: int, end: int) -> pd.DataFrame:
        lo, hi = start * NS, end * NS
        if self.is_sorted:
            a, b = np.searchsorted(self.ts_ns, [lo, hi], side="left")
            part = self.frame.iloc[a:b]
        else:
            part = self.frame.loc[(self.ts_ns >= lo) & (self.ts_ns < hi)]
        return part.reset_index(drop=True)


@dataclass(frozen=True, slots=True)
class _Entry:
    mtime_ns: int
    size: int
    tables: dict[str | None, _Table]  # None: every row of the file


def _is_parquet(path: Path) -> bool:
    return path.name.lower().endswith(_PARQUET_SUFFIXES)


def _is_csv(path: Path) -> bool:
    return path.name.lower().endswith(_CSV_SUFFIXES)


def _to_utc_ns(col: pd.Series, ts_unit: str, path: Path, ts_column: str) -> pd.Series:
    """Any timestamp column as ``datetime64[ns, UTC]``; bad values raise SourceError."""
    try:
        if isinstance(col.dtype, pd.DatetimeTZDtype):
            out = col.dt.tz_convert("UTC")
        elif pd.api.types.is_datetime64_dtype(col.dtype):
            out = col.dt.tz_localize("UTC")
        elif pd.api.types.is_numeric_dtype(col.dtype) and not pd.api.types.is_bool_dtype(col.dtype):
            out = pd.to_datetime(col, unit=ts_unit, utc=True)
        else:
            out = pd.to_datetime(col, utc=True, format="ISO8601")
        out = out.dt.as_unit("ns")
    except (ValueError, TypeError, OverflowError) as exc:
        raise SourceError(str(path), f"column {ts_column!r} is not a timestamp ({exc})") from None
    bad = int(out.isna().sum())
    if bad:
        raise SourceError(str(path), f"{bad} rows have no {ts_column!r} timestamp")
    return out


def _read(path: Path) -> pd.DataFrame:
    try:
        if _is_parquet(path):
            return pd.read_parquet(path)
        if _is_csv(path):
            return pd.read_csv(path)
    except FileNotFoundError:
        raise
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        # pyarrow's errors derive from these; pandas' ParserError from ValueError.
        raise SourceError(str(path), f"cannot read bars: {exc}") from exc
    raise SourceError(str(path), "unsupported file type (use .csv[.gz] or .parquet)")


def _table(frame: pd.DataFrame) -> _Table:
    frame = frame.reset_index(drop=True)
    ts_ns = frame["ts"].to_numpy(dtype="datetime64[ns]").view(np.int64)
    is_sorted = bool(len(ts_ns) < 2 or (np.diff(ts_ns) >= 0).all())
    return _Table(frame, ts_ns, is_sorted)


class FileFetcher:
    """Serve bars from CSV or Parquet files.

    ``path_or_dir`` is either a directory holding one file per node, named by
    ``pattern`` (placeholders ``{node}`` = ``node_file_stem(node_id)``,
    ``{interval}`` = the canonical interval name, ``{ext}`` = ``parquet``,
    ``csv`` then ``csv.gz``, first existing wins), or a single ``.csv[.gz]`` /
    ``.parquet`` file. A single file with a ``node_id`` column serves each
    node its own rows; without one it serves its rows to every node.

    A fetch returns the rows with ``start <= ts < end``. A missing file gives
    an empty frame (the window is covered, with no rows); an unreadable or
    malformed file raises ``SourceError``. Parsed files are cached and
    re-read when their modification time or size changes.
    """

    def __init__(
        self,
        path_or_dir: str | os.PathLike[str],
        *,
        pattern: str = "{node}.{ext}",
        ts_column: str = "ts",
        ts_unit: str = "s",
    ) -> None:
        self.path = Path(path_or_dir)
        self.pattern = pattern
        self.ts_column = ts_column
        self.ts_unit = ts_unit
        try:
            pattern.format(node="n", interval="1m", ext="csv")
        except (KeyError, IndexError, ValueError) as exc:
            raise InvalidRequestError(
                "pattern", f"{pattern!r} may only use {{node}}, {{interval}}, {{ext}} ({exc!r})"
            ) from None
        self._single = _is_parquet(self.path) or _is_csv(self.path)
        self._cache: dict[Path, _Entry] = {}
        self._lock = threading.Lock()

    def candidates(self, node_id: str, interval: str) -> list[Path]:
        """The paths tried for ``(node_id, interval)``, in order."""
        if self._single:
            return [self.path]
        stem = node_file_stem(node_id)
        name = parse_interval(interval).name
        if "{ext}" not in self.pattern:
            return [self.path / self.pattern.format(node=stem, interval=name, ext="")]
        return [self.path / self.pattern.format(node=stem, interval=name, ext=e) for e in _EXTS]

    def fetch(self, node_id: str, interval: str, start: int, end: int) -> pd.DataFrame:
        """Rows of ``node_id``'s file with ``start <= ts < end``, ``ts`` in UTC."""
        validate_node_id(node_id)
        for path in self.candidates(node_id, interval):
            try:
                entry = self._load(path)
            except FileNotFoundError:
                continue
            tables = entry.tables
            table = tables[None] if None in tables else tables.get(node_id)
            if table is None:
                return empty_bar_frame(flags=False)
            return table.window(int(start), int(end))
        return empty_bar_frame(flags=False)

    def _load(self, path: Path) -> _Entry:
        st = path.stat()  # FileNotFoundError: no data for this node
        with self._lock:
            cached = self._cache.get(path)
        if cached is not None and (cached.mtime_ns, cached.size) == (st.st_mtime_ns, st.st_size):
            return cached
        entry = _Entry(st.st_mtime_ns, st.st_size, self._parse(path))
        with self._lock:
            self._cache[path] = entry
        return entry

    def _parse(self, path: Path) -> dict[str | None, _Table]:
        frame = _read(path)
        if self.ts_column not in frame.columns:
            raise SourceError(
                str(path), f"no {self.ts_column!r} column (has {list(frame.columns)})"
            )
        if self.ts_column != "ts" and "ts" in frame.columns:
            raise SourceError(str(path), f"has both {self.ts_column!r} and 'ts' columns")
        ts = _to_utc_ns(frame[self.ts_column], self.ts_unit, path, self.ts_column)
        frame = frame.drop(columns=[self.ts_column])
        frame.insert(0, "ts", ts)
        if self._single and _NODE_COLUMN in frame.columns:
            nodes = frame[_NODE_COLUMN].astype(str)
            return {str(n): _table(g) for n, g in frame.groupby(nodes, sort=False)}
        return {None: _table(frame)}
