"""Input the processor cannot use, on a real nats-server with config/slo.yaml: an event from a clock a
year ahead is dead-lettered as ``future`` without holding anything up, and a producer that sends
5 % broken events pages (InputRejectedHigh) and says which SLI loses them (InputRejectedBySli)."""

from __future__ import annotations

import asyncio
import time

import orjson
import pytest

from processor.bus.connect import ConnectOptions, connect
from processor.bus.streams import load_stream_definitions
from processor.config.load import load_config
from processor.runtime.processor import Processor
from tests.integration.test_processor import (  # noqa: F401 - fresh_nats_url is a fixture
    ROOT,
    T0_MS,
    fresh_nats_url,
    iso,
    publish,
    start_processor,
    stream_messages,
    wait_for,
)

pytestmark = pytest.mark.integration

GATEWAY = "analytics.gateway.request"
# Every SLI that reads a gateway request, in config order; the capacity SLIs count it too (issue 9).
GATEWAY_SLIS = ("gateway_request_latency,gateway_requests,gateway_rate_limit_accuracy,"
                "capacity_api_requests,capacity_analytics_messages")
YEAR_MS = 365 * 86_400_000


def request(ts_ms: int, latency_ms: float | None = 40.0) -> tuple[str, bytes]:
    body = {"ts": ts_ms, "route": "/v1/orders", "method": "POST", "status_code": 200, "latency_ms": latency_ms,
            "rate_limited": False, "rate_limit_correct": True}
    return GATEWAY, orjson.dumps({k: v for k, v in body.items() if v is not None})


async def test_one_event_a_year_ahead_is_dead_lettered_as_future_and_the_events_after_it_flow(fresh_nats_url):
    # The opening scenario of issue 8: 300 requests, one stamped a year ahead, 300 more, published to
    # a running processor. Event times are the last ten minutes, so each is behind its JetStream
    # timestamp; the year-ahead one is more than max_future_skew (1 m) ahead of its own.
    nc = await connect(ConnectOptions(url=fresh_nats_url))
    proc, task = await start_processor(nc)
    start_ms = time.time_ns() // 1_000_000 - 600_000
    items = [request(start_ms + i * 1000) for i in range(300)]
    items.append(request(start_ms + 300_000 + YEAR_MS))
    items += [request(start_ms + i * 1000) for i in range(300, 600)]
    await publish(nc.jetstream(), items)

    lane = proc.lanes["ANALYTICS"]
    await wait_for(lambda: lane.stats.last_seq >= 601, timeout_s=15)
    assert (600, 1) == (lane.stats.accepted, lane.stats.rejected)
    assert start_ms + 599_000 == lane.engine.max_ts_ms  # the watermark follows the real events only
    stopped_at = asyncio.get_running_loop().time()
    proc.stop()
    await asyncio.wait_for(task, 10)
    assert asyncio.get_running_loop().time() - stopped_at < 10

    (dead,) = await stream_messages(nc.jetstream(), "SLO", "slo.deadletter.>")
    assert ("slo.deadletter.future", items[300][1]) == (dead.subject, dead.data)
    assert ("future", GATEWAY_SLIS, "301") == (
        dead.headers["Slo-Reason"], dead.headers["Slo-Rejected-Slis"], dead.headers["Slo-Stream-Seq"])
    assert "ms ahead of its stream timestamp" in dead.headers["Slo-Detail"]
    counted = proc.counters()["ANALYTICS"]
    assert {"future": 1} == counted["rejected_by_reason"]
    assert {name: {"future": 1} for name in GATEWAY_SLIS.split(",")} == counted["rejected_by_sli"]
    await nc.close()


