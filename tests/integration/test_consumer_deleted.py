"""A durable consumer deleted under a running `slo run` (by an operator, or by a second processor
started on the same instance): its position and unacked deliveries are gone and pulling again can
never succeed, so the processor resumes from its checkpoint, which creates the consumer again,
and the stream is consumed on (before, the lane retried the pull every 5 s for good while
/readyz said ready)."""

from __future__ import annotations

import asyncio

import pytest

from processor.bus.connect import ConnectOptions, connect
from processor.bus.consumer import BatchPuller
from processor.bus.embedded import EmbeddedServer
from processor.bus.jsadmin import stream_last_seq
from processor.errors import DeliveryGapError
from processor.simulate import Simulator
from processor.simulate.publish import publish
from processor.vocabulary import durable_name
from tests.slorun import MIN_MS, START_MS, STREAMS_DIR, Runs, acked_seq, wait_until_acked

pytestmark = pytest.mark.asyncio


async def publish_minutes(nc, from_ms: int, minutes: int, seed: int) -> dict[str, int]:
    """A few minutes of the platform at a low rate; each stream's last sequence after them."""
    result = await publish(nc, Simulator(from_ms, seed=seed, rate=1.0), from_ms + minutes * MIN_MS,
                           streams_dir=STREAMS_DIR)
    return {stream: await stream_last_seq(nc, stream) for stream in result.per_stream}


async def test_a_deleted_durable_is_created_again_from_the_checkpoint_and_its_stream_consumed(tmp_path):
    async with EmbeddedServer(tmp_path / "nats") as server:
        nc = await connect(ConnectOptions(url=server.url, name="test"))
        js = nc.jetstream()
        runs = Runs(server.url, tmp_path)
        try:
            first = await publish_minutes(nc, START_MS, 2, seed=3)
            run = runs.start()
            await wait_until_acked(js, first, run)
            await js.delete_consumer("AI", durable_name("slo", "AI"))
            later = await publish_minutes(nc, START_MS + 2 * MIN_MS, 1, seed=4)
            assert later["AI"] > first["AI"]
            await wait_until_acked(js, later, run)  # the consumer exists again, and took the new events
            gap = await run.wait_for_log("consumer.delivery_gap")
            assert "the durable consumer was deleted" in gap["error"]
            assert run.proc.poll() is None  # still running
            assert await acked_seq(js, "AI") == later["AI"]
        finally:
            runs.end_all()
            await nc.close()


async def test_a_consumer_deleted_while_no_pull_waits_is_found_by_the_next_pull(tmp_path):
    # The 409 goes only to the pulls waiting when it is deleted; a puller whose one request was
    # filled meets 503 (no responders) on its next pull, and used to take it for an empty answer,
    # pulling again at once, for good.
    async with EmbeddedServer(tmp_path / "nats") as server:
        nc = await connect(ConnectOptions(url=server.url, name="test"))
        js = nc.jetstream()
        await js.add_stream(name="X", subjects=["x.>"])
        for _ in range(5):
            await js.publish("x.a", b"{}")
        puller = BatchPuller(nc, "X", "slo_x", batch_size=5, start_after_seq=0)
        await puller.start()
        try:
            for _ in range(100):  # its first request filled, and none asked since: no pull waits
                if len(puller._buffer) == 5:
                    break
                await asyncio.sleep(0.05)
            await js.delete_consumer("X", "slo_x")
            with pytest.raises(DeliveryGapError, match="the durable consumer was deleted"):
                for _ in range(3):
                    await puller.next_batch(timeout_s=1.0)
        finally:
            await puller.stop()
            await nc.close()
