"""`publish()` and `slo simulate` against a real nats-server of their own (a fresh EmbeddedServer:
the session server's MARKET/TRADE/AI/ANALYTICS streams are shared by other tests)."""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
import pytest_asyncio
from nats.aio.client import Client

from processor.bus.connect import ConnectOptions, connect
from processor.bus.consumer import BatchPuller
from processor.bus.embedded import EmbeddedServer
from processor.cli import main
from processor.simulate import Incident, PublishProgress, Simulator, publish
from processor.simulate.platform import STREAM_OF_PREFIX
from tests.slorun import stream_messages

pytestmark = pytest.mark.integration

STREAMS_DIR = Path(__file__).resolve().parents[2] / "streams"
T0 = int(datetime(2026, 1, 5, 14, 0, tzinfo=UTC).timestamp() * 1000)
MIN = 60_000


@pytest_asyncio.fixture
async def server_nc(tmp_path: Path) -> AsyncIterator[tuple[str, Client]]:
    async with EmbeddedServer(tmp_path / "nats") as server:
        nc = await connect(ConnectOptions(url=server.url, name="simulate-tests"))
        try:
            yield server.url, nc
        finally:
            await nc.close()


async def js_api(nc: Client, subject: str, payload: dict | None = None) -> dict:
    """A JetStream API request as the wire has it (no client-side model of the answer)."""
    reply = await nc.request(subject, b"" if payload is None else orjson.dumps(payload), timeout=5)
    body = orjson.loads(reply.data)
    assert "error" not in body, body
    return body


async def stream_info(nc: Client, name: str) -> dict:
    return await js_api(nc, f"$JS.API.STREAM.INFO.{name}")


def generated_per_stream(simulator: Simulator, until_ms: int) -> dict[str, int]:
    counts: collections.Counter[str] = collections.Counter()
    for subject, _ in simulator.events(until_ms):
        counts[STREAM_OF_PREFIX[subject.split(".", 1)[0]]] += 1
    return dict(counts)


async def test_fast_publish_provisions_the_streams_and_stores_every_generated_event(server_nc) -> None:
    _, nc = server_nc
    simulator = Simulator(T0, seed=2, rate=20.0)
    until_ms = T0 + 5 * MIN
    seen: list[PublishProgress] = []

    result = await publish(nc, simulator, until_ms, None, streams_dir=STREAMS_DIR, progress=seen.append)

    expected = generated_per_stream(simulator, until_ms)
    assert expected == result.per_stream
    assert sum(expected.values()) == result.published > 10_000
    for name, count in expected.items():
        assert count == (await stream_info(nc, name))["state"]["messages"]
    assert seen[-1].final and seen[-1].published == result.published
    # What is stored is byte for byte what was generated, in order.
    first_trade = next(data for subject, data in simulator.events(until_ms) if subject.startswith("trade."))
    stored = await nc.jetstream().get_msg("TRADE", 1)
    assert first_trade == stored.data
    assert orjson.loads(stored.data)["ts"] >= T0


async def test_paced_publish_follows_event_time_at_the_time_scale(server_nc) -> None:
    _, nc = server_nc
    simulator = Simulator(T0, seed=2, rate=2.0)
    received: list[tuple[float, int]] = []

    async def on_heartbeat(msg) -> None:
        received.append((time.monotonic(), orjson.loads(msg.data)["ts"]))

    sub = await nc.subscribe("market.heartbeat", cb=on_heartbeat)
    started_s = time.monotonic()
    result = await publish(nc, simulator, T0 + 30_000, 60.0, streams_dir=STREAMS_DIR)
    elapsed_s = time.monotonic() - started_s
    await sub.unsubscribe()

    # 30 s of event time at 60x: the last event is due ~0.5 s in.
    assert 0.45 < elapsed_s < 2.5
    assert [T0 + 1_000, T0 + 11_000, T0 + 21_000] == [ts for _, ts in received]
    # When the server stored them (a subscriber's callbacks can run late, several at once: that
    # says nothing of the pacing). Loose enough for a loaded 2-core machine; publishing unpaced
    # would be 0.33 s off.
    stored = [m.metadata.timestamp for m in await stream_messages(nc.jetstream(), "MARKET", "market.heartbeat")]
    assert 3 == len(stored)
    assert 20.0 / 60 == pytest.approx((stored[-1] - stored[0]).total_seconds(), abs=0.2)
    assert generated_per_stream(simulator, T0 + 30_000) == result.per_stream


