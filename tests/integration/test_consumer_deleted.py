"""A durable consumer deleted under a running `slo run` (by an operator, or by a second processor
started on the same instance): its position and unacked deliveries are gone and pulling again can
never succeed, so the processor resumes from its checkpoint, which creates the consumer again,
and the stream is consumed on (before, the lane retried the pull every 5 s for good while
/readyz said ready)."""

from __future__ import annotations

import pytest

from processor.bus.connect import ConnectOptions, connect
from processor.bus.embedded import EmbeddedServer
from processor.bus.jsadmin import stream_last_seq
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
