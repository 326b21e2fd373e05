"""Conformance cost per 1M rows, against pandera's bare validation of the same frames.

Run: ``.venv/bin/python bench/bench_conformance.py`` (``--help`` for options).

Frames (1M rows each, 1m bars, generated before the clock starts):

* **clean**: one row per bar, ascending, int epoch seconds: the hot path.
* **messy**: the same bars as 2-3 samples each at second offsets, 5% exact
  repeats, rows shuffled: sort, dedup and roll-up all run.
* **sourced**: messy plus a ``source`` column, conformed with
  ``dedup="source_priority"``.

For each, ``conform_bars`` (every stage, quality and statistical rules,
report) against two bare pandera validations, all ``lazy=True``:

* **same frame**: ``STORED_SCHEMA.validate`` of the input frame itself (its
  ``ts`` already ``datetime64[ns, UTC]``, a ``flags`` column added, both
  before the clock): the full stored contract (dtypes, unique ascending ts,
  high/low, volume, finite values), collecting every failure case of a
  messy frame. This is what "validate and reject" would cost instead of
  conforming; ``ratio`` is conform / this.
* **in + out**: ``INPUT_SCHEMA.validate`` of the input plus
  ``STORED_SCHEMA.validate`` of the conformed output: checking without
  fixing (``ratio_out`` is conform / this). On messy frames conforming also
  sorts, dedups and rolls up, which no validation does.

Targets: ``ratio`` <= 2 and conform < 1 s per 1M rows. Times are the
median of ``--repeat`` runs.

Measured on the 2-core development machine (Python 3.11, pandas 3.1.1,
pandera 0.35.0), three runs, seconds per 1M input rows:

=======  =============  ============  =========  ==============  =========
frame    conform        pandera same  ratio      pandera in+out  ratio_out
=======  =============  ============  =========  ==============  =========
clean    0.052-0.055    0.050-0.069   0.78-1.09  0.057-0.078     0.69-0.96
messy    0.218-0.236    0.152-0.170   1.35-1.54  0.028-0.030     7.9-8.6
sourced  0.237-0.255    0.137-0.171   1.49-1.73  0.026-0.028     8.9-9.2
=======  =============  ============  =========  ==============  =========

The statistical rules cost 0.02 s (abnormal_jump) and 0.002 s (stale_price)
per 1M bars. A 1,440-row window costs 1.0 ms, as before this pipeline grew
its policy, claims and statistical stages (pandera's input check is 60% of it).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from pandera.errors import SchemaErrors

from seamless_sdk.conformance import INPUT_SCHEMA, STORED_SCHEMA, conform_bars
from seamless_sdk.conformance.engine.anomalies import abnormal_jumps, stale_prices

T0 = 1_704_067_200  # 2024-01-01
MINUTE = 60


def clean_frame(n: int, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0, 5e-4, n)))
    open_ = np.r_[close[0], close[:-1]]
    return pd.DataFrame(
        {
            "ts": T0 + MINUTE * np.arange(n, dtype=np.int64),
            "open": open_,
            "high": np.maximum(open_, close) * 1.0002,
            "low": np.minimum(open_, close) * 0.9998,
            "close": close,
            "volume": rng.integers(1, 500, n).astype(np.float64),
        }
    )


def messy_frame(n: int, seed: int = 2) -> pd.DataFrame:
    """About ``n`` rows: bars split into samples, some rows repeated, all shuffled."""
    rng = np.random.default_rng(seed)
    bars = clean_frame(n // 2, seed)
    per_bar = rng.integers(1, 4, len(bars))
    rows = bars.loc[bars.index.repeat(per_bar)].reset_index(drop=True)
    rows["ts"] = rows["ts"] + rng.integers(0, MINUTE, len(rows))
    repeats = rows.sample(frac=0.05, random_state=seed)
    rows = pd.concat([rows, repeats], ignore_index=True)
    rows = rows.iloc[:n].sample(frac=1.0, random_state=seed).reset_index(drop=True)
    return rows


def timed(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    fn()  # warm-up: first calls build caches (schemas, policy, pandera backends)
    times, out = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


def measure(name: str, frame: pd.DataFrame, repeat: int, **kwargs: Any) -> dict[str, Any]:
    ts = frame["ts"].to_numpy()
    start = int(ts.min()) // MINUTE * MINUTE
    end = (int(ts.max()) // MINUTE + 1) * MINUTE
    conform_s, result = timed(lambda: conform_bars(frame, "1m", start, end, **kwargs), repeat)
    input_s, _ = timed(lambda: INPUT_SCHEMA.validate(frame, lazy=True), repeat)
    stored_s, _ = timed(lambda: STORED_SCHEMA.validate(result.frame, lazy=True), repeat)
    as_stored = frame[["ts", "open", "high", "low", "close", "volume"]].assign(
        ts=pd.to_datetime(frame["ts"], unit="s", utc=True).dt.as_unit("ns"),
        flags=np.zeros(len(frame), dtype=np.int32),
    )
    same_s, failures = timed(lambda: _validate_counting(as_stored), repeat)
    per_m = 1_000_000 / len(frame)
    return {
        "frame": name,
        "rows": len(frame),
        "bars": len(result.frame),
        "conform_s_per_1m": conform_s * per_m,
        "pandera_same_frame_s_per_1m": same_s * per_m,
        "pandera_same_frame_failure_cases": failures,
        "pandera_in_out_s_per_1m": (input_s + stored_s) * per_m,
        "ratio": conform_s / same_s,
        "ratio_out": conform_s / (input_s + stored_s),
        "ok": result.report.ok,
    }


def _validate_counting(frame: pd.DataFrame) -> int:
    """Validate lazily against the stored contract; the number of failure cases."""
    try:
        STORED_SCHEMA.validate(frame, lazy=True)
    except SchemaErrors as exc:
        return len(exc.failure_cases)
    return 0


def rules_cost(n: int, repeat: int) -> dict[str, Any]:
    frame = clean_frame(n)
    close, volume = frame["close"].to_numpy(), frame["volume"].to_numpy()
    jump_s, _ = timed(
        lambda: abnormal_jumps(close, threshold=16, min_returns=20, min_move=0.01), repeat
    )
    stale_s, _ = timed(lambda: stale_prices(close, volume, min_run=30), repeat)
    per_m = 1_000_000 / n
    return {"abnormal_jump_s_per_1m": jump_s * per_m, "stale_price_s_per_1m": stale_s * per_m}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", action="store_true", help="print JSON only")
    args = parser.parse_args(argv)

    clean = clean_frame(args.rows)
    messy = messy_frame(args.rows)
    sources = np.array(["live", "backfill", "storage"])[np.arange(len(messy)) % 3]
    sourced = messy.assign(source=sources)
    rows = [
        measure("clean", clean, args.repeat),
        measure("messy", messy, args.repeat),
        measure("sourced", sourced, args.repeat, dedup="source_priority"),
    ]
    rules = rules_cost(args.rows, args.repeat)
    if args.json:
        print(json.dumps({"results": rows, "rules": rules}, indent=2))
        return 0
    print(f"seconds per 1M input rows (median of {args.repeat})")
    print(f"{'frame':8} {'rows':>9} {'bars':>9} {'conform':>8} {'pandera same':>13} "
          f"{'ratio':>6} {'pandera in+out':>15} {'ratio_out':>9}")  # fmt: skip
    for r in rows:
        print(
            f"{r['frame']:8} {r['rows']:>9,} {r['bars']:>9,} {r['conform_s_per_1m']:>8.3f} "
            f"{r['pandera_same_frame_s_per_1m']:>13.3f} {r['ratio']:>6.2f} "
            f"{r['pandera_in_out_s_per_1m']:>15.3f} {r['ratio_out']:>9.2f}"
        )
    print(
        f"statistical rules alone: abnormal_jump {rules['abnormal_jump_s_per_1m']:.3f} s, "
        f"stale_price {rules['stale_price_s_per_1m']:.3f} s per 1M bars"
    )
    worst = max(rows, key=lambda r: r["conform_s_per_1m"])
    met = all(r["ratio"] <= 2 and r["conform_s_per_1m"] < 1 for r in rows)
    print(
        f"target (ratio <= 2, < 1 s per 1M rows): {'met' if met else 'NOT met'} "
        f"(slowest: {worst['frame']} {worst['conform_s_per_1m']:.3f} s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
