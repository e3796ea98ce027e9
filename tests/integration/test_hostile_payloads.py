"""Hostile payloads end to end on a real nats-server, with the shipped config.

Two runs on two fresh servers: the reference gets the good events and the odd-but-possibly-usable
ones (tests/hostile.py); the hostile run gets the same plus garbage mixed in at every kind of
place, and its processor is killed (connection closed, no checkpoint) part way and restarted, so
every message is delivered again. The hostile run must not crash or stall, must dead-letter each
garbage message exactly once, unchanged, on ``slo.deadletter.<reason>`` with the reason the
garbage was made for, count it by that reason, and publish exactly the reference's outputs.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import orjson
import pytest

from processor.bus.connect import ConnectOptions, connect
from processor.bus.embedded import EmbeddedServer
from processor.bus.jsadmin import stream_last_seq
from processor.bus.streams import load_stream_definitions, provision_streams
from processor.config.load import load_config
from processor.config.parse import subject_pattern_matches
from processor.runtime.processor import Processor
from tests.hostile import FIELDS, Item, far_future_rejected, timeline
from tests.integration.test_processor import stream_messages

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
DEFINITIONS = load_stream_definitions(ROOT / "streams")
# Without the bus monitor: its lane measures the wall clock, which no two runs share.
CONFIG = load_config(ROOT / "config" / "slo.yaml").model_copy(update={"bus_monitor": None})
STREAM_OF = {"analytics": "ANALYTICS", "trade": "TRADE", "market": "MARKET"}


class LogRecorder:
    """A logger that keeps (level, event, fields) of every line."""

    def __init__(self) -> None:
        self.lines: list[tuple[str, str, dict]] = []

    def __getattr__(self, level: str):
        return lambda event, **fields: self.lines.append((level, event, fields))


async def publish_in_order(nc, items: list[Item]) -> dict[str, int]:
    """Core-publish every item in order on one connection; returns the last sequence per stream
    once the streams hold them all."""
    last: dict[str, int] = {}
    for i, item in enumerate(items):
        await nc.publish(item.subject, item.data)
        stream = STREAM_OF[item.subject.split(".")[0]]
        last[stream] = last.get(stream, 0) + 1
        if i % 200 == 199:
            await nc.flush()
    await nc.flush()
    for stream, seq in last.items():
        await wait_for(lambda s=stream, q=seq: stream_last_seq(nc, s), lambda stored, q=seq: stored >= q)
    return last


async def wait_for(read, done, timeout_s: float = 60.0):
    """Poll ``read()`` (a value or an awaitable) until ``done(value)``."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        value = read()
        if asyncio.iscoroutine(value):
            value = await value
        if done(value):
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out; last value {value!r}")
        await asyncio.sleep(0.05)


async def start(url: str, log: LogRecorder, batch_size: int = 100):
    nc = await connect(ConnectOptions(url=url, name="hostile-test"))
    proc = Processor(CONFIG, nc, DEFINITIONS, batch_size=batch_size, checkpoint_interval_s=3600,
                     idle_after_s=3600, log=log)
    await proc.start()
    return nc, proc, asyncio.create_task(proc.run())


async def applied_through(proc: Processor, last: dict[str, int]) -> None:
    await wait_for(lambda: {s: proc.lanes[s].stats.last_seq for s in last}, lambda got: all(got[s] >= q for s, q in last.items()))


async def run(tmp: Path, items: list[Item], *, crash: bool):
    """Publish the items, process them (crashing once if asked), and return what the last
    processor counted and logged, and every message of the SLO stream."""
    async with EmbeddedServer(tmp) as server:
        admin = await connect(ConnectOptions(url=server.url, name="hostile-admin"))
        await provision_streams(admin, DEFINITIONS, LogRecorder())
        max_payload = admin.max_payload
        last = await publish_in_order(admin, items)
        if crash:
            nc, proc, task = await start(server.url, LogRecorder(), batch_size=20)
            await wait_for(lambda: proc.lanes["ANALYTICS"].stats.last_seq, lambda seq: seq >= 100)
            await nc.close()  # the crash: no final checkpoint, so the restart reads every stream again
            proc.stop()
            await asyncio.wait_for(task, 30)
        log = LogRecorder()
        nc, proc, task = await start(server.url, log)
        await applied_through(proc, last)
        proc.stop()
        await asyncio.wait_for(task, 30)  # raises if a lane crashed
        assert task.exception() is None
        messages = await stream_messages(admin.jetstream(), "SLO", "slo.>")
        await nc.close()
        await admin.close()
    return proc, log, messages, max_payload


def stream_seqs(items: list[Item]) -> list[tuple[str, int]]:
    """(stream, sequence) of each item, in publish order on fresh streams."""
    seq: Counter = Counter()
    out = []
    for item in items:
        stream = STREAM_OF[item.subject.split(".")[0]]
        seq[stream] += 1
        out.append((stream, seq[stream]))
    return out


