"""One consumed stream's loop: pull a batch -> ``engine.ingest`` -> outbox -> ack.

A lane does, for each batch in this order and nothing else: pull it, ingest it, publish the alerts
and dead letters and wait for their PubAcks, ack the batch's last message (AckPolicy.ALL). A crash
anywhere before the ack redelivers the batch; the outputs' ``Nats-Msg-Id`` make the republish a
no-op in the stream. When the stream is idle, the lane's idle clock moves event time instead.

The wait for a batch's PubAcks, and its ack, run in a task (``_confirm``) while the lane pulls and
ingests the next batch; that batch's outputs are sent, and a checkpoint snapshots the engine,
only once the task has ended (``_settle``): one batch at most is waiting for the bus.

The bus monitor's lane has no stream: it applies the monitor's measurements every interval, the
same way, and acks nothing.
"""

from __future__ import annotations

__all__ = ["PULL_BACKOFF", "Lane", "LocalMsg", "StreamStats"]

import asyncio
import collections
import contextlib
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from processor.bus.backoff import Backoff, retry
from processor.bus.consumer import BatchPuller, stream_sequence
from processor.bus.monitor import BusMonitor
from processor.engine import Engine, Outputs
from processor.errors import BusError, PermissionDeniedError
from processor.runtime import heap
from processor.runtime.idle import IdleClock
from processor.runtime.outbox import Delivery, Outbox
from processor.runtime.stopping import stop_aware_sleep
from processor.runtime.telemetry import Telemetry
from processor.runtime.testhooks import Stall

PULL_BACKOFF = Backoff(first_s=0.1, max_s=5.0)
PULL_TIMEOUT_S = 0.25  # the longest wait for messages: stops and silent streams are noticed within it
# Past the moment the idle clock reaches a boundary: its watermark counts whole milliseconds.
_DUE_MARGIN_S = 0.002
# The lane waits for this answer under its lock: while a consumer has no leader (a NATS node lost)
# the question goes unanswered, and the lane must not stall for the API's full 5 s each time.
PENDING_TIMEOUT_S = 1.0


@dataclass
class StreamStats:
    accepted: int = 0
    ignored: int = 0
    rejected: int = 0
    alerts: int = 0
    batches: int = 0
    last_seq: int = 0


@dataclass(frozen=True, slots=True)
class LocalMsg:
    """A measurement made in this process, shaped like a bus message for the engine."""

    subject: str
    data: bytes
    reply: str = ""


