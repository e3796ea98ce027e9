"""Kafka topics' stored history, read for a replay, a backtest or an export (docs/kafka-outputs.md).

Like ``bus/history.py`` for JetStream: no consumer group is joined and no offset is committed (the
partitions are assigned by hand), so a replay never disturbs a live processor's group. Each
partition is read from a start (an offset, or the first record at or after a time: Kafka's
``ListOffsets`` by timestamp) to an end fixed when the read begins (the partition's end then, or
the first record at or after ``to_ms + 1``): what arrives during the read is not part of it.

The range is by record timestamp: a record of a read partition outside ``[from_ms, to_ms]`` is left
out even where the offsets found put it inside (a producer's clock is not the partition's order).

Records of every partition of every topic are merged into one sequence ordered by record timestamp
(ties: topic, partition, offset), the order in which the events happened as far as their
producers' clocks say. Within a partition Kafka's order is kept whatever the timestamps (a
partition's records are never reordered), so the merge takes the smallest head among partitions.
"""

from __future__ import annotations

__all__ = ["HistoryRecord", "PartitionRange", "parse_offsets", "read_topics"]

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from processor.errors import BusError, ProcessorError

# A read that gets nothing for this long while partitions still have records to give has lost
# the broker.
_STALLED_S = 30.0
_FETCH_WAIT_MS = 500


class HistoryRecord(NamedTuple):
    topic: str
    partition: int
    offset: int
    ts_ms: int  # the record timestamp (CreateTime: the producer's; LogAppendTime: the broker's)
    key: bytes | None
    value: bytes
    headers: tuple[tuple[str, bytes], ...]


@dataclass(frozen=True, slots=True)
class PartitionRange:
    """Which offsets of one partition a read covers: ``start`` up to, not including, ``stop``;
    ``earliest``: the partition's first offset still held."""

    topic: str
    partition: int
    start: int
    stop: int
    earliest: int

    @property
    def records(self) -> int:
        return max(self.stop - self.start, 0)


def parse_offsets(text: str) -> dict[tuple[str, int] | None, int]:
    """``--from-offset``: ``N`` (every partition from offset N) or ``topic:partition:N,…``. Key None
    stands for every partition."""
    text = text.strip()
    if text.isdigit():
        return {None: int(text)}
    out: dict[tuple[str, int] | None, int] = {}
    for item in text.split(","):
        topic, _, rest = item.strip().rpartition(":")
        topic, _, partition = topic.rpartition(":")
        if not (topic and partition.isdigit() and rest.isdigit()):
            raise ValueError(f"--from-offset {text!r}: expected N or topic:partition:offset[,…] such as trade:0:1200, "
                             f"got {item.strip()!r}")
        out[(topic, int(partition))] = int(rest)
    return out


async def _ranges(consumer: Any, topics: Sequence[str], from_ms: int | None, to_ms: int | None,
                  from_offsets: Mapping[tuple[str, int] | None, int]) -> list[PartitionRange]:
    from aiokafka import TopicPartition

    known = await consumer.topics()
    missing = [t for t in topics if t not in known]
    if missing:
        raise ProcessorError(f"no topic {', '.join(missing)} on the Kafka brokers (they have: {', '.join(sorted(known)) or 'none'})")
    tps = [TopicPartition(t, p) for t in topics for p in sorted(consumer.partitions_for_topic(t) or ())]
    unknown = [k for k in from_offsets if k is not None and TopicPartition(*k) not in tps]
    if unknown:
        raise ProcessorError(f"--from-offset: no partition {', '.join(f'{t}:{p}' for t, p in unknown)}")
    earliest = await consumer.beginning_offsets(tps)
    latest = await consumer.end_offsets(tps)
    starts = {tp: earliest[tp] for tp in tps}
    if from_ms is not None:
        found = await consumer.offsets_for_times({tp: from_ms for tp in tps})
        starts = {tp: (latest[tp] if found[tp] is None else found[tp].offset) for tp in tps}
    for tp in tps:
        offset = from_offsets.get((tp.topic, tp.partition), from_offsets.get(None))
        if offset is not None:
            if offset < earliest[tp]:
                raise ProcessorError(f"--from-offset: {tp.topic}:{tp.partition} no longer holds offset {offset}: its "
                                     f"earliest is {earliest[tp]} (retention); start there or later")
            starts[tp] = min(offset, latest[tp])
    stops = dict(latest)
    if to_ms is not None:
        after = await consumer.offsets_for_times({tp: to_ms + 1 for tp in tps})
        # A stop at or before the start is not taken: the read goes on to the end, filtering, which
        # is right in any case (the test broker answers every time with offset 0, docs/kafka-outputs.md).
        stops = {tp: latest[tp] if after[tp] is None or after[tp].offset <= starts[tp]
                 else min(after[tp].offset, latest[tp]) for tp in tps}
    return [PartitionRange(tp.topic, tp.partition, starts[tp], stops[tp], earliest[tp]) for tp in tps]


