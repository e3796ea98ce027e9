"""Stopping promptly: SIGINT/SIGTERM, how long each step of a shutdown may wait, and a watchdog.

A stop lets every lane finish the batches in hand (engine, publish, PubAcks, ack), then writes the
final checkpoint and closes the connection. Each of those waits is bounded, so that the process is
gone within ``STOP_DEADLINE_S`` of the signal whatever the bus does:

- ``LANE_GRACE_S``: a lane still busy after it (a publish the bus does not take) is cancelled
  (``CANCEL_GRACE_S`` to take effect); its batch stays unacked and out of the checkpoint, and the
  stream redelivers it on restart. A periodic checkpoint under way gets as long;
- ``CHECKPOINT_GRACE_S``: the final checkpoint, which may also use what the lanes left of their
  grace (skipped while disconnected: the last stored one stands, and the streams still hold
  everything after it);
  alerts still queued for Alertmanager get their one attempt meanwhile (``ALERTMANAGER_FLUSH_S``);
- ``CLOSE_GRACE_S``: flushing the last acks and closing the connection;
- ``EMBEDDED_STOP_S``: an embedded nats-server's own clean stop, before it is killed.

No await bounds the engine: a long engine call holds the event loop, and with it every bounded
wait. So the first signal also arms a watchdog thread that ends the process at ``FORCED_EXIT_S``,
whatever the loop is doing, after one log line; a second signal ends it at once. Either is a crash
as far as the data goes, and a crash loses nothing: what came after the last checkpoint is
redelivered and evaluated again on restart.
"""

from __future__ import annotations

__all__ = [
    "ALERTMANAGER_FLUSH_S",
    "CANCEL_GRACE_S",
    "CHECKPOINT_GRACE_S",
    "CLOSE_GRACE_S",
    "EMBEDDED_STOP_S",
    "EXIT_FORCED",
    "FORCED_EXIT_S",
    "LANE_GRACE_S",
    "STOP_DEADLINE_S",
    "StopSignals",
    "stop_aware_sleep",
    "within",
]

import asyncio
import contextlib
import os
import signal
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

T = TypeVar("T")

STOP_DEADLINE_S = 10.0
LANE_GRACE_S = 4.0
CANCEL_GRACE_S = 0.5
# At a stop, the one attempt at alerts still queued for Alertmanager (runtime/alertmanager.py),
# made beside the final checkpoint: the sender's CANCEL_GRACE_S and this fit in CHECKPOINT_GRACE_S.
ALERTMANAGER_FLUSH_S = 1.5
CHECKPOINT_GRACE_S = 2.0
CLOSE_GRACE_S = 1.0
EMBEDDED_STOP_S = 1.0
# The bounded steps above add up to 8.5 s at most (4 + 0.5 + 2 + 1 + 1); the watchdog comes after
# them, and leaves a second for its thread to get the GIL from a busy engine and for the process
# to be gone before the deadline.
FORCED_EXIT_S = 9.0
EXIT_FORCED = 1

_SIGNALS = (signal.SIGINT, signal.SIGTERM)


async def within(timeout_s: float, awaitable: Awaitable[T]) -> tuple[bool, T | None]:
    """``(True, result)`` if ``awaitable`` finished within ``timeout_s``, else ``(False, None)``
    with it cancelled. Unlike ``asyncio.wait_for`` it does not wait for the cancellation to take
    effect: nats-py turns some cancellations into a wait of its own."""
    task = asyncio.ensure_future(awaitable)
    done, _ = await asyncio.wait({task}, timeout=timeout_s)
    if not done:
        task.cancel()
        # Whatever it ends with is of no interest now; retrieved, it is not logged as lost.
        task.add_done_callback(lambda t: t.cancelled() or t.exception())
        return False, None
    return True, task.result()


def stop_aware_sleep(stop: asyncio.Event) -> Callable[[float], Awaitable[None]]:
    """A sleep for ``retry()`` between attempts to reach the bus that ends early on a stop (the
    attempt after it is then the last)."""

    async def sleep(delay_s: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=delay_s)

    return sleep


class StopSignals:
    """SIGINT and SIGTERM set ``stop``; the first also arms the watchdog, a second one forces.

    Plain ``signal.signal`` handlers, not the event loop's: Python runs them between two bytecodes
    of the main thread even while a long engine call keeps the loop from running its callbacks.
    ``progress`` is called for the forced exit's log line (what was acked and checkpointed).
    """

    def __init__(self, stop: asyncio.Event, log: Any, forced_exit_s: float = FORCED_EXIT_S) -> None:
        self._stop = stop
        self._log = log
        self._loop: asyncio.AbstractEventLoop | None = None
        self.forced_exit_s = forced_exit_s
        self.progress: Callable[[], dict[str, Any]] = dict
        self._timer: threading.Timer | None = None
        self._signalled_at_s = 0.0

    def install(self) -> None:
        """Call in the running loop that ``stop`` belongs to."""
        self._loop = asyncio.get_running_loop()
        for sig in _SIGNALS:
            signal.signal(sig, self._on_signal)

    def uninstall(self) -> None:
        """The loop is gone: the watchdog has nothing left to guard, a signal its default action."""
        if self._timer is not None:
            self._timer.cancel()
        if self._loop is not None:
            for sig in _SIGNALS:
                signal.signal(sig, signal.SIG_DFL)

    def _on_signal(self, signum: int, frame: object) -> None:
        if self._timer is not None:
            self._force(f"second signal ({signal.Signals(signum).name})")
        self._signalled_at_s = time.monotonic()
        self._timer = threading.Timer(self.forced_exit_s, self._force, args=("stop deadline",))
        self._timer.daemon = True
        self._timer.start()
        assert self._loop is not None
        with contextlib.suppress(RuntimeError):  # the loop already closed: we are on our way out
            self._loop.call_soon_threadsafe(self._stop.set)

    def _force(self, reason: str) -> None:
        try:
            self._log.error(
                "processor.stop_forced",
                reason=reason,
                after_s=round(time.monotonic() - self._signalled_at_s, 3),
                progress=self.progress(),
                note="batches not acked and checkpointed are redelivered and evaluated again on restart",
            )
        except BaseException:  # noqa: BLE001 - inside a signal handler a write can fail; exit anyway
            pass
        os._exit(EXIT_FORCED)