async def test_a_producer_sending_five_percent_broken_events_pages(fresh_nats_url):
    # A request a second from T0; from 120 s to 599 s every 20th has no latency_ms (5 %). The
    # latency SLI rejects those, availability and rate-limit accuracy still count them, and each
    # is dead-lettered once. The alert times are worked out in
    # tests/unit/test_engine_per_sli.py::test_a_producer_sending_five_percent_broken_events_raises_the_input_alerts.
    nc = await connect(ConnectOptions(url=fresh_nats_url))
    alerts: list = []

    async def collect(msg):
        alerts.append(orjson.loads(msg.data))

    await nc.subscribe("slo.alerts.*.slo-processor", cb=collect)
    proc, task = await start_processor(nc)
    broken = {t for t in range(120, 600, 20)}
    items = [request(T0_MS + t * 1000, None if t in broken else 40.0) for t in range(900)]
    await publish(nc.jetstream(), items)
    await wait_for(lambda: len(alerts) >= 4)
    proc.stop()
    await task

    rows = sorted((a["labels"]["alertname"], a["labels"]["severity"], a["labels"]["stream"],
                   a["labels"].get("target_sli"), a["status"], a["activeAt"], a["startsAt"], a["endsAt"])
                  for a in alerts)
    assert [
        ("InputRejectedBySli", "warning", "ANALYTICS", "gateway_request_latency", "firing", iso(140), iso(260), None),
        ("InputRejectedBySli", "warning", "ANALYTICS", "gateway_request_latency", "resolved", iso(140), iso(260),
         iso(820)),
        ("InputRejectedHigh", "critical", "ANALYTICS", None, "firing", iso(140), iso(260), None),
        ("InputRejectedHigh", "critical", "ANALYTICS", None, "resolved", iso(140), iso(260), iso(820)),
    ] == rows
    firing = next(a for a in alerts if a["labels"]["alertname"] == "InputRejectedHigh" and a["status"] == "firing")
    assert "of the messages of stream ANALYTICS were dead-lettered" in firing["annotations"]["summary"]

    dead = await stream_messages(nc.jetstream(), "SLO", "slo.deadletter.>")
    assert [("slo.deadletter.missing_field", "gateway_request_latency")] * len(broken) == [
        (m.subject, m.headers["Slo-Rejected-Slis"]) for m in dead]
    # The error rate (a budget of requests) counted all 900: the broken ones were good requests, only
    # without latency.
    budgets = [orjson.loads(m.data) for m in await stream_messages(nc.jetstream(), "SLO",
                                                                      "slo.budget.api-gateway.gateway_error_rate")]
    last = max(budgets, key=lambda b: b["evaluatedAt"])
    assert last["total"] == last["good"] == sum(1 for t in range(900) if iso(t) < last["evaluatedAt"])
    await nc.close()


async def test_a_stream_of_nothing_but_broken_messages_does_not_freeze_the_windows(fresh_nats_url):
    # Every pull returns messages, none of which can be used: event time stands still. The lane's
    # idle clock still runs it on, so the rejections reach the input SLIs (and every alert of the
    # stream can still fire or resolve) while the broken producer keeps sending.
    nc = await connect(ConnectOptions(url=fresh_nats_url))
    proc = Processor(load_config(ROOT / "config" / "slo.yaml"), nc, load_stream_definitions(ROOT / "streams"),
                     idle_after_s=0.5, checkpoint_interval_s=3600)
    await proc.start()
    task = asyncio.create_task(proc.run())
    js = nc.jetstream()
    now_ms = time.time_ns() // 1_000_000
    await publish(js, [request(now_ms - 2_000 + i * 100) for i in range(20)])
    lane = proc.lanes["ANALYTICS"]
    await wait_for(lambda: lane.stats.accepted == 20)
    measured = next(s for s in lane.engine.slis if s.name == "input_messages")

    def rejected_measured() -> int:
        return sum(b.total - b.good for series in measured.series.values() for b in series.subs.values())

    for _ in range(30):  # 3 s of a broken producer, a message every 100 ms
        await js.publish(GATEWAY, b"{broken")
        await asyncio.sleep(0.1)
    assert lane.stats.rejected == 30
    assert rejected_measured() >= 20  # all but those of the last batches since the stream went idle
    proc.stop()
    await task
    await nc.close()
