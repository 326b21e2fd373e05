"""The coordinator interface: claims, leases and job rows of the distributed single flight.

A *job* is one canonical window of one series: ``(node_id, interval,
window_start, window_end)`` with the window a whole store chunk (a UTC day for
minute bars), whatever part of it a read happens to miss. Its states follow
seed 003 §5::

    PENDING ──claim──▶ RUNNING(lease_until) ──complete──▶ SUCCEEDED
                          │  ├──fail──▶ FAILED (backoff; quarantined after N)
                          │  └──lease runs out──▶ EXPIRED
    SUCCEEDED, FAILED (backoff over), EXPIRED ──claim──▶ RUNNING
    quarantined FAILED ──retry──▶ PENDING        any ──skip──▶ SKIPPED

The *coverage version* is a counter per ``(node_id, interval)`` kept in the
coordinator's database: every committed piece of a fill bumps it and stamps
the job row with the new value. A filler reads the counter *before* it reads
the store's coverage and passes it to :meth:`Coordinator.claim`; a claim whose
version is older than the job row's stamp is *stale* (the window was filled
after the filler looked at coverage) and is refused, so it re-reads coverage
instead of fetching the window a second time.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Literal, Protocol, runtime_checkable

from seamless_sdk.errors import InvalidRequestError
from seamless_sdk.intervals import Interval, chunk_start, parse_interval, window_next
from seamless_sdk.ranges import RangeSet
from seamless_sdk.request import validate_node_id


class JobState(StrEnum):
    """The state of a ``backfill_jobs`` row."""

    PENDING = "PENDING"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    EXPIRED = "EXPIRED"
    SKIPPED = "SKIPPED"


_SEP = "|"  # node ids never contain it (NODE_ID_PATTERN), so keys split unambiguously


@dataclass(frozen=True, slots=True, order=True)
class JobKey:
    """The unique key of a job: one canonical window of one series.

    ``str(key)`` is ``"node_id|interval|window_start|window_end"`` (the
    ``lease_key`` metric label and what ``seamless coordinator quarantine
    retry`` takes); :meth:`parse` reads it back.

    >>> JobKey.for_chunk("demo:A", parse_interval("1m"), 1_700_000_040)
    JobKey(node_id='demo:A', interval='1m', window_start=1699920000, window_end=1700006400)
    """

    node_id: str
    interval: str
    window_start: int
    window_end: int

    def __post_init__(self) -> None:
        validate_node_id(self.node_id)
        parse_interval(self.interval)
        for name in ("window_start", "window_end"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise InvalidRequestError(name, f"{value!r} is not an integer")
        if self.window_start >= self.window_end:
            raise InvalidRequestError(
                "window_end", f"{self.window_end} is not after window_start {self.window_start}"
            )

    @classmethod
    def for_chunk(cls, node_id: str, interval: Interval, ts: int) -> JobKey:
        """The key of the store chunk that holds the bar at ``ts``."""
        start = chunk_start(interval, ts)
        return cls(node_id, interval.name, start, window_next(start, interval.chunk_unit))

    @classmethod
    def parse(cls, text: JobKey | str) -> JobKey:
        """A key from its string form (a ``JobKey`` passes through)."""
        if isinstance(text, JobKey):
            return text
        parts = text.split(_SEP) if isinstance(text, str) else []
        if len(parts) != 4:
            raise InvalidRequestError(
                "key", f"{text!r} is not 'node_id|interval|window_start|window_end'"
            )
        try:
            start, end = int(parts[2]), int(parts[3])
        except ValueError:
            raise InvalidRequestError("key", f"{text!r}: window bounds are not integers") from None
        return cls(parts[0], parts[1], start, end)

    @property
    def span(self) -> RangeSet:
        return RangeSet.span(self.window_start, self.window_end)

    def __str__(self) -> str:
        return (
            f"{self.node_id}{_SEP}{self.interval}{_SEP}{self.window_start}{_SEP}{self.window_end}"
        )


@dataclass(frozen=True, slots=True)
class Lease:
    """A granted claim: the right to fill ``key`` until ``lease_until``.

    ``token`` is compared on every update of the job row, so a holder whose
    lease expired and was re-claimed cannot extend or complete it.
    ``remaining`` is what this holder should fetch: the ranges the claimant
    asked for less ``completed``, the ranges an earlier, unfinished attempt
    (failed or killed) already committed.
    """

    key: JobKey
    token: str
    job_id: int
    lease_until: float
    lease_s: float
    coverage_version: int
    remaining: RangeSet
    completed: RangeSet
    holder: str
    taken_over: bool = False
    """True when this claim took over an expired lease (its holder died)."""


RefusalReason = Literal["busy", "stale", "backoff", "quarantined", "skipped"]


@dataclass(frozen=True, slots=True)
class ClaimRefused:
    """A claim that was not granted, and why.

    ``busy``: another holder's lease is live (``holder``, ``lease_until``): wait
    for it. ``stale``: the window was committed at ``coverage_version``, after the
    claimant read coverage: re-read it. ``backoff``: the window failed and may be
    tried again at ``retry_at``. ``quarantined``/``skipped``: an operator decides.
    """

    key: JobKey
    reason: RefusalReason
    coverage_version: int = 0
    holder: str | None = None
    lease_until: float | None = None
    retry_at: float | None = None


@dataclass(frozen=True, slots=True)
class JobRecord:
    """One ``backfill_jobs`` row, as the list/retry/skip commands show it."""

    key: JobKey
    state: JobState
    quarantined: bool
    attempts: int
    expirations: int
    coverage_version: int
    completed: RangeSet
    remaining: RangeSet
    holder: str | None
    lease_until: float | None
    next_attempt_at: float | None
    last_error: str | None
    updated_at: float

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able values (ranges as lists of pairs, times as epoch seconds)."""
        return {
            "key": str(self.key),
            "node_id": self.key.node_id,
            "interval": self.key.interval,
            "window_start": self.key.window_start,
            "window_end": self.key.window_end,
            "state": self.state.value,
            "quarantined": self.quarantined,
            "attempts": self.attempts,
            "expirations": self.expirations,
            "coverage_version": self.coverage_version,
            "completed_ranges": self.completed.to_list(),
            "remaining_ranges": self.remaining.to_list(),
            "holder": self.holder,
            "lease_until": self.lease_until,
            "next_attempt_at": self.next_attempt_at,
            "last_error": self.last_error,
            "updated_at": self.updated_at,
        }


