"""A 3-node NATS cluster losing a node, and the processor killed anywhere, lose nothing: `slo run`
(a real process, given every node's URL) consumes a scenario with incidents from R3 streams while
the node leading a stream it reads, then the node leading the SLO stream, is stopped and started
again, or while the processor itself is killed (-9) at seeded-random points; the SLO stream then
holds exactly the outputs of an uninterrupted run on the same events, each message once
(tests/slorun.py compares them: alert history, budget totals, SLI values).

The cluster comes from tests/clusterkit.py; the figures (time to resume after a leader loss) are
printed with -s and written down in docs/availability.md.
"""

from __future__ import annotations

import asyncio
import random
import signal
import time

import pytest
import pytest_asyncio

from processor.bus import _jsapi
from processor.errors import BusError
from processor.vocabulary import durable_name
from tests.clusterkit import Cluster
from tests.slorun import (
    uninterrupted_run,
    Outputs,
    Runs,
    SloRun,
    acked_seq,
    assert_same_outputs,
    checkpoint_seqs,
    publish_scenario,
    slo_outputs,
    wait_until_acked,
)

pytestmark = pytest.mark.integration

OFTEN = {"SLO_TEST_CHECKPOINT_INTERVAL_S": "0.2"}
READ = "ANALYTICS"  # the stream with most of the scenario's events
READ_CONSUMER = f"{READ}/{durable_name('slo', READ)}"
PROCESSOR = "slo-processor"  # the processor's connection name (ConnectOptions.name)


@pytest_asyncio.fixture(scope="module")
async def uninterrupted(tmp_path_factory) -> Outputs:
    """The scenario consumed by one run that nothing interrupts, on a single server."""
    outputs, _ = await uninterrupted_run(tmp_path_factory.mktemp("uninterrupted"))
    assert {"firing", "resolved"} == {status for _, _, status, *_ in outputs.alerts}
    assert any(bad > 0 for *_, bad in outputs.budgets)
    return outputs


async def scenario_on(cluster: Cluster, nc) -> dict[str, int]:
    """The scenario published into R3 streams (provisioned for 3 nodes); each stream's last seq."""
    last_seqs = await publish_scenario(nc)
    for stream in last_seqs:
        info = await cluster.stream_info(nc, stream)
        assert 3 == info["config"]["num_replicas"], stream
    return last_seqs


async def reach(run: SloRun, js, fraction: float, total: int, *, hold: bool = False) -> int:
    """Until ``READ`` is acked ``fraction`` of the way from where this run started; the ack floor.
    ``hold``: then freeze the processor (SIGSTOP; ``lose_leader`` thaws it), so that a leader is
    lost with the backlog not yet consumed: unfrozen, the processor drains the rest of ``READ``
    faster than a leader can be moved and stopped, and would leave no progress to wait for."""
    await run.wait_for_log("processor.ready")
    start = await acked_seq(js, READ)
    while (acked := await acked_seq(js, READ)) < start + fraction * (total - start):
        assert run.proc.poll() is None, run.tail()
        await asyncio.sleep(0.005)
    if hold:
        run.proc.send_signal(signal.SIGSTOP)
    return acked


async def acked_past(run: SloRun, nc, seq: int, timeout_s: float = 30.0) -> float:
    """Seconds until ``READ`` is acked beyond ``seq``: the processor is consuming again. (Asked
    with a short timeout, so that the figure is the processor's, not our client's.)"""
    started_s = time.monotonic()
    subject = f"{_jsapi.API_PREFIX}.CONSUMER.INFO.{READ}.{durable_name('slo', READ)}"
    while True:
        try:
            info = await _jsapi.request(nc, subject, what="ack floor", timeout_s=0.25)
            if info["ack_floor"]["stream_seq"] > seq:
                return time.monotonic() - started_s
        except BusError:
            pass  # no consumer leader yet, or our client reconnecting
        assert run.proc.poll() is None, run.tail()
        assert time.monotonic() - started_s < timeout_s, f"no progress within {timeout_s:g} s: {run.tail()}"
        await asyncio.sleep(0.02)


