"""SeamlessDataProvider: the single entry point of the read SDK.

A read walks the sources in priority order (cache → storage → backfill →
live by default), each serving what it can of what is still missing, and then
assembles one sorted frame and the metadata that says where every part came
from and what is missing. The walk itself lives in ``engine.py``; this module
holds the public surface, the per-call options and the lifecycle.

>>> # with SeamlessDataProvider(store=LocalStore("bars.sqlite"),
>>> #                           fetcher=SyntheticFetcher()) as provider:
>>> #     result = provider.read("demo:BTCUSDT", "1m", "2026-01-01", "2026-01-02")
>>> #     result.df, result.meta.missing
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
import weakref
from collections.abc import AsyncIterator, Callable, Generator, Iterable, Mapping, Sequence
from concurrent.futures import Future
from concurrent.futures import wait as wait_futures
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import pandas as pd
from prometheus_client import REGISTRY, CollectorRegistry

from seamless_sdk.backfill.base import DetachedBackfiller
from seamless_sdk.backfill.fill import FillResult
from seamless_sdk.backfill.inprocess import FillExecutor, InProcessBackfiller
from seamless_sdk.backfill.policy import FillPolicy
from seamless_sdk.cache import BarCache
from seamless_sdk.calendars import Calendar, calendar_for
from seamless_sdk.checks import MAX_WAIT_S, MAX_WORKERS, check_bool, check_callable, check_number
from seamless_sdk.conformance import ConformanceReport, Flag
from seamless_sdk.coordination.base import Coordinator
from seamless_sdk.coordination.defaults import store_coordinator
from seamless_sdk.engine import ReadEngine, ReadParts, Wait, await_futures
from seamless_sdk.errors import ConformanceError, InvalidRequestError, ProviderClosedError
from seamless_sdk.intervals import parse_interval
from seamless_sdk.many import BatchFrames, ManyCall, Run, adrive_many, drive_many
from seamless_sdk.metrics import Metrics
from seamless_sdk.metrics_server import MetricsServer, serve_metrics
from seamless_sdk.ranges import RangeSet
from seamless_sdk.request import (
    BarRequest,
    validate_node_id,
    validate_node_ids,
    validate_request,
    validate_span,
)
from seamless_sdk.result import HistoryMeta, HistoryResult
from seamless_sdk.sla import SLAPolicy
from seamless_sdk.stores.base import BarStore
from seamless_sdk.strategy import (
    DEFAULT_SOURCE_PRIORITY,
    Source,
    Strategy,
    parse_source_priority,
)
from seamless_sdk.streaming import BarStream, StreamParts

if TYPE_CHECKING:
    from seamless_sdk.policy_settings import PolicySettings


@dataclass(frozen=True, slots=True)
class ReadOptions:
    """The policy of one request: the provider's defaults with per-call overrides."""

    strategy: Strategy
    sla: SLAPolicy
    partial_ok: bool
    strict: bool
    source_priority: tuple[Source, ...]
    lineage: bool


def _meta_wanted(return_meta: Any) -> bool:
    """``return_meta`` checked before a read starts (``None`` means the default, True)."""
    return True if return_meta is None else check_bool("return_meta", return_meta)


def _check_settings(
    cache_bytes: object,
    cache_ttl_s: object,
    workers: object,
    close_timeout_s: object,
    clock: object,
    on_fill: object,
    registry: object,
    backfiller: object,
    calendars: object,
    metrics_port: object,
) -> None:
    """The provider's own settings, checked before anything is built."""
    if cache_bytes is None:
        raise InvalidRequestError("cache_bytes", "None is not a number of bytes (0: no cache)")
    check_number("cache_bytes", cache_bytes, 0, 2**62, integer=True)
    for field, value in (("cache_ttl_s", cache_ttl_s), ("close_timeout_s", close_timeout_s)):
        if value is None:
            raise InvalidRequestError(field, "None is not a number of seconds")
        check_number(field, value, 0, MAX_WAIT_S)
    check_number("workers", workers, 1, MAX_WORKERS, integer=True)
    check_number("metrics_port", metrics_port, 0, 65535, integer=True)
    if clock is None:
        raise InvalidRequestError("clock", "None is not a clock (the default is time.time)")
    check_callable("clock", clock)
    check_callable("on_fill", on_fill)
    if registry is not None and not isinstance(registry, CollectorRegistry):
        raise InvalidRequestError("registry", f"{registry!r} is not a CollectorRegistry")
    if backfiller is not None and not all(
        callable(getattr(backfiller, m, None)) for m in ("request", "close")
    ):
        raise InvalidRequestError(
            "backfiller", f"{backfiller!r} has no request() and close() (a DetachedBackfiller)"
        )
    if calendars is not None and not isinstance(calendars, Mapping):
        raise InvalidRequestError("calendars", f"{calendars!r} is not a node id -> code mapping")


