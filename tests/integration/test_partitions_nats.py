"""Partitions of a hot subject (`slo run --partition I/N --partition-by market.quote.{symbol}`) on a
real nats-server: two partition instances produce, together, exactly the outputs of one instance on
the same events, and still do when one of them is killed (SIGKILL) in the middle of its backlog and
restarted.

The MARKET stream stores each quote with a partition token appended (its subject_transform,
tests/partitionkit.py); which symbol lands in which partition is worked out here with FNV-1a, as
nats-server computes it (NVDA and BTCUSD in 0; AAPL, MSFT and SPY in 1). The scenario has incidents
in both partitions (AAPL's quotes stale, NVDA's quotes stopped) and on the requests, whose SLOs and
budgets partition 0 alone evaluates.
"""

from __future__ import annotations

import asyncio
import signal
from collections import Counter

import orjson
import pytest
import pytest_asyncio
import structlog

from processor.bus.checkpoint import CheckpointStore, decode_checkpoint
from processor.bus.connect import ConnectOptions, connect
from processor.bus.embedded import EmbeddedServer
from processor.bus.streams import load_stream_definitions, provision_streams
from processor.cli import main
from processor.simulate import Incident, Simulator
from processor.simulate.platform import SYMBOLS
from processor.simulate.publish import publish
from tests.partitionkit import (PARTITION_BY, PartitionRun, fnv1a_partition, live_outputs, outputs_without_clock, partition_args,
                                pending, replayed_outputs, wait_consumed, wait_drained, write_config,
                                write_mapping_conf, write_partition_streams, write_streams)
from tests.slorun import END_MS, MIN_MS, START_MS, assert_same_outputs, stream_messages

pytestmark = pytest.mark.integration

COUNT = 2
OFTEN = {"SLO_TEST_CHECKPOINT_INTERVAL_S": "0.2"}
FREQUENT = {"SLO_TEST_CHECKPOINT_INTERVAL_S": "0.02"}  # a checkpoint within the first tenth of a backlog
INCIDENTS = (
    Incident("stale_quotes", START_MS + 3 * MIN_MS, 3 * MIN_MS, "AAPL"),
    Incident("quotes_stop", START_MS + 4 * MIN_MS, 2 * MIN_MS, "NVDA"),
    Incident("latency_spike", START_MS + 2 * MIN_MS, 4 * MIN_MS, "quotes"),
    Incident("outage", START_MS + 5 * MIN_MS, 2 * MIN_MS, "market", magnitude=0.05),
)


async def publish_market(nc, streams_dir) -> None:
    simulator = Simulator(START_MS, seed=8, rate=15.0, incidents=INCIDENTS)
    await publish(nc, simulator, END_MS, streams_dir=streams_dir)


class Scene:
    """A server with the transformed streams and the scenario published; the instances run on it."""

    def __init__(self, tmp, server, nc):
        self.tmp, self.server, self.nc, self.js = tmp, server, nc, nc.jetstream()
        self.config, self.streams = write_config(tmp), write_streams(tmp, COUNT)
        self.runs: list[PartitionRun] = []

    def start(self, index: int | None, hooks=None, batch_size: int = 1000) -> PartitionRun:
        name = "single" if index is None else f"p{index}"
        run = PartitionRun(self.server.url, self.tmp / f"{name}-{len(self.runs)}.log", self.config, self.streams,
                           partition_args(index, COUNT), hooks=hooks, batch_size=batch_size)
        self.runs.append(run)
        return run

    async def stop_all(self) -> None:
        for run in self.runs:
            if run.proc.poll() is None:
                code, took_s = await run.signal_and_wait(15)
                assert (0, True) == (code, took_s < 10), run.tail()


@pytest_asyncio.fixture
async def scene(tmp_path):
    async with EmbeddedServer(tmp_path / "nats") as server:
        nc = await connect(ConnectOptions(url=server.url))
        s = Scene(tmp_path, server, nc)
        await publish_market(nc, s.streams)
        try:
            yield s
        finally:
            for run in s.runs:
                run.ensure_gone()
            await nc.close()


@pytest_asyncio.fixture(scope="module")
async def single(tmp_path_factory):
    """The scenario consumed by one unpartitioned instance: the outputs to equal."""
    tmp = tmp_path_factory.mktemp("single")
    async with EmbeddedServer(tmp / "nats") as server:
        nc = await connect(ConnectOptions(url=server.url))
        s = Scene(tmp, server, nc)
        await publish_market(nc, s.streams)
        try:
            runs = {None: s.start(None)}
            await wait_consumed(s.js, runs, COUNT)
            await s.stop_all()
            outputs = await outputs_without_clock(s.js)
        finally:
            for run in s.runs:
                run.ensure_gone()
            await nc.close()
    # Worth comparing: per-symbol alerts in both partitions' symbols, budgets spent, SLI reports.
    symbols = {orjson.loads(p)["labels"].get("symbol") for (subject, _, p) in outputs.messages
               if subject.startswith("slo.alerts.")}
    assert {"AAPL", "NVDA"} <= symbols
    assert {"firing", "resolved"} == {status for _, _, status, *_ in outputs.alerts}
    assert any(bad > 0 for *_, bad in outputs.budgets)
    assert len(outputs.slis) > 100
    return outputs


