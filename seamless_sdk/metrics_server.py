"""Serve a Prometheus registry over HTTP: ``serve_metrics(registry, port)``.

Used by ``seamless metrics serve`` and by ``SeamlessDataProvider(...,
metrics_port=N)``. The exporter is prometheus_client's own WSGI server on a
daemon thread; the handle's ``close()`` stops it and frees the port, so a
provider's ``close()`` (or a test) leaves nothing listening.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from types import TracebackType

from prometheus_client import REGISTRY, CollectorRegistry, start_http_server

from seamless_sdk.errors import InvalidRequestError, SeamlessError


class MetricsServer:
    """A running exporter. ``port`` is the bound port (useful after ``port=0``);
    ``url`` the scrape address. A context manager; ``close()`` is idempotent."""

    def __init__(self, server: object, thread: threading.Thread, addr: str) -> None:
        self._server = server
        self._thread = thread
        self._closed = False
        self._lock = threading.Lock()
        self.addr = addr
        self.port: int = int(server.server_port)  # type: ignore[attr-defined]

    @property
    def url(self) -> str:
        """``http://host:port/metrics`` (a wildcard address is shown as 127.0.0.1)."""
        host = "127.0.0.1" if self.addr in ("", "0.0.0.0") else self.addr
        return f"http://{host}:{self.port}/metrics"

    @property
    def closed(self) -> bool:
        """True once ``close()`` has run."""
        return self._closed

    def close(self, timeout: float = 5.0) -> None:
        """Stop serving, release the port and wait for the server thread."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        # serve_forever looks for the stop request only between polls, every
        # 0.5 s; shutting the listening socket's read side wakes the poll at
        # once (Linux; elsewhere the stop waits for the poll as before).
        stop = self._server.shutdown  # type: ignore[attr-defined]
        stopper = threading.Thread(target=stop, name="seamless-metrics-stop")
        stopper.start()
        with contextlib.suppress(OSError):
            self._server.socket.shutdown(socket.SHUT_RD)  # type: ignore[attr-defined]
        stopper.join(timeout)
        self._server.server_close()  # type: ignore[attr-defined]
        self._thread.join(timeout)

    def __enter__(self) -> MetricsServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def serve_metrics(
    registry: CollectorRegistry | None = None, port: int = 9464, addr: str = "0.0.0.0"
) -> MetricsServer:
    """Expose ``registry`` (default: prometheus_client's global one) at
    ``http://addr:port/metrics``; ``port=0`` picks a free port. Raises
    ``InvalidRequestError`` (field ``port``) for a port outside 0-65535 and
    ``SeamlessError`` when the address cannot be bound."""
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise InvalidRequestError("port", f"{port!r} is not a TCP port (0-65535)")
    try:
        server, thread = start_http_server(
            port, addr=addr, registry=REGISTRY if registry is None else registry
        )
    except OSError as exc:
        raise SeamlessError(f"cannot serve metrics on {addr}:{port}: {exc}") from exc
    return MetricsServer(server, thread, addr)
