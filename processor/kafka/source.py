"""The faust app: a consumer group over the topics, one agent handing batches to partition lanes.

faust does the Kafka part: the group, which partitions this worker holds, fetching, and committing
the offsets of acked events. The agent takes ``stream.take_events(batch_size, within)``, splits
each batch by topic-partition (offset order kept) and hands every part to that partition's lane
(processor/kafka/lane.py) under its lock; ``take_events`` acks a batch's events only when the agent
asks for the next batch, i.e. after the lanes stored their outputs, so faust never commits an offset
whose outputs are not stored. No faust Table holds state: each lane's engine does, checkpointed per
partition (processor/kafka/checkpoints.py).

- **Assigned** partitions get a lane: its engine restored from the partition's checkpoint, and the
  consumer seeks to the offset after it (to the partition's first offset without one), whatever
  offset the group had committed (commits run ahead of checkpoints). Records that arrive while the
  lane opens wait for it; a record past the lane's next offset (faust positioned the partition
  elsewhere) makes the lane seek back and drop what comes until the expected offset arrives.
- **Revoked** partitions: faust first waits until every event handed out is acked (the lanes'
  batches done), then the lane's state is checkpointed and the lane dropped; the worker that gains
  the partition restores that checkpoint.
- Every ``checkpoint_interval_s`` the changed lanes are checkpointed; every ``idle_after_s`` a lane
  whose event time stands still gets its idle clock's move (runtime/idle.py), as on NATS.
"""

from __future__ import annotations

__all__ = ["RESEEK_S", "SEEK_SETTLE_S", "KafkaSource"]

import asyncio
import contextlib
import tempfile
import time
from collections.abc import Iterable, Sequence
from typing import Any

import faust
from faust.types import TP

from processor.config.model import Config, KafkaConfig
from processor.engine import Engine
from processor.errors import BusError
from processor.kafka.checkpoints import PartitionCheckpoints
from processor.kafka.lane import OutputSink, PartitionLane, RawRecord, record_ts_ms
from processor.kafka.parts import lane_name, topic_part
from processor.kafka.subjects import SubjectMap
from processor.runtime.idle import IdleClock

# After a seek, records past the expected offset are dropped for this long (they were fetched
# before the seek); past it, the partition really has a gap there (compaction, transaction markers).
SEEK_SETTLE_S = 5.0
RESEEK_S = 0.5  # ... seeking again at most this often meanwhile


def _raw(message: Any) -> RawRecord:
    ts_s = message.timestamp  # faust gives the record timestamp in seconds (a float)
    # A tombstone (a record without a value) is an empty payload: rejected as not JSON, dead-lettered.
    return RawRecord(message.offset, message.key, message.value or b"", round(ts_s * 1000) if ts_s else None)


def _ascending(raws: list[RawRecord], first_offset: int | None) -> list[RawRecord]:
    """The records from ``first_offset`` on whose offset is above every one before it. A batch
    can hold a partition's records twice: fetched before a seek back and again after it (a lane
    that opens seeks to its checkpoint while faust's fetcher may already hold records from the
    committed offset), which applied as they come would count the repeated ones twice, or
    reject them as late. (A jump forward is kept: a partition's offsets have real gaps.)"""
    due = []
    for record in raws:
        if first_offset is None or record.offset >= first_offset:
            due.append(record)
            first_offset = record.offset + 1
    return due