class Lane:
    """Everything one consumed stream needs: its engine, puller, lock, idle clock and counters.

    ``saved`` is the last checkpointed (seq, snapshot). A lane whose engine holds effects that
    could not be published (stopped while the bus was down) is ``unsafe``: its checkpoint stays
    at ``saved``, so a restart replays those events instead of skipping them.
    """

    def __init__(
        self,
        stream: str,
        engine: Engine,
        outbox: Outbox,
        idle: IdleClock,
        *,
        puller: BatchPuller | None = None,
        saved: tuple[int, dict] | None = None,
        log: Any,
        stall: Stall | None = None,
        telemetry: Telemetry | None = None,
    ) -> None:
        self.stream = stream
        self.engine = engine
        self.puller = puller  # None: the bus monitor's lane, fed by measurements, never acked
        self.outbox = outbox
        self.idle = idle
        self.log = log
        self.lock = asyncio.Lock()
        self.stats = StreamStats(last_seq=saved[0] if saved is not None else 0)
        self.changes = 0  # batches and time moves applied
        self.changes_saved = 0  # ... of which the last stored checkpoint holds
        self.saved = saved
        self.unsafe = False
        # (first, last) stream sequence of each batch applied and not yet acked, oldest first.
        self._unacked: collections.deque[tuple[int, int]] = collections.deque()
        # The last stream sequence applied (acked or not): what a time move comes after.
        self.applied_seq = self.stats.last_seq
        # The last batch's outputs being confirmed, then the batch acked (``_confirm``): the next
        # batch is evaluated meanwhile, instead of after the PubAcks.
        self._confirming: asyncio.Task[bool] | None = None
        self._stall = stall  # test-only (runtime/testhooks.py)
        self.telemetry = telemetry  # /metrics and /readyz (runtime/http.py), when served

    @property
    def in_hand(self) -> tuple[int, int] | None:
        """(first, last) stream sequence of the batches applied and not yet acked: what a stop
        that cannot finish them leaves for redelivery."""
        return (self._unacked[0][0], self._unacked[-1][1]) if self._unacked else None

    @property
    def dirty(self) -> bool:
        return self.changes != self.changes_saved

    async def run(self, stop: asyncio.Event) -> None:
        """Pull and apply batches until ``stop`` is set, noticed between batches."""
        assert self.puller is not None, "the bus monitor's lane runs with run_measurements()"
        self.idle.start()
        with heap.held():  # the collector's settings while lanes run (runtime/heap.py)
            try:
                await self._pull_and_apply(stop)
            except BaseException:
                await self._abandon()
                raise
            async with self.lock:
                await self._settle()

    async def _pull_and_apply(self, stop: asyncio.Event) -> None:
        puller = self.puller
        assert puller is not None

        def keep_pulling(exc: Exception) -> bool:
            # Pulling holds nothing not yet applied; wait for the bus and pull again. A refusal
            # does not pass with time: it ends the lane, and so the processor.
            return isinstance(exc, BusError) and not isinstance(exc, PermissionDeniedError) and not stop.is_set()

        def pull_failed(exc: Exception, delay_s: float) -> None:
            self.log.warning("consumer.pull_failed", stream=self.stream, error=str(exc), retry_in_s=delay_s)

        pause = stop_aware_sleep(stop)
        while not stop.is_set() and not self.unsafe:
            try:
                msgs = await retry(lambda: puller.next_batch(timeout_s=self._pull_timeout_s()), backoff=PULL_BACKOFF,
                                   retry_if=keep_pulling, on_retry=pull_failed, sleep=pause)
            except PermissionDeniedError:
                raise
            except BusError:
                return  # stopped while the bus was unavailable
            if stop.is_set():
                return  # a batch that arrived after the stop is not in hand: it stays unacked
            if self.telemetry is not None:
                self.telemetry.pulled(self.stream, msgs)
            async with self.lock:
                await self.apply(msgs)

    def _pull_timeout_s(self) -> float:
        """How long to wait for messages: until the idle clock closes the next boundary (then the
        empty batch moves event time, and boundary rules run as their boundary becomes due), at
        most PULL_TIMEOUT_S."""
        engine = self.engine
        due_s = self.idle.due_in_s(engine.max_ts_ms, engine.closed_until_ms, engine.resolution_ms,
                                   engine.lateness_ms, self.idle.now())
        return PULL_TIMEOUT_S if due_s is None else min(PULL_TIMEOUT_S, due_s + _DUE_MARGIN_S)

    async def run_measurements(self, stop: asyncio.Event, monitor: BusMonitor, interval_s: float) -> None:
        """Measure the bus every interval and evaluate the measurements like any other events."""
        self.idle.start()
        while not stop.is_set() and not self.unsafe:
            events = await monitor.sample()
            async with self.lock:
                await self.apply([LocalMsg(subject, data) for subject, data in events])
                await self._settle()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval_s)

    async def apply(self, msgs: Sequence[Any]) -> None:
        """Ingest a batch and, if the stream is idle (no event time moved for a while, whether
        messages came or not), move event time; send the outputs, and confirm them and ack the
        batch in the background (``_confirm``): the batch before is confirmed and acked first,
        after this one's engine work, so that the PubAcks' wait overlaps it. Call under ``lock``."""
        engine = self.engine
        started_s = time.perf_counter()
        now_s = self.idle.now()
        before = (engine.max_ts_ms, engine.closed_until_ms)
        try:
            if self._confirming is not None and self._confirming.done() and not await self._settle():
                return  # the batch before could not be confirmed: nothing more is sent
            out = self._ingest(msgs) if msgs else None
            if engine.max_ts_ms == before[0]:
                # Nothing moved event time: the stream is idle for the windows even while messages
                # arrive, if none of them can be used (all rejected or ignored); else a broken
                # producer would freeze every alert of the stream, its input alert among them.
                watermark_ms = await self._idle_watermark(now_s)
                if watermark_ms is not None:
                    moved = engine.advance_idle(watermark_ms)
                    if out is None:
                        out = moved
                    else:
                        out.extend(moved)
            if out is None:
                return
            self.idle.applied(before[0], engine.max_ts_ms, now_s)
            after_seq = self._after_seq(msgs)
            if not await self._settle():
                return
            delivery = await self.outbox.send(self.stream, msgs, out, after_seq)
            if delivery is None:
                self.unsafe = True
                return
            moved_time = (engine.max_ts_ms, engine.closed_until_ms) != before
            self._confirming = asyncio.create_task(self._confirm(msgs, delivery, moved_time, started_s),
                                                   name=f"confirm-{self.stream}")
            await asyncio.sleep(0)  # the outputs written out now, before the next batch's engine work
        except BaseException:
            # The engine holds effects (of a batch, or of part of one if the engine failed) that
            # may not be stored: never checkpoint them.
            self.unsafe = True
            raise

    async def _confirm(self, msgs: Sequence[Any], delivery: Delivery, moved: bool, started_s: float) -> bool:
        """The outputs stored, then the batch acked and counted; False (and the lane unsafe) when
        the processor stopped before the bus took them."""
        try:
            if not await self.outbox.confirm(self.stream, delivery):
                self.unsafe = True
                return False
            await self._ack(msgs)
        except BaseException:
            self.unsafe = True
            raise
        self._count(msgs, delivery.out, moved=moved)
        if self.telemetry is not None:
            self.telemetry.applied(self.stream, msgs, delivery.out, time.perf_counter() - started_s)
        return True

    async def _abandon(self) -> None:
        """The lane ends on an error or is cut off: a batch still being confirmed is cut off too
        (it stays unacked, and the lane unsafe: out of every checkpoint)."""
        task, self._confirming = self._confirming, None
        if task is None:
            return
        self.unsafe = True
        task.cancel()
        with contextlib.suppress(BaseException):
            await task
        if not task.cancelled() and task.exception() is not None:
            self.log.warning("lane.confirm_failed", stream=self.stream, error=repr(task.exception()))

    async def _settle(self) -> bool:
        """Wait for the batch being confirmed (``_confirm``), if any; False when it could not be
        (the lane is then unsafe). Under ``lock``, or from the lane itself."""
        task, self._confirming = self._confirming, None
        if task is None:
            return not self.unsafe
        return await task

    async def _idle_watermark(self, now_s: float) -> int | None:
        """Where the idle clock moves event time now, or None."""
        engine = self.engine
        if engine.max_ts_ms is not None:
            watermark_ms = self.idle.idle_watermark(engine.max_ts_ms, engine.lateness_ms, now_s)
            if watermark_ms is None or self.puller is None or not self._closes(watermark_ms, engine.closed_until_ms):
                return watermark_ms
        else:
            # Never an event: time is the wall clock, once the stream holds nothing more for us (a
            # backlog is read first). It only runs ServiceNeverReported until the first event.
            watermark_ms = self.idle.silent_watermark(engine.lateness_ms, now_s)
            if watermark_ms is None or self.puller is None or not self._closes(watermark_ms, engine.clock.silent_until_ms):
                return None
        # Only a stream that has nothing more for us is idle. A pull that brings nothing also
        # means a bus that cannot deliver (a NATS node lost, a leader being elected): moving time
        # then would make the backlog behind it late (tests/integration/test_cluster_failover.py).
        try:
            if await self.puller.pending(PENDING_TIMEOUT_S) > 0:
                return None
        except BusError as exc:
            self.log.warning("consumer.pending_unknown", stream=self.stream, error=str(exc))
            return None
        return watermark_ms

    def _closes(self, watermark_ms: int, closed_ms: int | None) -> bool:
        """Whether moving to ``watermark_ms`` gets time to a new boundary (else: spare the server
        the question of what is pending)."""
        return closed_ms is None or watermark_ms - watermark_ms % self.engine.resolution_ms > closed_ms

    def _after_seq(self, msgs: Sequence[Any]) -> int | None:
        """The stream sequence a time move of this batch comes after (None: no stream)."""
        if self.puller is None:
            return None
        return stream_sequence(msgs[-1].reply) if msgs else self.applied_seq

    def _ingest(self, msgs: Sequence[Any]) -> Outputs:
        if self.puller is not None:
            self.applied_seq = stream_sequence(msgs[-1].reply)
            self._unacked.append((stream_sequence(msgs[0].reply), self.applied_seq))
            if self._stall is not None and self._stall.reached("engine"):
                self._stall.block_loop(self.log, stream=self.stream, in_hand=self.in_hand)
        return self.engine.ingest(msgs)

    async def _ack(self, msgs: Sequence[Any]) -> None:
        if not msgs or self.puller is None:
            return
        last_seq = self.stats.last_seq = stream_sequence(msgs[-1].reply)
        while self._unacked and self._unacked[0][1] <= last_seq:  # a batch applied after it stays in hand
            self._unacked.popleft()
        try:
            await self.puller.ack(msgs[-1])
        except BusError as exc:
            # Applied and published: the checkpoint records it; an unacked batch is redelivered
            # after ack_wait and the puller drops redeliveries it has passed.
            self.log.warning("consumer.ack_failed", stream=self.stream, error=str(exc))

    def _count(self, msgs: Sequence[Any], out: Outputs, *, moved: bool) -> None:
        stats = self.stats
        if msgs:
            stats.batches += 1
        stats.accepted += out.accepted
        stats.ignored += out.ignored
        stats.rejected += len(out.rejections)
        stats.alerts += len(out.alerts)
        if msgs or moved:
            self.changes += 1

    async def checkpoint_state(self) -> tuple[tuple[int, dict] | None, int | None]:
        """What a checkpoint stores for this lane: its (seq, snapshot), taken now if the engine
        changed and holds nothing unpublished, else the last one saved (None: nothing yet);
        and the change count a new snapshot holds (None: no new snapshot)."""
        if self.unsafe:
            # Without the lock: a lane cut off in the middle of a batch may still hold it.
            return self.saved, None
        async with self.lock:
            # A batch still being confirmed is in the engine: the snapshot waits until it is
            # stored and acked (or the lane turned unsafe). Its result, and any error, stay the
            # lane's own to take (``_settle``): a refusal must end the lane, not the checkpoint.
            if self._confirming is not None:
                await asyncio.wait({self._confirming})
            if self.unsafe or not self.dirty:
                return self.saved, None
            self.saved = (self.stats.last_seq, self.engine.snapshot())
            return self.saved, self.changes

    def checkpoint_saved(self, changes: int) -> None:
        """A checkpoint holding this lane's first ``changes`` changes is stored."""
        self.changes_saved = changes
