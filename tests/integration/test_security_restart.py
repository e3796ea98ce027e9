"""The nats-server stopped and started again (same store, same port) under a running processor:
it reconnects, goes on from its durable consumers, and what it publishes equals what an
uninterrupted run publishes on the same events.

The events are the gateway's, one a second of event time from T0, 250 ms from 200 s to 700 s
and 100 ms otherwise, so ``GatewayLatencyP95High`` (p95 > 150ms for 5m, warning) goes pending at
210 s, fires at 510 s and resolves at 760 s (worked out in tests/integration/test_processor.py).
Event time is all in the payloads and the idle clock is off, so both runs see the same
transitions whatever the wall clock does; the bus monitor (wall-clock measurements) is left out
for the same reason.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest

from processor.bus.connect import ConnectOptions, connect
from processor.bus.embedded import EmbeddedServer
from processor.bus.jsadmin import pause_consumer, resume_consumer
from processor.bus.streams import load_stream_definitions
from processor.config.load import load_config
from processor.runtime.processor import Processor
from tests.securitykit import BOOK, ROOT, T0_MS, gateway_event, password, stored_messages

pytestmark = pytest.mark.integration

CUT_S = 300  # the server stops while the processor consumes the events from here to BACKLOG_S
BACKLOG_S = 600
END_S = 900


def iso(offset_s: int) -> str:
    return datetime.fromtimestamp((T0_MS + offset_s * 1000) / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def gateway(t_s: int) -> bytes:
    return gateway_event(t_s, latency_ms=250.0 if 200 <= t_s < 700 else 100.0)


async def publish(nc, lo_s: int, hi_s: int) -> None:
    js = nc.jetstream()
    for start in range(lo_s, hi_s, 100):
        await asyncio.gather(*(js.publish("analytics.gateway.request", gateway(t)) for t in range(start, min(hi_s, start + 100))))


async def wait_for(predicate, timeout_s: float = 60.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def a_run(tmp: Path, *, restart: bool) -> tuple[list[tuple], int]:
    """Every output the processor stored, and how often its connection reconnected."""
    secret = password()
    (tmp / "nats.conf").write_text(f'authorization {{ users = [ {{ user: slo, password: "{secret}" }} ] }}\n')
    args = ["-c", str(tmp / "nats.conf")]
    creds = {"user": "slo", "password": secret}
    server = EmbeddedServer(tmp / "nats", extra_args=args)
    url = await server.start()
    try:
        nc = await connect(ConnectOptions(url=url, name="slo-processor", **creds))
        config = load_config(ROOT / "config" / "slo.yaml").model_copy(update={"bus_monitor": None})
        # Small batches: the backlog takes many pulls, publishes and acks, among which the server goes.
        proc = Processor(config, nc, load_stream_definitions(ROOT / "streams"), batch_size=20,
                         idle_after_s=3600, checkpoint_interval_s=0.5)
        await proc.start()
        test_nc = await connect(ConnectOptions(url=url, name="security-test", **creds))
        task = asyncio.create_task(proc.run())
        lane = proc.lanes["ANALYTICS"]
        await publish(test_nc, 0, CUT_S)
        await wait_for(lambda: lane.stats.last_seq >= CUT_S)
        created = (await test_nc.jetstream().consumer_info("ANALYTICS", "slo_analytics")).created
        # A backlog, held back by pausing the durable while it is published, then let go.
        await pause_consumer(test_nc, "ANALYTICS", "slo_analytics", datetime.now(UTC) + timedelta(minutes=1))
        await publish(test_nc, CUT_S, BACKLOG_S)
        await resume_consumer(test_nc, "ANALYTICS", "slo_analytics")
        if restart:
            # Stopped the moment the backlog is let go: the processor is then pulling, applying
            # or publishing it (where exactly varies from run to run, and must not matter).
            await server.stop()
            await asyncio.sleep(1.5)  # long enough for both clients to notice, and to try again
            server = EmbeddedServer(tmp / "nats", port=int(url.rsplit(":", 1)[1]), extra_args=args)
            assert url == await server.start()
        await publish(test_nc, BACKLOG_S, END_S)
        await wait_for(lambda: lane.stats.last_seq >= END_S)
        if restart:
            # The same durable went on: not deleted and created again.
            assert created == (await test_nc.jetstream().consumer_info("ANALYTICS", "slo_analytics")).created
        proc.stop()
        await asyncio.wait_for(task, 30)
        reconnects = nc.stats["reconnects"]
        outputs = await stored_messages(test_nc, "SLO", "slo.>")
        await nc.close()
        await test_nc.close()
    finally:
        await server.stop()
    return sorted((m.subject, m.data, (m.headers or {}).get("Nats-Msg-Id")) for m in outputs), reconnects


def alert_rows(outputs: list[tuple]) -> list[tuple]:
    rows = []
    for subject, data, _ in outputs:
        body = orjson.loads(data)
        if subject.startswith("slo.alerts.") and body["labels"]["alertname"] == "GatewayLatencyP95High":
            rows.append((body["labels"]["severity"], body["status"], body["activeAt"], body["startsAt"], body["endsAt"]))
    return sorted(rows)


async def test_a_nats_restart_under_a_running_processor_changes_none_of_its_outputs(tmp_path, capfd):
    (tmp_path / "steady").mkdir()
    (tmp_path / "restarted").mkdir()
    steady, steady_reconnects = await a_run(tmp_path / "steady", restart=False)
    restarted, reconnects = await a_run(tmp_path / "restarted", restart=True)
    BOOK.add_log("restart", "\n".join(capfd.readouterr()))

    assert (0, 1) == (steady_reconnects, reconnects)
    assert [
        ("warning", "firing", iso(210), iso(510), None),
        ("warning", "resolved", iso(210), iso(510), iso(760)),
    ] == alert_rows(steady)
    budgets = [o for o in steady if o[0] == "slo.budget.api-gateway.gateway_latency_p95"]
    assert len(budgets) >= 10  # one a minute of event time
    # Everything: alert transitions, budget reports, SLI values, each stored once.
    assert steady == restarted
    assert [] == BOOK.leaks()
