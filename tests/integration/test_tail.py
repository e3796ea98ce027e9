"""`slo tail` as a process against a real nats-server: one readable line per output from now, or
JSON; with --durable a second run resumes after what the first printed; SIGINT exits 0 at once."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys

import orjson
import pytest
import structlog
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from processor.bus.connect import ConnectOptions, connect
from tests.integration.test_client import ROOT, alert_body, publish, server  # noqa: F401 - fixture

pytestmark = pytest.mark.integration

BUDGET = ("slo.budget.api-gateway.gateway_latency_p95", orjson.dumps({
    "slo": "gateway_latency_p95", "service": "api-gateway", "evaluatedAt": "2026-12-01T10:00:00.000Z",
    "remaining": 0.4215, "policy": "prioritize_reliability", "burnRates": {"5m": 14.4, "1h": 6.0}}))

NO_POLICY = ("slo.budget.api-gateway.sla_api_response_time", orjson.dumps({  # policy: false
    "slo": "sla_api_response_time", "service": "api-gateway", "evaluatedAt": "2026-12-01T10:00:00.000Z",
    "remaining": -0.697, "policy": None, "burnRates": {}}))


async def start_tail(url: str, *args: str) -> asyncio.subprocess.Process:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "processor.cli", "tail", *args, "--nats-url", url, cwd=ROOT,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    line = await asyncio.wait_for(proc.stderr.readline(), timeout=20)
    assert line.startswith(b"following "), line
    return proc


async def lines(proc: asyncio.subprocess.Process, n: int) -> list[str]:
    return [(await asyncio.wait_for(proc.stdout.readline(), timeout=10)).decode().rstrip("\n") for _ in range(n)]


async def interrupt(proc: asyncio.subprocess.Process) -> int:
    proc.send_signal(signal.SIGINT)
    return await asyncio.wait_for(proc.wait(), timeout=10)


async def test_tail_prints_one_line_per_output_from_now_and_stops_on_sigint(server):  # noqa: F811
    await publish(server, [alert_body(1)])  # before the tail: not shown
    proc = await start_tail(server)
    # The processor's own bus probe and idle-clock move are not outputs: not shown.
    probe = ("slo.probe", orjson.dumps({"sentAt": "2026-12-01T09:00:00.000Z"}))
    clock = ("slo.clock.ANALYTICS", orjson.dumps({"stream": "ANALYTICS", "afterSeq": 7, "closedThroughMs": 0}))
    await publish(server, [probe, clock, alert_body(2), BUDGET, NO_POLICY, alert_body(3, "api-gateway", "resolved")])
    assert [
        "2026-12-01T09:05:00.000Z FIRING   critical trading-engine Rule2 value=202 threshold=150 sli=s",
        "2026-12-01T10:00:00.000Z BUDGET   api-gateway gateway_latency_p95 remaining=42.1% "
        "policy=prioritize_reliability burn 5m=14.40 1h=6.00",
        "2026-12-01T10:00:00.000Z BUDGET   api-gateway sla_api_response_time remaining=-69.7% policy=- burn",
        "2026-12-01T09:09:00.000Z RESOLVED critical api-gateway Rule3 value=203 threshold=150 sli=s",
    ] == await lines(proc, 4)
    assert 0 == await interrupt(proc)


async def test_tail_alerts_of_a_service_with_a_durable_resumes_where_it_stopped(server):  # noqa: F811
    proc = await start_tail(server, "alerts", "--service", "trading-engine", "--durable", "ops", "--json")
    await publish(server, [alert_body(1), alert_body(2, "api-gateway"), BUDGET, alert_body(3)])
    first = [orjson.loads(line) for line in await lines(proc, 2)]
    assert [("slo.alerts.critical.trading-engine", 1, "Rule1"), ("slo.alerts.critical.trading-engine", 4, "Rule3")] == [
        (j["subject"], j["seq"], j["data"]["labels"]["alertname"]) for j in first]
    assert 0 == await interrupt(proc)

    await publish(server, [alert_body(4), alert_body(5)])  # while no tail runs
    proc = await start_tail(server, "alerts", "--service", "trading-engine", "--durable", "ops", "--json")
    assert ["Rule4", "Rule5"] == [orjson.loads(line)["data"]["labels"]["alertname"] for line in await lines(proc, 2)]
    assert 0 == await interrupt(proc)


async def test_tail_of_one_service_follows_its_outputs_of_every_kind_and_nothing_else(server):  # noqa: F811
    proc = await start_tail(server, "--service", "api-gateway")
    action = ("slo.actions.api-gateway", orjson.dumps({"source": "budget_policy", "slo": "gateway_latency_p95",
                                                       "service": "api-gateway", "evaluatedAt": "2026-12-01T10:00:00.000Z",
                                                       "policy": "feature_freeze", "action": "feature freeze"}))
    await publish(server, [alert_body(1), alert_body(2, "api-gateway"), ("slo.deadletter.not_json", b"{x"),
                           BUDGET, action, alert_body(3)])
    assert [
        "2026-12-01T09:05:00.000Z FIRING   critical api-gateway Rule2 value=202 threshold=150 sli=s",
        "2026-12-01T10:00:00.000Z BUDGET   api-gateway gateway_latency_p95 remaining=42.1% "
        "policy=prioritize_reliability burn 5m=14.40 1h=6.00",
        "2026-12-01T10:00:00.000Z ACTION   api-gateway gateway_latency_p95 policy=feature_freeze: feature freeze",
    ] == await lines(proc, 3)
    await asyncio.sleep(1)  # the trading engine's alert 3 and the dead letter, were they delivered, would be printed
    assert 0 == await interrupt(proc)
    assert b"" == await proc.stdout.read()


async def test_a_durable_of_everything_made_before_the_kinds_were_followed_one_by_one_still_resumes(server):  # noqa: F811
    # `slo tail --durable` of every kind once followed slo.>: such a durable is kept, and the
    # processor's own probes and time moves it gets are skipped.
    nc = await connect(ConnectOptions(url=server))
    await nc.jetstream().add_consumer("SLO", ConsumerConfig(durable_name="old", name="old", ack_policy=AckPolicy.EXPLICIT,
                                                            deliver_policy=DeliverPolicy.NEW, filter_subject="slo.>"))
    await nc.close()
    probe = ("slo.probe", orjson.dumps({"sentAt": "2026-12-01T09:00:00.000Z"}))
    await publish(server, [probe, alert_body(1), probe, BUDGET])
    proc = await start_tail(server, "--durable", "old")
    assert [
        "2026-12-01T09:05:00.000Z FIRING   critical trading-engine Rule1 value=201 threshold=150 sli=s",
        "2026-12-01T10:00:00.000Z BUDGET   api-gateway gateway_latency_p95 remaining=42.1% "
        "policy=prioritize_reliability burn 5m=14.40 1h=6.00",
    ] == await lines(proc, 2)
    assert 0 == await interrupt(proc)


async def test_a_service_no_stored_output_names_is_pointed_out_and_followed_anyway(server):  # noqa: F811
    await publish(server, [alert_body(1), BUDGET])  # trading-engine and api-gateway have outputs
    typo = await start_tail(server, "--service", "trading-engin")
    warning = (await asyncio.wait_for(typo.stderr.readline(), timeout=10)).decode()
    assert "no output of service 'trading-engin' is stored on the SLO stream (did you mean 'trading-engine'?)" in warning
    assert "api-gateway" in warning and "trading-engine" in warning
    await publish(server, [alert_body(4, "trading-engin")])  # still followed: its first output shows
    assert ["2026-12-01T09:05:00.000Z FIRING   critical trading-engin Rule4 value=204 threshold=150 sli=s"] == await lines(typo, 1)
    assert 0 == await interrupt(typo)
    known = await start_tail(server, "--service", "trading-engine")
    await publish(server, [alert_body(5)])  # printed: the look at the stored subjects is over
    assert 1 == len(await lines(known, 1))
    assert 0 == await interrupt(known)
    assert b"no output of service" not in await known.stderr.read()


async def test_a_tail_of_a_stores_embedded_server_ends_when_that_server_stops(tmp_path, monkeypatch):
    """Found by its store (no --nats-url), the server is the `slo run`'s: once it stops, nats-py
    would retry its port for ever while a new `slo run` listens on another; the tail says so and
    ends (exit 1) instead of waiting, silent."""
    from processor.bus.embedded import EmbeddedServer
    from processor.bus.streams import load_stream_definitions, provision_streams

    env = {k: v for k, v in os.environ.items() if k not in ("SLO_NATS_URL", "NATS_URL")}
    async with EmbeddedServer(tmp_path / "store" / "nats") as embedded:  # as `slo run --store-dir <tmp>/store`
        nc = await connect(ConnectOptions(url=embedded.url))
        await provision_streams(nc, load_stream_definitions(ROOT / "streams"), structlog.get_logger("test"))
        await nc.close()
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "processor.cli", "tail", "--store-dir", str(tmp_path / "store"), cwd=ROOT, env=env,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        line = await asyncio.wait_for(proc.stderr.readline(), timeout=20)
        assert line.startswith(b"following "), line
    assert 1 == await asyncio.wait_for(proc.wait(), timeout=20)
    err = (await proc.stderr.read()).decode()
    assert f"slo tail: the embedded server on {tmp_path / 'store'} stopped" in err, err
