"""OpenTelemetry traces of reads and backfills (seed 003 §7), optional at run time.

Spans, with seed 003's attributes (``start``/``end`` as ISO-8601 UTC):

====================  ============================================================
``history.read``      one read, from planning to the answer: ``request_id``,
                      ``node_id``, ``interval``, ``start``, ``end``, ``strategy``,
                      ``strict``; on return ``source`` (the sources that served
                      it, in priority order, comma-separated), ``missing_count``
                      (bars not returned), ``wait_ms`` (waited for fills),
                      ``timeout`` (a budget cut a wait short), ``sla_violation``
``coverage.compute``  the storage phase's coverage lookup: what is stored of the
                      request; ``missing_count`` after it
``backfill.claim``    a read claiming fills for its gaps (``detached``, ``joined``
                      an identical fill in flight, ``backfiller``), or a fill
                      claiming a chunk from a coordinator (``claim``: ``claimed``,
                      ``busy``, ``stale``, ``backoff``, ...)
``backfill.run``      one fill of one window, on the worker thread of the
                      in-process backfiller or in the Dagster run: a child of the
                      ``history.read`` that caused it, even in another process
``datasource.read``   one fetch attempt (``source`` ``backfill``) or the live
                      source's answer (``source`` ``live``); ``attempt``
``lock.acquire``      a store's chunk lock (``lock`` ``chunk``: ``flock`` or a
                      PostgreSQL advisory lock) or the wait for another host's
                      lease (``lock`` ``lease``): ``wait_ms``, ``contended``,
                      ``timeout`` (not had in time)
====================  ============================================================

A span that ends with an exception records it, has status ``ERROR`` and
``error_kind`` (the exception's class). Every structured log event
(``seamless_sdk.events``) is also added to the current span as a span event, and
carries the span's ``trace_id``; ``HistoryMeta.trace_id`` names the read's trace.

Seamless sets up no exporter: it uses the global tracer provider, which the
application configures (``opentelemetry.trace.set_tracer_provider`` or
``opentelemetry-instrument``). Until one is set, and when ``opentelemetry`` is
not installed at all, every function here is a no-op that costs one check.
:func:`set_tracer_provider` gives Seamless a provider of its own instead (tests,
or keeping Seamless's spans apart).

A fill a read causes carries the read's context in its ``FillPolicy``
(``trace_context``): the in-process worker thread parents its spans to it, and
a Dagster run gets it as W3C run tags (:data:`TRACEPARENT_TAG`), from which the
asset's ``backfill.run`` continues the read's trace.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Generator, Iterator, Mapping
from contextlib import contextmanager
from enum import Enum
from typing import TYPE_CHECKING, Any, TypeVar

from seamless_sdk.bars import iso_utc
from seamless_sdk.errors import StoreError
from seamless_sdk.intervals import parse_interval

try:
    from opentelemetry import baggage as _baggage
    from opentelemetry import context as _context
    from opentelemetry import trace as _trace
    from opentelemetry.baggage.propagation import W3CBaggagePropagator
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
except ImportError:  # the optional ``otel`` extra is not installed: tracing is off
    _trace = None  # type: ignore[assignment]

if TYPE_CHECKING:
    from opentelemetry.context import Context
    from opentelemetry.trace import Span, Tracer, TracerProvider

HISTORY_READ = "history.read"
COVERAGE_COMPUTE = "coverage.compute"
BACKFILL_CLAIM = "backfill.claim"
BACKFILL_RUN = "backfill.run"
DATASOURCE_READ = "datasource.read"
LOCK_ACQUIRE = "lock.acquire"
SPAN_NAMES: tuple[str, ...] = (
    HISTORY_READ,
    COVERAGE_COMPUTE,
    BACKFILL_CLAIM,
    BACKFILL_RUN,
    DATASOURCE_READ,
    LOCK_ACQUIRE,
)
"""Every span name Seamless creates (seed 003 §7)."""
ATTRIBUTES: tuple[str, ...] = (
    "request_id",
    "node_id",
    "interval",
    "start",
    "end",
    "strategy",
    "strict",
    "source",
    "missing_count",
    "wait_ms",
    "timeout",
)
"""Seed 003's common span attributes."""

