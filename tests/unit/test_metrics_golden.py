"""The golden list: every metric family Seamless exposes, its type and its label set.

A rename, a new label or a dropped one breaks dashboards and alert rules in
production; changing this list is the deliberate step that says so.
"""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from seamless_sdk import metrics as m
from seamless_sdk import settings
from seamless_sdk.errors import InvalidRequestError
from seamless_sdk.metrics import Metrics, lock_contended

GOLDEN: dict[str, tuple[str, frozenset[str]]] = {
    "seamless_sla_deadline_seconds": ("histogram", frozenset({"node_id", "phase"})),
    "seamless_backfill_wait_ms": ("histogram", frozenset({"node_id", "interval"})),
    # Two label sets in one family: a provider's fills and coordinator leases.
    "backfill_completion_ratio": ("gauge", frozenset({"node_id", "interval", "lease_key"})),
    "backfill_jobs_in_progress": ("gauge", frozenset({"node_id", "interval"})),
    "backfill_last_timestamp": ("gauge", frozenset({"node_id", "interval"})),
    "backfill_retry": ("counter", frozenset({"node_id", "interval"})),
    "backfill_failure": ("counter", frozenset({"node_id", "interval"})),
    "seamless_backfill_fetch": ("counter", frozenset({"node_id", "interval"})),
    "seamless_conformance_flag": ("counter", frozenset({"node_id", "flag"})),
    "seamless_read_latency_seconds": ("histogram", frozenset({"strategy", "interval"})),
    "seamless_read_partial_ratio": ("histogram", frozenset({"strategy"})),
    "seamless_cache_hits": ("counter", frozenset()),
    "seamless_cache_misses": ("counter", frozenset()),
    "seamless_sla_violation": ("counter", frozenset({"phase"})),
    "seamless_reads": ("counter", frozenset({"strategy", "strict", "interval", "outcome"})),
    "seamless_read_source": ("counter", frozenset({"source", "strategy", "interval"})),
    "seamless_backfill_queue_length": ("gauge", frozenset({"interval"})),
    "seamless_backfill_duration_seconds": ("histogram", frozenset({"interval", "outcome"})),
    "seamless_backfill_windows": ("counter", frozenset({"interval", "outcome"})),
    "seamless_job_retries": ("counter", frozenset({"interval"})),
    "seamless_lock_contention": ("counter", frozenset({"lock"})),
    "seamless_single_flight_collisions": ("counter", frozenset({"interval"})),
}
"""Family name as the text parser reports it (counters without ``_total``) ->
(type, label names of its samples, ``le`` aside)."""


def _record_everything(x: Metrics) -> None:
    x.observe_phase("demo:A", "storage", 0.004)
    x.observe_read(
        "seamless", "1m", 0.02, 0.25, strict=True, violation="backfill", sources=["storage"]
    )
    x.cache_hit()
    x.cache_miss()
    x.conformance_flags("demo:A", {"duplicates": 2})
    x.fetch("demo:A", "1m")
    x.backfill_started("demo:A", "1m")
    x.backfill_retry("demo:A", "1m")
    x.backfill_failure("demo:A", "1m")
    x.backfill_wait("demo:A", "1m", 12.0)
    x.backfill_committed("demo:A", "1m", 120, 1.0)
    x.lease_completion("demo:A", "1m", "demo:A|1m|0|60", 1.0)
    x.backfill_finished("demo:A", "1m", 0.3, ok=False)
    x.single_flight_collision("1m")
    x.sla_violation("backfill")
    lock_contended("chunk")


def _families(reg: CollectorRegistry) -> dict[str, tuple[str, frozenset[str]]]:
    found: dict[str, tuple[str, frozenset[str]]] = {}
    for family in text_string_to_metric_families(generate_latest(reg).decode()):
        if family.name.endswith("_created"):
            continue  # the text parser's view of prometheus_client's creation stamps
        labels = frozenset(
            k
            for s in family.samples
            if not s.name.endswith("_created")
            for k in s.labels
            if k != "le"
        )
        found[family.name] = (family.type, labels)
    return found


def test_every_family_name_type_and_label_set_is_pinned() -> None:
    reg = CollectorRegistry()
    _record_everything(Metrics(reg))
    assert _families(reg) == GOLDEN


def test_the_golden_list_is_metric_names_exactly() -> None:
    exposed = {n.removesuffix("_total") for n in m.METRIC_NAMES}
    assert exposed == set(GOLDEN)


def test_section7_values() -> None:
    reg = CollectorRegistry()
    x = Metrics(reg)
    _record_everything(x)
    x.observe_read("seamless", "1m", 0.01, 0.0, sources=["cache", "storage"])
    v = reg.get_sample_value
    read = {"strategy": "seamless", "interval": "1m"}
    assert v("seamless_reads_total", {**read, "strict": "true", "outcome": "sla_violation"}) == 1
    assert v("seamless_reads_total", {**read, "strict": "false", "outcome": "complete"}) == 1
    assert v("seamless_read_source_total", {**read, "source": "storage"}) == 2
    assert v("seamless_read_source_total", {**read, "source": "cache"}) == 1
    assert v("seamless_backfill_queue_length", {"interval": "1m"}) == 0
    failed = {"interval": "1m", "outcome": "failure"}
    assert v("seamless_backfill_duration_seconds_count", failed) == 1
    assert v("seamless_backfill_duration_seconds_sum", failed) == pytest.approx(0.3)
    assert v("seamless_backfill_windows_total", {"interval": "1m", "outcome": "success"}) == 1
    assert v("seamless_backfill_windows_total", failed) == 1
    assert v("seamless_job_retries_total", {"interval": "1m"}) == 1
    assert v("seamless_lock_contention_total", {"lock": "chunk"}) == 1
    assert v("seamless_single_flight_collisions_total", {"interval": "1m"}) == 1


def test_per_node_labels_can_be_switched_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(settings.METRICS_NODE_LABELS_ENV, "off")
    reg = CollectorRegistry()
    x = Metrics(reg)
    assert not x.node_labels
    for node in ("demo:A", "demo:B", "demo:C"):
        x.backfill_retry(node, "1m")
        x.observe_phase(node, "storage", 0.001)
    text = generate_latest(reg).decode()
    assert "demo:" not in text
    off = {"node_id": m.NODE_LABEL_OFF, "interval": "1m"}
    assert reg.get_sample_value("backfill_retry_total", off) == 3
    count = {"node_id": m.NODE_LABEL_OFF, "phase": "storage"}
    assert reg.get_sample_value("seamless_sla_deadline_seconds_count", count) == 3
    # An explicit argument wins over the environment.
    assert Metrics(CollectorRegistry(), node_labels=True).node_labels


def test_node_label_setting_rejects_a_non_boolean(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(settings.METRICS_NODE_LABELS_ENV, "maybe")
    with pytest.raises(InvalidRequestError, match=r"^SEAMLESS_METRICS_NODE_LABELS: 'maybe'"):
        Metrics(CollectorRegistry())
    monkeypatch.setenv(settings.METRICS_NODE_LABELS_ENV, "")
    assert Metrics(CollectorRegistry()).node_labels