@runtime_checkable
class Coordinator(Protocol):
    """The distributed single flight the fill function relies on."""

    lease_s: float

    def coverage_version(self, node_id: str, interval: Interval | str) -> int:
        """The series' coverage version now; read it *before* reading coverage."""
        ...

    def claim(self, key: JobKey, coverage_version: int, wanted: RangeSet) -> Lease | ClaimRefused:
        """Try to take ``key`` to fill ``wanted`` (inside the window), as of
        ``coverage_version``; a lease or the reason for a refusal."""
        ...

    def extend(self, lease: Lease) -> float:
        """Renew the lease for another ``lease_s``; returns the new ``lease_until``.
        Raises ``LeaseLostError`` when the token no longer matches."""
        ...

    def progress(self, lease: Lease, completed: RangeSet) -> int:
        """Record that ``completed`` (inside the window) is committed to the store;
        bumps the coverage version and returns it. ``LeaseLostError`` if stale."""
        ...

    def complete(self, lease: Lease, remaining: RangeSet | None = None) -> int:
        """The fill is done: SUCCEEDED, with ``remaining`` what it left uncovered
        (rejected bars). Bumps the coverage version and returns it."""
        ...

    def fail(self, lease: Lease, error: str) -> JobRecord:
        """The fill failed: FAILED with backoff, quarantined after repeated
        failures. ``LeaseLostError`` if stale."""
        ...

    def wait(
        self,
        key: JobKey,
        timeout_s: float | None = None,
        cancel: threading.Event | None = None,
    ) -> bool:
        """Block until ``key`` has no live lease; False if ``timeout_s`` ran out or
        ``cancel`` was set first."""
        ...

    def job(self, key: JobKey) -> JobRecord | None:
        """The job row of ``key``, if there is one."""
        ...

    def hold(self, lease: Lease) -> Any:
        """A context manager that renews ``lease`` in the background while a long
        fetch runs; its ``check()`` raises ``LeaseLostError`` once renewal found
        the lease taken over."""
        ...

    def close(self) -> None:
        """Stop the lease keeper and close connections."""
        ...
