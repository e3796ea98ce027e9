"""A plain `slo run` after a delivery gap: it resumes from its checkpoint, and a bus that does not
answer yet (the election of the lost node's leaders) is waited for, not taken for a failure.

The processors here are stand-ins of our own Processor's start/run/stop (no NATS is involved:
what is checked is runtime/serve.py's control flow); the real path is exercised on a 3-node
cluster by tests/integration/test_cluster_failover.py."""

from __future__ import annotations

import asyncio

import pytest
import structlog

from processor.errors import BusError, DeliveryGapError, PermissionDeniedError
from processor.runtime import serve


class Scripted:
    """A processor whose start and run do what the script says."""

    def __init__(self, start_error: Exception | None, run_error: Exception | None, stop: asyncio.Event) -> None:
        self.start_error, self.run_error, self.stop_event = start_error, run_error, stop
        self.stopped = False

    async def start(self) -> None:
        if self.start_error is not None:
            raise self.start_error

    async def run(self) -> None:
        if self.run_error is not None:
            raise self.run_error
        self.stop_event.set()  # ran to the end: the test is over

    def stop(self) -> None:
        self.stopped = True

    def counters(self) -> dict:
        return {}

    def positions(self) -> dict:
        return {}


async def run_script(script: list[tuple[Exception | None, Exception | None]]) -> tuple[list[Scripted], object]:
    stop = asyncio.Event()
    made: list[Scripted] = []

    def processor() -> Scripted:
        made.append(Scripted(*script[len(made)], stop))
        return made[-1]

    last = await serve._plain(processor, stop, lambda proc: None, structlog.get_logger())  # type: ignore[arg-type]
    return made, last


async def test_a_restart_after_a_gap_waits_for_a_bus_that_does_not_answer_yet(monkeypatch) -> None:
    monkeypatch.setattr(serve, "RESTART_RETRY_S", 0.01)
    not_yet = BusError("stream ANALYTICS: info: JetStream did not answer within 5 s")
    made, last = await run_script([(None, DeliveryGapError("250 message(s) delivered but never received")),
                                   (not_yet, None), (not_yet, None), (None, None)])
    assert 4 == len(made)
    assert made[-1] is last


async def test_without_a_gap_a_bus_that_does_not_answer_fails_the_start(monkeypatch) -> None:
    monkeypatch.setattr(serve, "RESTART_RETRY_S", 0.01)
    with pytest.raises(BusError, match="did not answer"):
        await run_script([(BusError("JetStream did not answer within 5 s"), None)])


async def test_a_refusal_after_a_gap_is_not_waited_for(monkeypatch) -> None:
    monkeypatch.setattr(serve, "RESTART_RETRY_S", 0.01)
    with pytest.raises(PermissionDeniedError):
        await run_script([(None, DeliveryGapError("gap")), (PermissionDeniedError("not allowed"), None)])
