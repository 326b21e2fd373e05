"""Conformance reports as JSON files, one per node, interval and partition window.

Layout under the report directory::

    <report_dir>/<node>/<interval>/<window_start>_<window_end>.json

with ``<node>`` made safe for any file system (``demo:BTCUSDT`` becomes
``demo%3ABTCUSDT``: reversible, and no two node ids share a directory) and
the window as ``YYYYMMDDTHHMMSSZ``. A file is written to a temporary name in
the same directory and renamed over the target, so a reader sees the old
report or the new one, never half of one; writing the same window again
replaces it.
"""

from __future__ import annotations

import json
import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

from seamless_sdk.conformance.engine.report import ConformanceReport
from seamless_sdk.intervals import Interval, parse_interval
from seamless_sdk.request import validate_node_id

_SAFE = "-_."  # node ids may also hold ':' (and '.' only as a name part, never alone)


def node_dir_name(node_id: str) -> str:
    """A file-system-safe, reversible directory name for a node id."""
    validate_node_id(node_id)
    return quote(node_id, safe=_SAFE)


def node_id_of(dir_name: str) -> str:
    """The node id a :func:`node_dir_name` stands for."""
    return unquote(dir_name)


def report_path(
    report_dir: str | Path,
    node_id: str,
    interval: Interval | str,
    window_start: int,
    window_end: int,
) -> Path:
    """Where the report of one window goes (nothing is created)."""
    iv = parse_interval(interval)
    name = f"{_stamp(window_start)}_{_stamp(window_end)}.json"
    return Path(report_dir) / node_dir_name(node_id) / iv.name / name


def write_report(
    report: ConformanceReport | dict[str, Any],
    report_dir: str | Path,
    node_id: str,
    interval: Interval | str,
    window_start: int,
    window_end: int,
) -> Path:
    """Write ``report`` as JSON for one node's window, atomically; return the path.

    The file holds the report's ``to_dict()`` plus ``node_id``, ``interval``,
    ``window_start``/``window_end`` (epoch seconds) and ``written_at``.
    """
    iv = parse_interval(interval)
    path = report_path(report_dir, node_id, iv, window_start, window_end)
    body = report.to_dict() if isinstance(report, ConformanceReport) else dict(report)
    document = {
        "node_id": node_id,
        "interval": iv.name,
        "window_start": int(window_start),
        "window_end": int(window_end),
        "written_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "report": body,
    }
    text = json.dumps(document, indent=2, sort_keys=False, allow_nan=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def read_report(path: str | Path) -> dict[str, Any]:
    """A report file written by :func:`write_report`, as a dict."""
    data: dict[str, Any] = json.loads(Path(path).read_text(encoding="utf-8"))
    return data


def _stamp(ts: int) -> str:
    return datetime.fromtimestamp(int(ts), UTC).strftime("%Y%m%dT%H%M%SZ")
