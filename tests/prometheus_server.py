"""A throwaway Prometheus (Debian's ``prometheus`` binary) scraping given targets.

It listens on ``127.0.0.1`` and a port the kernel just handed out (retried
if another process took it in between), keeps its TSDB in a temporary
directory, scrapes every second, and is stopped and its directory removed by
``stop()`` (or the ``with`` block). ``missing()`` says why it cannot run, so
tests skip with that reason on a machine without the package.

>>> with PrometheusServer.start(["127.0.0.1:9464"]) as prom:   # doctest: +SKIP
...     prom.wait_for("up", lambda rows: rows[0]["value"][1] == "1")
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

_START_ATTEMPTS = 3
_READY_TIMEOUT_S = 30.0


def missing() -> str | None:
    """Why no Prometheus can be started here, or ``None`` when one can."""
    if shutil.which("prometheus") is None:
        return "the prometheus binary is not installed (apt-get install prometheus; .ci/run does)"
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _config(targets: Sequence[str], rule_files: Sequence[Path]) -> str:
    # JSON is YAML: no YAML writer needed.
    return json.dumps(
        {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(p) for p in rule_files],
            "scrape_configs": [
                {"job_name": "seamless", "static_configs": [{"targets": list(targets)}]}
            ],
        }
    )


@dataclass
class PrometheusServer:
    """A running Prometheus; ``url`` is its HTTP API root."""

    process: subprocess.Popen[bytes]
    port: int
    folder: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @classmethod
    def start(cls, targets: Sequence[str], rule_files: Sequence[Path] = ()) -> PrometheusServer:
        """Start Prometheus scraping ``targets`` (``host:port``) every second."""
        reason = missing()
        if reason is not None:
            raise RuntimeError(reason)
        folder = Path(tempfile.mkdtemp(prefix="seamless-prom-"))
        (folder / "prometheus.yml").write_text(_config(targets, rule_files))
        last = ""
        for _ in range(_START_ATTEMPTS):
            port = _free_port()
            log = (folder / "prometheus.log").open("wb")
            process = subprocess.Popen(
                [
                    "prometheus",
                    f"--config.file={folder / 'prometheus.yml'}",
                    f"--storage.tsdb.path={folder / 'data'}",
                    f"--web.listen-address=127.0.0.1:{port}",
                    "--web.enable-lifecycle",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            log.close()
            server = cls(process, port, folder)
            if server._wait_ready():
                return server
            server._terminate()
            last = (folder / "prometheus.log").read_text(errors="replace")[-2000:]
        shutil.rmtree(folder, ignore_errors=True)
        raise RuntimeError(f"prometheus did not become ready: {last}")

    def _wait_ready(self) -> bool:
        deadline = time.monotonic() + _READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False  # e.g. the port was taken after we picked it
            try:
                with urllib.request.urlopen(f"{self.url}/-/ready", timeout=2) as r:
                    if r.status == 200:
                        return True
            except (urllib.error.URLError, ConnectionError):
                pass
            time.sleep(0.1)
        return False

    def api(self, path: str, **params: str) -> Any:
        """GET ``/api/v1/<path>`` and return its ``data`` (raises on an error status)."""
        query = urllib.parse.urlencode(params)
        with urllib.request.urlopen(f"{self.url}/api/v1/{path}?{query}", timeout=10) as r:
            body = json.loads(r.read())
        if body.get("status") != "success":
            raise RuntimeError(f"prometheus {path} {params}: {body}")
        return body["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        """An instant query's result vector."""
        data = self.api("query", query=expr)
        return list(data["result"])

    def wait_for(
        self,
        expr: str,
        predicate: Callable[[list[dict[str, Any]]], bool],
        timeout: float = 20.0,
    ) -> list[dict[str, Any]]:
        """Query ``expr`` until ``predicate(result)`` holds; the last result, or
        AssertionError with it after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            rows = self.query(expr)
            if predicate(rows):
                return rows
            if time.monotonic() >= deadline:
                raise AssertionError(f"{expr} never matched; last result {rows}")
            time.sleep(0.25)

    def _terminate(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)

    def stop(self) -> None:
        """Stop the server and delete its data."""
        self._terminate()
        shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> PrometheusServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