TRACEPARENT_TAG = "seamless/traceparent"
"""The Dagster run tag with the W3C ``traceparent`` of the read that asked for the run."""
TRACESTATE_TAG = "seamless/tracestate"
"""The run tag with the W3C ``tracestate`` that goes with it (only when non-empty)."""
BAGGAGE_TAG = "seamless/baggage"
"""The run tag with the read's W3C ``baggage`` (``seamless.request_id=...``)."""
REQUEST_ID_BAGGAGE = "seamless.request_id"
"""The baggage entry naming the read (seed 003 §7): fills and anything else run in
the read's context, here or in a Dagster run, can tell which request they serve."""
_R = TypeVar("_R")
_TIME_KEYS = frozenset({"start", "end"})
_TRACER_NAME = "seamless_sdk"

_STAND_INS: tuple[type, ...] = (
    (_trace.ProxyTracerProvider, _trace.NoOpTracerProvider) if _trace is not None else ()
)
AVAILABLE = _trace is not None
"""True when ``opentelemetry-api`` is importable (tracing can be turned on)."""
_override: TracerProvider | None = None
_cached: tuple[Any, Tracer] | None = None


def set_tracer_provider(provider: TracerProvider | None) -> None:
    """Make Seamless create its spans with ``provider`` instead of the global one
    (``None``: the global provider again). OpenTelemetry lets the global provider
    be set once per process; this one can be swapped, e.g. per test."""
    global _override
    _override = provider


def _tracer() -> Tracer | None:
    """The tracer to use, or ``None`` when no provider is configured (tracing off)."""
    global _cached
    if _trace is None:
        return None
    provider = _override if _override is not None else _trace.get_tracer_provider()
    cached = _cached
    if cached is not None and cached[0] is provider:
        return cached[1]
    # The API's stand-ins until an application sets a provider: nothing would record.
    if isinstance(provider, _STAND_INS):
        return None
    tracer = provider.get_tracer(_TRACER_NAME)
    _cached = (provider, tracer)
    return tracer


def enabled() -> bool:
    """True when spans are being made (a tracer provider is configured)."""
    return _tracer() is not None


def _value(key: str, value: Any) -> Any:
    """An attribute value OpenTelemetry accepts: times in ISO UTC, enums their value."""
    if isinstance(value, bool | str | float):
        return value
    if isinstance(value, int):
        return _iso(value) if key in _TIME_KEYS else value
    if isinstance(value, Enum):
        return value.value
    name = getattr(value, "name", None)  # an Interval
    if isinstance(name, str):
        return name
    return str(value)


@functools.lru_cache(maxsize=4096)
def _iso(seconds: int) -> str:
    # Formatting a time costs microseconds, and reads ask for the same bounds
    # (day and chunk starts) again and again.
    return iso_utc(seconds)


def _attributes(values: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _value(k, v) for k, v in values.items() if v is not None}


class TraceSpan:
    """A recording span of Seamless: ``set`` attributes, add ``event``\\ s, ``end``."""

    __slots__ = ("_span", "context")
    recording = True

    def __init__(self, span: Span, parent: Context | None) -> None:
        self._span = span
        self.context: Context | None = _trace.set_span_in_context(span, parent)
        """An OpenTelemetry ``Context`` whose current span is this one."""

    @property
    def trace_id(self) -> str | None:
        """The trace id, 32 hex digits."""
        return f"{self._span.get_span_context().trace_id:032x}"

    def set(self, **attributes: Any) -> None:
        """Set attributes (``None`` values are left out)."""
        self._span.set_attributes(_attributes(attributes))

    def event(self, name: str, attributes: Mapping[str, Any]) -> None:
        """Add a span event."""
        self._span.add_event(name, _event_attributes(attributes))

    def fail(self, exc: BaseException) -> None:
        """Record ``exc`` as the reason this span failed."""
        self._span.record_exception(exc)
        self._span.set_attribute("error_kind", type(exc).__name__)
        self._span.set_status(_trace.Status(_trace.StatusCode.ERROR, f"{type(exc).__name__}"))

    def end(self) -> None:
        """End the span (its duration stops here)."""
        self._span.end()


class NoSpan:
    """What tracing hands out when it is off: every method does nothing."""

    __slots__ = ()
    recording = False
    context = None
    trace_id = None

    def set(self, **attributes: Any) -> None:
        """Nothing: tracing is off."""

    def event(self, name: str, attributes: Mapping[str, Any]) -> None:
        """Nothing: tracing is off."""

    def fail(self, exc: BaseException) -> None:
        """Nothing: tracing is off."""

    def end(self) -> None:
        """Nothing: tracing is off."""


