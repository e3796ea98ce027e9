"""The Kafka source's batching agent, driven by faust's own test utilities (``agent.test_context()``),
no broker: events put on the agent reach the partition lanes as batches, each partition's in offset
order and alone in its batch, records a lane has applied are dropped, a record without a subject is
dead-lettered by its index in the batch, and the engine sees the record timestamp when the payload
has no time.

The expectations are written from the events put, not from the code's outputs.
"""

from __future__ import annotations

import asyncio
import time
from types import SimpleNamespace
from pathlib import Path

import orjson
import pytest
import structlog

from processor.config.load import load_config_text
from processor.kafka.lane import RawRecord
from processor.kafka.source import KafkaSource, _raw

ROOT = Path(__file__).resolve().parents[2]
SECTION = "\nkafka:\n  brokers: [127.0.0.1:9]\n  batch_within: 50ms\n  topics:\n    trade: {field: type}\n"
T0_MS = 1_767_621_600_000


class Sink:
    """Records every delivery: (lane, [(subject, offset)], [(index, reason)], accepted)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, list[tuple[str, int]], list[tuple[int, str]], int]] = []

    async def deliver(self, stream, msgs, out, after_seq=None) -> bool:
        if msgs:
            self.calls.append((stream, [(m.subject, m.offset) for m in msgs],
                               [(r.index, r.reason) for r in out.rejections], out.accepted))
        return True


class NoCheckpoints:
    async def load(self, lane):
        return None

    async def save(self, lane, state):
        raise AssertionError("nothing is checkpointed here")


def _source(sink: Sink) -> KafkaSource:
    config = load_config_text((ROOT / "config" / "slo.yaml").read_text() + SECTION, str(ROOT / "config" / "slo.yaml"))
    return KafkaSource(config, config.kafka, sink, NoCheckpoints(), log=structlog.get_logger("test"),
                       idle_after_s=3600)


def _order(i: int, with_ts: bool = True) -> bytes:
    # As `slo simulate` writes a trade.order.submitted, plus the field the mapping reads.
    body = {"type": "order.submitted", "order_id": f"ord-{i}", "order_type": "market", "symbol": "NVDA", "qty": 5,
            "latency_ms": 10 + i, "status": "ok"}
    if with_ts:
        body["ts"] = T0_MS + 1000 * i
    return orjson.dumps(body)


async def _until(predicate, timeout_s: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.02)


async def test_partitions_reach_their_lanes_in_batches_in_offset_order() -> None:
    sink = Sink()
    source = _source(sink)
    source.open_lane("trade", 0, None, first_offset=0)
    source.open_lane("trade", 1, None, first_offset=0)
    partitions = [0, 1, 0, 1, 1, 0, 0, 1]
    next_offset = {0: 0, 1: 0}
    async with source.agent.test_context() as agent:
        for i, p in enumerate(partitions):
            # faust's test wrapper numbers events 0, 1, 2, ... whatever their partition; Kafka per partition.
            agent.sent_offset = next_offset[p]
            next_offset[p] += 1
            await agent.put(_order(i), partition=p, timestamp=(T0_MS + 1000 * i) / 1000, wait=False)
        await _until(lambda: sum(len(c[1]) for c in sink.calls) == len(partitions))

    by_lane: dict[str, list[int]] = {}
    for lane, records, rejections, accepted in sink.calls:
        by_lane.setdefault(lane, []).extend(offset for _, offset in records)
        assert {"trade.order.submitted"} == {subject for subject, _ in records}
        assert ([], len(records)) == (rejections, accepted)
    assert {"trade-0": [0, 1, 2, 3], "trade-1": [0, 1, 2, 3]} == by_lane
    assert len(sink.calls) < len(partitions)  # batches, not one call per event


async def test_applied_records_are_dropped_and_unmapped_ones_dead_lettered_by_index() -> None:
    sink = Sink()
    source = _source(sink)
    source.open_lane("trade", 0, None, first_offset=2)  # offsets 0 and 1 were applied before
    values = [_order(0), _order(1), _order(2), b'{"latency_ms": 5}', b"not json", _order(5)]
    async with source.agent.test_context() as agent:
        for i, value in enumerate(values):
            await agent.put(value, partition=0, timestamp=(T0_MS + 1000 * i) / 1000, wait=False)
        await _until(lambda: sum(len(c[1]) for c in sink.calls) == 4)

    offsets = [offset for call in sink.calls for _, offset in call[1]]
    rejected = [(call[1][i][1], reason) for call in sink.calls for i, reason in call[2]]
    assert [2, 3, 4, 5] == offsets
    assert [(3, "missing_field"), (4, "not_json")] == rejected
    assert 2 == sum(call[3] for call in sink.calls)
    assert 6 == source.lanes[("trade", 0)].next_offset


async def test_a_payload_without_a_time_takes_the_record_timestamp() -> None:
    sink = Sink()
    source = _source(sink)
    source.open_lane("trade", 0, None, first_offset=0)
    async with source.agent.test_context() as agent:
        for i in range(3):
            await agent.put(_order(i, with_ts=False), partition=0, timestamp=(T0_MS + 7_000 * i) / 1000, wait=False)
        await _until(lambda: sum(len(c[1]) for c in sink.calls) == 3)

    assert T0_MS + 14_000 == source.lanes[("trade", 0)].engine.max_ts_ms


@pytest.mark.parametrize("bad", [b"[]", b'{"type": 3}'])
async def test_the_agent_survives_bad_input(bad: bytes) -> None:
    sink = Sink()
    source = _source(sink)
    source.open_lane("trade", 0, None, first_offset=0)
    async with source.agent.test_context() as agent:
        await agent.put(bad, partition=0, timestamp=T0_MS / 1000, wait=False)
        await agent.put(_order(1), partition=0, timestamp=T0_MS / 1000 + 1, wait=False)
        await _until(lambda: sum(len(c[1]) for c in sink.calls) == 2)

    assert [1] == [call[3] for call in sink.calls if call[3]]


def test_a_tombstone_record_is_an_empty_payload():
    # faust hands a record without a value as None; the engine rejects b"" as not JSON.
    record = _raw(SimpleNamespace(offset=7, key=b"k", value=None, timestamp=1.5))
    assert (7, b"k", b"", 1500) == (record.offset, record.key, record.value, record.timestamp_ms)


async def test_records_fetched_twice_in_one_batch_are_applied_once_in_offset_order() -> None:
    # A lane that opens seeks to its checkpoint while faust's fetcher may already hold records from
    # the committed offset: one batch can then hold a partition's records twice (seen in a
    # rebalance test: the repeated ones came back as late, 2.5 minutes behind the lane's clock).
    sink = Sink()
    source = _source(sink)
    source.open_lane("trade", 0, None, first_offset=0)
    offsets = [0, 1, 2, 0, 1, 2, 3, 4, 3, 5]
    async with source.agent.test_context() as agent:
        for i, offset in enumerate(offsets):
            agent.sent_offset = offset
            await agent.put(_order(offset), partition=0, timestamp=(T0_MS + 1000 * offset) / 1000, wait=False)
        await _until(lambda: source.lanes[("trade", 0)].next_offset == 6)
        await asyncio.sleep(0.2)  # anything else the agent would still hand over

    applied = [offset for call in sink.calls for _, offset in call[1]]
    assert [0, 1, 2, 3, 4, 5] == applied
    assert [] == [r for call in sink.calls for r in call[2]]  # none rejected (late) either


@pytest.mark.parametrize("seeking_for_s", [1.0, 60.0])  # within SEEK_SETTLE_S, and long after
async def test_a_batch_holding_the_lanes_next_offset_after_records_fetched_before_the_seek_applies_from_it(
        seeking_for_s: float) -> None:
    # The lane (next offset 5) sought back while the fetcher held records from offset 8 on: the
    # batch has those, then the seek's own records from 5 on. The partition has no gap (5 is
    # there): what is due is 5 onwards, each once, whether the seek started a moment ago or so
    # long ago that a first record past the next offset is taken for a real gap.
    source = _source(Sink())
    lane = source.open_lane("trade", 0, None, first_offset=5)
    assert 5 == lane.next_offset
    sought: list[int] = []

    async def seek(tp, offset):
        sought.append(offset)

    source._seek = seek  # type: ignore[method-assign]
    now_s = time.monotonic()
    source._seeking[("trade", 0)] = (now_s - seeking_for_s, now_s)
    offsets = [8, 9, 10, 5, 6, 7, 8, 9, 10, 11]
    raws = [RawRecord(offset, b"k", _order(offset), None) for offset in offsets]

    due = await source._in_order(lane, raws)

    assert list(range(5, 12)) == [r.offset for r in due]
    assert ("trade", 0) not in source._seeking
