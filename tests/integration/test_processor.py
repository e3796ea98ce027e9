"""The processor end to end on a real nats-server: backlog, live traffic, bad input, restart.

Incidents are one event per second per subject, so a 1 m window holds 60 events and its p95 (rank
0.95 * 59 = 56.05, the 57th smallest) is slow as soon as 4 of the 60 are slow. The expected times
below are worked out by hand from that, boundary by boundary (10 s resolution), in event time:

API Gateway, slow (250 ms) from 200 s to 700 s, "p95 > 150ms for 5m" (warning):
  boundary 210 sees 10 slow -> pending (activeAt 210); holds through 510 = 210 + 5m -> firing
  (startsAt 510); boundary 760, window [700, 760), has none -> resolved (endsAt 760).
  "p95 > 400ms for 2m" (critical) never holds: 250 < 400.
Trading Engine, slow (250 ms) from 100 s to 400 s:
  "p95 > 80ms for 5m" (warning): activeAt 110, startsAt 410, endsAt 460.
  "p95 > 200ms for 2m" (critical): activeAt 110, startsAt 230, endsAt 460.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
import pytest_asyncio

from processor.bus.connect import ConnectOptions, connect
from processor.bus.embedded import EmbeddedServer
from processor.bus.streams import load_stream_definitions, provision_streams
from processor.runtime.processor import Processor
from processor.config.load import load_config
from tests.slorun import stream_messages

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
T0_MS = 1_700_000_000_000
END_S = 900
LIVE_FROM_S = 600


def iso(offset_s: int) -> str:
    return datetime.fromtimestamp((T0_MS + offset_s * 1000) / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


EXPECTED = sorted(
    [
        ("GatewayLatencyP95High", "warning", "api-gateway", "firing", iso(210), iso(510), None),
        ("GatewayLatencyP95High", "warning", "api-gateway", "resolved", iso(210), iso(510), iso(760)),
        ("TradingOrderLatencyP95High", "warning", "trading-engine", "firing", iso(110), iso(410), None),
        ("TradingOrderLatencyP95High", "warning", "trading-engine", "resolved", iso(110), iso(410), iso(460)),
        ("TradingOrderLatencyP95High", "critical", "trading-engine", "firing", iso(110), iso(230), None),
        ("TradingOrderLatencyP95High", "critical", "trading-engine", "resolved", iso(110), iso(230), iso(460)),
    ]
)


def gateway(t_s: int) -> tuple[str, bytes]:
    latency = 250.0 if 200 <= t_s < 700 else 100.0
    body = {"ts": T0_MS + t_s * 1000, "route": "/v1/orders", "method": "POST", "status_code": 200,
            "latency_ms": latency, "rate_limited": False, "rate_limit_correct": True}
    return "analytics.gateway.request", orjson.dumps(body)


def order(t_s: int) -> tuple[str, bytes]:
    latency = 250.0 if 100 <= t_s < 400 else 50.0
    body = {"ts": T0_MS + t_s * 1000, "order_id": f"o{t_s}", "order_type": "market" if t_s % 2 else "limit",
            "symbol": "AAPL", "qty": 10, "latency_ms": latency, "status": "ok"}  # qty: EVENTS.md (issue 9)
    return "trade.order.submitted", orjson.dumps(body)


def bad(t_s: int) -> list[tuple[str, bytes, str]]:
    """Bad payloads to interleave at time t_s, each with the reason it must be rejected for."""
    ts = T0_MS + t_s * 1000
    return [
        ("analytics.gateway.request", b"{not json", "not_json"),
        ("analytics.gateway.request", b"[1, 2]", "not_object"),
        ("analytics.gateway.request", orjson.dumps({"ts": ts, "status_code": 200, "rate_limit_correct": True}), "missing_field"),
        ("analytics.gateway.request", orjson.dumps({"ts": ts, "status_code": 200, "latency_ms": -3, "rate_limit_correct": True}), "negative_value"),
        ("analytics.gateway.request", orjson.dumps({"ts": "noon", "status_code": 200, "latency_ms": 3, "rate_limit_correct": True}), "bad_timestamp"),
        ("trade.order.submitted", orjson.dumps({"ts": ts, "order_type": "limit", "qty": 10, "latency_ms": "fast", "status": "ok"}), "bad_value"),
    ]


def late() -> tuple[str, bytes, str]:
    body = {"ts": T0_MS + 10_000, "route": "/", "method": "GET", "status_code": 200, "latency_ms": 9999.0,
            "rate_limited": False, "rate_limit_correct": True}
    return "analytics.gateway.request", orjson.dumps(body), "late"


async def publish(js, items) -> None:
    for start in range(0, len(items), 200):
        await asyncio.gather(*(js.publish(subject, data) for subject, data, *_ in items[start : start + 200]))


def traffic(lo_s: int, hi_s: int, bad_at: set[int]) -> tuple[list, list[str]]:
    items, reasons = [], []
    for t in range(lo_s, hi_s):
        items += [gateway(t), order(t)]
        if t in bad_at:
            for item in bad(t):
                items.append(item)
                reasons.append(item[2])
    return items, reasons


@pytest_asyncio.fixture
async def fresh_nats_url(tmp_path):
    # A server of its own: the processor provisions the real stream names, which other tests use.
    async with EmbeddedServer(tmp_path / "nats") as server:
        yield server.url


async def start_processor(nc, **kwargs) -> tuple[Processor, asyncio.Task]:
    proc = Processor(
        load_config(ROOT / "config" / "slo.yaml"),
        nc,
        load_stream_definitions(ROOT / "streams"),
        idle_after_s=3600,  # no wall-clock advance: this test's event times are not "now"
        checkpoint_interval_s=0.5,
        **kwargs,
    )
    await proc.start()
    return proc, asyncio.create_task(proc.run())


async def wait_for(predicate, timeout_s: float = 30.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("timed out")
        await asyncio.sleep(0.1)


WATCHED = {"GatewayLatencyP95High", "TradingOrderLatencyP95High"}


def alert_rows(msgs) -> list[tuple]:
    """The transitions of the two latency rules these incidents are about. (Other rules of the
    catalogue fire too on this partial traffic, e.g. absence of the snapshots it never sends;
    the catalogue tests cover those.)"""
    rows = []
    for m in msgs:
        body = orjson.loads(m.data)
        labels = body["labels"]
        if labels["alertname"] not in WATCHED:
            continue
        assert m.subject == f"slo.alerts.{labels['severity']}.{labels['service']}"
        rows.append((labels["alertname"], labels["severity"], labels["service"], body["status"],
                     body["activeAt"], body["startsAt"], body["endsAt"]))
    return sorted(rows)


async def test_backlog_then_live_incidents_fire_and_resolve_with_bad_input_dead_lettered(fresh_nats_url):
    nc = await connect(ConnectOptions(url=fresh_nats_url))
    js = nc.jetstream()
    seen: list = []

    async def collect(msg):
        seen.append(msg)

    await nc.subscribe("slo.>", cb=collect)
    # Provision by starting a first processor, then stop it: the backlog must be in the stream
    # before the consuming processor starts.
    proc, task = await start_processor(nc)
    proc.stop()
    await task

    backlog, reasons = traffic(0, LIVE_FROM_S, bad_at={50, 300})
    await publish(js, backlog)
    proc, task = await start_processor(nc)
    await wait_for(lambda: sum(lane.stats.last_seq for lane in proc.lanes.values()) >= len(backlog))

    live, live_reasons = traffic(LIVE_FROM_S, END_S, bad_at={650})
    live.insert(10, late())
    live_reasons.append("late")
    reasons += live_reasons
    for start in range(0, len(live), 100):  # in small slices, so the processor sees it trickle in
        await publish(js, live[start : start + 100])
        await asyncio.sleep(0.02)

    await wait_for(lambda: sum(lane.stats.rejected for lane in proc.lanes.values()) >= len(reasons)
                   and len([m for m in seen if m.subject.startswith("slo.alerts.")]) >= len(EXPECTED))
    proc.stop()
    await task

    alerts = await stream_messages(js, "SLO", "slo.alerts.>")
    assert EXPECTED == alert_rows(alerts)
    bodies = [orjson.loads(m.data) for m in alerts]
    firing = next(b for b in bodies if b["labels"]["alertname"] == "TradingOrderLatencyP95High"
                  and b["labels"]["severity"] == "critical" and b["status"] == "firing")
    assert 250.0 == pytest.approx(firing["value"], rel=0.01)
    assert 200.0 == firing["threshold"]
    assert "2m" == firing["for"] and "1m" == firing["window"]

    # Budgets are published at every whole minute of event time. T0 is 20 s past a minute, so those
    # fall at 40 s, 100 s, ...; the last boundary closed (watermark 894 s) is 890 s, the last
    # whole minute before it 880 s.
    budgets = await stream_messages(js, "SLO", "slo.budget.>")
    latest = {}
    for m in budgets:
        body = orjson.loads(m.data)
        assert m.subject == f"slo.budget.{body['service']}.{body['slo']}"
        latest[body["slo"]] = body
    assert iso(880) == latest["gateway_latency_p95"]["evaluatedAt"]
    # 500 of the gateway's 880 events so far were 250 ms: over 200 ms, so bad for p95 < 200ms.
    assert (880, 380) == (latest["gateway_latency_p95"]["total"], latest["gateway_latency_p95"]["good"])

    # SLI values every minute: at 880 s the 1m window [820, 880) holds 60 gateway requests, 100 ms.
    slis = await stream_messages(js, "SLO", "slo.sli.api-gateway.gateway_request_latency")
    last = orjson.loads(slis[-1].data)
    assert (iso(880), 60.0) == (last["evaluatedAt"], last["values"]["count"])
    assert 100.0 == pytest.approx(last["values"]["p95"], rel=0.01)

    dead = await stream_messages(js, "SLO", "slo.deadletter.>")
    assert sorted(reasons) == sorted(m.subject.removeprefix("slo.deadletter.") for m in dead)
    assert all(m.headers["Slo-Original-Subject"] in ("analytics.gateway.request", "trade.order.submitted") for m in dead)
    counted = {}
    for lane in proc.lanes.values():
        for reason, n in lane.engine.rejected.items():
            counted[reason] = counted.get(reason, 0) + n
    assert {r: reasons.count(r) for r in set(reasons)} == counted
    await nc.close()


async def test_a_restart_resumes_from_the_checkpoint_without_losing_or_repeating_alerts(fresh_nats_url):
    nc = await connect(ConnectOptions(url=fresh_nats_url))
    js = nc.jetstream()
    proc, task = await start_processor(nc)
    # First half of the incident timeline, then stop (final checkpoint), then a new processor.
    first, _ = traffic(0, 450, bad_at=set())
    await publish(js, first)
    await wait_for(lambda: sum(lane.stats.last_seq for lane in proc.lanes.values()) >= len(first))
    proc.stop()
    await task

    proc, task = await start_processor(nc)
    resumed = {name: lane.stats.last_seq for name, lane in proc.lanes.items()}
    assert (450, 450) == (resumed["ANALYTICS"], resumed["TRADE"])
    second, _ = traffic(450, END_S, bad_at=set())
    await publish(js, second)
    await wait_for(lambda: sum(lane.stats.last_seq for lane in proc.lanes.values()) >= len(first) + len(second))
    proc.stop()
    await task

    alerts = await stream_messages(js, "SLO", "slo.alerts.>")
    assert EXPECTED == alert_rows(alerts)
    await nc.close()


async def test_outputs_that_cannot_be_published_hold_the_ack_until_the_bus_takes_them(fresh_nats_url):
    nc = await connect(ConnectOptions(url=fresh_nats_url))
    js = nc.jetstream()
    proc, task = await start_processor(nc)
    await js.delete_stream("SLO")  # nothing can store slo.> now: publishing outputs fails
    await js.publish("analytics.gateway.request", b"{broken")
    await asyncio.sleep(1.5)
    lane = proc.lanes["ANALYTICS"]
    assert (0, 0) == (lane.stats.batches, lane.stats.last_seq)  # evaluated, but neither published nor acked
    await provision_streams(nc, load_stream_definitions(ROOT / "streams"), proc.log)
    await wait_for(lambda: lane.stats.last_seq == 1)
    proc.stop()
    await task
    dead = await stream_messages(js, "SLO", "slo.deadletter.>")
    assert [("slo.deadletter.not_json", b"{broken")] == [(m.subject, m.data) for m in dead]
    await nc.close()


async def _processor_without_periodic_checkpoints(url: str):
    nc = await connect(ConnectOptions(url=url))
    proc = Processor(load_config(ROOT / "config" / "slo.yaml"), nc, load_stream_definitions(ROOT / "streams"),
                     idle_after_s=3600, checkpoint_interval_s=3600)
    await proc.start()
    return nc, proc, asyncio.create_task(proc.run())


async def _crash(nc, proc: Processor, task: asyncio.Task) -> None:
    await nc.close()  # the crash: no final checkpoint can be written
    proc.stop()
    await asyncio.wait_for(task, 30)


async def _collect_gateway_budgets(nc) -> list:
    # A core subscription sees what a processor publishes even where the stream drops it as a
    # duplicate of what the crashed one already published (same Nats-Msg-Id).
    budgets: list = []

    async def collect(msg):
        budgets.append(orjson.loads(msg.data))

    await nc.subscribe("slo.budget.api-gateway.gateway_error_rate", cb=collect)
    return budgets


def _assert_every_request_counted_once(budgets: list, requests: int) -> None:
    last = max(budgets, key=lambda b: b["evaluatedAt"])
    # Gateway requests are one a second from T0; a report counts those before its time.
    expected_total = sum(1 for t in range(0, requests) if iso(t) < last["evaluatedAt"])
    assert (expected_total, expected_total) == (last["total"], last["good"])


async def test_a_crash_after_the_last_checkpoint_replays_the_rest_exactly_once(fresh_nats_url):
    # The processor applies everything, but its connection dies before a final checkpoint: the
    # next one restores the checkpoint and replays what came after it from the stream. The budget
    # then counts every request once: not lost, not twice.
    nc, proc, task = await _processor_without_periodic_checkpoints(fresh_nats_url)
    js = nc.jetstream()
    first, _ = traffic(0, 300, bad_at=set())
    await publish(js, first)
    await wait_for(lambda: proc.lanes["ANALYTICS"].stats.last_seq >= 300)
    await proc.checkpoints.save()
    second, _ = traffic(300, 700, bad_at=set())
    await publish(js, second)
    await wait_for(lambda: proc.lanes["ANALYTICS"].stats.last_seq >= 700)
    await _crash(nc, proc, task)

    nc = await connect(ConnectOptions(url=fresh_nats_url))
    budgets = await _collect_gateway_budgets(nc)
    proc, task = await start_processor(nc)
    assert 300 == proc.lanes["ANALYTICS"].stats.last_seq  # resumed from the checkpoint, not 700
    await wait_for(lambda: proc.lanes["ANALYTICS"].stats.last_seq >= 700)
    proc.stop()
    await task
    await nc.flush()
    _assert_every_request_counted_once(budgets, 700)
    await nc.close()


async def test_a_crash_before_any_checkpoint_restarts_from_the_streams_first_message(fresh_nats_url):
    # The processor applies and acks 500 requests, then dies before its first checkpoint. The next
    # one has no checkpoint: it must read the stream from the start (its engine is empty), not from
    # the durable's ack floor, so the budget counts every request once.
    nc, proc, task = await _processor_without_periodic_checkpoints(fresh_nats_url)
    first, _ = traffic(0, 500, bad_at=set())
    await publish(nc.jetstream(), first)
    await wait_for(lambda: proc.lanes["ANALYTICS"].stats.last_seq >= 500)
    await _crash(nc, proc, task)

    nc = await connect(ConnectOptions(url=fresh_nats_url))
    budgets = await _collect_gateway_budgets(nc)
    second, _ = traffic(500, 700, bad_at=set())
    await publish(nc.jetstream(), second)
    proc, task = await start_processor(nc)
    await wait_for(lambda: proc.lanes["ANALYTICS"].stats.last_seq >= 700)
    assert 700 == proc.lanes["ANALYTICS"].engine.accepted  # all of the stream, once
    proc.stop()
    await task
    await nc.flush()
    _assert_every_request_counted_once(budgets, 700)
    await nc.close()
