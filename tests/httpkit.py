"""A known scenario for the HTTP listener's tests (tests/integration/test_http_*.py): the processor
with the whole catalogue on a real nats-server, its listener on a free loopback port, fed with
three minutes of gateway requests. Hand-worked numbers:

One request per second of event time from T0 (a whole minute) to T0 + 179 s; latency 250 ms from
60 s to 89 s (30 requests), 100 ms otherwise; three payloads that are not JSON at 10 s. Watermark
179 - 5 = 174 s: boundaries closed through 170 s; the last whole minute, where the SLI and budget
reports fall, is 120 s.

- ``slo_events_total{stream="ANALYTICS"}`` 183, ``slo_events_rejected_total{reason="not_json"}`` 3.
- ``gateway_request_latency`` p95 over [60 s, 120 s): 30 of 60 values are 250 ms -> 250 (1 %).
- ``gateway_latency_p95`` (p95 < 200ms, occurrences: good = under 200 ms, objective 0.95) at 120 s:
  120 requests, 30 bad, allowed bad 0.05 * 120 = 6: consumed 30 / 6 = 5, remaining 1 - 5 = -4,
  policy ``emergency`` (under 10 %, and the window holds at least 100 events); burn rate over
  every window (they all hold the same 120 requests) (30 / 120) / 0.05 = 5.
- ``InputRejectedHigh`` (critical, the processor's own input: more than 1 % rejected) fires: 3 of
  the messages of the minute that holds them were not JSON.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import structlog

from processor.bus.connect import ConnectOptions, connect
from processor.bus.embedded import EmbeddedServer
from processor.bus.streams import load_stream_definitions, provision_streams
from processor.config.load import load_config
from processor.runtime.http import HttpServer
from processor.runtime.processor import Processor
from processor.runtime.telemetry import Telemetry
from tests.integration.test_processor import wait_for

ROOT = Path(__file__).resolve().parents[1]
T0_MS = 1_700_000_040_000
N_GOOD_BAD = 180
BAD_FROM_S, BAD_TO_S = 60, 90
NOT_JSON = 3
REPORT_MS = T0_MS + 120_000


def gateway_events() -> list[tuple[str, bytes]]:
    out = []
    for t in range(N_GOOD_BAD):
        latency = 250.0 if BAD_FROM_S <= t < BAD_TO_S else 100.0
        body = {"ts": T0_MS + t * 1000, "route": "/v1/orders", "method": "POST", "status_code": 200,
                "latency_ms": latency, "rate_limited": False, "rate_limit_correct": True}
        out.append(("analytics.gateway.request", orjson.dumps(body)))
        if t == 10:
            out += [("analytics.gateway.request", b"{not json")] * NOT_JSON
    return out


async def http_get(port: int, path: str) -> tuple[int, dict[str, str], bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
    await writer.drain()
    raw = await reader.read()
    writer.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), headers, body


@dataclass
class Scenario:
    port: int
    telemetry: Telemetry
    proc: Processor
    readiness: list[tuple[str, bool, dict]] = field(default_factory=list)  # (when, ready, body)
    published: list[Any] = field(default_factory=list)  # messages on slo.>


class _Recording(Telemetry):
    """Records the readiness right after every pull of ANALYTICS: the state /readyz answered then."""

    def __init__(self, *args, record: list, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._record = record
        self.applied_analytics = 0

    def pulled(self, stream, msgs) -> None:
        super().pulled(stream, msgs)
        if stream == "ANALYTICS" and msgs:
            self._record.append(("pulled", *self.readiness()))

    def applied(self, stream, msgs, out, seconds) -> None:
        super().applied(stream, msgs, out, seconds)
        if stream == "ANALYTICS":
            self.applied_analytics += len(msgs)


async def run_scenario(nc) -> tuple[Scenario, HttpServer, asyncio.Task]:
    """Publish the backlog, start the listener then the processor (10 messages a batch, at most 50
    pending to be ready), and wait until the 120 s budget report is published."""
    config = load_config(ROOT / "config" / "slo.yaml")
    definitions = load_stream_definitions(ROOT / "streams")
    log = structlog.get_logger("test")
    await provision_streams(nc, definitions, log)
    js = nc.jetstream()
    for subject, data in gateway_events():
        await js.publish(subject, data)
    readiness: list = []
    telemetry = _Recording(config, max_pending=50, record=readiness)
    server = HttpServer(telemetry, "127.0.0.1", 0)
    await server.start()
    proc = Processor(config, nc, definitions, batch_size=10, idle_after_s=3600, checkpoint_interval_s=0.5,
                     telemetry=telemetry)
    scenario = Scenario(server.port, telemetry, proc, readiness)

    async def collect(msg) -> None:
        scenario.published.append(msg)

    await nc.subscribe("slo.>", cb=collect)
    status, _, body = await http_get(server.port, "/readyz")
    readiness.append(("before start", status == 200, orjson.loads(body)))
    await proc.start()
    status, _, body = await http_get(server.port, "/readyz")
    readiness.append(("started", status == 200, orjson.loads(body)))
    task = asyncio.create_task(proc.run())
    # Every lane has pulled once (an empty stream's pull ends after 0.25 s) and ANALYTICS is drained.
    # (The report can come before the last batches are applied: wait for all of them too.)
    backlog = len(gateway_events())
    await wait_for(lambda: _reported(telemetry) and telemetry.readiness()[0] and telemetry.applied_analytics == backlog)
    await nc.flush()
    return scenario, server, task


def _reported(telemetry: Telemetry) -> bool:
    report = telemetry.board.budgets.get("gateway_latency_p95")
    return report is not None and report.evaluated_at_ms >= REPORT_MS


@contextlib.asynccontextmanager
async def served_scenario(directory: Path) -> AsyncIterator[Scenario]:
    """The scenario on a nats-server of its own (the processor provisions the real stream names),
    until the block ends; then the processor, the listener and the server stop."""
    async with EmbeddedServer(directory) as server:
        nc = await connect(ConnectOptions(url=server.url))
        scenario, listener, task = await run_scenario(nc)
        try:
            yield scenario
        finally:
            scenario.proc.stop()
            await task
            await listener.stop()
            await nc.close()
