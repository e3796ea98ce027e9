"""A stream that never has an event: its time runs on the wall clock, each move of it is recorded
on ``slo.clock.<stream>``, and the service that never reports is caught by ServiceNeverReported
after the grace period (issue 9: a fully silent bus used to stay silent forever)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import orjson
import pytest

from processor.bus.connect import ConnectOptions, connect
from processor.bus.embedded import EmbeddedServer
from processor.bus.streams import load_stream_definitions
from processor.config.load import load_config_text
from processor.runtime.processor import Processor
from processor.runtime.render import rfc3339_ms
from tests.slorun import stream_messages

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
CONFIG = """
version: 1
defaults: {resolution: 1s, allowed_lateness: 1s, never_seen_grace: 3s}
slis:
  beat: {service: trading-engine, kind: events, subject: trade.heartbeat}
alerts:
  - {name: TradingHeartbeatMissing, sli: beat, expr: since_last > 30s, severity: critical}
"""


async def test_a_service_that_never_reports_is_caught_on_a_silent_stream(tmp_path):
    definitions = [d for d in load_stream_definitions(ROOT / "streams") if d["name"] in ("TRADE", "SLO")]
    async with EmbeddedServer(tmp_path / "nats") as server:
        nc = await connect(ConnectOptions(url=server.url))
        js = nc.jetstream()
        started_ms = time.time_ns() // 1_000_000
        proc = Processor(load_config_text(CONFIG), nc, definitions, idle_after_s=0.2, checkpoint_interval_s=3600)
        await proc.start()
        run = asyncio.create_task(proc.run())
        try:
            deadline = time.monotonic() + 20
            alerts: list = []
            while not alerts and time.monotonic() < deadline:
                await asyncio.sleep(0.5)
                alerts = await stream_messages(js, "SLO", "slo.alerts.>")
        finally:
            proc.stop()
            await run
        moves = [orjson.loads(m.data) for m in await stream_messages(js, "SLO", "slo.clock.TRADE")]
        await nc.close()
    assert 1 == len(alerts), "ServiceNeverReported fires once the grace period has passed"
    alert = orjson.loads(alerts[0].data)
    assert ("ServiceNeverReported", "firing", "trading-engine") == (
        alert["labels"]["alertname"], alert["status"], alert["labels"]["service"])
    # The grid started with the wall clock (minus 1 s of lateness) when the lane found the stream
    # empty, and nothing of the stream was applied before any move.
    origin_ms = moves[0]["closedThroughMs"]
    assert started_ms - 1_000 - 1_000 <= origin_ms <= started_ms + 5_000
    assert {0} == {m["afterSeq"] for m in moves}
    closed = [m["closedThroughMs"] for m in moves]
    assert closed == sorted(set(closed))
    assert origin_ms + 3_000 <= closed[-1]
    assert rfc3339_ms(origin_ms + 3_000) == alert["startsAt"]  # at the origin plus the grace period
