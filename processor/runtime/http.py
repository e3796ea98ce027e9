"""``slo run --http ADDR``: one small HTTP/1.1 listener on the processor's event loop.

Routes (GET and HEAD only; one request per connection):

- ``/metrics``  the Prometheus exposition (``runtime/metrics.py``);
- ``/healthz``  200 while the process runs;
- ``/readyz``   200 or 503 with a JSON body saying why (``Telemetry.readiness``);
- ``/``         the SLO page: every SLO, filtered by ``?service=`` and ``?burning=1``;
- ``/slo/<name>`` one SLO: charts of its SLI, burn rates and budget, its alert history.

Why the standard library (``asyncio.start_server``) rather than aiohttp or prometheus-client's
own server: aiohttp is not a dependency and this is four GET routes; prometheus-client's server
runs in a thread, where the pages would read the lanes' state while the loop changes it. On the
loop, a handler reads a consistent state between two batches. Each response is built in one
go (milliseconds for the whole catalogue) and a request has ``READ_TIMEOUT_S`` to arrive, so a
slow client holds a connection, never a lane.

The default address is loopback; binding elsewhere is the operator's choice (docs/security.md:
the pages show SLO names, values and alert labels, never connection options or credentials).
"""

from __future__ import annotations

__all__ = ["HttpServer", "parse_address"]

import asyncio
import contextlib
from urllib.parse import parse_qs, unquote, urlsplit

import orjson

from processor.runtime.page import render_index, render_slo
from processor.runtime.telemetry import Telemetry

READ_TIMEOUT_S = 5.0
_REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed", 503: "Service Unavailable"}
_HTML = "text/html; charset=utf-8"


def parse_address(text: str) -> tuple[str, int]:
    """``HOST:PORT``, ``[V6]:PORT`` or ``PORT`` (loopback) -> (host, port); ValueError if not."""
    host, sep, port = text.rpartition(":")
    if not sep:
        host, port = "127.0.0.1", text
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if not port.isdigit() or not 0 <= int(port) <= 65535 or not host:
        raise ValueError(f"expected HOST:PORT (127.0.0.1:9464), [::1]:PORT or PORT, got {text!r}")
    return host, int(port)


class HttpServer:
    def __init__(self, telemetry: Telemetry, host: str = "127.0.0.1", port: int = 9464) -> None:
        self.telemetry = telemetry
        self.host, self.port = host, port
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]  # the one given, or the one picked for 0

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), timeout=1.0)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await asyncio.wait_for(self._read_request(reader), timeout=READ_TIMEOUT_S)
            if request is None:
                status, ctype, body = 400, "text/plain", b"bad request\n"
                method = "GET"
            else:
                method, target = request
                status, ctype, body = self.respond(method, target)
            head = (f"HTTP/1.1 {status} {_REASONS[status]}\r\nContent-Type: {ctype}\r\n"
                    f"Content-Length: {len(body)}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n")
            writer.write(head.encode() + (b"" if method == "HEAD" else body))
            await writer.drain()
        except (TimeoutError, ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
            pass  # a client that went away or sent garbage: nothing to answer
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    @staticmethod
    async def _read_request(reader: asyncio.StreamReader) -> tuple[str, str] | None:
        parts = (await reader.readline()).decode("latin-1").split()
        while (await reader.readline()).strip():
            pass  # headers: nothing here depends on them
        if len(parts) != 3 or not parts[2].startswith("HTTP/"):
            return None
        return parts[0], parts[1]

    def respond(self, method: str, target: str) -> tuple[int, str, bytes]:
        """(status, content type, body) of a request."""
        if method not in ("GET", "HEAD"):
            return 405, "text/plain", b"only GET and HEAD\n"
        url = urlsplit(target)
        path, query = url.path, {k: v[-1] for k, v in parse_qs(url.query).items()}
        telemetry = self.telemetry
        if path == "/metrics":
            return 200, "text/plain; version=0.0.4; charset=utf-8", telemetry.metrics.exposition()
        if path == "/healthz":
            return 200, "text/plain", b"ok\n"
        if path == "/readyz":
            ready, body = telemetry.readiness()
            return (200 if ready else 503), "application/json", orjson.dumps(body) + b"\n"
        if path == "/":
            page = render_index(telemetry.board, service=query.get("service", ""),
                                burning_only=query.get("burning", "") in ("1", "on", "true"))
            return 200, _HTML, page.encode()
        if path.startswith("/slo/"):
            page = render_slo(telemetry.board, unquote(path[len("/slo/"):]))
            if page is not None:
                return 200, _HTML, page.encode()
        return 404, "text/plain", b"not found\n"