async def test_the_stream_stores_each_quote_in_the_partition_nats_server_hashes_its_symbol_to(scene):
    quotes = await stream_messages(scene.js, "MARKET", "market.quote.>")
    assert quotes
    expected = Counter(f"market.quote.{s}.{fnv1a_partition(s, COUNT)}" for s in
                       (orjson.loads(m.data)["symbol"] for m in quotes))
    assert expected == Counter(m.subject for m in quotes)
    assert {0, 1} == {fnv1a_partition(s, COUNT) for s in SYMBOLS}


async def test_two_partitions_produce_together_exactly_the_outputs_of_one_instance(scene, single):
    runs = {0: scene.start(0), 1: scene.start(1)}
    await wait_consumed(scene.js, runs, COUNT)
    # Each partition was delivered exactly its symbols' quotes (and partition 0 the requests too).
    quotes = Counter(fnv1a_partition(m.subject.split(".")[2], COUNT)
                     for m in await stream_messages(scene.js, "MARKET", "market.quote.>"))
    requests = len(await stream_messages(scene.js, "MARKET", "market.request"))
    delivered = {i: (await scene.js.consumer_info("MARKET", f"slo_p{i}of2_market")).delivered.consumer_seq
                 for i in runs}
    assert {0: quotes[0] + requests, 1: quotes[1]} == delivered
    await scene.stop_all()
    assert_same_outputs(single, await outputs_without_clock(scene.js))


async def freeze_mid_backlog(scene: Scene, run: PartitionRun, total: int) -> None:
    """Until partition 1 is half way through its backlog and past its first checkpoint (the
    engine may take half the backlog before the first one); the processor is then frozen
    (SIGSTOP). Each look is taken with it frozen, and it runs only a millisecond between looks:
    running free, it drained the rest of the backlog between a look and the kill, and then in
    the 3 ms it once had between looks, before its first checkpoint (hence FREQUENT for it)."""
    while True:
        assert run.proc.poll() is None, run.tail()
        run.proc.send_signal(signal.SIGSTOP)
        left = await pending(scene.js, 1, COUNT)
        assert left, "partition 1 drained its backlog before its first checkpoint: nothing to kill it in the middle of"
        if left <= total * 0.5 and _checkpointed(await CheckpointStore(scene.nc, key="p1of2").load()):
            return
        run.proc.send_signal(signal.SIGCONT)
        await asyncio.sleep(0.001)


def _checkpointed(raw: bytes | None) -> bool:
    return raw is not None and decode_checkpoint(raw)["MARKET"][0] > 0


async def test_a_partition_killed_mid_backlog_and_restarted_still_gives_the_single_instance_outputs(scene, single):
    # Small batches: the kill must land before the end of a backlog that the engine drains in
    # well under a second in batches of 100.
    p1 = scene.start(1, FREQUENT, batch_size=20)
    await p1.wait_for_log("processor.ready")
    total = await pending(scene.js, 1, COUNT)
    p0 = scene.start(0, OFTEN, batch_size=100)
    await freeze_mid_backlog(scene, p1, total)
    await p1.kill()
    assert 0 < await pending(scene.js, 1, COUNT), "the kill came after the end of the backlog"
    raw = await CheckpointStore(scene.nc, key="p1of2").load()  # the last one it saved
    restarted = scene.start(1, OFTEN, batch_size=100)
    await wait_consumed(scene.js, {0: p0, 1: restarted}, COUNT)
    await scene.stop_all()
    assert_same_outputs(single, await outputs_without_clock(scene.js))
    # The restart resumed from partition 1's own checkpoint (key p1of2), after the sequence it holds.
    restored = restarted.logged("checkpoint.restored")
    assert [("MARKET", decode_checkpoint(raw)["MARKET"][0])] == [(r["stream"], r["after_seq"]) for r in restored]


