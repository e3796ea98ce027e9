"""Replay equals live for a partitioned deployment, time moves included: two `slo run --partition
I/2` instances on a real nats-server consume a scenario in two parts with a silence after the
first (each instance's idle clock moves its engine's time, and the second part's events the
silence made late are dead-lettered); each partition's time moves are stored apart
(``slo.clock.MARKET.p<I>of2``, ids naming the partition, where two partitions' moves at the same
boundary used to share an id and the SLO stream kept one); then `slo replay --partition I/2` of
each partition, from the streams and from an export file, writes together, message for message,
what the two instances published.
"""

from __future__ import annotations

import asyncio
from collections import Counter

import orjson
import pytest

from processor.bus.connect import ConnectOptions, connect
from processor.bus.embedded import EmbeddedServer
from processor.cli import main
from processor.simulate import Simulator
from tests.partitionkit import (PARTITION_BY, PartitionRun, live_outputs, partition_args, replayed_outputs,
                                wait_consumed, write_config, write_streams)
from tests.slorun import INCIDENTS, MIN_MS, MSG_ID, START_MS, stream_messages

pytestmark = pytest.mark.integration

COUNT = 2
# The AAPL quotes are stale from minute 5 to 8 (INCIDENTS): its alerts fire before the silence
# and resolve after it.
MID_MS = START_MS + 7 * MIN_MS
END_MS = START_MS + 11 * MIN_MS
# Past the 5 s lateness and a 10 s sub-window: the watermark moves beyond the next events' times.
SILENCE_S = 17.0


def _market(until_ms: int, from_ms: int = 0) -> list:
    """The scenario's MARKET events (the only stream the partitioned config reads)."""
    return [e for e in Simulator(START_MS, seed=8, rate=15.0, incidents=INCIDENTS).records(until_ms)
            if e.ts_ms >= from_ms and e.subject.startswith("market.")]


async def _publish(js, events) -> None:
    for start in range(0, len(events), 500):
        await asyncio.gather(*(js.publish(e.subject, orjson.dumps(e.payload)) for e in events[start:start + 500]))


async def _live_run(tmp, server, nc, config, streams) -> None:
    """The two partitions consume the first part, idle through the silence, then the rest."""
    js = nc.jetstream()
    runs = {i: PartitionRun(server.url, tmp / f"p{i}.log", config, streams, partition_args(i, COUNT))
            for i in range(COUNT)}
    try:
        for run in runs.values():  # each provisions the streams (with the transform) before it is ready
            await run.wait_for_log("processor.ready", 60)
        await _publish(js, _market(MID_MS))
        await wait_consumed(js, runs, COUNT)
        await asyncio.sleep(SILENCE_S)
        await _publish(js, _market(END_MS, MID_MS))
        await wait_consumed(js, runs, COUNT)
        await asyncio.sleep(3.0)
        for run in runs.values():
            code, _ = await run.signal_and_wait(15)
            assert 0 == code, run.tail()
    finally:
        for run in runs.values():
            run.ensure_gone()


async def test_each_partition_replayed_with_its_own_time_moves_gives_what_the_partitions_published(tmp_path):
    config, streams = write_config(tmp_path), write_streams(tmp_path, COUNT)
    async with EmbeddedServer(tmp_path / "nats") as server:
        nc = await connect(ConnectOptions(url=server.url))
        js = nc.jetstream()
        await _live_run(tmp_path, server, nc, config, streams)
        stored = await stream_messages(js, "SLO", "slo.>")
        await nc.close()
        live = live_outputs(stored)
        clock = [m for m in stored if m.subject.startswith("slo.clock.")]

        args = ["--config", str(config), "--streams-dir", str(streams), "--nats-url", server.url]
        replayed, summaries = Counter(), {}
        for i in range(COUNT):
            out = tmp_path / f"replay-p{i}"
            assert 0 == await asyncio.to_thread(main, ["replay", *args, "--out", str(out), *partition_args(i, COUNT)])
            replayed += replayed_outputs(out)
            summaries[i] = orjson.loads((out / "summary.json").read_bytes())
        export = tmp_path / "events.ndjson.gz"
        assert 0 == await asyncio.to_thread(main, ["export", "--streams-dir", str(streams), "--nats-url", server.url,
                                                   "--out", str(export)])

    # Each partition's moves on its own subject, under ids naming it; both moved time through the
    # silence, and at boundaries the other also closed (the ids that used to collide).
    moves = [orjson.loads(m.data) for m in clock]
    assert {f"slo.clock.MARKET.p{i}of{COUNT}" for i in range(COUNT)} == {m.subject for m in clock}
    assert all(m.headers[MSG_ID] == f"clock-MARKET-{b['partition']}-{b['closedThroughMs']}"
               and m.subject.endswith(b["partition"]) for m, b in zip(clock, moves, strict=True))
    by_partition = {tag: {b["closedThroughMs"] for b in moves if b["partition"] == tag} for tag in ("p0of2", "p1of2")}
    assert by_partition["p0of2"] & by_partition["p1of2"], by_partition
    # Each replay made its own partition's moves, and read only its partition's messages.
    assert {i: len([b for b in moves if b["partition"] == f"p{i}of2"]) for i in range(COUNT)} == \
        {i: s["streams"]["MARKET"]["time_moves"] for i, s in summaries.items()}
    assert {f"p{i}of2" for i in range(COUNT)} == {s["partition"] for s in summaries.values()}
    # A scenario worth comparing: alerts fire and resolve, silence made events late.
    assert any(s.startswith("slo.alerts.") and '"resolved"' in d for s, _, d in live)
    assert any(s == "slo.deadletter.late" for s, _, _ in live)
    assert {1} == set(live.values())
    assert live == replayed

    from_file = Counter()
    for i in range(COUNT):
        out = tmp_path / f"file-p{i}"
        assert 0 == main(["replay", "--config", str(config), "--streams-dir", str(streams), "--input", str(export),
                          "--out", str(out), "--partition", f"{i}/{COUNT}", "--partition-by", PARTITION_BY])
        from_file += replayed_outputs(out)
    assert live == from_file
