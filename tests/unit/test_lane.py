"""A lane never checkpoints effects that may not be stored: a batch it could not publish, or one
the engine failed in the middle of."""

from __future__ import annotations

import pytest
import structlog

from processor.engine import Outputs
from processor.runtime.idle import IdleClock
from processor.runtime.lane import Lane, LocalMsg
from processor.runtime.outbox import Delivery


class EngineFailingAtItsSecondBatch:
    """Stands in for the engine: the first batch applies, the second fails half-way."""

    max_ts_ms = None
    closed_until_ms = None
    lateness_ms = 5_000

    def __init__(self) -> None:
        self.applied = 0

    def ingest(self, msgs) -> Outputs:
        self.applied += 1
        if self.applied == 2:
            raise ValueError("a bug in the middle of a batch")
        return Outputs(accepted=len(msgs))

    def snapshot(self) -> dict:
        return {"batches": self.applied}


class OutboxTakingEverything:
    """Stands in for the outbox: the bus takes every batch's outputs at once."""

    async def send(self, stream, msgs, out, after_seq=None) -> Delivery:
        return Delivery([], out, 0.0)

    async def confirm(self, stream, delivery) -> bool:
        return True


async def test_a_batch_the_engine_failed_in_the_middle_of_is_never_checkpointed():
    saved = (40, {"batches": 0})
    lane = Lane("BUS", EngineFailingAtItsSecondBatch(), OutboxTakingEverything(), IdleClock(1.0), saved=saved,
                log=structlog.get_logger())
    await lane.apply([LocalMsg("bus.x", b"{}")])
    assert lane.dirty  # the first batch is waiting for the next checkpoint ...
    with pytest.raises(ValueError):
        await lane.apply([LocalMsg("bus.x", b"{}")])
    # ... but no checkpoint may hold the engine as the failed batch left it: the last one stands.
    assert (True, (saved, None)) == (lane.unsafe, await lane.checkpoint_state())


class PullerWithPending:
    """Stands in for the puller: only its num_pending is asked for (the batches are empty)."""

    def __init__(self, pending: int) -> None:
        self.pending_msgs = pending

    async def pending(self, timeout_s: float = 5.0) -> int:
        return self.pending_msgs

    async def ack(self, msg) -> None:
        pass


class OutboxKeepingEverything(OutboxTakingEverything):
    def __init__(self) -> None:
        self.delivered: list = []

    async def send(self, stream, msgs, out, after_seq=None) -> Delivery:
        self.delivered.append((after_seq, out))
        return Delivery([], out, 0.0)


async def test_a_stream_that_never_had_an_event_starts_its_time_on_the_wall_clock_once_it_holds_nothing():
    from processor.config.load import load_config_text
    from processor.engine.core import Engine
    from tests.unit.test_engine_never_seen import CONFIG

    t0_ms = 1_767_225_610_000  # 2026-01-01T00:00:10Z: the wall clock when the lane starts
    wall = {"mono_s": 0.0, "ms": t0_ms}
    idle = IdleClock(1.0, clock=lambda: wall["mono_s"], wall_ms=lambda: wall["ms"])
    puller = PullerWithPending(pending=3)
    outbox = OutboxKeepingEverything()
    engine = Engine(load_config_text(CONFIG))
    lane = Lane("TRADE", engine, outbox, idle, puller=puller, log=structlog.get_logger())  # type: ignore[arg-type]
    idle.start()

    def tick(seconds: float) -> None:
        wall["mono_s"] += seconds
        wall["ms"] += int(seconds * 1000)

    tick(2.0)
    await lane.apply([])
    assert None is engine.clock.silent_origin_ms  # three messages wait: read them first
    puller.pending_msgs = 0
    await lane.apply([])
    # 2026-01-01T00:00:12Z - 5 s of lateness = 00:00:07: watching starts at the boundary 00:00:00.
    assert t0_ms - 10_000 == engine.clock.silent_origin_ms
    assert [(0, [t0_ms - 10_000])] == [(seq, out.time_moves) for seq, out in outbox.delivered]
    # Five minutes after the start nothing has come: the grace period is over at origin + 5 m.
    for _ in range(31):
        tick(10.0)
        await lane.apply([])
    fired = [(a.label_map["alertname"], a.evaluated_at_ms) for _, out in outbox.delivered for a in out.alerts]
    assert [("ServiceNeverReported", t0_ms - 10_000 + 5 * 60_000)] == fired
    moves = [m for _, out in outbox.delivered for m in out.time_moves]
    assert moves == sorted(moves) and len(moves) == len(set(moves)) == 32  # one per boundary reached

    # Then a backlog from 20 minutes before the start: the grid starts with it, nothing is late,
    # and the alert resolves at the first boundary after the first heartbeat.
    import orjson

    from processor.replay.stored import StoredMsg

    first_ms = t0_ms - 20 * 60_000 + 3_000
    beats = [StoredMsg("TRADE", i + 1, first_ms + i * 10_000, "svc.beat", orjson.dumps({"ts": first_ms + i * 10_000}))
             for i in range(60)]
    for i in range(0, 60, 20):
        tick(0.1)
        await lane.apply(beats[i:i + 20])
    outs = [out for _, out in outbox.delivered]
    assert [] == [r for out in outs for r in out.rejections]
    resolved = [(a.label_map["alertname"], a.status, a.ends_at_ms) for out in outs for a in out.alerts][1:]
    assert [("ServiceNeverReported", "resolved", first_ms - 3_000 + 10_000)] == resolved