async def read_topics(brokers: Sequence[str], topics: Sequence[str], *, from_ms: int | None = None,
                      to_ms: int | None = None, from_offsets: Mapping[tuple[str, int] | None, int] | None = None,
                      batch_size: int = 1000, ranges_out: list[PartitionRange] | None = None,
                      ) -> AsyncIterator[list[HistoryRecord]]:
    """Batches of the records of ``topics`` in the range, merged in timestamp order (see the module's
    doc). ``from_offsets`` (``parse_offsets``) overrides ``from_ms`` for the partitions it names.
    ``ranges_out``: filled with each partition's range once the read has found them (progress)."""
    from aiokafka import AIOKafkaConsumer
    from aiokafka.errors import KafkaError

    consumer = AIOKafkaConsumer(bootstrap_servers=",".join(brokers), group_id=None, enable_auto_commit=False,
                                auto_offset_reset="earliest", max_poll_records=batch_size)
    try:
        await consumer.start()
        ranges = await _ranges(consumer, topics, from_ms, to_ms, from_offsets or {})
        if ranges_out is not None:
            ranges_out.extend(ranges)
        async for batch in _Merge(consumer, ranges, batch_size).batches():
            # CreateTime is the producers' clock: a record may sit among later ones. The range is
            # by timestamp, as an export file's (replay/stored.py) is, whatever the offsets found.
            if from_ms is not None or to_ms is not None:
                lo, hi = from_ms if from_ms is not None else -1, to_ms if to_ms is not None else 1 << 62
                batch = [r for r in batch if lo <= r.ts_ms <= hi]
            if batch:
                yield batch
    except KafkaError as exc:
        raise BusError(f"kafka history on {','.join(brokers)}: {type(exc).__name__}: {exc}") from exc
    finally:
        await consumer.stop()


class _Merge:
    """The k-way merge of the partitions' records by (timestamp, topic, partition, offset)."""

    def __init__(self, consumer: Any, ranges: Sequence[PartitionRange], batch_size: int) -> None:
        from aiokafka import TopicPartition

        self._consumer = consumer
        self._batch_size = batch_size
        self._stop = {TopicPartition(r.topic, r.partition): r.stop for r in ranges}
        self._buffers: dict[Any, deque[HistoryRecord]] = {tp: deque() for tp in self._stop}
        self._fetching = {tp for tp, r in zip(self._stop, ranges, strict=True) if r.start < r.stop}
        consumer.assign(list(self._stop))
        for tp, r in zip(self._stop, ranges, strict=True):
            consumer.seek(tp, r.start)

    async def batches(self) -> AsyncIterator[list[HistoryRecord]]:
        while True:
            await self._refill()
            ready = [b for b in self._buffers.values() if b]
            if not ready:
                return
            out: list[HistoryRecord] = []
            while len(out) < self._batch_size:
                # A partition that may still give records and has none buffered could hold the
                # next smallest: fetch before going on.
                if any(not self._buffers[tp] for tp in self._fetching):
                    break
                ready = [b for b in self._buffers.values() if b]
                if not ready:
                    break
                head = min(ready, key=lambda b: (b[0].ts_ms, b[0].topic, b[0].partition, b[0].offset))
                out.append(head.popleft())
            if out:
                yield out

    async def _refill(self) -> None:
        waited_s = 0.0
        while need := [tp for tp in self._fetching if not self._buffers[tp]]:
            got = await self._consumer.getmany(*need, timeout_ms=_FETCH_WAIT_MS, max_records=self._batch_size)
            for tp, records in got.items():
                stop = self._stop[tp]
                self._buffers[tp].extend(
                    HistoryRecord(tp.topic, tp.partition, r.offset, r.timestamp, r.key, r.value or b"",
                                  tuple(r.headers or ()))
                    for r in records if r.offset < stop)
            for tp in need:
                # The position passes transaction markers and compacted gaps that no record shows.
                if await self._consumer.position(tp) >= self._stop[tp]:
                    self._fetching.discard(tp)
            waited_s = 0.0 if got else waited_s + _FETCH_WAIT_MS / 1000
            if waited_s >= _STALLED_S:
                raise BusError(f"kafka history: nothing fetched for {_STALLED_S:g} s from "
                               f"{', '.join(f'{tp.topic}:{tp.partition}' for tp in need)} (records left to read)")
            await asyncio.sleep(0)