def watched_names() -> set[str]:
    """SLIs reading the subjects of the timeline, and their SLOs: their outputs are compared."""
    subjects = {"analytics.gateway.request", "trade.order.submitted", "market.quote.AAPL"}
    slis = {s.name for s in CONFIG.slis if any(subject_pattern_matches(s.subject, x) for x in subjects)}
    return slis | {s.name for s in CONFIG.slos if s.sli in slis}


def outputs(messages: list, names: set[str]) -> list[tuple[str, bytes]]:
    """Alerts, SLI values, budgets and actions about ``names``, sorted."""
    out = []
    for m in messages:
        if m.subject.startswith("slo.deadletter."):
            continue
        body = orjson.loads(m.data)
        about = {body.get("sli"), body.get("slo"), body.get("labels", {}).get("sli")}
        if about & names:
            out.append((m.subject, m.data))
    return sorted(out)


def dead_letters(messages: list) -> dict[tuple[str, int], list]:
    out: dict[tuple[str, int], list] = {}
    for m in messages:
        if m.subject.startswith("slo.deadletter."):
            out.setdefault((m.headers["Slo-Stream"], int(m.headers["Slo-Stream-Seq"])), []).append(m)
    return out


def assert_dead_lettered_as_made(item: Item, letter, max_payload: int) -> None:
    headers = letter.headers
    assert (f"slo.deadletter.{item.reason}", item.reason, item.subject) == (
        letter.subject, headers["Slo-Reason"], headers["Slo-Original-Subject"])
    if "Slo-Original-Size" in headers:  # only a message too large to carry headers besides
        assert (len(item.data), True) == (int(headers["Slo-Original-Size"]), item.data.startswith(letter.data))
        assert len(item.data) + 100 > max_payload > len(letter.data)
    else:
        assert item.data == letter.data


@pytest.mark.parametrize("far_future", [
    False,
    pytest.param(True, marks=pytest.mark.skipif(
        not far_future_rejected(),
        reason="needs the clock-skew policy of issue 8 (reason 'future'); without it one such event moves "
               "the watermark years ahead and the lane stalls closing boundaries")),
])
async def test_garbage_is_dead_lettered_once_and_changes_no_output(tmp_path, far_future):
    max_payload = 1024 * 1024  # nats-server's default, which EmbeddedServer keeps
    reference_items = timeline(max_payload, with_garbage=False)
    hostile_items = timeline(max_payload, with_garbage=True, far_future=far_future)
    reference, _, ref_messages, _ = await run(tmp_path / "reference", reference_items, crash=False)
    hostile, log, messages, server_max = await run(tmp_path / "hostile", hostile_items, crash=True)
    assert max_payload == server_max

    names = watched_names()
    expected = outputs(ref_messages, names)
    assert any(s.startswith("slo.alerts.") for s, _ in expected)  # the comparison has alerts in it
    assert expected == outputs(messages, names)

    # Every message dead-lettered at most once; each garbage message exactly once, as made.
    letters = dead_letters(messages)
    assert [] == [key for key, group in letters.items() if len(group) != 1]
    place = dict(zip(stream_seqs(hostile_items), hostile_items, strict=True))
    garbage = [(key, item) for key, item in place.items() if item.kind == "garbage"]
    assert [] == [item for key, item in garbage if key not in letters]
    for key, item in garbage:
        assert_dead_lettered_as_made(item, letters[key][0], max_payload)
    at_the_limit = [letters[key][0] for key, item in garbage if len(item.data) > max_payload - 100]
    assert 2 == len(at_the_limit) and all("Slo-Original-Size" in m.headers for m in at_the_limit)
    assert [] == [place[key] for key in letters if place[key].kind == "good"]

    # The odd-but-usable items are dead-lettered as in the reference run: garbage changed nothing.
    ref_letters = dead_letters(ref_messages)
    ref_place = dict(zip(stream_seqs(reference_items), reference_items, strict=True))
    assert sorted((ref_place[k].subject, ref_place[k].data, g[0].subject) for k, g in ref_letters.items()) == sorted(
        (place[k].subject, place[k].data, g[0].subject) for k, g in letters.items() if place[k].kind == "shared")

    # Counted by reason: the restarted processor read everything once, garbage included.
    made = Counter(item.reason for _, item in garbage)
    assert made == _rejected(hostile) - _rejected(reference)
    assert len(letters) == sum(lane.stats.rejected for lane in hostile.lanes.values())
    logged = sum(fields["count"] for _, event, fields in log.lines if event == "events.rejected")
    assert len(letters) == logged


def _rejected(proc: Processor) -> Counter:
    counted: Counter = Counter()
    for lane in proc.lanes.values():
        counted.update(lane.engine.rejected)
    return counted


def test_the_timeline_covers_every_field_the_shipped_config_reads():
    for subject, fields in FIELDS.items():
        read = set()
        for sli in CONFIG.slis:
            if subject_pattern_matches(sli.subject, subject):
                read |= {v for k, v in sli.model_dump().items() if k.endswith("_field") and v} | set(sli.labels)
                read |= {f for p in sli.predicates() for f in p.fields}
        assert set(fields) == read, subject