NO_SPAN = NoSpan()


def start(
    name: str,
    *,
    parent: Context | None = None,
    baggage: Mapping[str, str] | None = None,
    **attributes: Any,
) -> TraceSpan | NoSpan:
    """Start a span without making it current (end it with ``.end()``); a child
    of ``parent``, else of the current span; ``baggage`` entries are added to its
    context. :data:`NO_SPAN` when tracing is off."""
    tracer = _tracer()
    if tracer is None:
        return NO_SPAN
    span = tracer.start_span(name, context=parent, attributes=_attributes(attributes))
    made = TraceSpan(span, parent)
    for key, value in (baggage or {}).items():
        made.context = _baggage.set_baggage(key, value, context=made.context)
    return made


class _Scope:
    """``with span(...)``: the span is current inside the block and ends after it."""

    __slots__ = ("_span", "_token")

    def __init__(self, span: TraceSpan) -> None:
        self._span = span
        self._token: object = None

    def __enter__(self) -> TraceSpan:
        self._token = _context.attach(self._span.context)  # type: ignore[arg-type]
        return self._span

    def __exit__(self, kind: Any, exc: BaseException | None, tb: Any) -> None:
        if exc is not None:
            self._span.fail(exc)
        _context.detach(self._token)  # type: ignore[arg-type]
        self._span.end()


class _Off:
    """``with span(...)`` when tracing is off: one shared object, no work."""

    __slots__ = ()

    def __enter__(self) -> NoSpan:
        return NO_SPAN

    def __exit__(self, kind: Any, exc: BaseException | None, tb: Any) -> None:
        return None


_OFF = _Off()
OFF = _OFF
"""A ``with`` block that is no span: for callers that already know tracing is off."""


def span(name: str, *, parent: Context | None = None, **attributes: Any) -> _Scope | _Off:
    """A span that is current inside the ``with`` block, a child of ``parent``
    (else of the current span); an exception leaving the block is recorded.

    >>> with span(LOCK_ACQUIRE, lock="chunk", node_id="demo:A") as s:
    ...     s.set(wait_ms=0.1)
    """
    made = start(name, parent=parent, **attributes)
    if isinstance(made, NoSpan):
        return _OFF
    return _Scope(made)


def current_context() -> Context | None:
    """The current context when tracing is on (to hand to another thread), else None."""
    if _tracer() is None:
        return None
    return _context.get_current()


def current_span_recording() -> bool:
    """True when a span is current and recording (so events and ids are worth adding)."""
    if _trace is None:
        return False
    return bool(_trace.get_current_span().is_recording())


def current_trace_id() -> str | None:
    """The current trace id as 32 hex digits, or ``None`` (no ``opentelemetry-api``,
    or no valid span is current)."""
    if _trace is None:
        return None
    context = _trace.get_current_span().get_span_context()
    return f"{context.trace_id:032x}" if context.is_valid else None


def add_event(name: str, attributes: Mapping[str, Any]) -> None:
    """Add ``name`` as an event of the current span, if one is recording."""
    if _trace is None:
        return
    current = _trace.get_current_span()
    if current.is_recording():
        current.add_event(name, _event_attributes(attributes))


def _event_attributes(attributes: Mapping[str, Any]) -> dict[str, Any]:
    # Span event values must be primitives: nested values (ranges, flag counts)
    # become their JSON-ish text rather than being dropped.
    out: dict[str, Any] = {}
    for key, value in attributes.items():
        if value is None:
            continue
        out[key] = value if isinstance(value, bool | str | int | float) else str(value)
    return out


# -- propagation: fill policies and Dagster run tags --------------------------------
def to_tags(context: Context | None) -> dict[str, str]:
    """The run tags that carry ``context``'s span to a Dagster run: ``{}`` without
    a valid span in it (or without OpenTelemetry)."""
    if _trace is None or context is None:
        return {}
    carrier: dict[str, str] = {}
    TraceContextTextMapPropagator().inject(carrier, context=context)
    tags = {}
    if carrier.get("traceparent"):
        tags[TRACEPARENT_TAG] = carrier["traceparent"]
        if carrier.get("tracestate"):
            tags[TRACESTATE_TAG] = carrier["tracestate"]
        W3CBaggagePropagator().inject(carrier, context=context)
        if carrier.get("baggage"):
            tags[BAGGAGE_TAG] = carrier["baggage"]
    return tags