class PullerStoppingAtOnce:
    """Stands in for the puller: one empty batch, then the stop; notes what the collector froze."""

    def __init__(self, stop) -> None:
        self.stop = stop
        self.frozen_while_pulling: int | None = None
        self.threshold_while_pulling: tuple[int, ...] = ()

    async def next_batch(self, timeout_s: float) -> list:
        import gc

        self.frozen_while_pulling = gc.get_freeze_count()
        self.threshold_while_pulling = gc.get_threshold()
        self.stop.set()
        return []

    async def pending(self, timeout_s: float = 5.0) -> int:
        return 0


async def test_what_is_built_before_the_lane_runs_is_frozen_out_of_the_collector_until_it_ends():
    import asyncio
    import gc

    from processor.runtime.heap import YOUNG_COLLECTION_EVERY

    class Engine(EngineFailingAtItsSecondBatch):
        resolution_ms = 10_000

    stop = asyncio.Event()
    puller = PullerStoppingAtOnce(stop)
    lane = Lane("S", Engine(), OutboxTakingEverything(), IdleClock(1.0), puller=puller,  # type: ignore[arg-type]
                log=structlog.get_logger())
    assert 0 == gc.get_freeze_count()
    threshold = gc.get_threshold()
    await lane.run(stop)
    # Everything built before it ran (the lane, its engine, this test's objects) was frozen, and
    # young collections spaced ...
    assert puller.frozen_while_pulling is not None and puller.frozen_while_pulling > 0
    assert (YOUNG_COLLECTION_EVERY, *threshold[1:]) == puller.threshold_while_pulling
    # ... and all of it is given back to the collector when the lane ends.
    assert 0 == gc.get_freeze_count()
    assert threshold == gc.get_threshold()


class CountingEngine(EngineFailingAtItsSecondBatch):
    """Applies every batch; notes what it had applied when asked for a snapshot."""

    def ingest(self, msgs) -> Outputs:
        self.applied += 1
        return Outputs(accepted=len(msgs))

    def snapshot(self) -> dict:
        return {"batches": self.applied}


class OutboxWaitingForTheBus(OutboxTakingEverything):
    """The bus stores a batch's outputs only when the test says so."""

    def __init__(self) -> None:
        self.stored: list = []
        self.release = None

    async def confirm(self, stream, delivery) -> bool:
        import asyncio

        self.release = asyncio.get_running_loop().create_future()
        await self.release
        self.stored.append(delivery.out.accepted)
        return True


class AckingPuller:
    def __init__(self) -> None:
        self.acked: list[int] = []

    async def ack(self, msg) -> None:
        self.acked.append(int(msg.reply))


def _stream_batch(first: int, n: int) -> list:
    return [LocalMsg("s.x", b"{}", reply=str(seq)) for seq in range(first, first + n)]


async def test_the_next_batch_is_evaluated_while_the_outputs_before_it_wait_for_the_bus(monkeypatch):
    import asyncio

    from processor.runtime import lane as lane_module

    monkeypatch.setattr(lane_module, "stream_sequence", int)  # these batches' replies are their sequences
    engine, outbox, puller = CountingEngine(), OutboxWaitingForTheBus(), AckingPuller()
    lane = Lane("S", engine, outbox, IdleClock(1.0), puller=puller, saved=(0, {"batches": 0}),  # type: ignore[arg-type]
                log=structlog.get_logger())
    async with lane.lock:
        await lane.apply(_stream_batch(1, 3))  # sent; its PubAcks not yet in
    assert (1, [], []) == (engine.applied, outbox.stored, puller.acked)
    second = asyncio.create_task(_apply(lane, _stream_batch(4, 2)))
    await asyncio.sleep(0.01)
    # The second batch is evaluated, but not sent or acked before the first is stored and acked.
    assert (2, [], [], (1, 5)) == (engine.applied, outbox.stored, puller.acked, lane.in_hand)
    outbox.release.set_result(None)
    await second
    assert ([3], [3], (4, 5)) == (outbox.stored, puller.acked, lane.in_hand)
    # A checkpoint waits for the batch being confirmed: it never holds an unstored batch's effects.
    checkpoint = asyncio.create_task(lane.checkpoint_state())
    await asyncio.sleep(0.01)
    assert not checkpoint.done()
    outbox.release.set_result(None)
    assert ((5, {"batches": 2}), 2) == await checkpoint
    assert ([3, 2], [3, 5], None) == (outbox.stored, puller.acked, lane.in_hand)


async def _apply(lane: Lane, msgs: list) -> None:
    async with lane.lock:
        await lane.apply(msgs)


async def test_a_refusal_met_while_a_checkpoint_waits_for_the_bus_still_ends_the_lane(monkeypatch):
    import asyncio

    from processor.errors import PermissionDeniedError
    from processor.runtime import lane as lane_module

    monkeypatch.setattr(lane_module, "stream_sequence", int)
    engine, outbox, puller = CountingEngine(), OutboxWaitingForTheBus(), AckingPuller()
    lane = Lane("S", engine, outbox, IdleClock(1.0), puller=puller, saved=(0, {"batches": 0}),  # type: ignore[arg-type]
                log=structlog.get_logger())
    await _apply(lane, _stream_batch(1, 3))
    checkpoint = asyncio.create_task(lane.checkpoint_state())
    await asyncio.sleep(0.01)
    outbox.release.set_exception(PermissionDeniedError("publish to slo.alerts.x: permissions violation"))
    # The checkpoint keeps what was saved; the refusal is the lane's, raised where it goes on.
    assert ((0, {"batches": 0}), None) == await checkpoint
    assert lane.unsafe and [] == puller.acked
    with pytest.raises(PermissionDeniedError):
        await _apply(lane, _stream_batch(4, 2))
    assert 1 == engine.applied  # the batch after it is not evaluated
