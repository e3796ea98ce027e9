"""Stopping promptly: the bounded waits, the stop-aware retry sleep, the test-only stall hooks, and
the signal handlers with their watchdog (in a small child process: the watchdog ends processes)."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time

import pytest

from processor.bus.backoff import Backoff, retry
from processor.runtime import stopping
from processor.runtime.stopping import stop_aware_sleep, within
from processor.runtime.testhooks import Stall, checkpoint_interval_s, stall_from_env


def test_the_bounded_steps_of_a_stop_end_before_the_watchdog_which_ends_before_the_deadline():
    # The final checkpoint may use what the lanes leave of their grace, not more.
    steps_s = (stopping.LANE_GRACE_S + stopping.CANCEL_GRACE_S + stopping.CHECKPOINT_GRACE_S
               + stopping.CLOSE_GRACE_S + stopping.EMBEDDED_STOP_S)
    assert (True, True) == (steps_s < stopping.FORCED_EXIT_S, stopping.FORCED_EXIT_S + 0.5 < stopping.STOP_DEADLINE_S)


async def test_within_returns_what_finished_in_time():
    async def answer() -> int:
        return 42

    assert (True, 42) == await within(1.0, answer())


async def test_within_cancels_what_did_not_finish_and_does_not_wait_for_it():
    never = asyncio.get_running_loop().create_future()
    started_s = time.monotonic()
    assert (False, None) == await within(0.05, never)
    assert time.monotonic() - started_s < 2.0
    await asyncio.sleep(0)
    assert never.cancelled()


async def test_a_stop_cuts_a_retrys_wait_for_the_bus_short():
    stop = asyncio.Event()
    attempts = []

    async def bus_down() -> None:
        attempts.append(time.monotonic())
        if len(attempts) == 1:
            asyncio.get_running_loop().call_later(0.05, stop.set)
        raise ConnectionError("bus down")

    with pytest.raises(ConnectionError):
        await retry(bus_down, backoff=Backoff(first_s=60.0, max_s=60.0),
                    retry_if=lambda exc: not stop.is_set(), sleep=stop_aware_sleep(stop))
    # The attempt after the cut-short wait is the last: it fails with the stop set.
    assert 2 == len(attempts)
    assert attempts[1] - attempts[0] < 30.0


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, None),
        ({"SLO_TEST_STALL": "publish:3:2"}, ("publish", 3, 2)),
        ({"SLO_TEST_STALL": "engine:7"}, ("engine", 7, 0)),
    ],
)
def test_the_stall_hook_is_read_from_the_environment(env, expected):
    stall = stall_from_env(env)
    assert expected == (None if stall is None else (stall.point, stall.nth, stall.keep))


@pytest.mark.parametrize("text", ["sleep:1", "publish:0:1", "engine:-2"])
def test_a_stall_hook_that_names_no_point_is_refused(text):
    with pytest.raises(ValueError, match="SLO_TEST_STALL"):
        stall_from_env({"SLO_TEST_STALL": text})


def test_a_stall_is_due_once_at_the_nth_pass_of_its_point():
    stall = Stall("publish", 2, keep=1)
    assert [False, False, True, False] == [stall.reached(p) for p in ("engine", "publish", "publish", "publish")]


def test_the_checkpoint_interval_hook_overrides_the_default_only_when_set():
    assert (15.0, 0.2) == (checkpoint_interval_s({}, 15.0), checkpoint_interval_s({"SLO_TEST_CHECKPOINT_INTERVAL_S": "0.2"}, 15.0))


# A process like `slo run`: StopSignals installed, then the loop either waits for the stop or is
# held by a sleep that is not awaited, as a long engine call holds it.
CHILD = """
import asyncio, sys, time
import structlog
from processor.runtime.stopping import StopSignals

async def main():
    stop = asyncio.Event()
    signals = StopSignals(stop, structlog.get_logger(), forced_exit_s=float(sys.argv[2]))
    signals.progress = lambda: {"ANALYTICS": {"acked_seq": 7}}
    signals.install()
    print("ready", flush=True)
    if sys.argv[1] == "held":
        time.sleep(60)
    await stop.wait()
    signals.uninstall()
    print("stopped by the loop", flush=True)

asyncio.run(main())
"""


def child(mode: str, forced_exit_s: float) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", CHILD, mode, str(forced_exit_s)], stdout=subprocess.PIPE, text=True)
    assert "ready\n" == proc.stdout.readline()
    return proc


def signal_and_wait(proc: subprocess.Popen, *signals: signal.Signals) -> tuple[int, float, str]:
    started_s = time.monotonic()
    for sig in signals:
        proc.send_signal(sig)
        time.sleep(0.2)  # two signals, not one coalesced by the kernel
    out, _ = proc.communicate(timeout=30)
    return proc.returncode, time.monotonic() - started_s, out


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_stops_a_responsive_loop_which_then_ends_by_itself(sig):
    code, took_s, out = signal_and_wait(child("waiting", 60.0), sig)
    assert (0, True, "stopped by the loop\n") == (code, took_s < 10, out)


def test_a_loop_held_past_the_deadline_is_ended_by_the_watchdog_with_what_it_had_done():
    code, took_s, out = signal_and_wait(child("held", 1.0), signal.SIGTERM)
    assert (1, True) == (code, 1.0 <= took_s < 10)
    assert "processor.stop_forced" in out and "stop deadline" in out and "'acked_seq': 7" in out


def test_a_second_signal_ends_a_held_loop_at_once():
    code, took_s, out = signal_and_wait(child("held", 60.0), signal.SIGTERM, signal.SIGINT)
    assert (1, True) == (code, took_s < 10)
    assert "second signal (SIGINT)" in out
