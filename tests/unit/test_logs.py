"""seamless_sdk.logs: one-line install, JSON lines with fixed keys, text on a terminal."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from prometheus_client import CollectorRegistry

from seamless_sdk import (
    ConformanceError,
    LocalStore,
    SeamlessDataProvider,
    SLAPolicy,
    SyntheticFetcher,
    events,
)
from seamless_sdk.logs import STANDARD_FIELDS, install

DAY = 86_400
T0 = 1_704_067_200


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def logger() -> Iterator[logging.Logger]:
    log = logging.getLogger(events.LOGGER_NAME)
    level, handlers = log.level, list(log.handlers)
    yield log
    log.setLevel(level)
    for handler in list(log.handlers):
        if handler not in handlers:
            log.removeHandler(handler)


def _lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_json_lines_from_a_real_read(tmp_path: Path, logger: logging.Logger) -> None:
    stream = io.StringIO()
    install(stream=stream)
    with SeamlessDataProvider(
        LocalStore(tmp_path / "bars.sqlite"), SyntheticFetcher(seed=1), registry=CollectorRegistry()
    ) as provider:
        result = provider.read("demo:A", "1h", T0, T0 + DAY, sla=SLAPolicy(total_deadline_ms=5000))
    lines = _lines(stream)
    names = [line["event"] for line in lines]
    assert events.BACKFILL_ATTEMPT in names and events.BACKFILL in names and events.READ in names
    for line in lines:
        assert list(line)[: len(STANDARD_FIELDS)] == list(STANDARD_FIELDS)
        assert line["node_id"] == "demo:A" and line["interval"] == "1h"
        assert line["start"] is not None and line["end"] is not None
        assert line["trace_id"] is None  # no OpenTelemetry installed or no span
    read = next(line for line in lines if line["event"] == events.READ)
    assert read["request_id"] == result.meta.request_id
    assert read["strategy"] == "seamless"
    assert read["level"] == "INFO" and read["logger"] == "seamless"


def test_a_window_that_fails_is_a_warning_with_its_error_kind(
    tmp_path: Path, logger: logging.Logger
) -> None:
    # It was INFO with error_kind null: a pipeline filtering on either missed it.
    class Down:
        def fetch(self, *args: object) -> None:
            raise ConnectionError("source down")

    stream = io.StringIO()
    install(stream=stream)
    with SeamlessDataProvider(
        LocalStore(tmp_path / "bars.sqlite"), Down(), registry=CollectorRegistry()
    ) as provider:
        provider.read("demo:A", "1h", T0, T0 + DAY, partial_ok=True)
    failed = [
        line
        for line in _lines(stream)
        if line["event"] == events.BACKFILL and line.get("status") == "fetch_failed"
    ]
    assert failed and all(
        line["level"] == "WARNING" and line["error_kind"] == "ConnectionError" for line in failed
    )


def test_exceptions_carry_their_kind(logger: logging.Logger) -> None:
    stream = io.StringIO()
    install(stream=stream, json_lines=True)
    try:
        raise ConnectionError("vendor down")
    except ConnectionError:
        logger.exception("fetch failed")
    (line,) = _lines(stream)
    assert line["error_kind"] == "ConnectionError"
    assert "vendor down" in str(line["exception"])
    assert line["message"] == "fetch failed" and line["event"] is None


def test_text_on_a_terminal_and_no_duplicate_handlers(logger: logging.Logger) -> None:
    tty = _Tty()
    install(stream=tty)
    install(stream=tty)  # again: replaces, never duplicates
    events.emit(
        events.SLA, node_id="demo:A", interval="1m", start=0, end=60, request_id="r1", phase="total"
    )
    (text,) = tty.getvalue().splitlines()
    assert " seamless.sla node_id=demo:A interval=1m start=0 end=60 request_id=r1 phase=total" in (
        text
    )
    assert not text.lstrip().startswith("{")


class _NaNFetcher:
    def fetch(self, node_id: str, interval: str, start: int, end: int) -> pd.DataFrame:
        frame = SyntheticFetcher(seed=1).fetch(node_id, interval, start, end)
        frame.loc[frame.index[0], "close"] = float("nan")
        return frame


def test_conformance_events_for_good_and_bad_windows(
    tmp_path: Path, logger: logging.Logger
) -> None:
    stream = io.StringIO()
    install(stream=stream, json_lines=True)
    with SeamlessDataProvider(
        LocalStore(tmp_path / "good.sqlite"), SyntheticFetcher(seed=1), registry=CollectorRegistry()
    ) as provider:
        provider.read("demo:A", "1h", T0, T0 + DAY)
    with (
        SeamlessDataProvider(
            LocalStore(tmp_path / "bad.sqlite"), _NaNFetcher(), registry=CollectorRegistry()
        ) as provider,
        pytest.raises(ConformanceError),
    ):
        provider.read("demo:A", "1h", T0, T0 + DAY)
    found = [line for line in _lines(stream) if line["event"] == events.CONFORMANCE]
    good, bad = found
    assert good["level"] == "INFO" and good["ok"] is True and good["error_kind"] is None
    assert good["flags"] == {"BACKFILLED": 24}
    assert bad["level"] == "WARNING" and bad["ok"] is False
    assert bad["error_kind"] == "nonconformant" and bad["rule_violations"]
    assert (good["start"], good["end"]) == (T0, T0 + DAY)
