"""Crashes lose nothing and stops are prompt: `slo run` on a real nats-server, killed or stopped at
chosen points of a scenario with incidents and restarted each time, ends with exactly the outputs
of an uninterrupted run on the same events (tests/slorun.py compares them).

The points: SIGKILL before the first checkpoint, in the middle of publishing a batch's outputs
(the test-only stall of processor/runtime/testhooks.py holds the process there, part of the
batch's outputs stored and the batch unacked) and at three seeded-random points between
checkpoints; SIGTERM while consuming a backlog in big batches, while blocked on a publish, in the
middle of an engine call that holds the event loop, and with the server frozen or gone.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import time
from collections import defaultdict

import pytest
import pytest_asyncio

from processor.bus.connect import ConnectOptions, connect
from processor.bus.embedded import EmbeddedServer
from tests.slorun import (
    uninterrupted_run,
    MSG_ID,
    Outputs,
    Runs,
    SloRun,
    acked_seq,
    assert_same_outputs,
    checkpoint_seqs,
    publish_scenario,
)

pytestmark = pytest.mark.integration

OFTEN = {"SLO_TEST_CHECKPOINT_INTERVAL_S": "0.2"}
NEVER = {"SLO_TEST_CHECKPOINT_INTERVAL_S": "3600"}


@pytest_asyncio.fixture(scope="module")
async def uninterrupted(tmp_path_factory) -> Outputs:
    """The scenario consumed by one run that nothing interrupts."""
    outputs, _ = await uninterrupted_run(tmp_path_factory.mktemp("uninterrupted"))
    # A scenario worth comparing: alerts fire and resolve, budgets are spent, SLIs are reported.
    assert {"firing", "resolved"} == {status for _, _, status, *_ in outputs.alerts}
    assert any(bad > 0 for *_, bad in outputs.budgets)
    assert len(outputs.slis) > 100
    return outputs


async def reach(run: SloRun, js, fraction: float, total: int) -> None:
    """Until ANALYTICS is acked ``fraction`` of the way from where this run started to the end."""
    await run.wait_for_log("processor.ready")
    start = await acked_seq(js, "ANALYTICS")
    while await acked_seq(js, "ANALYTICS") < start + fraction * (total - start):
        assert run.proc.poll() is None, run.tail()
        await asyncio.sleep(0.005)


async def kill_at_progress(run: SloRun, js, fraction: float, delay_s: float, total: int) -> None:
    """SIGKILL after :func:`reach` and ``delay_s`` more of running (somewhere in the next batch's
    pull, engine, publish or ack, or in a checkpoint). The delay is run a millisecond at a time,
    looked at with the processor frozen (SIGSTOP), and it is killed frozen, sooner when two
    batches from the end: running free, a processor this fast (the backlog of ANALYTICS in
    under 0.2 s) could drain the rest within the delay, and leave no backlog to be killed in."""
    await reach(run, js, fraction, total)
    run.proc.send_signal(signal.SIGSTOP)
    ran_s = 0.0
    while ran_s < delay_s and await acked_seq(js, "ANALYTICS") < total - 2 * 250:
        started_s = time.monotonic()
        run.proc.send_signal(signal.SIGCONT)
        await asyncio.sleep(0.001)
        run.proc.send_signal(signal.SIGSTOP)
        ran_s += time.monotonic() - started_s
    await run.kill()
    assert await acked_seq(js, "ANALYTICS") < total, "the kill came after the end of the backlog"


async def stopped_within_10s(run: SloRun, exit_code: int = 0) -> None:
    code, took_s = await run.signal_and_wait(signal.SIGTERM)
    assert (exit_code, True) == (code, took_s < 10), run.tail()


async def everything_said(nc) -> dict[str, set[bytes]]:
    """Every payload published under each message id, copies the stream dropped included."""
    said: dict[str, set[bytes]] = defaultdict(set)

    async def note(msg):
        said[msg.headers[MSG_ID]].add(msg.data)

    await nc.subscribe("slo.>", cb=note)
    return said


async def test_sigkill_at_five_random_points_loses_nothing_and_counts_nothing_twice(uninterrupted, tmp_path):
    rng = random.Random(8)
    async with EmbeddedServer(tmp_path / "nats") as server:
        nc = await connect(ConnectOptions(url=server.url))
        js = nc.jetstream()
        said = await everything_said(nc)
        last_seqs = await publish_scenario(nc)
        total = last_seqs["ANALYTICS"]
        runs = Runs(server.url, tmp_path)
        try:
            run = runs.start(NEVER, batch_size=250)
            await kill_at_progress(run, js, rng.uniform(0.2, 0.6), rng.uniform(0, 0.05), total)
            assert None is await checkpoint_seqs(nc)

            stall = f"publish:{rng.randint(5, 15)}:{rng.randint(1, 10)}"
            run = runs.start({**OFTEN, "SLO_TEST_STALL": stall}, batch_size=250)
            stalled = await run.wait_for_log("test.stalled")
            await run.kill()
            assert 0 < stalled["published"] < stalled["of"]

            for _ in range(3):
                run = runs.start(OFTEN, batch_size=250)
                await kill_at_progress(run, js, rng.uniform(0.1, 0.6), rng.uniform(0, 0.05), total)
                assert (await checkpoint_seqs(nc) or {}).get("ANALYTICS", 0) > 0

            outputs = await runs.finish(js, last_seqs, OFTEN)
        finally:
            runs.end_all()
        await nc.close()

    assert_same_outputs(uninterrupted, outputs)
    # A restart says again exactly what the run before it said under the same id.
    ours = {msg_id for _, msg_id, _ in outputs.messages}
    assert {} == {msg_id: payloads for msg_id, payloads in said.items() if msg_id in ours and len(payloads) > 1}


async def test_sigterm_stops_within_10s_whatever_the_processor_is_doing_and_a_restart_loses_nothing(
    uninterrupted, tmp_path
):
    async with EmbeddedServer(tmp_path / "nats") as server:
        nc = await connect(ConnectOptions(url=server.url))
        js = nc.jetstream()
        last_seqs = await publish_scenario(nc)
        total = last_seqs["ANALYTICS"]
        runs = Runs(server.url, tmp_path)
        try:
            # Consuming a backlog in big batches: the batches in hand are finished, published,
            # acked and checkpointed, and the checkpoint is where the acks are. (First, from the
            # start: in 3000-event batches it stops at 3000, 6000 or 9000 of ANALYTICS' 15,472:
            # the batch being evaluated and the one before it, waiting for its PubAcks, both end;
            # the rest is left for the runs below, which each need batches with outputs.)
            run = runs.start(batch_size=3000)
            await reach(run, js, 0.1, total)
            await stopped_within_10s(run)
            acked = await acked_seq(js, "ANALYTICS")
            assert (acked, True) == ((await checkpoint_seqs(nc))["ANALYTICS"], acked < total)

            # In the middle of an engine call that holds the event loop: the watchdog ends it.
            run = runs.start({**OFTEN, "SLO_TEST_STALL": "engine:2"}, batch_size=250)
            await run.wait_for_log("test.stalled")
            await stopped_within_10s(run, exit_code=1)
            [forced] = run.logged("processor.stop_forced")
            assert ("stop deadline", True) == (forced["reason"], forced["progress"]["ANALYTICS"]["acked_seq"] < total)

            # Blocked on a publish that never completes: cut off, its batch left unacked. (The
            # first batch with outputs to publish: what is left of the backlog may hold few.)
            run = runs.start({**OFTEN, "SLO_TEST_STALL": "publish:1:1"}, batch_size=250)
            stalled = await run.wait_for_log("test.stalled")
            await stopped_within_10s(run)
            [unfinished] = run.logged("lane.unfinished")
            assert stalled["stream"] == unfinished["stream"] and unfinished["unacked"] is not None

            outputs = await runs.finish(js, last_seqs, OFTEN)
        finally:
            runs.end_all()
        await nc.close()

    assert_same_outputs(uninterrupted, outputs)


async def test_sigterm_with_the_server_frozen_or_gone_exits_within_10s_and_a_restart_loses_nothing(
    uninterrupted, tmp_path
):
    server = EmbeddedServer(tmp_path / "nats")
    url = await server.start()
    runs = Runs(url, tmp_path)
    try:
        nc = await connect(ConnectOptions(url=url))
        js = nc.jetstream()
        last_seqs = await publish_scenario(nc)
        total = last_seqs["ANALYTICS"]

        # Frozen (SIGSTOP): the connection stays open and nothing answers: not the publishes of
        # the batch in hand, not the final checkpoint, not the flush before closing.
        run = runs.start(OFTEN, batch_size=250)
        await reach(run, js, 0.3, total)
        pid = int((tmp_path / "nats" / "nats-server.pid").read_text())
        os.kill(pid, signal.SIGSTOP)
        try:
            await stopped_within_10s(run)
        finally:
            os.kill(pid, signal.SIGCONT)
        assert 1 == len(run.logged("checkpoint.final_failed")), run.tail()

        # Gone: the server stopped; the processor is reconnecting when the signal comes.
        run = runs.start(OFTEN, batch_size=250)
        await reach(run, js, 0.3, total)
        await nc.close()
        await server.stop()
        await stopped_within_10s(run)
        assert 1 == len(run.logged("checkpoint.final_skipped")), run.tail()

        server = EmbeddedServer(tmp_path / "nats", port=int(url.rsplit(":", 1)[1]))
        await server.start()
        nc = await connect(ConnectOptions(url=url))
        outputs = await runs.finish(nc.jetstream(), last_seqs, OFTEN)
        await nc.close()
    finally:
        runs.end_all()
        await server.stop()

    assert_same_outputs(uninterrupted, outputs)
