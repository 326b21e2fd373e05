"""``seamless metrics serve --port N``: the Prometheus registry over HTTP until Ctrl-C.

``--multiprocess-dir`` defaults to ``metrics.multiprocess_dir`` of the
``seamless.yaml`` in force. Without either it serves this process's registry with every
Seamless family registered (the exposition a scrape config and the alert
rules are checked against). With ``--multiprocess-dir DIR`` it serves what
other processes wrote there in prometheus_client's multiprocess mode
(processes started with ``PROMETHEUS_MULTIPROC_DIR=DIR``, e.g. Dagster run
workers), so their numbers outlive the processes that recorded them.
"""

from __future__ import annotations

import argparse
import signal
import threading
from pathlib import Path
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry

from seamless_sdk.cli.context import CliContext, int_arg
from seamless_sdk.errors import InvalidRequestError
from seamless_sdk.metrics import Metrics
from seamless_sdk.metrics_server import serve_metrics


def _registry(multiprocess_dir: str | None) -> CollectorRegistry:
    if multiprocess_dir is None:
        Metrics(REGISTRY)  # registers the Seamless families, so a scrape sees them all
        return REGISTRY
    folder = Path(multiprocess_dir)
    if not folder.is_dir():
        raise InvalidRequestError("multiprocess_dir", f"{folder} is not a directory")
    from prometheus_client import multiprocess

    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=str(folder))
    return registry


def cmd_serve(ctx: CliContext, stop: threading.Event | None = None) -> int:
    """Serve the metrics at http://ADDR:PORT/metrics until Ctrl-C (exit 0)."""
    args = ctx.args
    folder = args.multiprocess_dir
    if folder is None and ctx.config is not None:
        # The directory the code location's runs write (seamless.yaml metrics:), so the
        # exporter and the runs cannot disagree about where the numbers are.
        folder = ctx.config.metrics.multiprocess_dir
        if folder is not None:
            # Before the first run has written there: serve it empty, not fail.
            Path(folder).mkdir(parents=True, exist_ok=True)
    registry = _registry(folder)
    server = serve_metrics(registry, args.port, args.addr)
    ctx.console.print(f"serving metrics at {server.url} (Ctrl-C stops)", highlight=False)
    stop = stop or threading.Event()
    # SIGTERM (a service manager, `kill`) stops it as Ctrl-C does: port closed, exit 0.
    previous = _on_sigterm(stop)
    try:
        # Event.wait with a timeout wakes for SIGINT on the main thread at once.
        while not stop.wait(0.5):
            continue
    except KeyboardInterrupt:
        stop.set()
    finally:
        server.close()
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    ctx.console.print("stopped")
    return 0


def _on_sigterm(stop: threading.Event) -> Any:
    """Make SIGTERM set ``stop``; the handler it replaced (None off the main
    thread, where Python cannot take signals)."""
    if threading.current_thread() is not threading.main_thread():
        return None
    return signal.signal(signal.SIGTERM, lambda *_: stop.set())


def register(sub: argparse._SubParsersAction, parents: list[argparse.ArgumentParser]) -> None:  # type: ignore[type-arg]
    """Add ``metrics serve`` to ``sub``."""
    metrics = sub.add_parser("metrics", parents=parents, help="expose Prometheus metrics")
    actions = metrics.add_subparsers(dest="metrics_command", required=True, metavar="ACTION")
    serve = actions.add_parser(
        "serve", parents=parents, help="serve the registry over HTTP", description=__doc__
    )
    serve.add_argument(
        "--port", type=int_arg(0, 65535), required=True, help="TCP port (0: any free one)"
    )
    serve.add_argument("--addr", default="0.0.0.0", help="address to bind (default 0.0.0.0)")
    serve.add_argument(
        "--multiprocess-dir",
        default=None,
        help="serve the metrics other processes wrote in prometheus_client multiprocess mode "
        "(default: metrics.multiprocess_dir of seamless.yaml)",
    )
    serve.set_defaults(func=cmd_serve)
