"""How far a replay or an export is, and stopping one cleanly on Ctrl-C.

On a terminal (stderr is a TTY): a tqdm bar of the messages (or, from a file, the bytes) read, with
the rate in events/s, the position in event time and the ETA, redrawn at most every
``BAR_EVERY_S``. Otherwise: one structured log line (``replay.progress``) every ``LOG_EVERY_S``.
Either way the work per batch is a counter and a clock read; nothing is drawn per message.

``Interrupt`` turns SIGINT into a flag that the read loops check between batches, so that a
Ctrl-C stops after the batch in hand with everything written so far kept and flushed.
"""

from __future__ import annotations

__all__ = ["BAR_EVERY_S", "LOG_EVERY_S", "INTERRUPTED_EXIT", "Interrupt", "Progress"]

import shutil
import signal
import sys
import threading
import time
from types import FrameType
from typing import IO, Any

import orjson

from processor.runtime.render import rfc3339_ms

BAR_EVERY_S = 0.5
LOG_EVERY_S = 5.0
INTERRUPTED_EXIT = 130  # 128 + SIGINT, as a shell reports a command stopped by Ctrl-C


class Interrupt:
    """While entered (on the main thread), SIGINT sets ``stopped`` instead of raising
    KeyboardInterrupt; a second Ctrl-C raises as usual. Off the main thread it only holds the flag."""

    def __init__(self) -> None:
        self.stopped = False
        self._previous: Any = None

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.stopped:
            raise KeyboardInterrupt
        self.stopped = True

    def __enter__(self) -> Interrupt:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
            self._previous = None


class Progress:
    """``update(events, done, at_ms)`` after each batch: ``events`` read so far, ``done`` units of
    ``total`` (messages of the range, or bytes of the input file), ``at_ms`` the event time reached."""

    def __init__(self, what: str, total: int | None, unit: str = "msg", out: IO[str] | None = None,
                 tty: bool | None = None) -> None:
        self.what = what
        self.total = total
        self.unit = unit
        self._out = out if out is not None else sys.stderr
        self._tty = self._out.isatty() if tty is None else tty
        self._started = self._last = time.monotonic()
        self._every_s = BAR_EVERY_S if self._tty else LOG_EVERY_S
        self.events = 0
        self.done = 0
        self.at_ms: int | None = None
        self._bar: Any = None  # drawn from the first update on: the total is known by then

    def update(self, events: int, done: int, at_ms: int | None) -> None:
        self.events, self.done = events, done
        if at_ms is not None:
            self.at_ms = at_ms
        now = time.monotonic()
        if now - self._last >= self._every_s:
            self._last = now
            self._show(now)

    def _rate(self, now: float) -> float:
        return self.events / max(now - self._started, 1e-9)

    def _show(self, now: float) -> None:
        at = "-" if self.at_ms is None else rfc3339_ms(self.at_ms)
        if self._tty and self._bar is None:
            from tqdm import tqdm

            # A terminal that reports no size (0 x 0, as under `script`) would hide the bar: 100 x 24 then.
            size = shutil.get_terminal_size((100, 24))
            self._bar = tqdm(total=self.total, unit=self.unit, unit_scale=True, file=self._out, desc=self.what,
                             mininterval=BAR_EVERY_S, ncols=size.columns, nrows=size.lines, leave=True)
        if self._bar is not None:
            if self.total is not None and self.done > self.total:
                self.total = self.done
            self._bar.total = self.total
            self._bar.update(self.done - self._bar.n)
            self._bar.set_postfix_str(f"{self._rate(now):,.0f} events/s, at {at}", refresh=True)
            return
        line: dict[str, Any] = {"event": f"{self.what}.progress", "events": self.events,
                                "events_per_s": round(self._rate(now)), "at": at}
        if self.total:
            elapsed_s = now - self._started
            line["done_pct"] = round(100 * self.done / self.total, 1)
            if self.done:
                line["eta_s"] = round(elapsed_s * max(self.total - self.done, 0) / self.done)
        print(orjson.dumps(line).decode(), file=self._out, flush=True)

    def close(self) -> None:
        if self._bar is not None or (self._tty and self.events):
            self._show(time.monotonic())
            self._bar.close()
            self._bar = None
