"""Structured log events: one-line JSON messages on the ``seamless`` logger.

Every event carries ``event`` (one of the names below), ``node_id``,
``interval``, ``start``, ``end`` and ``request_id``, plus any extra fields.
The same fields ride on the ``LogRecord`` as ``record.seamless`` (a dict), so
handlers and tests read them without parsing the message.

>>> emit(BACKFILL, node_id="demo:BTCUSDT", interval="1m", start=0, end=60,
...      request_id="r1", rows=1)   # logs {"event": "seamless.backfill", ...}

Values are made JSON-ready once, by ``seamless_sdk.jsonable`` (RangeSets become
``[[start, end], ...]``, enums their value, ``Interval`` its name, datetimes ISO
strings, numpy scalars Python numbers, non-finite floats strings). Nothing is
built when the logger is not enabled for the level (and no span is recording),
and the JSON text itself is only encoded when a handler formats the record.

With OpenTelemetry tracing on (``seamless_sdk.tracing``), an event emitted while
a span is recording also carries ``trace_id`` and is added to that span as a
span event, so a trace shows the SLA breaches and fill outcomes of its read.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from seamless_sdk import tracing
from seamless_sdk.jsonable import jsonable

LOGGER_NAME = "seamless"
logger = logging.getLogger(LOGGER_NAME)
# A library adds no output of its own: without logging configured, events
# (even warnings) stay silent instead of reaching the last-resort stderr handler.
logger.addHandler(logging.NullHandler())

BACKFILL_ATTEMPT = "seamless.backfill.attempt"
BACKFILL = "seamless.backfill"
SLA = "seamless.sla"
SLA_DOWNGRADE = "seamless.sla.downgrade"
READ = "seamless.read"
CONFORMANCE = "seamless.conformance"
EVENTS: tuple[str, ...] = (BACKFILL_ATTEMPT, BACKFILL, SLA, SLA_DOWNGRADE, READ, CONFORMANCE)
"""Every event name Seamless logs."""


def enabled(level: int = logging.INFO) -> bool:
    """True when an event at ``level`` would be logged: lets callers skip
    gathering costly fields for ``emit``."""
    return logger.isEnabledFor(level)


class JsonMessage:
    """A log message that encodes its fields as one-line JSON on first use."""

    __slots__ = ("_text", "fields")

    def __init__(self, fields: dict[str, Any]) -> None:
        self.fields = fields
        self._text: str | None = None

    def __str__(self) -> str:
        if self._text is None:
            self._text = json.dumps(self.fields, separators=(",", ":"), allow_nan=False)
        return self._text

    def __repr__(self) -> str:
        return f"JsonMessage({self.fields!r})"


def emit(
    event: str,
    *,
    node_id: str | None,
    interval: Any,
    start: int | None,
    end: int | None,
    request_id: str | None,
    level: int = logging.INFO,
    **fields: Any,
) -> None:
    """Log ``event`` on the ``seamless`` logger as a one-line JSON object.

    The message is ``{"event": event, "node_id": ..., "interval": ...,
    "start": ..., "end": ..., "request_id": ..., **fields}``; the same dict is
    ``record.seamless``; with a span recording, also ``"trace_id"``, and the
    span gets the event.
    """
    logged = logger.isEnabledFor(level)
    traced = tracing.current_span_recording()
    if not (logged or traced):
        return
    payload: dict[str, Any] = {
        "event": event,
        "node_id": node_id,
        "interval": jsonable(interval),
        "start": jsonable(start),
        "end": jsonable(end),
        "request_id": request_id,
    }
    for key, value in fields.items():
        payload[key] = jsonable(value)
    if traced:
        # Taken now, on the emitting thread: a queued handler formats it elsewhere.
        payload["trace_id"] = tracing.current_trace_id()
        tracing.add_event(event, payload)
    if not logged:
        return
    # stacklevel=2: the record names the caller of emit, not emit itself.
    logger.log(level, JsonMessage(payload), extra={"seamless": payload}, stacklevel=2)
