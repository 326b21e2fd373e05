"""Every exception Seamless raises, in one place.

The tree::

    SeamlessError                      base of everything below
    ├── InvalidRequestError(ValueError)  a request, config or RangeSet argument is bad;
    │                                    ``.field`` names it, the message starts with it
    ├── DataUnavailableError           FAIL_FAST found missing ranges (``.missing``)
    ├── SeamlessSLAExceeded            a phase ran out of its budget (``.phase``,
    │                                  ``.budget_ms``, ``.elapsed_ms``, ``.report``)
    ├── ConformanceError               a frame broke the schema or quality rules (``.report``)
    ├── FetchError                     the fetcher raised or returned something unusable
    │                                  after every retry (``.attempts``, ``.__cause__``)
    ├── StoreError                     the store could not be read or written
    │   ├── StoreCorruptedError        stored bytes fail their checksum or invariants
    │   │                              (``.node_id``, ``.interval``, ``.chunk_start``)
    │   └── ForeignStoreError          the file is not a Seamless store, or a newer one
    │                                  (``.path``); it is left untouched
    ├── SourceError                    a shipped fetcher could not read its source file
    │                                  (``.path``, ``.problem``); retrying does not help
    └── ProviderClosedError(RuntimeError) a closed provider was used
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from seamless_sdk.ranges import RangeSet


class SeamlessError(Exception):
    """Base class of every error raised by Seamless."""


class InvalidRequestError(SeamlessError, ValueError):
    """A request field (or a config value) is invalid.

    ``field`` names the offending field and the message starts with it, e.g.
    ``"node_id: 'a b' does not match ^[A-Za-z0-9]..."``.
    """

    def __init__(self, field: str, problem: str) -> None:
        self.field = field
        self.problem = problem
        super().__init__(f"{field}: {problem}")


class DataUnavailableError(SeamlessError):
    """Raised by FAIL_FAST when part of the request is not covered.

    ``missing`` is the RangeSet of epoch-second ranges that are not available.
    """

    def __init__(self, missing: RangeSet, message: str | None = None) -> None:
        self.missing = missing
        super().__init__(message or f"data unavailable for ranges {list(missing)}")


class SeamlessSLAExceeded(SeamlessError):
    """A phase of a request ran out of its SLA budget.

    ``phase`` is the budget that ran out: ``storage``, ``backfill``, ``live``
    or ``total``. Raised by AUTO_BACKFILL reads; SEAMLESS reads return partial
    with ``meta.sla_report.violation`` set instead.
    """

    def __init__(
        self, phase: str, budget_ms: float | None, elapsed_ms: float, report: Any = None
    ) -> None:
        self.phase = phase
        self.budget_ms = budget_ms
        self.elapsed_ms = elapsed_ms
        self.report = report
        super().__init__(
            f"SLA exceeded in phase {phase!r}: {elapsed_ms:.1f} ms elapsed, budget {budget_ms} ms"
        )


class ConformanceError(SeamlessError):
    """A frame violated the schema or the quality rules; ``report`` says how."""

    def __init__(self, report: Any, message: str | None = None) -> None:
        self.report = report
        super().__init__(message or f"conformance failed: {getattr(report, 'summary', report)}")


class FetchError(SeamlessError):
    """The fetcher failed on every attempt; the last error is the ``__cause__``."""

    def __init__(self, message: str, attempts: int) -> None:
        self.attempts = attempts
        super().__init__(message)


class StoreError(SeamlessError):
    """The bar store could not complete an operation; nothing was changed."""


class StoreCorruptedError(StoreError):
    """Stored bytes are damaged: a chunk (or a coverage row) fails its checksum
    or its invariants, or SQLite found the file's structure broken.

    ``node_id``, ``interval`` (the name, e.g. ``"1m"``) and ``chunk_start``
    (epoch seconds) name the damaged chunk; they are ``None`` where the damage
    is not in one chunk (a coverage row has no chunk, a broken B-tree has no
    series). ``reason`` says what failed. Nothing damaged is ever returned:
    ``LocalStore.repair()`` (``seamless store repair``) drops the damaged chunks
    and their coverage so the next fill fetches them again.
    """

    def __init__(
        self,
        node_id: str | None,
        interval: str | None,
        chunk_start: int | None,
        reason: str,
    ) -> None:
        self.node_id = node_id
        self.interval = interval
        self.chunk_start = chunk_start
        self.reason = reason
        where = " ".join(str(x) for x in (node_id, interval) if x is not None) or "the store"
        if chunk_start is not None:
            where += f" chunk {chunk_start}"
        super().__init__(
            f"chunk: {where} is damaged ({reason}); nothing damaged was returned. "
            "`seamless store repair` drops damaged chunks so the next fill fetches them again"
        )


class ForeignStoreError(StoreError):
    """The file at ``path`` is not a Seamless store (another application's SQLite
    file, or not SQLite at all), or was written by a newer Seamless; it was
    opened without changing a byte of it."""

    def __init__(self, path: str, problem: str) -> None:
        self.path = path
        self.problem = problem
        super().__init__(f"{path}: {problem}; the file was left untouched")


class SourceError(SeamlessError):
    """A shipped fetcher (e.g. ``FileFetcher``) could not read its source.

    Raised for an unreadable or malformed file: ``path`` names it and the
    message starts with it. A missing file is not an error (no data yet).
    """

    def __init__(self, path: str, problem: str) -> None:
        self.path = path
        self.problem = problem
        super().__init__(f"{path}: {problem}")


class ProviderClosedError(SeamlessError, RuntimeError):
    """The provider was used after ``close()``."""
