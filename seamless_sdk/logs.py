"""Log output for Seamless's structured events, installed in one line:

>>> import seamless_sdk.logs
>>> seamless_sdk.logs.install()      # doctest: +SKIP

``install()`` adds one handler to the ``seamless`` logger: JSON lines
(:class:`JsonFormatter`) when the stream is not a terminal, readable text
(:class:`TextFormatter`) when it is; ``json=True``/``False`` forces either.

Every JSON line has the same keys, ``null`` when a record does not carry
them, so a log pipeline can index them without guessing: ``ts``, ``level``,
``logger``, ``event`` (``seamless.backfill``, ``seamless.sla``, ...; ``null``
for a plain message), ``message``, ``request_id``, ``node_id``, ``interval``,
``start``, ``end``, ``strategy``, ``source``, ``wait_ms``, ``error_kind``
(the exception's class, or an event's own ``error_kind``), ``exception``
(the traceback) and ``trace_id`` (the current OpenTelemetry trace when the
optional ``opentelemetry-api`` package is installed and a span is recording;
``null`` otherwise), then the event's other fields.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

from seamless_sdk import tracing
from seamless_sdk.events import LOGGER_NAME

STANDARD_FIELDS: tuple[str, ...] = (
    "ts",
    "level",
    "logger",
    "event",
    "message",
    "request_id",
    "node_id",
    "interval",
    "start",
    "end",
    "strategy",
    "source",
    "wait_ms",
    "error_kind",
    "exception",
    "trace_id",
)
"""The keys of every JSON line, in order."""

_TEXT_KEYS = ("node_id", "interval", "start", "end", "request_id")


def current_trace_id() -> str | None:
    """The current OpenTelemetry trace id as 32 hex digits, or ``None`` (no
    ``opentelemetry-api`` installed, or no span current)."""
    return tracing.current_trace_id()


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    payload = getattr(record, "seamless", None)
    return dict(payload) if isinstance(payload, dict) else {}


def _timestamp(record: logging.LogRecord) -> str:
    return datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")


class JsonFormatter(logging.Formatter):
    """One JSON object per record with :data:`STANDARD_FIELDS` first."""

    def format(self, record: logging.LogRecord) -> str:
        fields = _fields(record)
        line: dict[str, Any] = dict.fromkeys(STANDARD_FIELDS)
        line["ts"] = _timestamp(record)
        line["level"] = record.levelname
        line["logger"] = record.name
        # An event's message is its JSON payload: repeating it would double each line.
        line["message"] = None if fields else record.getMessage()
        if record.exc_info and record.exc_info[0] is not None:
            line["error_kind"] = record.exc_info[0].__name__
            line["exception"] = self.formatException(record.exc_info)
        line["trace_id"] = current_trace_id()
        for key, value in fields.items():
            if key in ("error_kind", "trace_id") and value is None:
                continue  # an event's empty field must not hide what the record says
            line[key] = value
        return json.dumps(line, separators=(",", ":"), default=str)


class TextFormatter(logging.Formatter):
    """``time level event key=value ...`` for a person at a terminal."""

    def format(self, record: logging.LogRecord) -> str:
        fields = _fields(record)
        head = f"{_timestamp(record)} {record.levelname:<7}"
        if not fields:
            text = f"{head} {record.name}: {record.getMessage()}"
        else:
            event = fields.pop("event", record.name)
            ordered = [(k, fields.pop(k)) for k in _TEXT_KEYS if k in fields]
            pairs = " ".join(f"{k}={v}" for k, v in [*ordered, *fields.items()] if v is not None)
            text = f"{head} {event} {pairs}"
        if record.exc_info and record.exc_info[0] is not None:
            text += "\n" + self.formatException(record.exc_info)
        return text


def install(
    level: int | str = logging.INFO,
    *,
    stream: TextIO | None = None,
    json_lines: bool | None = None,
) -> logging.Handler:
    """Send the ``seamless`` logger's records to ``stream`` (default stderr):
    JSON lines unless the stream is a terminal (``json_lines`` forces the
    choice). Calling it again replaces the handler it installed before, so
    there is never a duplicate line. Returns the handler (remove it with
    ``logging.getLogger("seamless").removeHandler``)."""
    target = sys.stderr if stream is None else stream
    if json_lines is None:
        isatty = getattr(target, "isatty", None)
        json_lines = not (callable(isatty) and isatty())
    handler = logging.StreamHandler(target)
    handler.setFormatter(JsonFormatter() if json_lines else TextFormatter())
    handler.set_name("seamless.logs")
    logger = logging.getLogger(LOGGER_NAME)
    for old in list(logger.handlers):
        if old.get_name() == "seamless.logs":
            logger.removeHandler(old)
    logger.addHandler(handler)
    logger.setLevel(level)
    return handler
