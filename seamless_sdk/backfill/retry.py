"""Retry with exponential backoff and jitter (seed 001's backfill config block).

Attempt ``n`` (1-based) that failed waits ``base * 2**(n-1)`` plus a random
extra of up to ``jitter_ratio`` of that delay, so concurrent workers do not
stampede the upstream API.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from seamless_sdk.errors import InvalidRequestError


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how patiently a fetch is retried.

    >>> RetryPolicy(max_attempts=3, retry_backoff_ms=100, jitter_ratio=0).delay_s(2)
    0.2
    """

    max_attempts: int = 3
    retry_backoff_ms: float = 200.0
    jitter_ratio: float = 0.25
    max_backoff_ms: float = 30_000.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise InvalidRequestError("max_attempts", f"{self.max_attempts} must be at least 1")
        if self.retry_backoff_ms < 0:
            raise InvalidRequestError("retry_backoff_ms", f"{self.retry_backoff_ms} is negative")
        if not 0 <= self.jitter_ratio <= 1:
            raise InvalidRequestError("jitter_ratio", f"{self.jitter_ratio} is not in [0, 1]")

    def delay_s(self, failed_attempt: int, rng: random.Random | None = None) -> float:
        """Seconds to wait after the ``failed_attempt``-th failure."""
        base = min(self.retry_backoff_ms * 2 ** (failed_attempt - 1), self.max_backoff_ms)
        jitter = (rng or random).random() * self.jitter_ratio * base
        return (base + jitter) / 1000.0
