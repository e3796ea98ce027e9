"""Retry with exponential backoff: the one loop every waiting-for-the-bus path uses.

A :class:`Backoff` is the policy as data (first delay, growth, cap, and optionally a deadline or an
attempt cap); :func:`retry` calls an async function until it succeeds, sleeping between failures
that the caller's predicate accepts; :func:`poll` calls a check until it has an answer. The sleep
and the clock are arguments, so tests run the schedule without waiting for it.

Nothing here logs: the caller's ``on_retry`` does, with the delay about to be slept, so each
caller keeps its own message.
"""

from __future__ import annotations

__all__ = ["Backoff", "poll", "retry"]

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")

Sleep = Callable[[float], Awaitable[object]]
Clock = Callable[[], float]


@dataclass(frozen=True, slots=True)
class Backoff:
    """Wait ``first_s``, then ``factor`` times longer after each failure, never more than ``max_s``.

    ``deadline_s`` bounds the time from the first attempt after which a failure is final;
    ``max_attempts`` bounds the number of attempts. ``None``: no bound (the caller's ``retry_if``
    or an outer timeout ends the loop).
    """

    first_s: float
    max_s: float
    factor: float = 2.0
    deadline_s: float | None = None
    max_attempts: int | None = None

    def __post_init__(self) -> None:
        if self.first_s < 0 or self.max_s < self.first_s or self.factor < 1:
            raise ValueError("backoff needs 0 <= first_s <= max_s and factor >= 1")
        if self.max_attempts is not None and self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")

    def delays(self) -> Iterator[float]:
        """The delays between attempts, in order (endless; the caps are applied by ``retry``)."""
        delay_s = self.first_s
        while True:
            yield delay_s
            delay_s = min(delay_s * self.factor, self.max_s)


def _any_exception(exc: Exception) -> bool:
    return True


async def retry(
    attempt: Callable[[], Awaitable[T]],
    *,
    backoff: Backoff,
    retry_if: Callable[[Exception], bool] = _any_exception,
    on_retry: Callable[[Exception, float], object] | None = None,
    sleep: Sleep = asyncio.sleep,
    clock: Clock = time.monotonic,
) -> T:
    """``await attempt()`` until it returns, and return what it returns.

    After a failure: an exception that ``retry_if`` refuses, or one past the deadline or the last
    allowed attempt, is raised as it is; otherwise ``on_retry(exc, delay_s)`` is called and the
    next attempt follows ``delay_s`` later. Only ``Exception`` is caught, never a cancellation.
    """
    deadline_s = None if backoff.deadline_s is None else clock() + backoff.deadline_s
    attempts = 0
    for delay_s in backoff.delays():
        attempts += 1
        try:
            return await attempt()
        except Exception as exc:
            if not retry_if(exc):
                raise
            if backoff.max_attempts is not None and attempts >= backoff.max_attempts:
                raise
            if deadline_s is not None and clock() >= deadline_s:
                raise
            if on_retry is not None:
                on_retry(exc, delay_s)
        await sleep(delay_s)
    raise AssertionError("unreachable: Backoff.delays() is endless")


class _NotYet(Exception):
    """A poll's check has no answer yet."""


async def poll(
    check: Callable[[], Awaitable[T | None]],
    *,
    backoff: Backoff,
    sleep: Sleep = asyncio.sleep,
    clock: Clock = time.monotonic,
) -> T:
    """``await check()`` until it returns something other than None, and return that.

    Exceptions from ``check`` end the poll. When the backoff's deadline or attempt cap is reached
    first, raises ``TimeoutError``.
    """

    async def once() -> T:
        answer = await check()
        if answer is None:
            raise _NotYet
        return answer

    try:
        return await retry(
            once, backoff=backoff, retry_if=lambda exc: isinstance(exc, _NotYet), sleep=sleep, clock=clock
        )
    except _NotYet:
        raise TimeoutError("no answer before the backoff's deadline or attempt cap") from None
