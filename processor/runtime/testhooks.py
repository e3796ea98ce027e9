"""Test-only hooks of ``slo run``, read from the environment; unset (always, in production), they
change nothing.

The crash and stop tests (``tests/integration/test_crash_and_stop.py``) run ``slo run`` as a
subprocess. A backlog is consumed in seconds and the first checkpoint comes after 15 s, so to kill
the processor between checkpoints, or in the middle of publishing a batch's outputs, they need:

``SLO_TEST_CHECKPOINT_INTERVAL_S=0.2``
    checkpoint every 0.2 s instead of every 15 s;
``SLO_TEST_IDLE_AFTER_S=3600``
    the idle clock moves event time only after an hour without one (1 s otherwise): the state
    after a backlog is then the events' alone, whenever the run is stopped, so that two runs'
    final snapshots can be compared (tests/integration/test_standby.py);
``SLO_TEST_STALL=publish:N:K``
    the N-th batch that has more than K outputs publishes its first K messages, waits for their
    PubAcks, logs ``test.stalled`` and then waits forever: a kill lands with part of
    the batch's outputs stored and the batch unacked;
``SLO_TEST_STALL=engine:N``
    the N-th batch blocks the event loop for an hour before the engine sees it, as a long engine
    call does (``test.stalled`` is logged first).

Batches are counted over the lanes of every stream, in the order they come; the bus monitor's
measurements do not count.
"""

from __future__ import annotations

__all__ = ["Stall", "checkpoint_interval_s", "idle_after_s", "stall_from_env"]

import asyncio
import time
from collections.abc import Mapping
from typing import Any

_POINTS = ("publish", "engine")
_ENGINE_STALL_S = 3600.0


class Stall:
    """Stalls once, at the ``nth`` time the processor passes ``point``."""

    def __init__(self, point: str, nth: int, keep: int = 0) -> None:
        if point not in _POINTS or nth < 1 or keep < 0:
            raise ValueError(f"SLO_TEST_STALL: expected publish:N:K or engine:N, got {point}:{nth}:{keep}")
        self.point = point
        self.nth = nth
        self.keep = keep
        self._passed = 0

    def reached(self, point: str) -> bool:
        """Count a pass through ``point``; True the one time the stall is due."""
        if point != self.point:
            return False
        self._passed += 1
        return self._passed == self.nth

    async def forever(self, log: Any, **where: Any) -> None:
        log.warning("test.stalled", point=self.point, **where)
        await asyncio.get_running_loop().create_future()

    def block_loop(self, log: Any, **where: Any) -> None:
        log.warning("test.stalled", point=self.point, **where)
        time.sleep(_ENGINE_STALL_S)  # not awaited, on purpose: nothing else runs meanwhile


def stall_from_env(env: Mapping[str, str]) -> Stall | None:
    text = env.get("SLO_TEST_STALL")
    if not text:
        return None
    point, _, rest = text.partition(":")
    try:
        numbers = [int(n) for n in rest.split(":")]
    except ValueError:
        numbers = [0]
    return Stall(point, *numbers)


def checkpoint_interval_s(env: Mapping[str, str], default_s: float) -> float:
    text = env.get("SLO_TEST_CHECKPOINT_INTERVAL_S")
    return float(text) if text else default_s


def idle_after_s(env: Mapping[str, str], default_s: float) -> float:
    text = env.get("SLO_TEST_IDLE_AFTER_S")
    return float(text) if text else default_s
