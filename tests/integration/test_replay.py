"""Replay equals live: `slo run` on a real nats-server consumes a scenario with incidents in two
parts with silences after each (its idle clock moves time, and the events of the second part that
the silence made late are rejected); `slo replay` of the same streams then writes, message for
message, what the live run published to the SLO stream: same subjects, ids, event times and
values, dead letters included. An export of the range replayed from the file says the same."""

from __future__ import annotations

import asyncio
import signal
from collections import Counter

import orjson
import pytest

from processor.bus.connect import ConnectOptions, connect
from processor.bus.embedded import EmbeddedServer
from processor.bus.jsadmin import stream_last_seq
from processor.cli import main
from processor.config.load import load_config
from processor.simulate import Simulator
from processor.simulate.publish import publish
from tests.slorun import (
    CONFIG,
    END_MS,
    INCIDENTS,
    MIN_MS,
    MSG_ID,
    START_MS,
    STREAMS_DIR,
    Runs,
    stream_messages,
    wait_until_acked,
)

pytestmark = pytest.mark.integration

MID_MS = START_MS + 9 * MIN_MS
# Past the 5 s lateness and a 10 s sub-window: the watermark moves beyond the next events' times.
SILENCE_S = 17.0


def _bus_only_names() -> tuple[frozenset, frozenset]:
    """The bus monitor's SLIs and SLOs: live measurements of the bus, which no replay has. (The
    SLIs of the input subjects are in every lane, the bus monitor's among them: its series carry
    ``stream: BUS``.)"""
    config = load_config(CONFIG)
    slis = frozenset(s.name for s in config.slis if s.subject.startswith("bus."))
    return slis, frozenset(s.name for s in config.slos if s.sli in slis)


def _live_key(msg, bus_slis: frozenset, bus_slos: frozenset) -> tuple | None:
    """(subject, id, payload) of a stream lane's output; None for the bus monitor's own."""
    if msg.subject == "slo.probe" or msg.subject.startswith("slo.clock."):
        return None
    if msg.subject.startswith("slo.deadletter."):
        return msg.subject, msg.headers[MSG_ID], msg.data.decode()
    body = orjson.loads(msg.data)
    labels = body.get("labels", {})
    if labels.get("stream") == "BUS" or body.get("slo") in bus_slos:
        return None
    if (body.get("sli") or labels.get("sli")) in bus_slis:
        return None
    return msg.subject, msg.headers[MSG_ID], orjson.dumps(body, option=orjson.OPT_SORT_KEYS).decode()


def _replayed(out_dir) -> Counter:
    seen: Counter = Counter()
    for path in sorted(out_dir.glob("*.ndjson")):
        for line in path.read_bytes().splitlines():
            row = orjson.loads(line)
            data = row["data"] if row["subject"].startswith("slo.deadletter.") else orjson.dumps(
                row["data"], option=orjson.OPT_SORT_KEYS).decode()
            seen[(row["subject"], row["msg_id"], data)] += 1
    return seen


async def _publish_rest(js, events) -> None:
    for start in range(0, len(events), 500):
        await asyncio.gather(*(js.publish(e.subject, orjson.dumps(e.payload)) for e in events[start:start + 500]))


async def test_a_replay_of_the_streams_says_exactly_what_the_live_run_published(tmp_path):
    async with EmbeddedServer(tmp_path / "nats") as server:
        nc = await connect(ConnectOptions(url=server.url))
        js = nc.jetstream()
        runs = Runs(server.url, tmp_path)
        simulator = Simulator(START_MS, seed=8, rate=15.0, incidents=INCIDENTS)
        try:
            run = runs.start()
            await run.wait_for_log("processor.ready")
            first = await publish(nc, simulator, MID_MS, streams_dir=STREAMS_DIR)
            await wait_until_acked(js, {s: await stream_last_seq(nc, s) for s in first.per_stream}, run)
            await asyncio.sleep(SILENCE_S)
            rest = [e for e in Simulator(START_MS, seed=8, rate=15.0, incidents=INCIDENTS).records(END_MS)
                    if e.ts_ms >= MID_MS]
            await _publish_rest(js, rest)
            await wait_until_acked(js, {s: await stream_last_seq(nc, s) for s in first.per_stream}, run)
            await asyncio.sleep(3.0)
            code, _ = await run.signal_and_wait(signal.SIGTERM)
            assert 0 == code, run.tail()
        finally:
            runs.end_all()
        bus = _bus_only_names()
        live = Counter(k for m in await stream_messages(js, "SLO", "slo.>") if (k := _live_key(m, *bus)) is not None)
        moves = await stream_messages(js, "SLO", "slo.clock.>")
        await nc.close()

        out = tmp_path / "replay"
        args = ["--streams-dir", str(STREAMS_DIR), "--nats-url", server.url]
        assert 0 == await asyncio.to_thread(main, ["replay", "--config", str(CONFIG), *args, "--out", str(out)])
        export = tmp_path / "events.ndjson.gz"
        assert 0 == await asyncio.to_thread(main, ["export", *args, "--out", str(export)])

    # A scenario worth comparing: alerts fire and resolve, idle moves happened, silence made
    # events late, and the live run published every message once.
    assert any(s.startswith("slo.alerts.") and '"resolved"' in d for s, _, d in live)
    assert len(moves) > 2
    assert any(s == "slo.deadletter.late" for s, _, _ in live)
    assert {1} == set(live.values())
    assert live == _replayed(out)

    from_file = tmp_path / "from-file"
    assert 0 == main(["replay", "--config", str(CONFIG), "--streams-dir", str(STREAMS_DIR), "--input", str(export),
                      "--out", str(from_file)])
    assert live == _replayed(from_file)