async def lose_leader(cluster: Cluster, nc, run: SloRun, stream: str, *, kill: bool,
                      with_it: tuple[str, ...] = ()) -> dict:
    """Stop (or kill) the node leading ``stream`` while the processor consumes; until the stream
    has a new leader and the processor acks again; then the node is started again.

    ``with_it``: streams (``"SLO"``) or consumers (``"ANALYTICS/slo_analytics"``) whose leaders
    are first moved to the node the processor is connected to, which then leads ``stream`` too:
    the processor loses its server and every leader it talks to at once.
    """
    js = nc.jetstream()
    if with_it:
        leader = cluster.connected_node(PROCESSOR)
        assert leader is not None, "the processor is connected to no node"
        for asset in (stream, *with_it):
            await cluster.move_leader(nc, asset, leader)
    else:
        leader = await cluster.wait_stream_leader(nc, stream)
    acked = await acked_seq(js, READ)
    started_s = time.monotonic()
    await (cluster.kill_node(leader) if kill else cluster.stop_node(leader))
    run.proc.send_signal(signal.SIGCONT)  # frozen by ``reach(hold=True)``, or not: harmless
    new_leader = await cluster.wait_stream_leader(nc, stream, not_on=leader)
    elected_s = time.monotonic() - started_s
    resumed_s = await acked_past(run, nc, acked) + elected_s
    await cluster.restart_node(leader)
    figures = {"stream": stream, "with": with_it, "how": "SIGKILL" if kill else "SIGTERM", "old": f"n{leader}",
               "new": f"n{new_leader}", "elected_s": round(elected_s, 2), "resumed_s": round(resumed_s, 2)}
    print("leader loss:", figures)
    return figures


def explain(expected: Outputs, actual: Outputs) -> None:
    """Print (-s) the first messages one run stored and the other did not: which outputs a
    failure changed says where to look (a time move: the idle clock; a budget: events lost)."""
    missing = expected.messages - actual.messages
    extra = actual.messages - expected.messages
    for what, diff in (("missing", missing), ("extra", extra)):
        for (subject, msg_id, data), n in sorted(diff.items())[:20]:
            print(what, subject, msg_id, n, data[:300])


async def test_losing_the_leader_of_a_read_stream_and_of_the_slo_stream_loses_nothing(uninterrupted, tmp_path):
    async with Cluster(tmp_path / "cluster") as cluster:
        nc = await cluster.connect()
        js = nc.jetstream()
        last_seqs = await scenario_on(cluster, nc)
        total = last_seqs[READ]
        runs = Runs(cluster.url, tmp_path)
        try:
            run = runs.start(OFTEN, batch_size=250)
            await reach(run, js, 0.25, total)
            # What the processor provisions itself is replicated on all three nodes too.
            for stream in ("SLO", "KV_slo_checkpoints"):
                assert 3 == (await cluster.stream_info(nc, stream))["config"]["num_replicas"], stream
            await reach(run, js, 0, total, hold=True)
            await lose_leader(cluster, nc, run, READ, kill=False, with_it=(READ_CONSUMER,))
            await reach(run, js, 0.2, total, hold=True)
            await lose_leader(cluster, nc, run, "SLO", kill=False)
            await wait_until_acked(js, last_seqs, run)
            code, took_s = await run.signal_and_wait(signal.SIGTERM)
            assert (0, True) == (code, took_s < 10), run.tail()
            outputs = await slo_outputs(js)
        finally:
            runs.end_all()
            await nc.close()
    explain(uninterrupted, outputs)
    assert_same_outputs(uninterrupted, outputs)


async def test_sigkill_of_the_processor_at_random_points_and_of_a_leader_node_loses_nothing(
    uninterrupted, tmp_path
):
    rng = random.Random(13)
    async with Cluster(tmp_path / "cluster") as cluster:
        nc = await cluster.connect()
        js = nc.jetstream()
        last_seqs = await scenario_on(cluster, nc)
        total = last_seqs[READ]
        runs = Runs(cluster.url, tmp_path)
        try:
            # In the middle of publishing a batch's outputs: part stored, the batch unacked.
            stall = f"publish:{rng.randint(3, 10)}:{rng.randint(1, 10)}"
            run = runs.start({**OFTEN, "SLO_TEST_STALL": stall}, batch_size=250)
            stalled = await run.wait_for_log("test.stalled")
            await run.kill()
            assert 0 < stalled["published"] < stalled["of"]

            # Anywhere in the pull / apply / publish / ack / checkpoint cycle.
            run = runs.start(OFTEN, batch_size=250)
            await reach(run, js, rng.uniform(0.1, 0.4), total)
            await asyncio.sleep(rng.uniform(0, 0.05))
            await run.kill()
            assert await acked_seq(js, READ) < total, "the kill came after the end of the backlog"
            assert (await checkpoint_seqs(nc) or {}).get(READ, 0) > 0

            # The processor's node killed too, leading the stream it reads, its consumer and the SLO
            # stream, while a restarted processor catches up.
            run = runs.start(OFTEN, batch_size=250)
            await reach(run, js, 0.2, total, hold=True)
            await lose_leader(cluster, nc, run, READ, kill=True, with_it=(READ_CONSUMER, "SLO"))
            await wait_until_acked(js, last_seqs, run)
            code, took_s = await run.signal_and_wait(signal.SIGTERM)
            assert (0, True) == (code, took_s < 10), run.tail()
            outputs = await slo_outputs(js)
        finally:
            runs.end_all()
            await nc.close()
    explain(uninterrupted, outputs)
    assert_same_outputs(uninterrupted, outputs)