def from_tags(tags: Mapping[str, str]) -> Context | None:
    """The context a run's tags carry (see :func:`to_tags`), or ``None``."""
    if _trace is None:
        return None
    traceparent = tags.get(TRACEPARENT_TAG)
    if not traceparent:
        return None
    carrier = {"traceparent": traceparent}
    if tags.get(TRACESTATE_TAG):
        carrier["tracestate"] = tags[TRACESTATE_TAG]
    if tags.get(BAGGAGE_TAG):
        carrier["baggage"] = tags[BAGGAGE_TAG]
    context = TraceContextTextMapPropagator().extract(carrier)
    context = W3CBaggagePropagator().extract(carrier, context=context)
    # A malformed traceparent extracts to a context without a span: nothing to continue.
    if not _trace.get_current_span(context).get_span_context().is_valid:
        return None
    return context


# -- a read: its span current during every step of the engine's generator --------------
def steps(read_span: TraceSpan | NoSpan, run: Generator[Any, Any, Any]) -> Generator[Any, Any, Any]:
    """Drive the engine's generator ``run`` with ``read_span`` current during each
    step (never across a ``yield``: ``read_many`` interleaves many reads on one
    thread), then end the span with the read's outcome, or its exception."""
    if not isinstance(read_span, TraceSpan):
        return (yield from run)
    context = read_span.context
    sent: Any = None
    try:
        while True:
            token = _context.attach(context)  # type: ignore[arg-type]
            try:
                wait = run.send(sent)
            finally:
                _context.detach(token)
            sent = yield wait
    except StopIteration as stop:
        read_span.set(**read_outcome(stop.value))
        read_span.end()
        return stop.value
    except BaseException as exc:
        if not isinstance(exc, GeneratorExit):
            read_span.fail(exc)
        read_span.end()
        run.close()
        raise


def read_outcome(result: Any) -> dict[str, Any]:
    """``history.read``'s attributes from a ``HistoryResult``."""
    meta = result.meta
    report = meta.sla_report
    return {
        "source": ",".join(str(s) for s in meta.source_contributions) or "none",
        "missing_count": meta.missing.total() // parse_interval(meta.interval).seconds,
        "wait_ms": round(float(report.elapsed_ms.get("backfill", 0.0)), 3),
        "timeout": report.timeouts > 0,
        "sla_violation": report.violation,
    }


@contextmanager
def timed_lock(lock: str, **attributes: Any) -> Iterator[TraceSpan | NoSpan]:
    """A ``lock.acquire`` span around acquiring a lock, with ``wait_ms``; the
    block sets ``contended`` (and an exception, e.g. a timeout, is recorded)."""
    with span(LOCK_ACQUIRE, lock=lock, **attributes) as s:
        t0 = time.perf_counter()
        try:
            yield s
        except StoreError:
            # What the stores' lock functions raise when the lock is not had in time.
            s.set(timeout=True)
            raise
        finally:
            s.set(wait_ms=round((time.perf_counter() - t0) * 1000, 3))


def partition_run(
    parent: Context | None, *, source: str = "dagster"
) -> Callable[[Callable[[Any], _R]], Callable[[Any], _R]]:
    """Make each call of a one-partition fill function (``fn(key)``, ``key`` a
    ``PartitionKey``) a ``backfill.run`` span, a child of ``parent`` (the context a
    Dagster run's tags carry, see :func:`from_tags`), else of the current span;
    on any thread, since ``parent`` is explicit."""

    def decorate(fn: Callable[[Any], _R]) -> Callable[[Any], _R]:
        @functools.wraps(fn)
        def traced(key: Any) -> _R:
            start_s, end_s = key.window
            with span(
                BACKFILL_RUN,
                parent=parent,
                request_id=str(key),
                node_id=key.node_id,
                interval=key.interval,
                start=start_s,
                end=end_s,
                source=source,
            ) as s:
                outcome = fn(key)
                if isinstance(outcome, BaseException):  # returned, not raised: still a failure
                    s.fail(outcome)
                return outcome

        return traced

    return decorate
