"""``FillPolicy``: how every fill a read causes behaves, built once.

A read's ``partial_ok`` and its ``SLAPolicy`` retry fields govern every fill
that read causes, whether the provider waits for it (synchronous), leaves it
running in the background (detached in-process) or asks Dagster for a run.
So the policy is one value, built where the request enters
(:meth:`FillPolicy.from_read`) and handed down unchanged; nothing further in
supplies defaults of its own. The Dagster resource builds it the same way
from ``seamless.yaml``, and a Dagster run takes it from its tags
(:meth:`to_tags` / :meth:`from_tags`).

Retries back off exponentially with jitter (seed 001's backfill block):
attempt ``n`` that failed waits ``retry_backoff_ms * 2**(n-1)``, capped at
``MAX_BACKOFF_MS``, plus a random extra of up to ``jitter_ratio`` of it, so
concurrent workers do not stampede the upstream API.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from seamless_sdk import tracing
from seamless_sdk.conformance.spec.flags import Flag
from seamless_sdk.errors import InvalidRequestError
from seamless_sdk.sla import (
    DEFAULT_JITTER_RATIO,
    DEFAULT_MAX_ATTEMPTS,
    DEFAULT_RETRY_BACKOFF_MS,
    MAX_ATTEMPTS,
    MAX_BACKOFF_MS,
    SLAPolicy,
)

TAG_PREFIX = "seamless/fill."
"""Dagster run tags that carry a fill policy: ``seamless/fill.max_attempts`` ..."""


@dataclass(frozen=True, slots=True)
class FillPolicy:
    """The policy of a fill: what to do with bad bars and how to retry a fetch.

    ``partial_ok`` writes the conforming bars of a frame and leaves the
    rejected ones uncovered (instead of rejecting the window);
    ``max_attempts`` fetches at most (1 = no retry), waiting
    ``retry_backoff_ms`` doubled per attempt plus up to ``jitter_ratio`` of it
    between them; ``flags`` are set on every bar the fill writes.

    >>> FillPolicy(max_attempts=3, retry_backoff_ms=100, jitter_ratio=0).delay_s(2)
    0.2
    >>> FillPolicy.from_read(SLAPolicy(max_attempts=1), partial_ok=True).max_attempts
    1
    """

    partial_ok: bool = False
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    retry_backoff_ms: float = DEFAULT_RETRY_BACKOFF_MS
    jitter_ratio: float = DEFAULT_JITTER_RATIO
    flags: int = int(Flag.BACKFILLED)
    trace_context: Any = field(default=None, compare=False, repr=False)
    """The OpenTelemetry context of the read that asked (``None`` untraced): the
    fill's ``backfill.run`` spans are its children, and a Dagster run gets it as
    ``seamless/traceparent`` tags. Not part of the policy's identity: reads with
    different traces still share one fill."""

    def __post_init__(self) -> None:
        if not isinstance(self.partial_ok, bool):
            raise InvalidRequestError("partial_ok", f"{self.partial_ok!r} is not True or False")
        if isinstance(self.max_attempts, bool) or not isinstance(self.max_attempts, int):
            raise InvalidRequestError("max_attempts", f"{self.max_attempts!r} is not an integer")
        if not 1 <= self.max_attempts <= MAX_ATTEMPTS:  # SLAPolicy's own limit
            raise InvalidRequestError(
                "max_attempts", f"{self.max_attempts} is not in [1, {MAX_ATTEMPTS}]"
            )
        for name in ("retry_backoff_ms", "jitter_ratio"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
                raise InvalidRequestError(name, f"{value!r} is not a number")
        if not 0 <= self.retry_backoff_ms <= MAX_BACKOFF_MS:
            raise InvalidRequestError(
                "retry_backoff_ms", f"{self.retry_backoff_ms} is not in [0, {MAX_BACKOFF_MS}]"
            )
        if not 0 <= self.jitter_ratio <= 1:
            raise InvalidRequestError("jitter_ratio", f"{self.jitter_ratio} is not in [0, 1]")
        if isinstance(self.flags, bool) or not isinstance(self.flags, int) or self.flags < 0:
            raise InvalidRequestError("flags", f"{self.flags!r} is not a flag bitset")

    @classmethod
    def from_read(
        cls, sla: SLAPolicy, partial_ok: bool, *, trace_context: Any = None
    ) -> FillPolicy:
        """The policy of every fill a read with ``sla`` and ``partial_ok`` causes
        (``trace_context``: the read's span, see :attr:`trace_context`).

        ``None`` in the SLA's retry fields means what ``SLAPolicy`` documents:
        one attempt, no backoff, no jitter.
        """
        return cls(
            partial_ok=partial_ok,
            max_attempts=1 if sla.max_attempts is None else int(sla.max_attempts),
            retry_backoff_ms=0.0 if sla.retry_backoff_ms is None else float(sla.retry_backoff_ms),
            jitter_ratio=0.0 if sla.jitter_ratio is None else float(sla.jitter_ratio),
            trace_context=trace_context,
        )

    def delay_s(self, failed_attempt: int, rng: random.Random | None = None) -> float:
        """Seconds to wait after the ``failed_attempt``-th failed fetch."""
        base = min(self.retry_backoff_ms * 2 ** (failed_attempt - 1), MAX_BACKOFF_MS)
        jitter = (rng or random).random() * self.jitter_ratio * base
        return (base + jitter) / 1000.0

    def to_tags(self) -> dict[str, str]:
        """The policy as Dagster run tags (strings), read back by :meth:`from_tags`;
        a traced read's context rides along as ``seamless/traceparent``."""
        tags = {f"{TAG_PREFIX}{f.name}": _tag_value(getattr(self, f.name)) for f in _fields()}
        return {**tags, **tracing.to_tags(self.trace_context)}

    @classmethod
    def from_tags(cls, tags: Mapping[str, str], default: FillPolicy) -> FillPolicy:
        """The policy a run's tags carry; fields without a tag keep ``default``'s.

        A tag that does not parse raises ``InvalidRequestError`` naming it.
        """
        values: dict[str, object] = {}
        for f in _fields():
            raw = tags.get(f"{TAG_PREFIX}{f.name}")
            if raw is None:
                continue
            kind = type(getattr(default, f.name))
            try:
                values[f.name] = _parse_tag(raw, kind)
            except ValueError as exc:
                raise InvalidRequestError(f"{TAG_PREFIX}{f.name}", f"{raw!r}: {exc}") from None
        return cls(
            **{f.name: values.get(f.name, getattr(default, f.name)) for f in _fields()},
            trace_context=tracing.from_tags(tags),
        )


def _fields() -> tuple[Any, ...]:
    """The fields a policy's tags carry one by one (its trace context has its own)."""
    return tuple(f for f in fields(FillPolicy) if f.name != "trace_context")


def _tag_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value) if isinstance(value, float) else str(value)


def _parse_tag(raw: str, kind: type) -> object:
    if kind is bool:
        if raw not in ("true", "false"):
            raise ValueError("is not 'true' or 'false'")
        return raw == "true"
    if kind is int:
        return int(raw)
    return float(raw)
