"""A real Prometheus scrapes a provider's exporter while the provider reads,
backfills, fails a fetch and breaches an SLA; the series are queried back
through Prometheus's HTTP API.

One Prometheus and one provider serve the whole module (starting Prometheus
costs about a second); the module-scoped fixture stops both.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from prometheus_client import CollectorRegistry

from seamless_sdk import LocalStore, SeamlessDataProvider, SLAPolicy, Strategy, SyntheticFetcher
from seamless_sdk.errors import DataUnavailableError
from tests import prometheus_server
from tests.prometheus_server import PrometheusServer

DAY = 86_400
T0 = 1_704_067_200  # 2024-01-01T00:00Z


class _Fetcher:
    """Synthetic bars, except ``demo:SLOW`` (takes 0.6 s) and ``demo:BAD`` (fails)."""

    def __init__(self) -> None:
        self._bars = SyntheticFetcher(seed=3)

    def fetch(self, node_id: str, interval: str, start: int, end: int) -> pd.DataFrame:
        if node_id == "demo:BAD":
            raise ConnectionError("upstream refused")
        if node_id == "demo:SLOW":
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
            outcomes = _exercise(provider)
            yield Observed(prom, provider, outcomes)
    finally:
        provider.close()


def _rule_files() -> list[Path]:
    rules = Path(__file__).resolve().parents[2] / "deploy" / "prometheus" / "alerts.yml"
    return [rules] if rules.is_file() else []


def _exercise(provider: SeamlessDataProvider) -> dict[str, Any]:
    """Real reads: a backfill, a storage re-read, a failed fetch, an SLA breach."""
    out: dict[str, Any] = {}
    first = provider.read("demo:A", "1h", T0, T0 + 2 * DAY)
    out["backfilled"] = first.meta.source_contributions
    again = provider.read("demo:A", "1h", T0, T0 + 2 * DAY, strict=True)
    out["again"] = again.meta.source_contributions
    with pytest.raises(DataUnavailableError):
        provider.read("demo:B", "1h", T0, T0 + DAY, strategy=Strategy.FAIL_FAST)
    bad = provider.read(
        "demo:BAD", "1h", T0, T0 + DAY, sla=SLAPolicy(max_attempts=2, retry_backoff_ms=1)
    )
    out["bad_missing"] = bad.meta.missing
    slow = provider.read("demo:SLOW", "1h", T0, T0 + DAY, sla=SLAPolicy(total_deadline_ms=150))
    out["violation"] = slow.meta.sla_report.violation
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
    assert _value(stamp) == T0 + 2 * DAY


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
