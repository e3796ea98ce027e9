"""The processor on a real nats-server with an ``alertmanager:`` section: every alert transition it
publishes on slo.alerts reaches the Alertmanager API (a local stand-in recording the POSTs), and
after a restart the alert still firing is re-sent from the restored engine's state.

Scenario (event time, one gateway request a second, from a minute boundary B): 250 ms from B to
B+60 s, then 50 ms until B+140 s. "p95 > 150ms" over the trailing minute, without ``for``, fires at
the first boundary, B+10 s (its window holds 10 events, all slow): startsAt B+10 s. The window of
boundary B+110 s, [B+50 s, B+110 s), still holds 10 slow events of 60 (p95 is slow from 4 on); that
of B+120 s holds none: endsAt B+120 s.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import orjson
import pytest
import pytest_asyncio
from aiohttp import web

from processor.bus.connect import ConnectOptions, connect
from processor.bus.embedded import EmbeddedServer
from processor.bus.streams import load_stream_definitions
from processor.config.load import load_config_text
from processor.runtime.processor import Processor
from processor.runtime.render import rfc3339_ms
from tests.amkit import http_server, until

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
B_MS = (int(time.time() * 1000) - 3_600_000) // 60_000 * 60_000  # an hour ago, on a minute boundary

CONFIG = """version: 1
slis:
  gateway_request_latency:
    service: api-gateway
    kind: latency
    subject: analytics.gateway.request
    value: latency_ms
    unit: ms
alerts:
  - name: GatewayLatencyP95High
    sli: gateway_request_latency
    expr: p95 > 150ms
    severity: critical
    summary: "p95 {value:.0f}ms"
alertmanager:
  urls: [URL]
  resend_interval: 300ms
  external_url: http://slo.example
"""


class StandIn:
    def __init__(self) -> None:
        self.posts: list[list[dict]] = []

    async def handle(self, request: web.Request) -> web.Response:
        self.posts.append(await request.json())
        return web.Response(text="")

    def alerts(self) -> list[dict]:
        return [a for post in self.posts for a in post]


@pytest_asyncio.fixture
async def stand_in():
    server = StandIn()
    async with http_server("/api/v2/alerts", server.handle) as url:
        server.url = url
        yield server


_until = until


async def _publish(js, lo_s: int, hi_s: int, latency_ms: float) -> None:
    for t in range(lo_s, hi_s):
        body = {"ts": B_MS + t * 1000, "latency_ms": latency_ms}
        await js.publish("analytics.gateway.request", orjson.dumps(body))


async def _start(nc, url: str) -> tuple[Processor, asyncio.Task]:
    config = load_config_text(CONFIG.replace("URL", url), "t.yaml")
    proc = Processor(config, nc, load_stream_definitions(ROOT / "streams"), idle_after_s=3600,
                     checkpoint_interval_s=0.5)
    await proc.start()
    return proc, asyncio.create_task(proc.run())


async def test_alerts_reach_alertmanager_and_survive_a_restart(tmp_path, stand_in) -> None:
    async with EmbeddedServer(tmp_path / "nats") as server:
        nc = await connect(ConnectOptions(url=server.url))
        js = nc.jetstream()
        proc, task = await _start(nc, stand_in.url)
        await _publish(js, 0, 60, 250.0)
        firing = await _until(lambda: [a for a in stand_in.alerts() if a["labels"]["alertname"] == "GatewayLatencyP95High"])
        proc.stop()
        await task

        assert {"alertname": "GatewayLatencyP95High", "service": "api-gateway", "severity": "critical",
                "sli": "gateway_request_latency"} == firing[0]["labels"]
        assert rfc3339_ms(B_MS + 10_000) == firing[0]["startsAt"]
        assert "http://slo.example/" == firing[0]["generatorURL"]  # an alert of no SLO: the page's list
        summary = firing[0]["annotations"]["summary"]  # the sketch's p95: within 1 % of 250 ms
        assert summary.startswith("p95 ") and 250 == pytest.approx(float(summary[4:-2]), rel=0.011)
        assert "docs/runbooks.md#gatewaylatencyp95high" == firing[0]["annotations"]["runbook_url"]

        # A restart: no new transition, yet the alert is re-sent (the restored firing set), with an
        # endsAt 4 resend intervals (1.2 s) after it is sent.
        stand_in.posts.clear()
        proc, task = await _start(nc, stand_in.url)
        [again] = (await _until(stand_in.alerts))[:1]
        sent_at_ms = int(time.time() * 1000)
        assert (firing[0]["labels"], firing[0]["startsAt"]) == (again["labels"], again["startsAt"])
        ends_at_ms = _ms(again["endsAt"])
        assert sent_at_ms - 5000 <= ends_at_ms - 1200 <= sent_at_ms + 100  # sent before we saw it

        await _publish(js, 60, 140, 50.0)
        resolved = await _until(lambda: [a for a in stand_in.alerts() if _ms(a.get("endsAt")) < B_MS + 3_600_000])
        proc.stop()
        await task
        await nc.close()

    assert rfc3339_ms(B_MS + 120_000) == resolved[0]["endsAt"]
    assert firing[0]["startsAt"] == resolved[0]["startsAt"]
    assert {"sent": proc.alertmanager.stats.sent, "dropped": 0, "failed": 0} == {
        k: proc.counters()["alertmanager"][k] for k in ("sent", "dropped", "failed")}


def _ms(text: str | None) -> int:
    from datetime import datetime

    return 2**62 if text is None else int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)
