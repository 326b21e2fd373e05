"""Bad requests and garbage fetcher frames get typed errors and change nothing."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry

from seamless_sdk import (
    ConformanceError,
    FetchError,
    HistoryResult,
    InvalidRequestError,
    LocalStore,
    ProviderClosedError,
    RangeSet,
    SeamlessDataProvider,
    SLAPolicy,
    Strategy,
    SyntheticFetcher,
)

from .conftest import HOUR, T0, MakeProvider


class FrameFetcher:
    """Returns whatever frame (or object) it was given; raises if given an exception."""

    def __init__(self, payload: object) -> None:
        self.payload = payload
        self.calls = 0

    def fetch(self, node_id: str, interval: str, start: int, end: int) -> object:
        self.calls += 1
        if isinstance(self.payload, BaseException):
            raise self.payload
        return self.payload


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"node_id": "bad id"}, "node_id"),
        ({"node_id": "x\n"}, "node_id"),
        ({"interval": "3x"}, "interval"),
        ({"start": T0 + 1}, "start"),
        ({"end": T0 - 60}, "end"),
        ({"strategy": "sometimes"}, "strategy"),
        ({"source_priority": ("cache", "disk")}, "source_priority"),
        ({"source_priority": np.array("cache")}, "source_priority"),  # was numpy's TypeError
        ({"start": np.array([T0])}, "start"),
        ({"partial_ok": "yes"}, "partial_ok"),
        ({"sla": {"total_deadline_ms": 5}}, "sla"),
        ({"return_meta": "no"}, "return_meta"),
        ({"start": np.timedelta64(T0, "s")}, "start"),
    ],
)
def test_bad_requests(make_provider: MakeProvider, kwargs: dict, field: str) -> None:  # type: ignore[type-arg]
    p = make_provider(FrameFetcher(None))
    args = {"node_id": "demo:A", "interval": "1m", "start": T0, "end": T0 + HOUR} | kwargs
    with pytest.raises(InvalidRequestError) as info:
        p.read(
            args.pop("node_id"), args.pop("interval"), args.pop("start"), args.pop("end"), **args
        )
    assert info.value.field == field
    assert str(info.value).startswith(field)


GOOD = pd.DataFrame(
    {
        "ts": [T0, T0 + 60],
        "open": [1.0, 1.0],
        "high": [2.0, 2.0],
        "low": [0.5, 0.5],
        "close": [1.5, 1.5],
        "volume": [3.0, 3.0],
    }
)


@pytest.mark.parametrize(
    "payload",
    [
        None,
        "not a frame",
        pd.DataFrame({"x": [1]}),
        GOOD.drop(columns=["close"]),
        GOOD.assign(volume=[-1.0, 1.0]),
        GOOD.assign(high=[0.1, 2.0]),
        GOOD.assign(open=[np.nan, 1.0]),
        GOOD.assign(open=["a", "b"]),
        GOOD.assign(ts=["not a time", "x"]),
    ],
    ids=[
        "none",
        "string",
        "no-columns",
        "missing-close",
        "negative-volume",
        "high-below-open",
        "nan-open",
        "string-prices",
        "bad-ts",
    ],
)
def test_garbage_frames_block_and_leave_the_store_unchanged(
    make_provider: MakeProvider, payload: object
) -> None:
    p = make_provider(FrameFetcher(payload), strategy=Strategy.AUTO_BACKFILL)
    with pytest.raises(ConformanceError) as info:
        p.read("demo:G", "1m", T0, T0 + HOUR)
    assert info.value.report is not None and not info.value.report.ok
    assert p.coverage("demo:G", "1m") == RangeSet()
    assert p.store.read("demo:G", p_iv(), T0, T0 + HOUR).empty
    assert p.last_conformance_report is info.value.report


def p_iv():  # type: ignore[no-untyped-def]
    from seamless_sdk import parse_interval

    return parse_interval("1m")


def test_partial_ok_returns_conformed_rows_and_leaves_rejected_bars_missing(
    make_provider: MakeProvider,
) -> None:
    bad = GOOD.assign(volume=[-1.0, 1.0])
    p = make_provider(FrameFetcher(bad), strategy=Strategy.AUTO_BACKFILL, partial_ok=True)
    res = p.read("demo:P", "1m", T0, T0 + 600)
    assert len(res.df) == 1 and res.df["ts"].iloc[0] == pd.Timestamp(T0 + 60, unit="s", tz="UTC")
    assert res.meta.missing == RangeSet([(T0, T0 + 60)])
    assert not res.meta.conformance.ok
    assert res.meta.conformance.rule_violations["negative_volume"] == 1
    assert p.last_conformance_report is not None


def test_raising_fetcher_is_retried_then_surfaces(make_provider: MakeProvider) -> None:
    fetcher = FrameFetcher(RuntimeError("upstream 503"))
    p = make_provider(fetcher, strategy=Strategy.AUTO_BACKFILL)
    with pytest.raises(FetchError) as info:
        p.read(
            "demo:R",
            "1m",
            T0,
            T0 + HOUR,
            sla=SLAPolicy(max_attempts=3, retry_backoff_ms=1, jitter_ratio=0.5),
        )
    assert fetcher.calls == 3 and info.value.attempts == 3
    assert isinstance(info.value.__cause__, RuntimeError)
    assert p.coverage("demo:R", "1m") == RangeSet()


class _Unprintable(Exception):
    def __repr__(self) -> str:
        raise RuntimeError("repr boom")


@pytest.mark.parametrize("strategy", [Strategy.AUTO_BACKFILL, Strategy.SEAMLESS])
def test_an_exception_that_cannot_repr_is_still_a_fetch_error(
    make_provider: MakeProvider, strategy: Strategy
) -> None:
    p = make_provider(FrameFetcher(_Unprintable("upstream 503")), strategy=strategy)
    sla = SLAPolicy(max_attempts=1)
    if strategy is Strategy.AUTO_BACKFILL:
        with pytest.raises(FetchError, match="_Unprintable"):
            p.read("demo:U", "1m", T0, T0 + HOUR, sla=sla)
    else:
        res = p.read("demo:U", "1m", T0, T0 + HOUR, sla=sla)
        assert res.meta.missing == RangeSet([(T0, T0 + HOUR)])


def test_closed_provider_raises(make_provider: MakeProvider) -> None:
    p = make_provider(FrameFetcher(GOOD))
    with p:
        pass
    assert p.closed
    with pytest.raises(ProviderClosedError):
        p.read("demo:A", "1m", T0, T0 + 60)
    with pytest.raises(ProviderClosedError):
        p.calendar("demo:A")


def test_return_meta_none_is_the_default(make_provider: MakeProvider) -> None:
    p = make_provider(FrameFetcher(GOOD))
    res = p.read("demo:A", "1m", T0, T0, return_meta=None)
    assert isinstance(res, HistoryResult)
    assert isinstance(p.read("demo:A", "1m", T0, T0, return_meta=False), pd.DataFrame)


def test_a_bad_return_meta_fetches_nothing(make_provider: MakeProvider) -> None:
    fetcher = FrameFetcher(GOOD)
    p = make_provider(fetcher)
    with pytest.raises(InvalidRequestError, match=r"^return_meta"):
        p.read("demo:A", "1m", T0, T0 + 60, strategy="auto_backfill", return_meta=1)
    assert fetcher.calls == 0


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    ts=st.lists(st.integers(T0 - 600, T0 + 1200), min_size=1, max_size=12),
    price=st.floats(allow_nan=True, allow_infinity=True, width=64),
    volume=st.floats(min_value=-5, max_value=5),
)
def test_any_frame_either_conforms_or_changes_nothing(
    make_provider: MakeProvider, ts: list[int], price: float, volume: float
) -> None:
    frame = pd.DataFrame(
        {"ts": ts, "open": price, "high": price, "low": price, "close": price, "volume": volume}
    )
    p = make_provider(FrameFetcher(frame), strategy=Strategy.AUTO_BACKFILL)
    node = f"demo:H{abs(hash((tuple(ts), price, volume))) % 10**9}"
    try:
        res = p.read(node, "1m", T0, T0 + 600)
    except ConformanceError:
        assert p.coverage(node, "1m") == RangeSet()
    else:
        secs = res.df["ts"].array.asi8 // 10**9
        assert ((secs >= T0) & (secs < T0 + 600)).all() and (np.diff(secs) > 0).all()
        assert res.meta.coverage == RangeSet([(T0, T0 + 600)])
    finally:
        p.close()


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"cache_bytes": "big"}, "cache_bytes"),
        ({"cache_bytes": -1}, "cache_bytes"),
        ({"cache_bytes": None}, "cache_bytes"),
        ({"cache_ttl_s": float("nan")}, "cache_ttl_s"),
        ({"cache_ttl_s": -1}, "cache_ttl_s"),
        ({"workers": "2"}, "workers"),
        ({"workers": 0}, "workers"),
        ({"workers": 1.5}, "workers"),
        ({"close_timeout_s": "x"}, "close_timeout_s"),
        ({"close_timeout_s": float("inf")}, "close_timeout_s"),
        ({"clock": 5}, "clock"),
        ({"clock": None}, "clock"),
        ({"on_fill": 5}, "on_fill"),
        ({"calendars": 5}, "calendars"),
        ({"backfiller": 5}, "backfiller"),
        ({"registry": 5}, "registry"),
        ({"metrics_port": 70_000}, "metrics_port"),
        ({"metrics_port": "9100"}, "metrics_port"),
    ],
)
def test_bad_provider_settings_name_the_field_and_start_nothing(
    tmp_path: Path,
    kwargs: dict,
    field: str,  # type: ignore[type-arg]
) -> None:
    # They once leaked TypeError/AttributeError, or were taken silently (workers=0).
    kwargs.setdefault("registry", CollectorRegistry())
    threads = threading.active_count()
    with LocalStore(tmp_path / "s.sqlite") as store, pytest.raises(InvalidRequestError) as info:
        SeamlessDataProvider(store, SyntheticFetcher(seed=1), **kwargs)
    assert info.value.field == field
    assert str(info.value).startswith(f"{field}: ")
    assert threading.active_count() == threads
