"""Helpers of the Alertmanager tests: a local HTTP server on a free loopback port (standing in for
Alertmanager, or for PagerDuty/Slack/email behind it), a recording log, alert transitions, waits."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable

from aiohttp import web

from processor.engine.outputs import AlertTransition

T_START_MS = 1_767_268_800_000  # 2026-01-01T12:00:00Z


class Log:
    """A structlog stand-in keeping every line as (level, event, fields)."""

    def __init__(self) -> None:
        self.lines: list[tuple[str, str, dict]] = []

    def __getattr__(self, level: str):
        return lambda event, **kw: self.lines.append((level, event, kw))


def transition(status: str = "firing", severity: str = "warning", fingerprint: str = "f1",
               starts_at_ms: int = T_START_MS, ends_at_ms: int | None = None, slo: str = "gw_p95",
               **extra_labels: str) -> AlertTransition:
    labels = {"alertname": "GatewaySlow", "service": "api-gateway", "severity": severity,
              "sli": "gw_latency", "slo": slo, **extra_labels}
    return AlertTransition(status=status, labels=tuple(sorted(labels.items())),
                           templates=(("summary", "p95 {value:.0f}ms"),), fingerprint=fingerprint,
                           active_at_ms=starts_at_ms - 60_000, starts_at_ms=starts_at_ms, ends_at_ms=ends_at_ms,
                           value=180.0, threshold=150.0, expr="p95 > 150ms", window_ms=60_000, for_ms=60_000,
                           evaluated_at_ms=ends_at_ms or starts_at_ms, window="1m")


@contextlib.asynccontextmanager
async def http_server(route: str, handler: Callable[[web.Request], Awaitable[web.Response]],
                      ssl_context=None) -> AsyncIterator[str]:
    """``POST route`` answered by ``handler`` on a free loopback port; yields the base URL."""
    app = web.Application()
    app.router.add_post(route, handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ssl_context)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    try:
        yield f"{'https' if ssl_context else 'http'}://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


async def until(check: Callable[[], object], timeout_s: float = 15.0):
    """Poll ``check`` until it returns something true, and return that."""
    deadline = time.monotonic() + timeout_s
    while not (found := check()):
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)
    return found
