"""``HistoryMeta.quality_summary``: counts computed when first looked at.

Counting flags over a 30-day frame costs more than the read itself, so the
summary is a read-only mapping that computes on first access and keeps it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

import numpy as np

from seamless_sdk.conformance import ConformanceReport, Flag


class QualitySummary(Mapping[str, Any]):
    """Keys: ``rows``, ``flags`` (rows per flag name), ``duplicates``,
    ``rolled_up``, ``out_of_order``, ``late``, ``superseded`` (rows that lost to
    a higher-priority source), ``dropped_outside_window``, ``rule_violations``
    (all from the conformance of what this read fetched) and ``gaps`` (expected bars inside
    the returned coverage that have no row: holidays, minutes with no trades)."""

    def __init__(
        self,
        flags: np.ndarray,
        report: ConformanceReport,
        gaps: Callable[[], int],
    ) -> None:
        self._flags = flags
        self._report = report
        self._gaps = gaps
        self._data: dict[str, Any] | None = None

    def _compute(self) -> dict[str, Any]:
        if self._data is None:
            counts: dict[str, int] = {}
            if len(self._flags):
                by_value = np.bincount(self._flags.astype(np.int64, copy=False))
                values = np.nonzero(by_value)[0]
                for flag in Flag:
                    n = int(by_value[values[(values & int(flag)) != 0]].sum())
                    if n:
                        counts[str(flag.name)] = n
            self._data = {
                "rows": len(self._flags),
                "flags": counts,
                "duplicates": self._report.duplicates,
                "rolled_up": self._report.rolled_up,
                "out_of_order": self._report.out_of_order,
                "late": self._report.late,
                "superseded": self._report.superseded,
                "dropped_outside_window": self._report.dropped_outside_window,
                "rule_violations": dict(self._report.rule_violations),
                "gaps": self._gaps(),
            }
        return self._data

    def __getitem__(self, key: str) -> Any:
        return self._compute()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._compute())

    def __len__(self) -> int:
        return len(self._compute())

    def __repr__(self) -> str:
        return f"QualitySummary({self._compute()!r})"

    def to_dict(self) -> dict[str, Any]:
        return dict(self._compute())