class SeamlessDataProvider:
    """Reads bars of one node and interval over ``[start, end)``, as if all data
    had always been there.

    ``store`` keeps bars and coverage; ``fetcher`` (any object with
    ``fetch(node_id, interval, start, end) -> DataFrame``, sync or async)
    fills gaps; ``live`` serves bars newer than the now edge: its ``fetch()``
    (same shape as a fetcher) for SEAMLESS reads, its ``subscribe()`` (a
    ``seamless_sdk.live.LiveFeed``) for ``stream``; ``registry`` is the
    Prometheus registry for metrics, and ``metrics_port`` (``0``: any free
    port) serves it over HTTP until ``close()`` (``provider.metrics_server``);
    ``backfiller`` takes detached gaps (default: background threads here, or a
    ``DagsterBackfiller`` to make them Dagster runs); ``calendars`` maps node
    ids to calendar codes (``"XNYS"``; default 24/7); ``on_fill`` is called
    after every window this provider's own backfiller commits (e.g.
    ``seamless_assets.coverage_reporter`` to show it in Dagster).
    ``coordinator`` (e.g. ``PostgresCoordinator(dsn)``) makes every fill claim
    its chunks there, so hosts sharing one store fetch each window once; the
    provider closes it with the store. ``None`` means the store's own
    mechanism: a ``PostgresCoordinator`` on a ``PostgresStore``'s database,
    ``LocalStore``'s per-host ``flock``.
    ``workers`` fill threads (default: one per core, at most 4), ``cache_bytes``
    and ``cache_ttl_s`` bound the in-memory cache, and ``close_timeout_s`` is how
    long ``close()`` waits for fills in flight.
    """

    def __init__(
        self,
        store: BarStore,
        fetcher: Any = None,
        *,
        strategy: Strategy | str = Strategy.SEAMLESS,
        sla: SLAPolicy | None = None,
        partial_ok: bool = False,
        strict: bool = False,
        source_priority: Sequence[str] = DEFAULT_SOURCE_PRIORITY,
        lineage: bool = False,
        live: Any = None,
        registry: CollectorRegistry | None = None,
        backfiller: DetachedBackfiller | None = None,
        calendars: Mapping[str, str | None] | None = None,
        cache_bytes: int = 256 * 1024 * 1024,
        cache_ttl_s: float = 300.0,
        workers: int | None = None,
        close_timeout_s: float = 10.0,
        clock: Callable[[], float] = time.time,
        on_fill: Callable[[FillResult], None] | None = None,
        coordinator: Coordinator | None = None,
        metrics_port: int | None = None,
    ) -> None:
        _check_settings(
            cache_bytes,
            cache_ttl_s,
            workers,
            close_timeout_s,
            clock,
            on_fill,
            registry,
            backfiller,
            calendars,
            metrics_port,
        )
        if not isinstance(store, BarStore):
            raise InvalidRequestError("store", f"{store!r} does not implement BarStore")
        if fetcher is not None and not callable(getattr(fetcher, "fetch", None)):
            raise InvalidRequestError("fetcher", f"{fetcher!r} has no fetch() method")
        if live is not None and not any(
            callable(getattr(live, m, None)) for m in ("fetch", "subscribe")
        ):
            raise InvalidRequestError("live", f"{live!r} has neither fetch() nor subscribe()")
        if sla is not None and not isinstance(sla, SLAPolicy):
            raise InvalidRequestError("sla", f"{sla!r} is not an SLAPolicy")
        self._defaults = ReadOptions(
            strategy=Strategy.parse(strategy),
            sla=sla or SLAPolicy(),
            partial_ok=check_bool("partial_ok", partial_ok),
            strict=check_bool("strict", strict),
            source_priority=parse_source_priority(source_priority),
            lineage=check_bool("lineage", lineage),
        )
        self.store = store
        self.fetcher = fetcher
        self.live = live
        self.metrics = Metrics(registry if registry is not None else REGISTRY)
        self.cache = BarCache(cache_bytes, cache_ttl_s)
        self._calendar_codes = {validate_node_id(k): v for k, v in (calendars or {}).items()}
        self._clock = clock
        self._on_fill = on_fill
        self._close_timeout_s = close_timeout_s
        # Nothing the worker threads hold may refer to the provider, so a provider
        # dropped without close() is collected and its finalizer releases all.
        self_ref = weakref.WeakMethod(self._on_commit)
        if coordinator is not None and not isinstance(coordinator, Coordinator):
            raise InvalidRequestError("coordinator", f"{coordinator!r} is not a Coordinator")
        if coordinator is None:
            coordinator = store_coordinator(store)  # a PostgresStore's own database
        self.coordinator = coordinator
        self._executor = FillExecutor(
            store,
            fetcher,
            # Conforming is CPU-bound under the GIL: more fill threads than cores
            # only add contention (measured: 4 threads on 2 cores 18% slower).
            workers=workers or min(4, os.cpu_count() or 2),
            metrics=self.metrics,
            on_commit=lambda result: _call_weak(self_ref, result),
            clock=clock,
            coordinator=coordinator,
        )
        self._inprocess = InProcessBackfiller(self._executor)
        self.backfiller: DetachedBackfiller = backfiller or self._inprocess
        self._engine = ReadEngine(
            ReadParts(
                store=store,
                fetcher=fetcher,
                live=live,
                cache=self.cache,
                fills=self._inprocess,
                detached=self.backfiller,
                metrics=self.metrics,
                clock=clock,
                calendar=_calendars(self._calendar_codes),
            )
        )
        self._closed = False
        self._close_lock = threading.Lock()
        # Open streams, closed with the provider so no live subscription outlives it.
        self._streams: weakref.WeakSet[BarStream] = weakref.WeakSet()
        self.last_conformance_report: ConformanceReport | None = None
        self._finalizer = weakref.finalize(
            self, _release, self._inprocess, self.backfiller, store, close_timeout_s, coordinator
        )
        self.metrics_server: MetricsServer | None = None
        if metrics_port is not None:
            try:
                self.metrics_server = serve_metrics(self.metrics.registry, metrics_port)
            except BaseException:
                self._finalizer()  # a port in use must not leak the store and threads
                raise
            weakref.finalize(self, self.metrics_server.close)

    @classmethod
    def from_settings(
        cls,
        settings: PolicySettings | str | os.PathLike[str],
        store: BarStore,
        fetcher: Any = None,
        **kwargs: Any,
    ) -> SeamlessDataProvider:
        """A provider with the strategy, SLA, ``partial_ok`` and ``strict`` of
        ``settings`` (a :class:`~seamless_sdk.policy_settings.PolicySettings`, or
        a YAML file whose ``seamless:`` section holds them, as in seed 004);
        ``kwargs`` are further constructor keywords and win over the settings."""
        from seamless_sdk.policy_settings import PolicySettings, load_policy_settings

        if not isinstance(settings, PolicySettings):
            settings = load_policy_settings(settings)
        return cls(store, fetcher, **{**settings.provider_kwargs(), **kwargs})

    # -- public API ------------------------------------------------------------
    def read(
        self,
        node_id: str,
        interval: str,
        start: Any,
        end: Any,
        *,
        strategy: Strategy | str | None = None,
        sla: SLAPolicy | None = None,
        partial_ok: bool | None = None,
        strict: bool | None = None,
        source_priority: Sequence[str] | None = None,
        lineage: bool | None = None,
        return_meta: bool | None = True,
    ) -> HistoryResult | pd.DataFrame:
        """Bars of ``node_id`` at ``interval`` over ``[start, end)``.

        Returns a ``HistoryResult`` (``df`` and ``meta``), or only the frame with
        ``return_meta=False``. Keywords left as ``None`` take the provider's defaults
        (``return_meta``'s is ``True``).
        """
        meta = _meta_wanted(return_meta)
        run = self._start(
            node_id,
            interval,
            start,
            end,
            strategy,
            sla,
            partial_ok,
            strict,
            source_priority,
            lineage,
            want_frame=True,
        )
        result = _drive_sync(run)
        return result if meta else result.df

    async def aread(
        self,
        node_id: str,
        interval: str,
        start: Any,
        end: Any,
        *,
        strategy: Strategy | str | None = None,
        sla: SLAPolicy | None = None,
        partial_ok: bool | None = None,
        strict: bool | None = None,
        source_priority: Sequence[str] | None = None,
        lineage: bool | None = None,
        return_meta: bool | None = True,
    ) -> HistoryResult | pd.DataFrame:
        """``read`` for asyncio code: waits on fills without blocking the loop."""
        meta = _meta_wanted(return_meta)
        run = self._start(
            node_id,
            interval,
            start,
            end,
            strategy,
            sla,
            partial_ok,
            strict,
            source_priority,
            lineage,
            want_frame=True,
        )
        result = await _drive_async(run)
        return result if meta else result.df

    def ensure_available(
        self,
        node_id: str,
        interval: str,
        start: Any,
        end: Any,
        *,
        strategy: Strategy | str | None = None,
        sla: SLAPolicy | None = None,
        partial_ok: bool | None = None,
        strict: bool | None = None,
        source_priority: Sequence[str] | None = None,
        lineage: bool | None = None,
    ) -> HistoryMeta:
        """Make ``[start, end)`` available as ``strategy`` says, and report on it
        without building the frame."""
        run = self._start(
            node_id,
            interval,
            start,
            end,
            strategy,
            sla,
            partial_ok,
            strict,
            source_priority,
            lineage,
            want_frame=False,
        )
        return _drive_sync(run).meta

    async def aensure_available(
        self,
        node_id: str,
        interval: str,
        start: Any,
        end: Any,
        *,
        strategy: Strategy | str | None = None,
        sla: SLAPolicy | None = None,
        partial_ok: bool | None = None,
        strict: bool | None = None,
        source_priority: Sequence[str] | None = None,
        lineage: bool | None = None,
    ) -> HistoryMeta:
        """``ensure_available`` for asyncio code."""
        run = self._start(
            node_id,
            interval,
            start,
            end,
            strategy,
            sla,
            partial_ok,
            strict,
            source_priority,
            lineage,
            want_frame=False,
        )
        return (await _drive_async(run)).meta

    def read_many(
        self,
        node_ids: Iterable[str],
        interval: str,
        start: Any,
        end: Any,
        *,
        strategy: Strategy | str | None = None,
        sla: SLAPolicy | None = None,
        partial_ok: bool | None = None,
        strict: bool | None = None,
        source_priority: Sequence[str] | None = None,
        lineage: bool | None = None,
    ) -> dict[str, HistoryResult]:
        """``read`` of every node in ``node_ids`` over one ``[start, end)``, in one call.

        The reads share one deadline (the SLA counts from this call), their
        fills run concurrently on the provider's fill threads, and a node that
        fails does not hide the others: when any fails, ``ReadManyError`` is
        raised after every read has finished, with ``.results`` (the nodes that
        were read) and ``.errors`` (node -> exception).

        >>> # results = provider.read_many(["demo:A", "demo:B"], "1m", start, end)
        >>> # results["demo:A"].df
        """
        runs = self._start_many(
            node_ids,
            interval,
            start,
            end,
            strategy,
            sla,
            partial_ok,
            strict,
            source_priority,
            lineage,
        )
        return drive_many(runs)

    async def aread_many(
        self,
        node_ids: Iterable[str],
        interval: str,
        start: Any,
        end: Any,
        *,
        strategy: Strategy | str | None = None,
        sla: SLAPolicy | None = None,
        partial_ok: bool | None = None,
        strict: bool | None = None,
        source_priority: Sequence[str] | None = None,
        lineage: bool | None = None,
    ) -> dict[str, HistoryResult]:
        """``read_many`` for asyncio code."""
        runs = self._start_many(
            node_ids,
            interval,
            start,
            end,
            strategy,
            sla,
            partial_ok,
            strict,
            source_priority,
            lineage,
        )
        return await adrive_many(runs)

    def stream(
        self,
        node_id: str,
        interval: str,
        start: Any,
        *,
        end: Any = None,
        include_partial: bool = False,
        strategy: Strategy | str | None = None,
        sla: SLAPolicy | None = None,
        partial_ok: bool | None = None,
        lineage: bool | None = None,
    ) -> BarStream:
        """Bars of ``node_id`` from ``start`` on: the history, then live bars as they
        close, each bar exactly once, as an iterator of DataFrames.

        The history comes through ``read`` (``strategy`` and ``sla`` apply);
        then the live feed (``live=``) delivers bars, which are conformed,
        stored and handed out. ``end=None`` streams until ``close()``; a future
        ``end`` stops there. ``include_partial`` also hands out the bar still
        forming (flag ``PARTIAL_BAR``, not stored), replaced later by the closed
        bar of the same ``ts``; the flags are the only way to tell the two
        apart, so it turns ``lineage`` on (``lineage=False`` with it is
        ``InvalidRequestError``). See ``seamless_sdk.streaming``.

        >>> # with provider.stream("demo:BTCUSDT", "1m", "2026-01-01") as bars:
        >>> #     for frame in bars: strategy.on_bars(frame)
        """
        self._check_open()
        node = validate_node_id(node_id)
        iv = parse_interval(interval)
        first = validate_request(node, iv, start, start).start
        last = None if end is None else validate_request(node, iv, first, end).end
        partial = check_bool("include_partial", include_partial)
        if partial and lineage is False:
            raise InvalidRequestError(
                "include_partial",
                "needs lineage: without the flags column a forming bar (PARTIAL_BAR) "
                "cannot be told from the closed bar that replaces it",
            )
        options = self._options(strategy, sla, partial_ok, None, None, True if partial else lineage)
        if (last is None or last > iv.now_edge(self._clock())) and not callable(
            getattr(self.live, "subscribe", None)
        ):
            raise InvalidRequestError(
                "live", "stream() past the now edge needs a live feed with subscribe() (live=...)"
            )

        def read(s: int, e: int, override: Strategy | None) -> HistoryResult:
            return self.read(  # type: ignore[return-value]
                node,
                iv,
                s,
                e,
                strategy=override or options.strategy,
                sla=options.sla,
                partial_ok=options.partial_ok,
                lineage=options.lineage,
            )

        parts = StreamParts(
            read=read,
            store=self.store,
            feed=self.live,
            policy=replace(
                FillPolicy.from_read(options.sla, options.partial_ok), flags=int(Flag.LIVE)
            ),
            lineage=options.lineage,
            clock=self._clock,
            on_commit=self._on_commit,
        )
        stream = BarStream(parts, node, iv, first, last, include_partial=partial)
        with self._close_lock:
            self._streams.add(stream)
        return stream

    async def astream(
        self,
        node_id: str,
        interval: str,
        start: Any,
        *,
        end: Any = None,
        include_partial: bool = False,
        strategy: Strategy | str | None = None,
        sla: SLAPolicy | None = None,
        partial_ok: bool | None = None,
        lineage: bool | None = None,
    ) -> AsyncIterator[pd.DataFrame]:
        """``stream`` for asyncio code: an async iterator of DataFrames.

        Each step waits on a worker thread, so the event loop never blocks;
        leaving the loop (or cancelling the task) closes the stream.
        """
        stream = self.stream(
            node_id,
            interval,
            start,
            end=end,
            include_partial=include_partial,
            strategy=strategy,
            sla=sla,
            partial_ok=partial_ok,
            lineage=lineage,
        )
        try:
            while True:
                frame = await asyncio.to_thread(next, stream, None)
                if frame is None:
                    return
                yield frame
        finally:
            stream.close()

    def coverage(self, node_id: str, interval: str) -> RangeSet:
        """Ranges of ``(node_id, interval)`` that are checked and stored."""
        self._check_open()
        return self.store.coverage(validate_node_id(node_id), parse_interval(interval))

    def calendar(self, node_id: str) -> Calendar:
        """The trading calendar of a node (24/7 unless configured)."""
        self._check_open()
        return self._engine.parts.calendar(validate_node_id(node_id))

    def close(self) -> None:
        """Close open streams (and their live subscriptions), stop background
        backfills (waiting for fills in flight to commit or fail, up to
        ``close_timeout_s``) and close the store's connections."""
        with self._close_lock:
            if self._closed:
                return
            self._closed = True
            streams = list(self._streams)
        for stream in streams:
            stream.close()
        self.cache.clear()
        if self.metrics_server is not None:
            self.metrics_server.close()
        self._finalizer()

    @property
    def closed(self) -> bool:
        return self._closed

    def __enter__(self) -> SeamlessDataProvider:
        self._check_open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def __aenter__(self) -> SeamlessDataProvider:
        self._check_open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await asyncio.to_thread(self.close)

    # -- internals -------------------------------------------------------------
    def _check_open(self) -> None:
        if self._closed:
            raise ProviderClosedError("this SeamlessDataProvider is closed")

    def _options(
        self,
        strategy: Strategy | str | None,
        sla: SLAPolicy | None,
        partial_ok: bool | None,
        strict: bool | None,
        source_priority: Sequence[str] | None,
        lineage: bool | None,
    ) -> ReadOptions:
        d = self._defaults
        if sla is not None and not isinstance(sla, SLAPolicy):
            raise InvalidRequestError("sla", f"{sla!r} is not an SLAPolicy")
        return ReadOptions(
            strategy=d.strategy if strategy is None else Strategy.parse(strategy),
            sla=d.sla if sla is None else sla,
            partial_ok=d.partial_ok if partial_ok is None else check_bool("partial_ok", partial_ok),
            strict=d.strict if strict is None else check_bool("strict", strict),
            source_priority=(
                d.source_priority
                if source_priority is None
                else parse_source_priority(source_priority)
            ),
            lineage=d.lineage if lineage is None else check_bool("lineage", lineage),
        )

    def _start(
        self,
        node_id: Any,
        interval: Any,
        start: Any,
        end: Any,
        strategy: Any,
        sla: Any,
        partial_ok: Any,
        strict: Any,
        source_priority: Any,
        lineage: Any,
        *,
        want_frame: bool,
    ) -> Any:
        self._check_open()
        request = validate_request(node_id, interval, start, end)
        options = self._options(strategy, sla, partial_ok, strict, source_priority, lineage)
        return self._tracked(self._engine.run(request, options, want_frame=want_frame))

    def _start_many(
        self,
        node_ids: Iterable[str],
        interval: Any,
        start: Any,
        end: Any,
        strategy: Any,
        sla: Any,
        partial_ok: Any,
        strict: Any,
        source_priority: Any,
        lineage: Any,
    ) -> ManyCall:
        self._check_open()
        nodes = validate_node_ids(node_ids)
        span = validate_span(interval, start, end)
        options = self._options(strategy, sla, partial_ok, strict, source_priority, lineage)
        requests = {node: BarRequest(node, *span) for node in nodes}
        started = time.perf_counter()
        frames = BatchFrames()

        def walk(request: BarRequest, reserve_s: float) -> Run:
            return self._tracked(
                self._engine.run(
                    request,
                    options,
                    want_frame=True,
                    started=started,
                    make_frame=frames.maker(request.node_id),
                    reserve_s=reserve_s,
                )
            )

        return ManyCall(self._engine, requests, options, started, frames, walk)

    def _tracked(
        self, run: Generator[Wait, set[Future[Any]], HistoryResult]
    ) -> Generator[Wait, set[Future[Any]], HistoryResult]:
        """The engine's run, keeping ``last_conformance_report`` (its one home):
        the report of the last read that conformed anything, or was refused."""
        try:
            result = yield from run
        except ConformanceError as exc:
            self.last_conformance_report = exc.report
            raise
        report = result.meta.conformance
        if report.rows_in or report.schema_errors:
            self.last_conformance_report = report
        return result

    def _on_commit(self, result: FillResult) -> None:
        # A fill replaced bars: cached spans that overlap it are stale.
        self.cache.invalidate((result.node_id, result.interval.seconds), result.start, result.end)
        if self._on_fill is not None:
            try:
                self._on_fill(result)
            except Exception:  # the bars are committed; a failing hook must not undo the fill
                logging.getLogger("seamless").exception(
                    "on_fill hook failed for %s %s", result.node_id, result.interval.name
                )


