"""Tests of the structured JSON log events."""

from __future__ import annotations

import enum
import json
import logging
from datetime import UTC, datetime

import numpy as np
import pytest

from seamless_sdk import events
from seamless_sdk.events import BACKFILL, BACKFILL_ATTEMPT, SLA, SLA_DOWNGRADE, emit
from seamless_sdk.intervals import parse_interval
from seamless_sdk.ranges import RangeSet


class _Strategy(enum.Enum):
    SEAMLESS = "seamless"


def _records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "seamless"]


def test_event_names() -> None:
    assert (BACKFILL_ATTEMPT, BACKFILL, SLA, SLA_DOWNGRADE, events.READ) == (
        "seamless.backfill.attempt",
        "seamless.backfill",
        "seamless.sla",
        "seamless.sla.downgrade",
        "seamless.read",
    )
    assert set(events.EVENTS) == {
        BACKFILL_ATTEMPT,
        BACKFILL,
        SLA,
        SLA_DOWNGRADE,
        events.READ,
        events.CONFORMANCE,
    }


def test_emit_writes_one_line_json_with_the_required_fields(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="seamless")
    emit(
        BACKFILL,
        node_id="demo:BTCUSDT",
        interval=parse_interval("1m"),
        start=np.int64(1_704_067_200),
        end=1_704_153_600,
        request_id="req-1",
        rows=1440,
        windows=RangeSet([(120, 180), (0, 60)]),
        strategy=_Strategy.SEAMLESS,
        ratio=0.5,
        nan=float("nan"),
        at=datetime(2024, 1, 1, tzinfo=UTC),
        error=ValueError("boom"),
        elapsed_ms={"storage": np.float64(1.5)},
    )
    (record,) = _records(caplog)
    assert record.levelno == logging.INFO
    message = record.getMessage()
    assert "\n" not in message
    body = json.loads(message)
    assert list(body)[:6] == ["event", "node_id", "interval", "start", "end", "request_id"]
    assert body == {
        "event": "seamless.backfill",
        "node_id": "demo:BTCUSDT",
        "interval": "1m",
        "start": 1_704_067_200,
        "end": 1_704_153_600,
        "request_id": "req-1",
        "rows": 1440,
        "windows": [[0, 60], [120, 180]],
        "strategy": "seamless",
        "ratio": 0.5,
        "nan": "nan",
        "at": "2024-01-01T00:00:00+00:00",
        "error": "ValueError: boom",
        "elapsed_ms": {"storage": 1.5},
    }
    assert type(body["start"]) is int and type(body["rows"]) is int
    assert record.seamless == body  # type: ignore[attr-defined]
    assert record.funcName == "test_emit_writes_one_line_json_with_the_required_fields"


def test_level_is_passed_through(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="seamless")
    emit(
        SLA,
        node_id="n",
        interval="1m",
        start=0,
        end=60,
        request_id="r",
        level=logging.WARNING,
        phase="backfill",
    )
    (record,) = _records(caplog)
    assert record.levelno == logging.WARNING
    assert record.seamless["phase"] == "backfill"  # type: ignore[attr-defined]


def test_disabled_level_builds_nothing(caplog: pytest.LogCaptureFixture) -> None:
    class Spy:
        converted = 0

        def to_dict(self) -> dict[str, int]:
            Spy.converted += 1
            return {"x": 1}

    caplog.set_level(logging.WARNING, logger="seamless")
    assert not events.enabled() and events.enabled(logging.WARNING)
    emit(BACKFILL_ATTEMPT, node_id="n", interval="1m", start=0, end=60, request_id="r", spy=Spy())
    assert _records(caplog) == []
    assert Spy.converted == 0
    emit(
        SLA_DOWNGRADE,
        node_id="n",
        interval="1m",
        start=0,
        end=60,
        request_id="r",
        level=logging.ERROR,
        spy=Spy(),
    )
    (record,) = _records(caplog)
    assert Spy.converted == 1
    assert json.loads(record.getMessage())["spy"] == {"x": 1}


def test_message_is_encoded_once_and_lazily() -> None:
    msg = events.JsonMessage({"event": "e", "n": 1})
    assert msg._text is None
    assert str(msg) == '{"event":"e","n":1}'
    assert str(msg) is str(msg)
