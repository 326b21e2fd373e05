"""backfill_completion_ratio{node_id,interval,lease_key} beside the two-label series."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Gauge, generate_latest

from seamless_sdk import metrics as m
from seamless_sdk.intervals import parse_interval
from seamless_sdk.metrics import Metrics


def test_both_label_sets_are_one_family() -> None:
    reg = CollectorRegistry()
    x = Metrics(reg)
    x.backfill_committed("demo:A", "1m", 1000, 0.5)
    x.lease_completion("demo:A", parse_interval("1m"), "demo:A|1m|0|86400", 0.25)
    text = generate_latest(reg).decode()
    assert text.count("# TYPE backfill_completion_ratio gauge\n") == 1
    assert 'backfill_completion_ratio{interval="1m",node_id="demo:A"} 0.5' in text
    assert (
        'backfill_completion_ratio{interval="1m",lease_key="demo:A|1m|0|86400",node_id="demo:A"}'
        " 0.25" in text
    )
    v = reg.get_sample_value
    labels = {"node_id": "demo:A", "interval": "1m", "lease_key": "demo:A|1m|0|86400"}
    assert v("backfill_completion_ratio", labels) == 0.25
    assert v("backfill_completion_ratio", {"node_id": "demo:A", "interval": "1m"}) == 0.5
    Metrics(reg).lease_completion("demo:A", "1m", "demo:A|1m|0|86400", 1.0)  # shared collectors
    assert v("backfill_completion_ratio", labels) == 1.0


def test_old_lease_series_are_dropped() -> None:
    reg = CollectorRegistry()
    x = Metrics(reg)
    for i in range(m.MAX_LEASE_SERIES + 10):
        x.lease_completion("n", "1m", f"n|1m|{i}|{i + 1}", 1.0)
    x.lease_completion("n", "1m", "n|1m|10|11", 0.5)  # touched again: kept as newest
    text = generate_latest(reg).decode()
    assert text.count("lease_key=") == m.MAX_LEASE_SERIES
    assert 'lease_key="n|1m|9|10"' not in text
    assert 'lease_key="n|1m|10|11",node_id="n"} 0.5' in text
    assert f'lease_key="n|1m|{m.MAX_LEASE_SERIES + 9}|' in text


def test_a_foreign_completion_gauge_is_still_reported() -> None:
    reg = CollectorRegistry()
    Gauge(m.BACKFILL_COMPLETION_RATIO, "someone else's", registry=reg)
    try:
        Metrics(reg)
    except ValueError as exc:
        assert "Duplicated timeseries" in str(exc)
    else:
        raise AssertionError("a duplicate completion gauge was accepted")
