"""Giant requests keep the deadline and the memory (issue 9, item 2).

100 years of 1s bars is 876,000 hourly store chunks. Planning and scheduling
must be proportional to the gaps, not to the chunks: a gap is one job that
walks its windows lazily. Each case runs in a fresh interpreter so its peak
RSS is its own.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from seamless_sdk import RangeSet, SLAPolicy, Strategy, SyntheticFetcher

from .conftest import HOUR, T0, MakeProvider

SCRIPT = r"""
import json, resource, sys, time
from seamless_sdk import LocalStore, SeamlessDataProvider, SLAPolicy, Strategy, SyntheticFetcher
from seamless_sdk import SeamlessSLAExceeded

path, strategy, limit = sys.argv[1], sys.argv[2], sys.argv[3]
start, end = -1_388_534_400, 1_767_225_600  # 1926-01-01 .. 2026-01-01
sla = SLAPolicy(total_deadline_ms=1000,
                max_sync_gap_bars=None if limit == "none" else int(limit))
provider = SeamlessDataProvider(LocalStore(path), SyntheticFetcher(seed=1, calls=False))
provider.read("warm:UP", "1s", 1_700_000_000, 1_700_000_060, strategy="auto_backfill")
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t0 = time.perf_counter()
try:
    res = provider.read("giant:X", "1s", start, end, strategy=strategy, sla=sla)
    outcome = {"violation": res.meta.sla_report.violation, "rows": len(res.df),
               "missing": res.meta.missing.total(), "detached": res.meta.backfill.detached.total()}
except SeamlessSLAExceeded as exc:
    outcome = {"raised": exc.phase}
elapsed = time.perf_counter() - t0
time.sleep(0.5)  # the background job keeps walking: its memory must stay flat too
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t1 = time.perf_counter()
provider.close()
outcome.update(elapsed_s=elapsed, growth_mb=(after - before) / 1024,
               close_s=time.perf_counter() - t1)
print(json.dumps(outcome))
"""

CENTURY = 1_767_225_600 + 1_388_534_400


def _run(tmp_path: Path, strategy: str, limit: str = "1440") -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path / "giant.sqlite"), strategy, limit],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("strategy", "limit"),
    [
        ("partial_fill", "1440"),
        ("seamless", "1440"),  # the gap is too large to wait for: detached
        ("seamless", "none"),  # waited for until the deadline, then partial
        ("auto_backfill", "1440"),
    ],
)
def test_a_century_of_seconds_keeps_the_deadline_and_the_memory(
    tmp_path: Path, strategy: str, limit: str
) -> None:
    result = _run(tmp_path, strategy, limit)
    # The budget is 1 s; the margin covers a loaded 2-core CI machine.
    assert result["elapsed_s"] < 1.5, result
    assert result["growth_mb"] < 200, result
    assert result["close_s"] < 5, result
    if strategy == "auto_backfill":
        assert result["raised"] in ("total", "backfill")
    elif strategy == "partial_fill" or limit != "none":
        assert result["detached"] == CENTURY
        assert result["violation"] is None
    else:
        assert result["violation"] == "total"
        assert result["missing"] > 0


def test_a_synchronous_fill_does_not_queue_behind_a_large_detached_backfill(
    make_provider: MakeProvider,
) -> None:
    slow = SyntheticFetcher(seed=5, delay_s=0.05)
    p = make_provider(slow)
    # 300 windows of 1h bars: one month each, about 15 s of fetching in the background.
    start = T0 - 300 * 31 * 86_400
    p.read("bulk:B", "1h", start - start % 86_400, T0, strategy=Strategy.PARTIAL_FILL)
    t0 = time.perf_counter()
    sla = SLAPolicy(total_deadline_ms=1000)
    res = p.read("demo:S", "1m", T0, T0 + 60, strategy=Strategy.SEAMLESS, sla=sla)
    assert time.perf_counter() - t0 < 1.0
    assert res.meta.sla_report.violation is None
    assert res.meta.missing == RangeSet()
    assert len(res.df) == 1


def test_a_read_that_stopped_waiting_yields_to_the_next_one(make_provider: MakeProvider) -> None:
    """A synchronous fill whose deadline ran out goes on in the background, behind
    the fills that a read still waits for."""
    p = make_provider(SyntheticFetcher(seed=5, delay_s=0.05), workers=1)
    res = p.read(
        "bulk:C",
        "1m",
        T0,
        T0 + 40 * 86_400,
        strategy=Strategy.SEAMLESS,
        sla=SLAPolicy(total_deadline_ms=200, max_sync_gap_bars=None),
    )
    assert res.meta.sla_report.violation == "total"
    t0 = time.perf_counter()
    res = p.read("demo:N", "1m", T0, T0 + HOUR, sla=SLAPolicy(total_deadline_ms=1000))
    assert time.perf_counter() - t0 < 1.0
    assert res.meta.missing == RangeSet()
