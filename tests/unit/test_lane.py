"""A lane never checkpoints effects that may not be stored: a batch it could not publish, or one
the engine failed in the middle of."""

from __future__ import annotations

import pytest
import structlog

from processor.engine import Outputs
from processor.runtime.idle import IdleClock
from processor.runtime.lane import Lane, LocalMsg


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

    async def deliver(self, stream, msgs, out) -> bool:
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