async def test_streams_that_already_hold_the_subjects_are_used_whatever_their_names(server_nc, tmp_path) -> None:
    _, nc = server_nc
    for prefix in STREAM_OF_PREFIX:
        config = {"name": f"OWN_{prefix.upper()}", "subjects": [f"{prefix}.>"], "storage": "memory"}
        await js_api(nc, f"$JS.API.STREAM.CREATE.OWN_{prefix.upper()}", config)
    simulator = Simulator(T0, seed=4, rate=5.0)

    result = await publish(nc, simulator, T0 + MIN, None, streams_dir=tmp_path / "no-such-dir")

    expected = {f"OWN_{p.upper()}": n for p, n in
                ((k.lower(), v) for k, v in generated_per_stream(simulator, T0 + MIN).items())}
    assert expected == result.per_stream
    names = await js_api(nc, "$JS.API.STREAM.NAMES", {})
    assert sorted(expected) == sorted(names["streams"])


async def test_consumer_lag_pauses_the_processors_consumer_while_the_rest_is_published(server_nc) -> None:
    _, nc = server_nc
    simulator = Simulator(T0, seed=3, rate=5.0, incidents=[Incident("consumer_lag", T0 + 30_000, 500)])
    until_ms = T0 + 2 * MIN
    await publish(nc, Simulator(T0, rate=1.0), T0 + 1, None, streams_dir=STREAMS_DIR)  # provisions
    puller = BatchPuller(nc, "ANALYTICS", "slo_analytics", batch_size=500)
    await puller.start()
    consumed = 0

    async def consume() -> None:
        nonlocal consumed
        while True:
            batch = await puller.next_batch(timeout_s=0.05)
            if batch:
                consumed += len(batch)
                await puller.ack(batch[-1])

    consumer = asyncio.ensure_future(consume())
    run = asyncio.ensure_future(publish(nc, simulator, until_ms, None, streams_dir=STREAMS_DIR))
    samples = []
    try:
        while not run.done():
            info = await js_api(nc, "$JS.API.CONSUMER.INFO.ANALYTICS.slo_analytics")
            samples.append((bool(info.get("paused")), int(info["num_pending"])))
            await asyncio.sleep(0.05)
        result = await run
        after_incident = sum(1 for e in simulator.records(until_ms)
                             if e.subject.startswith("analytics.") and e.ts_ms >= T0 + 30_000)
        paused_pending = [pending for paused, pending in samples if paused]
        # Nothing is delivered while paused: everything published from the start on is pending.
        assert paused_pending and max(paused_pending) >= after_incident
        assert result.wall_s >= 0.5  # publishing flat out, the duration is taken as wall time
        assert () == result.notes
        info = await js_api(nc, "$JS.API.CONSUMER.INFO.ANALYTICS.slo_analytics")
        assert not info.get("paused")
        deadline = time.monotonic() + 5
        while consumed < result.per_stream["ANALYTICS"]:
            assert time.monotonic() < deadline, "the consumer did not catch up after the pause"
            await asyncio.sleep(0.02)
    finally:
        consumer.cancel()
        await puller.stop()


async def test_consumer_lag_without_the_processors_consumer_is_reported_not_fatal(server_nc) -> None:
    _, nc = server_nc
    simulator = Simulator(T0, seed=3, rate=2.0, incidents=[Incident("consumer_lag", T0 + 10_000, 5_000, "trade")])

    result = await publish(nc, simulator, T0 + 30_000, None, streams_dir=STREAMS_DIR)

    assert 1 == len(result.notes)
    assert "consumer_lag at 2026-01-05T14:00:10.000Z skipped" in result.notes[0]
    assert "TRADE/slo_trade" in result.notes[0] and "is `slo run` consuming it?" in result.notes[0]
    assert result.wall_s < 5


async def test_slo_simulate_publishes_to_the_url_it_is_given(server_nc, capsys) -> None:
    url, nc = server_nc
    argv = ["simulate", "--nats-url", url, "--fast", "--duration", "2m", "--rate", "5", "--seed", "9",
            "--start", "2026-01-05T14:00:00Z", "--streams-dir", str(STREAMS_DIR),
            "--incident", "outage:gateway=0.5@30s+1m"]

    exit_code = await asyncio.to_thread(main, argv)

    err = capsys.readouterr().err
    assert 0 == exit_code, err
    simulator = Simulator(T0, seed=9, rate=5.0, incidents=[Incident("outage", T0 + 30_000, MIN, "gateway", 0.5)])
    expected = generated_per_stream(simulator, T0 + 2 * MIN)
    for name, count in expected.items():
        assert count == (await stream_info(nc, name))["state"]["messages"]
    assert f"stored {sum(expected.values()):,} events" in err
    assert "outage:gateway=0.5 2026-01-05T14:00:30.000Z .. 2026-01-05T14:01:30.000Z" in err

