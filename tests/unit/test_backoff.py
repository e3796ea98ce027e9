"""The one retry-with-backoff helper, run on a fake clock: no test here sleeps."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from processor.bus.backoff import Backoff, poll, retry


class FakeTime:
    """A clock that moves only when slept on, and a log of the sleeps."""

    def __init__(self) -> None:
        self.now_s = 0.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now_s

    async def sleep(self, delay_s: float) -> None:
        self.slept.append(delay_s)
        self.now_s += delay_s


class Flaky:
    """An attempt that fails ``failures`` times with ``error``, then returns ``"done"``."""

    def __init__(self, failures: int, error: Exception | None = None) -> None:
        self.failures = failures
        self.error = error or ConnectionError("bus down")
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error
        return "done"


@pytest.mark.parametrize(
    ("backoff", "expected"),
    [
        pytest.param(Backoff(0.1, 5.0), [0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 5.0, 5.0], id="doubles up to its cap"),
        pytest.param(Backoff(0.005, 0.1), [0.005, 0.01, 0.02, 0.04, 0.08, 0.1, 0.1, 0.1], id="from milliseconds"),
        pytest.param(Backoff(1.0, 1.0), [1.0] * 8, id="a constant delay when first equals max"),
        pytest.param(Backoff(0.1, 10.0, factor=3), [0.1, 0.3, 0.9, 2.7, 8.1, 10.0, 10.0, 10.0], id="another factor"),
    ],
)
def test_the_delays_grow_by_the_factor_and_stop_at_the_cap(backoff: Backoff, expected: list[float]) -> None:
    assert expected == pytest.approx(list(itertools.islice(backoff.delays(), 8)))


@pytest.mark.parametrize(
    "kwargs",
    [
        pytest.param({"first_s": -1, "max_s": 1}, id="a negative first delay"),
        pytest.param({"first_s": 2, "max_s": 1}, id="a cap below the first delay"),
        pytest.param({"first_s": 1, "max_s": 2, "factor": 0.5}, id="a shrinking factor"),
        pytest.param({"first_s": 1, "max_s": 2, "max_attempts": 0}, id="no attempt at all"),
    ],
)
def test_a_backoff_that_cannot_work_is_refused(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        Backoff(**kwargs)


async def test_retry_returns_the_first_success_after_sleeping_the_schedule() -> None:
    fake, attempt = FakeTime(), Flaky(failures=4)
    retried: list[tuple[str, float]] = []
    result = await retry(attempt, backoff=Backoff(0.1, 0.5), sleep=fake.sleep, clock=fake.clock,
                         on_retry=lambda exc, delay_s: retried.append((str(exc), delay_s)))
    assert "done" == result
    assert 5 == attempt.calls
    assert [0.1, 0.2, 0.4, 0.5] == pytest.approx(fake.slept)
    # on_retry hears each failure with the delay about to be slept, so it can log both.
    assert [("bus down", d) for d in fake.slept] == retried


async def test_a_success_at_once_neither_sleeps_nor_calls_on_retry() -> None:
    fake = FakeTime()
    result = await retry(Flaky(failures=0), backoff=Backoff(0.1, 5.0), sleep=fake.sleep, clock=fake.clock,
                         on_retry=lambda exc, delay_s: pytest.fail("no retry expected"))
    assert "done" == result
    assert [] == fake.slept


async def test_an_error_that_retry_if_refuses_is_raised_at_once() -> None:
    fake, attempt = FakeTime(), Flaky(failures=3, error=KeyError("a bug"))
    with pytest.raises(KeyError):
        await retry(attempt, backoff=Backoff(0.1, 5.0), retry_if=lambda exc: isinstance(exc, ConnectionError),
                    sleep=fake.sleep, clock=fake.clock)
    assert 1 == attempt.calls
    assert [] == fake.slept


async def test_retry_if_can_give_up_on_a_condition_outside_the_error() -> None:
    # As the outbox does: keep publishing while the bus is down, unless the processor is stopping.
    fake, attempt, stopping = FakeTime(), Flaky(failures=10), asyncio.Event()

    async def sleep_then_stop(delay_s: float) -> None:
        await fake.sleep(delay_s)
        if len(fake.slept) == 2:
            stopping.set()

    with pytest.raises(ConnectionError):
        await retry(attempt, backoff=Backoff(0.1, 5.0), retry_if=lambda exc: not stopping.is_set(),
                    sleep=sleep_then_stop, clock=fake.clock)
    assert 3 == attempt.calls


async def test_the_deadline_makes_the_first_failure_past_it_final() -> None:
    fake, attempt = FakeTime(), Flaky(failures=100)
    with pytest.raises(ConnectionError):
        await retry(attempt, backoff=Backoff(0.1, 1.0, deadline_s=2.0), sleep=fake.sleep, clock=fake.clock)
    # Attempts at 0, 0.1, 0.3, 0.7, 1.5 and 2.5 s; the one at 2.5 s is past the deadline.
    assert [0.1, 0.2, 0.4, 0.8, 1.0] == pytest.approx(fake.slept)
    assert 6 == attempt.calls


async def test_the_deadline_counts_the_time_the_attempts_take() -> None:
    fake = FakeTime()

    async def slow_failure() -> None:
        fake.now_s += 3.0
        raise ConnectionError("timed out")

    with pytest.raises(ConnectionError):
        await retry(slow_failure, backoff=Backoff(0.1, 1.0, deadline_s=5.0), sleep=fake.sleep, clock=fake.clock)
    assert [0.1] == fake.slept


async def test_a_success_before_the_deadline_is_returned() -> None:
    fake = FakeTime()
    assert "done" == await retry(Flaky(failures=3), backoff=Backoff(0.1, 1.0, deadline_s=2.0),
                                 sleep=fake.sleep, clock=fake.clock)


async def test_the_attempt_cap_counts_every_attempt() -> None:
    fake, attempt = FakeTime(), Flaky(failures=100)
    with pytest.raises(ConnectionError):
        await retry(attempt, backoff=Backoff(0.1, 1.0, max_attempts=3), sleep=fake.sleep, clock=fake.clock)
    assert 3 == attempt.calls
    assert [0.1, 0.2] == pytest.approx(fake.slept)


async def test_a_cancellation_is_never_retried() -> None:
    fake = FakeTime()

    async def cancelled() -> None:
        raise asyncio.CancelledError

    with pytest.raises(asyncio.CancelledError):
        await retry(cancelled, backoff=Backoff(0.1, 1.0), sleep=fake.sleep, clock=fake.clock)
    assert [] == fake.slept


async def test_poll_returns_the_first_answer_that_is_not_none() -> None:
    fake = FakeTime()
    answers = iter([None, None, None, "nats://127.0.0.1:4222"])

    async def check() -> str | None:
        return next(answers)

    assert "nats://127.0.0.1:4222" == await poll(check, backoff=Backoff(0.005, 0.1), sleep=fake.sleep, clock=fake.clock)
    assert [0.005, 0.01, 0.02] == pytest.approx(fake.slept)


async def test_an_error_in_the_check_ends_the_poll() -> None:
    fake = FakeTime()

    async def check() -> str | None:
        raise RuntimeError("the server exited")

    with pytest.raises(RuntimeError, match="exited"):
        await poll(check, backoff=Backoff(0.005, 0.1), sleep=fake.sleep, clock=fake.clock)
    assert [] == fake.slept


async def test_a_poll_without_an_answer_by_its_deadline_times_out() -> None:
    fake = FakeTime()

    async def check() -> str | None:
        return None

    with pytest.raises(TimeoutError):
        await poll(check, backoff=Backoff(0.5, 0.5, deadline_s=2.0), sleep=fake.sleep, clock=fake.clock)
    assert [0.5, 0.5, 0.5, 0.5] == fake.slept
