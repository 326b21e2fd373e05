"""The interface between the read engine and whatever fills gaps in the background.

The provider fills small gaps itself, synchronously, under the SLA. Gaps it
does not wait for (PARTIAL_FILL, large SEAMLESS gaps) are handed to a
*detached backfiller*: the in-process one runs the fill function on background
threads; the Dagster one turns the windows into partition runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from seamless_sdk.intervals import Interval
from seamless_sdk.ranges import RangeSet

if TYPE_CHECKING:
    from seamless_sdk.backfill.policy import FillPolicy


@dataclass(frozen=True, slots=True)
class BackfillTicket:
    """What a detached backfiller did with a request.

    ``requested`` is every window asked for, ``attached`` the ones already in
    flight (requested earlier by someone else and joined rather than duplicated),
    ``run_ids`` the Dagster run ids (or in-process job ids) that will fill them.
    """

    requested: RangeSet = field(default_factory=RangeSet)
    attached: RangeSet = field(default_factory=RangeSet)
    run_ids: tuple[str, ...] = ()

    def merge(self, other: BackfillTicket) -> BackfillTicket:
        return BackfillTicket(
            self.requested.union(other.requested),
            self.attached.union(other.attached),
            tuple(dict.fromkeys(self.run_ids + other.run_ids)),
        )


@runtime_checkable
class DetachedBackfiller(Protocol):
    """Fills windows in the background; never blocks the caller on the fill."""

    def request(
        self, node_id: str, interval: Interval, ranges: RangeSet, *, policy: FillPolicy
    ) -> BackfillTicket:
        """Ask for ``ranges`` to be filled with the ``policy`` of the read that found
        them missing; returns at once. Deduplicates windows already requested or
        in flight."""
        ...

    def close(self, timeout: float | None = None) -> None:
        """Stop accepting work; wait up to ``timeout`` seconds for work in flight."""
        ...
