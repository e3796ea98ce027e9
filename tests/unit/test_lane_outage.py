"""A lane whose pulls bring nothing moves event time with the wall clock only once its consumer
says it has nothing pending: pulls that bring nothing because the bus cannot deliver (a NATS node
lost, a stream or consumer leader being elected) must not close windows ahead of the backlog
behind them (tests/integration/test_cluster_failover.py shows it end to end)."""

from __future__ import annotations

import orjson
import structlog

from processor.config.load import load_config_text
from processor.engine.core import Engine
from processor.errors import BusError
from processor.replay.stored import StoredMsg
from processor.runtime.idle import IdleClock
from processor.runtime.lane import PENDING_TIMEOUT_S, Lane
from processor.runtime.outbox import Delivery
from tests.unit.test_engine_never_seen import CONFIG

T0_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z


class Puller:
    """Stands in for the puller: its num_pending, or the error of a consumer with no leader."""

    def __init__(self) -> None:
        self.answer: int | BusError = 0
        self.timeouts: list[float] = []

    async def pending(self, timeout_s: float = 5.0) -> int:
        self.timeouts.append(timeout_s)
        if isinstance(self.answer, BusError):
            raise self.answer
        return self.answer

    async def ack(self, msg) -> None:
        pass


class Outbox:
    def __init__(self) -> None:
        self.moves: list[int] = []

    async def send(self, stream, msgs, out, after_seq=None) -> Delivery:
        self.moves += out.time_moves
        return Delivery([], out, 0.0)

    async def confirm(self, stream, delivery) -> bool:
        return True


async def test_event_time_waits_while_the_consumer_cannot_say_it_has_nothing_pending():
    wall = {"s": 0.0}
    idle = IdleClock(1.0, clock=lambda: wall["s"])
    puller, outbox = Puller(), Outbox()
    engine = Engine(load_config_text(CONFIG))
    lane = Lane("TRADE", engine, outbox, idle, puller=puller, log=structlog.get_logger())  # type: ignore[arg-type]
    idle.start()
    # Events up to 00:00:59: with 5 s of lateness, everything before 00:00:50 is closed.
    beats = [StoredMsg("TRADE", i + 1, T0_MS + i * 1000, "svc.beat", orjson.dumps({"ts": T0_MS + i * 1000}))
             for i in range(60)]
    await lane.apply(beats)
    closed_ms = engine.closed_until_ms
    assert T0_MS + 50_000 == closed_ms

    # 30 s of empty pulls while the consumer has no leader, then while the backlog is pending.
    wall["s"] += 30.0
    puller.answer = BusError("consumer TRADE/slo_trade: info: JetStream did not answer within 1 s")
    await lane.apply([])
    puller.answer = 1200
    await lane.apply([])
    assert (closed_ms, []) == (engine.closed_until_ms, outbox.moves)

    # Nothing pending: the stream is idle; 00:00:59 + 30 s - 5 s closes through 00:01:20.
    puller.answer = 0
    await lane.apply([])
    assert [T0_MS + 80_000] == outbox.moves
    assert {PENDING_TIMEOUT_S} == set(puller.timeouts)

    # Until the next boundary nothing is asked.
    asked = len(puller.timeouts)
    wall["s"] += 1.0
    await lane.apply([])
    assert asked == len(puller.timeouts)
