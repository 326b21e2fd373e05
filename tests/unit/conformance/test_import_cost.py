"""A strategy process starts fast: a storage-only read loads no heavy library.

pandera takes about 0.5 s to import, Great Expectations seconds, Dagster more.
None of them is needed to import the SDK or to serve stored bars, so a fresh
process that imports ``seamless_sdk``, writes a few bars with the store's own
``write`` and reads them back with ``FAIL_FAST`` must not have loaded them;
pandera loads on the first conform.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

HEAVY_MODULES: tuple[str, ...] = ("pandera", "great_expectations", "dagster")
"""Modules a storage-only read must never import (pinned: adding one here is a decision)."""

_READ = """
import json, sys
import numpy as np, pandas as pd
import seamless_sdk
from seamless_sdk import LocalStore, SeamlessDataProvider, Strategy, parse_interval

T0 = 1_704_067_200
m1 = parse_interval("1m")
ts = pd.to_datetime(T0 + 60 * np.arange(5), unit="s", utc=True).as_unit("ns")
frame = pd.DataFrame({"ts": ts, "open": 1.0, "high": 2.0, "low": 0.5, "close": 1.5,
                      "volume": 3.0, "flags": np.zeros(5, dtype=np.int32)})

class NoFetch:
    def fetch(self, *args):
        raise AssertionError("FAIL_FAST never fetches")

store = LocalStore(sys.argv[1])
store.write("demo:A", m1, T0, T0 + 300, frame)
with SeamlessDataProvider(store=store, fetcher=NoFetch()) as provider:
    result = provider.read("demo:A", "1m", T0, T0 + 300, strategy=Strategy.FAIL_FAST)
loaded = [m for m in json.loads(sys.argv[2]) if m in sys.modules]
if sys.argv[3] == "conform":
    from seamless_sdk.conformance import conform_bars
    conform_bars(frame.drop(columns="flags"), "1m", T0, T0 + 300)
    loaded = [m for m in json.loads(sys.argv[2]) if m in sys.modules]
print(json.dumps({"rows": len(result.df), "loaded": loaded}))
"""


def _run(tmp_path: Path, then: str) -> dict[str, object]:
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            _READ,
            str(tmp_path / "bars.sqlite"),
            json.dumps(HEAVY_MODULES),
            then,
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    result: dict[str, object] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def test_a_storage_only_read_loads_no_heavy_module(tmp_path: Path) -> None:
    assert _run(tmp_path, "read") == {"rows": 5, "loaded": []}


def test_pandera_loads_on_the_first_conform(tmp_path: Path) -> None:
    """The other half of the promise: the lazy import really happens when it is needed."""
    assert _run(tmp_path, "conform") == {"rows": 5, "loaded": ["pandera"]}


def test_every_public_name_of_the_package_resolves() -> None:
    """The lazy package keeps the names callers import (``from seamless_sdk.conformance
    import ConformanceReport, Flag, conform_bars, ...``), and nothing else."""
    import seamless_sdk.conformance as conformance

    assert {"ConformanceReport", "Flag", "conform_bars", "QUALITY_TABLE"} <= set(
        conformance.__all__
    )
    for name in conformance.__all__:
        assert getattr(conformance, name) is not None, name
    assert set(conformance.__all__) <= set(dir(conformance))
    with pytest.raises(AttributeError, match="no_such_name"):
        conformance.no_such_name  # noqa: B018