def _call_weak(
    method: weakref.WeakMethod[Callable[[FillResult], None]], result: FillResult
) -> None:
    target = method()
    if target is not None:
        target(result)


def _calendars(codes: Mapping[str, str | None]) -> Callable[[str], Calendar]:
    def calendar(node_id: str) -> Calendar:
        return calendar_for(codes.get(node_id))

    return calendar


def _release(
    inprocess: InProcessBackfiller,
    backfiller: DetachedBackfiller,
    store: BarStore,
    timeout_s: float,
    coordinator: Coordinator | None = None,
) -> None:
    """Close what a provider holds: by ``close()``, or when it is collected."""
    if backfiller is not inprocess:
        backfiller.close(timeout_s)
    inprocess.close(timeout_s)
    if coordinator is not None:
        coordinator.close()  # after the fills: they complete their leases first
    store.close()


def _drive_sync(run: Any) -> HistoryResult:
    """Run the engine's generator, doing its waits by blocking this thread."""
    try:
        wait = next(run)
        while True:
            assert isinstance(wait, Wait)
            done, _ = wait_futures(wait.futures, timeout=wait.timeout_s)
            wait = run.send(done)
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]


async def _drive_async(run: Any) -> HistoryResult:
    """Run the engine's generator, doing its waits on the running event loop."""
    try:
        wait = next(run)
        while True:
            wait = run.send(await await_futures(wait.futures, wait.timeout_s))
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]
