"""Sidecar mode (`slo run --services`) on real nats-servers: a sidecar's consumers deliver only its
services' subjects, and its alerts equal the full processor's alerts for those services.

Traffic as in test_processor.py, one event per second for 900 s: the gateway slow (250 ms) from
200 s to 700 s, the trading engine's orders slow from 100 s to 400 s; besides them, subjects of
other services on the same streams (analytics.query every 5 s, trade.saga.started every 3 s) that a
sidecar of the gateway and the trading engine must not even be delivered. The alerts worked out by
hand there: GatewayLatencyP95High (warning) firing at 510 s, resolved at 760 s;
TradingOrderLatencyP95High warning 410 s -> 460 s, critical 230 s -> 460 s.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import orjson
import pytest
import pytest_asyncio

from processor.bus.connect import ConnectOptions, connect
from processor.bus.embedded import EmbeddedServer
from processor.bus.streams import load_stream_definitions
from processor.config.load import load_config
from processor.runtime.processor import Processor
from processor.runtime.topology import consumer_prefix, services_config, sidecar_instance
from tests.integration.test_processor import T0_MS, gateway, iso, order
from tests.slorun import stream_messages

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
END_S = 900
SERVICES = ["api-gateway", "trading-engine"]


def traffic(lo_s: int = 0, hi_s: int = END_S) -> list[tuple[str, bytes]]:
    items = []
    for t in range(lo_s, hi_s):
        items += [gateway(t), order(t)]
        if t % 5 == 0:
            items.append(("analytics.query", orjson.dumps({"ts": T0_MS + t * 1000, "latency_ms": 5.0, "ok": True})))
        if t % 3 == 0:
            items.append(("trade.saga.started", orjson.dumps({"ts": T0_MS + t * 1000, "saga_id": f"s{t}"})))
    return items


@pytest_asyncio.fixture
async def two_servers(tmp_path):
    async with EmbeddedServer(tmp_path / "full") as full, EmbeddedServer(tmp_path / "sidecar") as sidecar:
        yield full.url, sidecar.url


async def run_until_consumed(url: str, services: list[str] | None, items=None, lane_stats: dict | None = None
                             ) -> tuple[list, dict]:
    """Provision, publish ``items`` (default: the traffic), run a processor (full, or a sidecar of
    ``services``) until its lanes acked the last message they are to see; its alerts and its
    consumers' info (and in ``lane_stats`` the messages each lane took)."""
    nc = await connect(ConnectOptions(url=url))
    js = nc.jetstream()
    config = load_config(ROOT / "config" / "slo.yaml")
    instance = "default"
    if services:
        config, instance = services_config(config, services), sidecar_instance(services)
    kwargs = dict(idle_after_s=3600, checkpoint_interval_s=0.5, checkpoint_key=instance,
                  consumer_prefix=consumer_prefix(instance), filter_by_slis=bool(services))
    definitions = load_stream_definitions(ROOT / "streams")
    proc = Processor(config, nc, definitions, **kwargs)
    await proc.start()  # provisions the streams
    last_seq: dict[str, int] = {}
    for subject, data in traffic() if items is None else items:
        ack = await js.publish(subject, data)
        if not services or (subject in ("analytics.gateway.request", "trade.order.submitted") and ack.stream in proc.lanes):
            last_seq[ack.stream] = ack.seq
    task = asyncio.create_task(proc.run())
    deadline = asyncio.get_running_loop().time() + 60
    while any(proc.lanes[s].stats.last_seq < seq for s, seq in last_seq.items()):
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.1)
    proc.stop()
    await task
    if lane_stats is not None:
        lane_stats.update({name: (lane.stats.accepted + lane.stats.ignored + lane.stats.rejected, lane.saved is not None)
                           for name, lane in proc.lanes.items()})
    alerts = await stream_messages(js, "SLO", "slo.alerts.>")
    infos = {}
    for stream in ("ANALYTICS", "TRADE", "MARKET", "AI"):
        try:
            infos[stream] = await js.consumer_info(stream, f"{consumer_prefix(instance)}_{stream}".lower())
        except Exception:  # noqa: BLE001 - not found: no consumer on that stream
            infos[stream] = None
    await nc.close()
    return alerts, infos


def rows(alerts, services) -> list[tuple]:
    out = []
    for m in alerts:
        body = orjson.loads(m.data)
        if body["labels"]["service"] in services:
            out.append((m.subject, body["fingerprint"], body["status"], body["activeAt"], body["startsAt"],
                        body["endsAt"], body["value"]))
    return sorted(out, key=repr)


async def test_a_sidecar_is_delivered_only_its_services_subjects_and_alerts_as_the_full_processor(two_servers):
    full_url, sidecar_url = two_servers
    full_alerts, _ = await run_until_consumed(full_url, None)
    side_alerts, infos = await run_until_consumed(sidecar_url, SERVICES)

    # Delivered: exactly the 900 gateway requests and the 900 orders, none of the other subjects.
    analytics, trade = infos["ANALYTICS"], infos["TRADE"]
    assert ("analytics.gateway.request", 900, 0) == (analytics.config.filter_subject, analytics.delivered.consumer_seq,
                                                     analytics.num_pending)
    assert 900 == trade.delivered.consumer_seq and 0 == trade.num_pending
    assert 9 == len(trade.config.filter_subjects) and "trade.order.submitted" in trade.config.filter_subjects
    assert "trade.saga.started" not in trade.config.filter_subjects
    assert (None, None) == (infos["MARKET"], infos["AI"])  # no SLI of these services there

    expected = sorted([
        ("GatewayLatencyP95High", "warning", "api-gateway", "firing", iso(510), None),
        ("GatewayLatencyP95High", "warning", "api-gateway", "resolved", iso(510), iso(760)),
        ("TradingOrderLatencyP95High", "warning", "trading-engine", "firing", iso(410), None),
        ("TradingOrderLatencyP95High", "warning", "trading-engine", "resolved", iso(410), iso(460)),
        ("TradingOrderLatencyP95High", "critical", "trading-engine", "firing", iso(230), None),
        ("TradingOrderLatencyP95High", "critical", "trading-engine", "resolved", iso(230), iso(460)),
    ])
    watched = sorted(
        (b["labels"]["alertname"], b["labels"]["severity"], b["labels"]["service"], b["status"], b["startsAt"],
         b["endsAt"])
        for b in (orjson.loads(m.data) for m in side_alerts)
        if b["labels"]["alertname"] in ("GatewayLatencyP95High", "TradingOrderLatencyP95High")
    )
    assert expected == watched
    assert rows(full_alerts, SERVICES) == rows(side_alerts, SERVICES)
    assert rows(side_alerts, SERVICES)  # not two empty lists


async def test_a_restarted_sidecar_resumes_from_its_checkpoint_with_only_the_new_events(tmp_path):
    async with EmbeddedServer(tmp_path / "nats") as server:
        first: dict = {}
        await run_until_consumed(server.url, ["api-gateway"], lane_stats=first)
        later: dict = {}
        await run_until_consumed(server.url, ["api-gateway"], traffic(END_S, END_S + 60), lane_stats=later)
    # The first run took the 900 gateway requests; the second, restored from the checkpoint of
    # the first, only the 60 new ones (the orders, queries and sagas were never delivered).
    assert {"ANALYTICS": (900, True)} == first
    assert {"ANALYTICS": (60, True)} == later