async def test_with_a_stream_per_partition_each_reads_its_own_stream_unfiltered_with_the_same_outputs(tmp_path, single):
    """The layout of docs/scaling.md's "One stream per partition": the server's account mapping
    appends the partition token as the quotes are published, each partition's quotes have a stream
    of their own (MARKET_P<I>), MARKET holds the other market subjects; each partition reads its
    stream through an unfiltered durable, and together they give the single instance's outputs."""
    streams, conf = write_partition_streams(tmp_path, COUNT), write_mapping_conf(tmp_path, COUNT)
    async with EmbeddedServer(tmp_path / "nats", extra_args=("-c", str(conf))) as server:
        nc = await connect(ConnectOptions(url=server.url))
        js = nc.jetstream()
        runs = {}
        try:
            # As publishers send them (core publish, in order), through the server's mapping.
            await provision_streams(nc, load_stream_definitions(streams), structlog.get_logger("test"))
            events = [e for e in Simulator(START_MS, seed=8, rate=15.0, incidents=INCIDENTS).records(END_MS)
                      if e.subject.startswith("market.")]
            for event in events:
                await nc.publish(event.subject, orjson.dumps(event.payload))
            await nc.flush()
            config = write_config(tmp_path)
            runs = {i: PartitionRun(server.url, tmp_path / f"p{i}.log", config, streams, partition_args(i, COUNT))
                    for i in range(COUNT)}
            durables = {("MARKET_P0", "slo_p0of2_market_p0"), ("MARKET", "slo_p0of2_market"),
                        ("MARKET_P1", "slo_p1of2_market_p1")}
            await wait_drained(js, runs, durables)
            # Each partition's stream holds exactly its symbols' quotes, read whole (no filter).
            for i in range(COUNT):
                quotes = await stream_messages(js, f"MARKET_P{i}", "market.quote.>")
                assert quotes and {i} == {fnv1a_partition(m.subject.split(".")[2], COUNT) for m in quotes}
                assert {i} == {int(m.subject.split(".")[3]) for m in quotes}
                info = await js.consumer_info(f"MARKET_P{i}", f"slo_p{i}of2_market_p{i}")
                assert (None, None, len(quotes)) == (info.config.filter_subject, info.config.filter_subjects,
                                                     info.delivered.consumer_seq)
            assert not await stream_messages(js, "MARKET", "market.quote.>")
            stored = [len(await stream_messages(js, s, "market.>")) for s in ("MARKET", "MARKET_P0", "MARKET_P1")]
            assert len(events) == sum(stored)
            info = await js.consumer_info("MARKET", "slo_p0of2_market")
            assert "market.request" in (info.config.filter_subject, *(info.config.filter_subjects or ()))
            for run in runs.values():
                code, _ = await run.signal_and_wait(15)
                assert 0 == code, run.tail()
            assert_same_outputs(single, await outputs_without_clock(js))
            # Each partition replayed from its own stream, with its own time moves: the same.
            live, replayed = live_outputs(await stream_messages(js, "SLO", "slo.>")), Counter()
            for i in range(COUNT):
                out = tmp_path / f"replay-p{i}"
                assert 0 == await asyncio.to_thread(main, [
                    "replay", "--config", str(config), "--streams-dir", str(streams), "--nats-url", server.url,
                    "--out", str(out), *partition_args(i, COUNT)])
                replayed += replayed_outputs(out)
            assert live == replayed
        finally:
            for run in runs.values():
                run.ensure_gone()
            await nc.close()


async def test_with_the_rest_apart_partitions_read_the_quotes_alone_and_a_rest_instance_the_others(scene, single):
    """One config for all: `--rest-apart` partitions evaluate the quote SLIs alone (partition 0's
    durable filtered to its quotes only) and `--partition rest` the request SLIs and SLOs; together
    the single instance's outputs, and each one's replay gives them back."""
    shares = {0: ["--rest-apart"], 1: ["--rest-apart"], "rest": []}
    runs = {i: PartitionRun(scene.server.url, scene.tmp / f"apart-{i}.log", scene.config, scene.streams,
                            ["--partition", f"{i}/{COUNT}" if i != "rest" else "rest", "--partition-by", PARTITION_BY,
                             *extra]) for i, extra in shares.items()}
    scene.runs += runs.values()
    durables = {("MARKET", "slo_p0of2_market"), ("MARKET", "slo_p1of2_market"), ("MARKET", "slo_rest_market")}
    await wait_drained(scene.js, runs, durables)
    filters = {}
    for _, name in sorted(durables):
        info = await scene.js.consumer_info("MARKET", name)
        filters[name] = info.config.filter_subject or " ".join(info.config.filter_subjects or ())
    assert {"slo_p0of2_market": "market.quote.*.0", "slo_p1of2_market": "market.quote.*.1",
            "slo_rest_market": "market.request"} == filters
    await scene.stop_all()
    assert_same_outputs(single, await outputs_without_clock(scene.js))
    live, replayed = live_outputs(await stream_messages(scene.js, "SLO", "slo.>")), Counter()
    for i, extra in shares.items():
        out = scene.tmp / f"replay-{i}"
        assert 0 == await asyncio.to_thread(main, [
            "replay", "--config", str(scene.config), "--streams-dir", str(scene.streams), "--nats-url",
            scene.server.url, "--out", str(out), "--partition", f"{i}/{COUNT}" if i != "rest" else "rest",
            "--partition-by", PARTITION_BY, *extra])
        replayed += replayed_outputs(out)
    assert live == replayed
