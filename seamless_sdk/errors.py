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
    │   │                              after every retry (``.attempts``, ``.__cause__``)
    │   └── BackfillDeferredError      the coordinator holds a window back: backoff,
    │                                  quarantine or skipped (``.key``, ``.reason``)
    ├── StoreError                     the store could not be read or written
    │   ├── StoreCorruptedError        stored bytes fail their checksum or invariants
    │   │                              (``.node_id``, ``.interval``, ``.chunk_start``)
    │   ├── ForeignStoreError          the file is not a Seamless store, or a newer one
    │   │                              (``.path``); it is left untouched
    │   ├── StoreUnavailableError      the store's database server cannot be reached or
    │   │                              dropped the connection; retrying later may work
    │   └── CoordinatorError           the backfill coordinator's database failed
    │       └── LeaseLostError         a stale lease holder tried to extend or complete
    ├── SourceError                    a shipped fetcher could not read its source file
    │                                  (``.path``, ``.problem``); retrying does not help
    ├── ReadManyError                  some nodes of a ``read_many`` failed (``.results``,
    │                                  ``.errors``)
    ├── ChangeRefusedError             a data or schema change was refused: a failed canary
    │                                  without ``--force``, a stale plan, no approval
    │                                  (``.reason``)
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


ConformancePipelineError = ConformanceError
"""The predecessor's name for :class:`ConformanceError` (seeds 001 and 002), the
same class: ``except ConformancePipelineError`` in code written for it still
catches what Seamless raises."""


class FetchError(SeamlessError):
    """The fetcher failed on every attempt; the last error is the ``__cause__``."""

    def __init__(self, message: str, attempts: int) -> None:
        self.attempts = attempts
        super().__init__(message)


class StoreError(SeamlessError):
    """The bar store could not complete an operation; nothing was changed."""


REPAIR_ADVICE = "`seamless store repair` drops damaged chunks so the next fill fetches them again"
"""What a ``StoreCorruptedError`` tells the user to do, unless the damage says otherwise."""


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
        *,
        advice: str = REPAIR_ADVICE,
    ) -> None:
        self.node_id = node_id
        self.interval = interval
        self.chunk_start = chunk_start
        self.reason = reason
        where = " ".join(str(x) for x in (node_id, interval) if x is not None) or "the store"
        if chunk_start is not None:
            where += f" chunk {chunk_start}"
        super().__init__(
            f"chunk: {where} is damaged ({reason}); nothing damaged was returned. {advice}"
        )


class ForeignStoreError(StoreError):
    """The file at ``path`` is not a Seamless store (another application's SQLite
    file, or not SQLite at all), or was written by a newer Seamless; it was
    opened without changing a byte of it."""

    def __init__(self, path: str, problem: str) -> None:
        self.path = path
        self.problem = problem
        super().__init__(f"{path}: {problem}; the file was left untouched")


class StoreUnavailableError(StoreError):
    """The store's database server refused or dropped the connection (it is down,
    restarting or unreachable). The operation did not complete; a transaction
    whose commit was cut off is either wholly applied or not at all. The store
    reconnects on the next call."""


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


class ReadManyError(SeamlessError):
    """Some reads of a ``read_many`` call failed; the others did not.

    ``results`` maps every node that was read to its ``HistoryResult``,
    ``errors`` every node that failed to its exception (a ``DataUnavailableError``,
    ``SeamlessSLAExceeded``, ``ConformanceError``, ...).
    """

    def __init__(self, results: dict[str, Any], errors: dict[str, BaseException]) -> None:
        self.results = results
        self.errors = errors
        first = next(iter(errors.items()))
        super().__init__(
            f"{len(errors)} of {len(results) + len(errors)} node(s) failed; "
            f"first {first[0]}: {first[1]}"
        )


class CoordinatorError(StoreError):
    """The backfill coordinator's database could not be reached or used; the
    job rows are as they were before the failing statement."""


class LeaseLostError(CoordinatorError):
    """A lease's token no longer matches its job row: the lease expired and another
    host re-claimed the window (or an operator reset it). The stale holder may
    neither extend nor complete it; ``key`` names the window."""

    def __init__(self, key: str, message: str | None = None) -> None:
        self.key = key
        super().__init__(message or f"{key}: the lease was lost (expired and re-claimed)")


class BackfillDeferredError(FetchError):
    """The coordinator refused to start a window now: it failed recently and is
    backing off (``reason="backoff"``, until ``retry_at``, epoch seconds), it is
    quarantined after repeated failures (``"quarantined"``) or an operator chose
    to skip it (``"skipped"``). Like a failed fetch, the read returns partial."""

    def __init__(self, key: str, reason: str, retry_at: float | None = None) -> None:
        self.key = key
        self.reason = reason
        self.retry_at = retry_at
        when = f" until {retry_at:.3f}" if retry_at is not None else ""
        super().__init__(f"{key}: backfill deferred ({reason}{when})", 0)


class ChangeRefusedError(SeamlessError):
    """A change of stored data or of the schema bundle was refused, and nothing
    changed: promoting a failed canary without ``force``, applying a plan made
    against another bundle (``reason="stale"``), or without the approval the
    configuration requires (``reason="approval"``). ``reason`` is a short code."""

    def __init__(self, reason: str, message: str) -> None:
        self.reason = reason
        super().__init__(message)