class KafkaSource:
    """The topics' partitions held by this worker, each with its lane; ``start()`` / ``stop()``."""

    def __init__(self, config: Config, kafka: KafkaConfig, sink: OutputSink, checkpoints: PartitionCheckpoints, *,
                 topics: Iterable[str] = (), log: Any, idle_after_s: float = 1.0, checkpoint_interval_s: float = 15.0,
                 commit_every: int | None = None):
        self.config = config
        self.kafka = kafka
        self.sink = sink
        self.checkpoints = checkpoints
        self.log = log
        self.idle_after_s = idle_after_s
        self.checkpoint_interval_s = checkpoint_interval_s
        self.commit_every = commit_every  # faust's broker_commit_every (None: its default)
        self.subjects = SubjectMap.from_config(kafka, topics)
        self.parts = {}
        for name, cfg in self.subjects.topics.items():
            part = topic_part(config, cfg)
            if part is None:
                log.warning("kafka.topic_unread", topic=name, hint="no SLI reads its subjects; it is not consumed")
            else:
                self.parts[name] = part
        self.lanes: dict[tuple[str, int], PartitionLane] = {}
        self._opening: dict[tuple[str, int], asyncio.Event] = {}
        # partition -> (when the lane first sought its next offset, when last)
        self._seeking: dict[tuple[str, int], tuple[float, float]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False
        self.agent: Any = None  # the faust agent (None: no topic is read)
        # faust makes a data directory for its tables, "<group>-data" in the working directory by
        # default; we use no tables (our state is in our checkpoints), so it is a throwaway one.
        self._datadir = tempfile.TemporaryDirectory(prefix="slo-faust-")
        self.app = self._build_app()

    def _build_app(self) -> faust.App:
        k = self.kafka
        app = faust.App(
            k.group, broker=[f"kafka://{b}" for b in k.brokers], value_serializer="raw", key_serializer="raw",
            web_enabled=False, topic_disable_leader=True, store="memory://", autodiscover=False, datadir=self._datadir.name,
            topic_allow_declare=False, consumer_auto_offset_reset="earliest",
            broker_session_timeout=k.session_timeout_ms / 1000, broker_rebalance_timeout=k.rebalance_timeout_ms / 1000,
            broker_heartbeat_interval=min(3.0, k.session_timeout_ms / 3000),
            **({"broker_commit_every": self.commit_every} if self.commit_every else {}),
        )
        if self.parts:
            topic = app.topic(*self.parts, value_serializer="raw", key_serializer="raw")
            self.agent = app.agent(topic, name=f"slo-{k.group}-agent")(self._agent)
        app.on_partitions_assigned.connect(self._on_assigned)
        app.on_partitions_revoked.connect(self._on_revoked)
        return app

    async def start(self) -> None:
        from aiokafka.errors import KafkaError

        try:
            await self.app.start()
        except KafkaError as exc:  # a wrong --kafka-brokers: one line, not faust's traceback
            raise BusError(f"kafka source: cannot start the consumer on {','.join(self.kafka.brokers)}: "
                           f"{type(exc).__name__}: {exc}") from exc
        self._tasks += [asyncio.create_task(self._checkpoint_loop(), name="kafka-checkpoints"),
                       asyncio.create_task(self._idle_loop(), name="kafka-idle")]
        self.log.info("kafka.started", brokers=list(self.kafka.brokers), group=self.kafka.group, topics=sorted(self.parts))

    # ---- the agent ----
    async def _agent(self, stream: Any) -> None:
        within_s = self.kafka.batch_within_ms / 1000
        async for events in stream.take_events(self.kafka.batch_size, within=within_s):
            await self.handle([e.message for e in events])

    async def handle(self, messages: Sequence[Any]) -> None:
        """One batch of the agent: each partition's records to its lane, in offset order."""
        by_tp: dict[tuple[str, int], list[RawRecord]] = {}
        for m in messages:
            by_tp.setdefault((m.topic, m.partition), []).append(_raw(m))
        for tp, raws in by_tp.items():
            opening = self._opening.get(tp)
            if opening is None or self._stopping:
                continue  # not ours (revoked while buffered) or stopping: the owner reads it from its checkpoint
            await opening.wait()
            lane = self.lanes.get(tp)
            if lane is None:
                continue
            async with lane.lock:
                due = await self._in_order(lane, raws)
                if due and not lane.unsafe:
                    await lane.apply(due)

    async def _in_order(self, lane: PartitionLane, raws: list[RawRecord]) -> list[RawRecord]:
        """The records the lane has not applied, from its next offset on, each once and in offset
        order; a gap before them makes it seek back (and drops them), unless the batch holds the
        next offset after them (the seek's records: read from there) or the partition has a real
        gap there."""
        tp = (lane.topic, lane.partition)
        expected = lane.next_offset
        due = _ascending(raws, expected)
        if due and expected is not None and due[0].offset != expected:
            # Records fetched before a seek back, then the seek's own from the next offset: those
            # (the others come again after them). Not a gap, however long the lane has sought.
            at = next((i for i, r in enumerate(raws) if r.offset == expected), None)
            if at is not None:
                due = _ascending(raws[at:], expected)
        if not due or expected is None or due[0].offset == expected:
            self._seeking.pop(tp, None)
            return due
        now_s = time.monotonic()
        first_s, last_s = self._seeking.get(tp, (now_s, 0.0))
        if now_s - first_s < SEEK_SETTLE_S:
            if now_s - last_s >= RESEEK_S:
                # Again if it was overridden (faust seeks assigned partitions to the committed offset).
                self._seeking[tp] = (first_s, now_s)
                self.log.info("kafka.seek", lane=lane.name, to_offset=expected, got_offset=due[0].offset)
                await self._seek(TP(*tp), expected)
            return []  # fetched before the seek
        self.log.warning("kafka.offset_gap", lane=lane.name, expected=expected, got=due[0].offset,
                         note="the partition has no records in between (compaction, transaction markers)")
        self._seeking.pop(tp, None)
        return due

    async def _seek(self, tp: TP, offset: int) -> None:
        # seek_wait runs on faust's consumer thread, where aiokafka lives; faust's seek() calls
        # aiokafka from this thread, which left the fetcher asleep in some runs.
        await self.app.consumer.seek_wait({tp: offset})

    # ---- rebalances ----
    async def _on_assigned(self, sender: Any, assigned: set[TP], **kwargs: Any) -> None:
        new = [(tp.topic, tp.partition) for tp in assigned if tp.topic in self.parts]
        new = [tp for tp in new if tp not in self._opening]
        for tp in new:
            self._opening[tp] = asyncio.Event()  # records of tp wait for it from now on
        async def open_one(tp: tuple[str, int]) -> None:
            try:
                await self._open(*tp)
            except Exception as exc:  # noqa: BLE001 - the lane is not opened; its records are not applied
                self.log.error("kafka.open_failed", topic=tp[0], partition=tp[1], error=repr(exc))
            finally:
                self._opening[tp].set()

        # Not awaited here: faust's rebalance goes on (its recovery positions and resumes the
        # partitions) while each lane loads its checkpoint, side by side; the lane then seeks.
        # (Awaiting that I/O inside faust's rebalance callback left the partitions without
        # deliveries in some runs.)
        for tp in new:
            task = asyncio.ensure_future(open_one(tp))
            self._tasks.append(task)

    async def _open(self, topic: str, partition: int) -> None:
        name = lane_name(topic, partition)
        state = await self.checkpoints.load(name)
        tp = TP(topic, partition)
        first = (await self.app.consumer.earliest_offsets(tp)).get(tp, 0)
        lane = self.open_lane(topic, partition, state, first)
        # Seek once faust's recovery has positioned the assigned partitions at the committed
        # offsets; the agent waits for the lane until then. A record past the lane's next offset still makes it
        # seek again (_in_order).
        recovery = getattr(self.app.tables, "recovery", None)
        if recovery is not None:
            await recovery.completed.wait()
        if self.lanes.get((topic, partition)) is lane:
            await self._seek(tp, lane.next_offset)
            self._seeking[(topic, partition)] = (time.monotonic(), time.monotonic())
        self.log.info("kafka.assigned", lane=name, from_offset=lane.next_offset, restored=state is not None)

    def open_lane(self, topic: str, partition: int, state: tuple[int, dict] | None, first_offset: int) -> PartitionLane:
        """A partition's lane, its engine restored from ``state``, reading from the offset after it
        (from ``first_offset``, the partition's first, without one or past what is left)."""
        name = lane_name(topic, partition)
        engine = Engine(self.parts[topic], fallback_ts_ms=record_ts_ms, stream=name)
        if state is not None:
            for note in engine.restore(state[1]):
                self.log.warning("checkpoint.dropped_state", lane=name, note=note)
        lane = PartitionLane(name, topic, partition, engine, self.subjects, self.sink, IdleClock(self.idle_after_s),
                             saved=state, log=self.log)
        lane.idle.start()
        if lane.next_offset is None or lane.next_offset < first_offset:
            if lane.next_offset is not None:
                self.log.error("kafka.checkpoint_gone", lane=name, next_offset=lane.next_offset, first_offset=first_offset,
                               note="the records after the checkpoint were deleted (retention): reading from the first")
            lane.next_offset = first_offset
        self.lanes[(topic, partition)] = lane
        if (topic, partition) not in self._opening:  # opened directly (tests): ready at once
            self._opening[(topic, partition)] = asyncio.Event()
            self._opening[(topic, partition)].set()
        return lane

    async def _on_revoked(self, sender: Any, revoked: set[TP], **kwargs: Any) -> None:
        for tp in revoked:
            key = (tp.topic, tp.partition)
            self._opening.pop(key, None)
            self._seeking.pop(key, None)
            lane = self.lanes.pop(key, None)
            if lane is not None:
                async with lane.lock:
                    await self._save(lane)
                self.log.info("kafka.revoked", lane=lane.name, checkpoint_offset=lane.saved and lane.saved[0])

    # ---- checkpoints and idle time ----
    async def _save(self, lane: PartitionLane) -> None:
        state, changes = lane.checkpoint_state()
        if changes is None or state is None:
            return
        await self.checkpoints.save(lane.name, state)
        lane.checkpoint_saved(changes)

    async def save_all(self) -> None:
        """Checkpoint every changed lane (each under its lock: never in the middle of a batch)."""
        for lane in list(self.lanes.values()):
            async with lane.lock:
                await self._save(lane)

    async def _checkpoint_loop(self) -> None:
        while True:
            await asyncio.sleep(self.checkpoint_interval_s)
            try:
                await self.save_all()
            except Exception as exc:  # noqa: BLE001 - logged; the next interval tries again
                self.log.error("checkpoint.failed", error=str(exc))

    async def _idle_loop(self) -> None:
        while True:
            await asyncio.sleep(max(self.idle_after_s / 2, 0.05))
            for lane in list(self.lanes.values()):
                if not lane.lock.locked() and not lane.unsafe:
                    async with lane.lock:
                        await lane.apply([])

    async def stop(self, grace_s: float = 4.0) -> None:
        """Let the batches in hand finish (``grace_s``), checkpoint every lane, stop faust."""
        self._stopping = True
        for task in self._tasks:
            task.cancel()
        deadline = time.monotonic() + grace_s
        for lane in list(self.lanes.values()):
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(0.0, deadline - time.monotonic())):
                    async with lane.lock:
                        await self._save(lane)
        with contextlib.suppress(Exception):
            await self.app.stop()
        self._datadir.cleanup()

    def positions(self) -> dict[str, dict[str, Any]]:
        """Per lane: the next offset to apply and the last one checkpointed."""
        return {lane.name: {"next_offset": lane.next_offset, "checkpoint_offset": lane.saved and lane.saved[0]}
                for lane in self.lanes.values()}
