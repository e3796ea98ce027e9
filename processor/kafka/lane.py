"""One topic-partition's lane: records -> subjects -> ``engine.ingest`` -> the sink -> offset.

The Kafka twin of runtime/lane.py, without faust (the agent in processor/kafka/source.py feeds it):
a batch of one partition's records, in offset order, is mapped to subjects (processor/kafka/subjects.py),
ingested, and its outputs handed to the sink (the NATS outbox by default), which returns once they
are stored. Only then does the lane's offset move past the batch; the faust agent acks the batch's
events after ``apply`` returns, so an offset Kafka commits was applied and its outputs stored. A lane
whose sink gave up (a stop while the bus was unavailable) or whose engine failed mid-batch is
``unsafe``: it is never checkpointed again, so a restart reads from its last checkpoint.
"""

from __future__ import annotations

__all__ = ["PartitionLane", "RawRecord"]

import asyncio
import dataclasses
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from processor.engine import Engine, Outputs
from processor.engine.outputs import Rejection
from processor.kafka.subjects import KafkaRecord, SubjectMap, Unmapped
from processor.runtime.idle import IdleClock
from processor.runtime.lane import StreamStats
from processor.runtime.telemetry import Telemetry


@dataclass(frozen=True, slots=True)
class RawRecord:
    """What the lane needs of a Kafka record (faust's ``Message`` has all of it)."""

    offset: int
    key: bytes | None
    value: bytes
    timestamp_ms: int | None


class OutputSink(Protocol):
    """Where a lane's outputs go: ``runtime/outbox.Outbox`` (NATS ``slo.>``) is one. ``deliver``
    returns once the outputs are stored, False if it gave up (the processor is stopping)."""

    async def deliver(self, stream: str, msgs: Sequence[Any], out: Outputs, after_seq: int | None = None) -> bool: ...


def record_ts_ms(msg: Any) -> int | None:
    """The engine's fallback time and skew reference: the Kafka record timestamp, as the JetStream
    timestamp on NATS."""
    return msg.timestamp_ms


class PartitionLane:
    """A topic-partition's engine, its position and its checkpoint bookkeeping.

    ``next_offset``: the first offset not yet applied (None: read from wherever the partition
    starts). ``saved``: the last checkpointed (last applied offset, snapshot).
    """

    def __init__(self, name: str, topic: str, partition: int, engine: Engine, subjects: SubjectMap, sink: OutputSink,
                 idle: IdleClock, *, saved: tuple[int, dict] | None, log: Any, telemetry: Telemetry | None = None):
        self.name = name
        self.topic = topic
        self.partition = partition
        self.engine = engine
        self.subjects = subjects
        self.sink = sink
        self.idle = idle
        self.log = log
        self.telemetry = telemetry
        self.lock = asyncio.Lock()
        self.saved = saved
        self.next_offset: int | None = None if saved is None else saved[0] + 1
        self.stats = StreamStats(last_seq=saved[0] if saved is not None else 0)
        self.unmapped = 0
        self.changes = 0
        self.changes_saved = 0
        self.unsafe = False

    @property
    def dirty(self) -> bool:
        return self.changes != self.changes_saved

    def _records(self, raw: Sequence[RawRecord]) -> tuple[list[KafkaRecord], list[Rejection]]:
        """Each record with its subject; those without one as dead letters (by batch index)."""
        records, unmapped = [], []
        cfg_prefix = self.subjects.topics[self.topic].prefix if self.topic in self.subjects.topics else self.topic
        for i, r in enumerate(raw):
            subject = self.subjects.subject(self.topic, r.key, r.value)
            if isinstance(subject, Unmapped):
                unmapped.append(Rejection(i, subject.reason, subject.detail))
                subject = cfg_prefix  # what the dead letter names as its origin; never ingested
            records.append(KafkaRecord(subject, r.value, self.topic, self.partition, r.offset, r.timestamp_ms, r.key))
        return records, unmapped

    def _ingest(self, records: list[KafkaRecord], unmapped: list[Rejection]) -> Outputs:
        if not unmapped:
            return self.engine.ingest(records)
        skipped = {rej.index for rej in unmapped}
        kept = [i for i in range(len(records)) if i not in skipped]
        out = self.engine.ingest([records[i] for i in kept]) if kept else Outputs()
        # The engine's rejections count in its batch; the sink's in the whole one.
        moved = [dataclasses.replace(rej, index=kept[rej.index]) for rej in out.rejections]
        out.rejections = sorted(moved + unmapped, key=lambda rej: rej.index)
        return out

    async def apply(self, raw: Sequence[RawRecord]) -> None:
        """Ingest one batch of this partition (offsets ascending, none applied before) or, with
        none, only let the idle clock move event time; deliver the outputs; move the offset."""
        engine = self.engine
        started_s = time.perf_counter()
        now_s = self.idle.now()
        before = (engine.max_ts_ms, engine.closed_until_ms)
        try:
            records, unmapped = self._records(raw)
            out = self._ingest(records, unmapped) if records else None
            self.unmapped += len(unmapped)
            if engine.max_ts_ms == before[0] and engine.max_ts_ms is not None:
                watermark_ms = self.idle.idle_watermark(engine.max_ts_ms, engine.lateness_ms, now_s)
                if watermark_ms is not None:
                    moved = engine.advance_idle(watermark_ms)
                    out = moved if out is None else (out.extend(moved) or out)
            if out is None:
                return
            self.idle.applied(before[0], engine.max_ts_ms, now_s)
            after = records[-1].offset if records else self.stats.last_seq
            if not await self.sink.deliver(self.name, records, out, after):
                self.unsafe = True
                return
        except BaseException:
            self.unsafe = True  # effects that may not be stored: never checkpoint them
            raise
        self._count(records, out, moved=(engine.max_ts_ms, engine.closed_until_ms) != before)
        if self.telemetry is not None and records:
            self.telemetry.applied(self.name, records, out, time.perf_counter() - started_s)

    def _count(self, records: Sequence[KafkaRecord], out: Outputs, *, moved: bool) -> None:
        stats = self.stats
        if records:
            stats.batches += 1
            stats.last_seq = records[-1].offset
            self.next_offset = records[-1].offset + 1
        stats.accepted += out.accepted
        stats.ignored += out.ignored
        stats.rejected += len(out.rejections)
        stats.alerts += len(out.alerts)
        if records or moved:
            self.changes += 1

    def checkpoint_state(self) -> tuple[tuple[int, dict] | None, int | None]:
        """(last applied offset, snapshot) to store now, and the change count it holds; the last
        saved one (and None) when nothing changed or the lane is unsafe. Call under ``lock``."""
        if self.unsafe or not self.dirty or self.next_offset is None:
            return self.saved, None
        self.saved = (self.next_offset - 1, self.engine.snapshot())
        return self.saved, self.changes

    def checkpoint_saved(self, changes: int) -> None:
        self.changes_saved = changes
