"""The event loop every command of slo-processor runs on: uvloop's (libuv), where it is installed.

A lane's thread also runs the event loop itself: selecting, reading sockets, scheduling callbacks
and tasks. uvloop does that part in C. ``bench/event_loop.py`` drains one backlog on both loops in
turns: end to end up to 15 % faster on the 2-core dev machine (1.13, 0.99 and 1.15 times
asyncio's rate in three runs), the bare pull no faster (its client mostly waits). nats-py, aiohttp
and the lean reader run unchanged on it, and the async tests run on this loop too
(tests/conftest.py). The one difference met: see ``connect.let_go``.

uvloop has no Windows build; there ``run`` is asyncio's own.
"""

from __future__ import annotations

__all__ = ["LOOP_NAME", "new_event_loop", "run"]

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

try:
    import uvloop
except ImportError:  # no wheel for this platform (Windows): asyncio's own loop
    uvloop = None

T = TypeVar("T")

LOOP_NAME = "asyncio" if uvloop is None else "uvloop"
new_event_loop: Callable[[], asyncio.AbstractEventLoop] = asyncio.new_event_loop if uvloop is None else uvloop.new_event_loop


def run(main: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run(main)`` on the loop above."""
    with asyncio.Runner(loop_factory=new_event_loop) as runner:
        return runner.run(main)
