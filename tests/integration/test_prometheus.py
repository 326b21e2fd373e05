"""A real Prometheus scrapes a provider's exporter while the provider reads,
backfills, fails a fetch and breaches an SLA; the series are queried back
through Prometheus's HTTP API.

One Prometheus and one provider serve the whole module (starting Prometheus
costs about a second); the module-scoped fixture stops both.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml
from prometheus_client import CollectorRegistry

from seamless_sdk import (
    LocalStore,
    SeamlessDataProvider,
    SLAPolicy,
    Strategy,
    SyntheticFetcher,
    metrics,
)
from seamless_sdk.doctor import Status, check_metrics, check_prometheus
from seamless_sdk.errors import DataUnavailableError
from tests import prometheus_server
from tests.prometheus_server import PrometheusServer

DAY = 86_400
T0 = 1_704_067_200  # 2024-01-01T00:00Z
T1 = T0 + 60 * DAY  # the second round's bars: none of them stored by the first


class _Fetcher:
    """Synthetic bars, except ``demo:SLOW*`` (takes 0.6 s) and ``demo:BAD`` (fails)."""

    def __init__(self) -> None:
        self._bars = SyntheticFetcher(seed=3)

    def fetch(self, node_id: str, interval: str, start: int, end: int) -> pd.DataFrame:
        if node_id == "demo:BAD":
            raise ConnectionError("upstream refused")
        if node_id.startswith("demo:SLOW"):
            time.sleep(0.6)
        return self._bars.fetch(node_id, interval, start, end)


@dataclass
class Observed:
    prom: PrometheusServer
    provider: SeamlessDataProvider
    outcomes: dict[str, Any]


@pytest.fixture(scope="module")
def observed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Observed]:
    reason = prometheus_server.missing()
    if reason is not None:
        pytest.skip(reason)
    folder: Path = tmp_path_factory.mktemp("prom")
    provider = SeamlessDataProvider(
        LocalStore(folder / "bars.sqlite"),
        _Fetcher(),
        registry=CollectorRegistry(),
        metrics_port=0,
    )
    try:
        assert provider.metrics_server is not None
        target = f"127.0.0.1:{provider.metrics_server.port}"
        with PrometheusServer.start([target], rule_files=_rule_files()) as prom:
            # Two rounds with a scrape between them, so every counter and
            # histogram moves inside a rate() window (dashboard panels need it).
            outcomes = _exercise(provider, T0)
            _wait_scraped(prom, provider)
            _exercise(provider, T1)
            _wait_scraped(prom, provider)
            yield Observed(prom, provider, outcomes)
    finally:
        provider.close()


def _rule_files() -> list[Path]:
    rules = Path(__file__).resolve().parents[2] / "deploy" / "prometheus" / "alerts.yml"
    return [rules] if rules.is_file() else []


def _wait_scraped(prom: PrometheusServer, provider: SeamlessDataProvider) -> None:
    """Until Prometheus holds every read the provider has counted so far."""
    local = sum(
        sample.value
        for family in provider.metrics.registry.collect()
        if family.name == "seamless_reads"
        for sample in family.samples
        if sample.name == "seamless_reads_total"
    )
    prom.wait_for("sum(seamless_reads_total)", _at_least(local))


def _exercise(provider: SeamlessDataProvider, t0: int) -> dict[str, Any]:
    """Real reads from ``t0`` on: a backfill, a storage re-read, a failed fetch,
    an SLA breach, a single-flight collision and lock contention."""
    out: dict[str, Any] = {}
    first = provider.read("demo:A", "1h", t0, t0 + 2 * DAY)
    out["backfilled"] = first.meta.source_contributions
    again = provider.read("demo:A", "1h", t0, t0 + 2 * DAY, strict=True)
    out["again"] = again.meta.source_contributions
    with pytest.raises(DataUnavailableError):
        provider.read("demo:B", "1h", t0, t0 + DAY, strategy=Strategy.FAIL_FAST)
    bad = provider.read(
        "demo:BAD", "1h", t0, t0 + DAY, sla=SLAPolicy(max_attempts=2, retry_backoff_ms=1)
    )
    out["bad_missing"] = bad.meta.missing
    slow = provider.read("demo:SLOW", "1h", t0, t0 + DAY, sla=SLAPolicy(total_deadline_ms=150))
    out["violation"] = slow.meta.sla_report.violation
    # Two identical reads join one job (a single-flight collision); a third,
    # overlapping one fills the same chunk and waits for its lock (contention).
    with ThreadPoolExecutor(3) as pool:
        spans = [(t0, t0 + DAY), (t0, t0 + DAY), (t0, t0 + 2 * DAY)]
        reads = [pool.submit(provider.read, "demo:SLOW2", "1h", s, e) for s, e in spans]
        out["concurrent_missing"] = [f.result().meta.missing for f in reads]
    # The breached fill goes on in the background; let it commit so its
    # duration and window are recorded too.
    provider._inprocess.wait_idle(10)
    return out


def _value(rows: list[dict[str, Any]]) -> float:
    return sum(float(r["value"][1]) for r in rows)


def _at_least(n: float) -> Any:
    return lambda rows: bool(rows) and _value(rows) >= n


def test_the_scenario_did_what_it_says(observed: Observed) -> None:
    assert set(observed.outcomes["backfilled"]) == {"backfill"}
    assert set(observed.outcomes["again"]) <= {"cache", "storage"}
    assert observed.outcomes["bad_missing"].total() == DAY
    assert observed.outcomes["violation"] is not None
    assert all(not m for m in observed.outcomes["concurrent_missing"])


def test_contention_and_collisions(observed: Observed) -> None:
    prom = observed.prom
    prom.wait_for('seamless_single_flight_collisions_total{interval="1h"}', _at_least(1))
    prom.wait_for('seamless_lock_contention_total{lock="chunk"}', _at_least(1))


def test_prometheus_scrapes_the_exporter(observed: Observed) -> None:
    rows = observed.prom.wait_for('up{job="seamless"}', _at_least(1))
    assert _value(rows) == 1


def test_reads_by_outcome_and_source(observed: Observed) -> None:
    prom = observed.prom
    complete = prom.wait_for(
        'seamless_reads_total{outcome="complete",interval="1h",strategy="seamless"}', _at_least(2)
    )
    assert {r["metric"]["strict"] for r in complete} == {"true", "false"}
    prom.wait_for('seamless_reads_total{outcome="partial"}', _at_least(1))
    prom.wait_for('seamless_reads_total{outcome="sla_violation"}', _at_least(1))
    prom.wait_for('seamless_read_source_total{source="backfill"}', _at_least(1))
    prom.wait_for('seamless_read_source_total{source=~"cache|storage"}', _at_least(1))
    # FAIL_FAST raised before answering: it is not a read that answered.
    assert prom.query('seamless_reads_total{strategy="fail_fast"}') == []
    prom.wait_for("seamless_read_latency_seconds_count", _at_least(4))


def test_backfill_series(observed: Observed) -> None:
    prom = observed.prom
    prom.wait_for('seamless_backfill_windows_total{outcome="success"}', _at_least(2))
    prom.wait_for('seamless_backfill_windows_total{outcome="failure"}', _at_least(1))
    prom.wait_for('backfill_failure_total{node_id="demo:BAD"}', _at_least(1))
    prom.wait_for('backfill_retry_total{node_id="demo:BAD"}', _at_least(1))
    prom.wait_for('seamless_job_retries_total{interval="1h"}', _at_least(1))
    prom.wait_for('seamless_backfill_duration_seconds_count{outcome="failure"}', _at_least(1))
    prom.wait_for('seamless_backfill_duration_seconds_count{outcome="success"}', _at_least(2))
    prom.wait_for('seamless_backfill_wait_ms_count{node_id="demo:A"}', _at_least(1))
    # Every job has resolved: nothing queued or running.
    rows = prom.wait_for("sum(seamless_backfill_queue_length)", lambda r: bool(r))
    assert _value(rows) == 0
    stamp = prom.wait_for('backfill_last_timestamp{node_id="demo:A"}', _at_least(1))
    assert _value(stamp) == T1 + 2 * DAY


def test_sla_breach_series(observed: Observed) -> None:
    prom = observed.prom
    prom.wait_for("seamless_sla_violation_total", _at_least(1))
    ratio = prom.wait_for(
        'sum(seamless_reads_total{outcome="sla_violation"}) / sum(seamless_reads_total)',
        _at_least(0.01),
    )
    assert 0 < _value(ratio) < 1
    prom.wait_for(
        'seamless_sla_deadline_seconds_count{node_id="demo:SLOW",phase="total"}', _at_least(1)
    )


DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "seamless.json"


def _panel_targets() -> list[tuple[str, str]]:
    dashboard = json.loads(DASHBOARD.read_text())
    return [
        (panel["title"], target["expr"])
        for panel in dashboard["panels"]
        for target in panel["targets"]
    ]


def _finite(rows: list[dict[str, Any]]) -> bool:
    return any(math.isfinite(float(r["value"][1])) for r in rows)


def test_every_dashboard_expression_returns_data(observed: Observed) -> None:
    targets = _panel_targets()
    assert len(targets) >= 15
    for title, expr in targets:
        # Grafana's $__rate_interval; one minute spans both rounds of the scenario.
        query = expr.replace("$__rate_interval", "1m")
        rows = observed.prom.query(query)
        assert _finite(rows), f"panel {title!r}: {query} returned {rows}"


def test_the_dashboard_uses_only_seamless_metrics() -> None:
    known = set(metrics.METRIC_NAMES)
    for title, expr in _panel_targets():
        names = re.findall(r"\b((?:seamless|backfill)_[a-z_]+)\b", expr)
        assert names, title
        for name in names:
            assert re.sub(r"_(bucket|sum|count)$", "", name) in known, f"{title}: {name}"


def test_the_alert_rules_load_and_evaluate(observed: Observed) -> None:
    expected = {
        rule["alert"]
        for group in yaml.safe_load(_rule_files()[0].read_text())["groups"]
        for rule in group["rules"]
    }

    def evaluated(rows: list[dict[str, Any]]) -> bool:
        return all(r.get("health") == "ok" for r in rows) and len(rows) == len(expected)

    deadline = time.monotonic() + 15
    while True:
        groups = observed.prom.api("rules")["groups"]
        rules = [r for g in groups for r in g["rules"]]
        if evaluated(rules) or time.monotonic() > deadline:
            break
        time.sleep(0.25)
    assert {r["name"] for r in rules} == expected
    assert all(r["health"] == "ok" for r in rules), [(r["name"], r.get("lastError")) for r in rules]


def test_doctor_sees_the_exporter_and_prometheus(observed: Observed) -> None:
    assert observed.provider.metrics_server is not None
    metrics_row = check_metrics(observed.provider.metrics_server.url)
    assert metrics_row.status is Status.OK, metrics_row.detail
    prometheus_row = check_prometheus(observed.prom.url)
    assert prometheus_row.status is Status.OK, prometheus_row.detail
