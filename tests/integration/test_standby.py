"""Active and standby (`slo run --standby`, processor/runtime/lease.py): real `slo run` processes on a
real nats-server, the active killed (SIGKILL) and frozen (SIGSTOP past the lease TTL, then SIGCONT:
a network split as the frozen side sees it), end with exactly what one uninterrupted process says:
the alert history, budgets and SLI values a subscriber of the SLO stream reads, each message stored
once, and the final engine state (sketches, counts, alert states) of every stream.

One scenario, in order: A active, B and C standby; A killed mid-backlog, one of B and C takes over
within 10 s from A's last checkpoint; that one frozen mid-backlog, the last one takes over; the
frozen one thawed steps down without publishing or checkpointing again; the active stopped frees
the lease and the other takes over at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time

import pytest
import pytest_asyncio

from processor.bus.checkpoint import CheckpointStore, decode_checkpoint
from processor.bus.connect import ConnectOptions, connect
from processor.bus.embedded import EmbeddedServer
from processor.runtime.topology import BUS_LANE
from tests.slorun import (
    uninterrupted_run,
    Outputs,
    Runs,
    SloRun,
    acked_seq,
    assert_same_outputs,
    checkpoint_seqs,
    publish_scenario,
    slo_outputs,
    wait_until_acked,
)

pytestmark = pytest.mark.integration

# Checkpoints every 0.2 s (so that a kill lands between two of them, with a backlog behind), and
# no idle clock: the final state is then the events' alone, comparable between two runs.
HOOKS = {"SLO_TEST_CHECKPOINT_INTERVAL_S": "0.2", "SLO_TEST_IDLE_AFTER_S": "3600"}
STANDBY = ("--standby",)  # the default TTL, 5 s: what the failover time is promised for
TTL_S = 5.0


async def final_states(nc) -> dict[str, tuple[int, dict]]:
    """Every stream's (sequence, engine snapshot) in the stored checkpoint, but the bus monitor's
    (wall-clock measurements, never equal twice)."""
    raw = await CheckpointStore(nc).load()
    assert raw is not None
    return {stream: state for stream, state in decode_checkpoint(raw).items() if stream != BUS_LANE}


@pytest_asyncio.fixture(scope="module")
async def uninterrupted(tmp_path_factory) -> tuple[Outputs, dict]:
    """The scenario consumed by one plain `slo run` (no lease) that nothing interrupts."""
    outputs, states = await uninterrupted_run(tmp_path_factory.mktemp("uninterrupted"), HOOKS, final_states)
    assert {"firing", "resolved"} == {status for _, _, status, *_ in outputs.alerts}
    return outputs, states


async def logged_n(run: SloRun, event: str, n: int, timeout_s: float = 30.0) -> dict:
    """The ``n``-th ``event`` of ``run``'s log, once it is there."""
    deadline = time.monotonic() + timeout_s
    while len(found := run.logged(event)) < n:
        assert time.monotonic() < deadline, f"no {event} #{n} within {timeout_s:g} s: {run.tail()}"
        assert run.proc.poll() is None, run.tail()
        await asyncio.sleep(0.02)
    return found[n - 1]


async def until(check, what: str, *runs: SloRun, timeout_s: float = 60.0) -> None:
    """Until ``await check()`` is true, while every run is alive."""
    deadline = time.monotonic() + timeout_s
    while not await check():
        assert time.monotonic() < deadline, f"not {what} within {timeout_s:g} s"
        for run in runs:
            assert run.proc.poll() is None, run.tail()
        await asyncio.sleep(0.01)


async def freeze_active_at(js, seq: int, *runs: SloRun, timeout_s: float = 60.0) -> SloRun:
    """The active one of ``runs``, frozen (SIGSTOP) once ANALYTICS is acked up to ``seq``. Each
    look is taken with it frozen, and it runs only milliseconds between looks: running free, a
    fresh-clone CI run's active drained the rest of the backlog between the look that found it
    there and the kill (and again, once, while the test read every run's log to find the active
    between two looks: it is found once, and again only when it is no longer active)."""
    deadline = time.monotonic() + timeout_s
    active, _ = await the_active(*runs)
    while True:
        active.proc.send_signal(signal.SIGSTOP)
        if role(active) != "active":  # it stepped down on its own (a loaded machine): find the new one
            active.proc.send_signal(signal.SIGCONT)
            active, _ = await the_active(*runs)
            continue
        if await acked_seq(js, "ANALYTICS") >= seq:
            return active
        active.proc.send_signal(signal.SIGCONT)
        assert time.monotonic() < deadline, f"not acked up to {seq} within {timeout_s:g} s"
        await asyncio.sleep(0.003)


@contextlib.asynccontextmanager
async def throttled(run: SloRun, running_s: float = 0.002, period_s: float = 0.05):
    """``run`` let run ``running_s`` of every ``period_s`` (SIGSTOP, SIGCONT), and running again
    after. While the standbys start (seconds of Python start-up each, more on a loaded machine),
    an active running free drained the whole backlog once (a fresh-clone CI run, after nats-py
    was made to read 256 KiB at a time), leaving nothing to kill it in the middle of; throttled,
    it still renews its lease (a step of a renewal waits at most ``period_s``, its TTL is 5 s)."""
    done = asyncio.Event()

    async def cycle() -> None:
        while not done.is_set():
            run.proc.send_signal(signal.SIGSTOP)
            await asyncio.sleep(period_s - running_s)
            run.proc.send_signal(signal.SIGCONT)
            await asyncio.sleep(running_s)

    task = asyncio.create_task(cycle())
    try:
        yield
    finally:
        done.set()
        await task


_ROLES = {"lease.acquired": "active", "lease.standby": "standby", "lease.expired": "standby",
          "lease.lost": "standby", "lease.step_down": "standby"}


def role(run: SloRun) -> str | None:
    """What ``run`` last said it is. (On a machine this loaded, an active can miss its renewal
    deadline and step down by itself: the roles may swap, which must lose nothing either.)"""
    roles = [_ROLES[r["event"]] for r in run.records() if r.get("event") in _ROLES]
    return roles[-1] if roles else None


async def the_active(*runs: SloRun) -> tuple[SloRun, list[SloRun]]:
    """(the active one, the others), once one of them is active and ready."""
    found: list[SloRun] = []

    async def one_active() -> bool:
        found[:] = [r for r in runs if role(r) == "active" and r.logged("processor.ready")]
        return len(found) == 1

    await until(one_active, "one active instance", *runs, timeout_s=20)
    return found[0], [r for r in runs if r is not found[0]]


async def first_save_since_ready(run: SloRun, readies: int, timeout_s: float = 10.0) -> int:
    """The revision of ``run``'s first checkpoint save after its ``readies + 1``-th ready (its log
    line may come a moment after the save that the test saw in the bucket)."""
    deadline = time.monotonic() + timeout_s
    while True:
        records = run.records()
        ready_at = [i for i, r in enumerate(records) if r.get("event") == "processor.ready"][readies]
        saves = [r["revision"] for r in records[ready_at:] if r.get("event") == "checkpoint.saved"]
        if saves:
            return min(saves)
        assert time.monotonic() < deadline, run.tail()
        await asyncio.sleep(0.05)


def until_standby(run: SloRun, index: int) -> list[dict]:
    """``run``'s records from ``index`` up to its next ``lease.standby`` (what it did before it
    stepped down; it may legitimately be active again later)."""
    records = run.records()[index:]
    end = next(i for i, r in enumerate(records) if r.get("event") == "lease.standby")
    return records[: end + 1]


async def test_a_standby_takes_over_from_a_killed_or_frozen_active_and_the_outputs_are_one_uninterrupted_runs(
    uninterrupted, tmp_path
):
    async with EmbeddedServer(tmp_path / "nats") as server:
        nc = await connect(ConnectOptions(url=server.url))
        js = nc.jetstream()
        last_seqs = await publish_scenario(nc)
        total = last_seqs["ANALYTICS"]
        runs = Runs(server.url, tmp_path)
        try:
            a = runs.start(HOOKS, batch_size=250, args=STANDBY)
            assert "active" == (await a.wait_for_log("lease.acquired"))["role"]
            await a.wait_for_log("processor.ready")
            async with throttled(a):
                b, c = runs.start(HOOKS, batch_size=250, args=STANDBY), runs.start(HOOKS, batch_size=250, args=STANDBY)
                for standby in (b, c):
                    assert "standby" == (await standby.wait_for_log("lease.standby"))["role"]

            # kill -9 the active mid-backlog: a standby is active within 10 s, from its checkpoint.
            assert a is await freeze_active_at(js, total // 4, a)
            await a.kill()
            killed_s = time.monotonic()
            at_kill = await checkpoint_seqs(nc)
            assert at_kill is not None and 0 < at_kill["ANALYTICS"] < total
            new, _ = await the_active(b, c)
            failover_s = time.monotonic() - killed_s
            assert failover_s < 10, new.tail()
            assert at_kill == {r["stream"]: r["after_seq"] for r in new.logged("checkpoint.restored")}

            # The active frozen mid-backlog past the TTL: the last one takes over; the frozen one,
            # thawed, steps down without publishing or checkpointing again.
            frozen = await freeze_active_at(js, total // 2, b, c)
            other = c if frozen is b else b
            readies = len(other.logged("processor.ready"))
            standbys = len(frozen.logged("lease.standby"))
            try:
                frozen_at = await acked_seq(js, "ANALYTICS")
                assert frozen_at < total
                await logged_n(other, "processor.ready", readies + 1)

                async def checkpointed_past_the_freeze() -> bool:
                    # A write of the frozen one's would now overwrite the new active's checkpoint.
                    return (await checkpoint_seqs(nc))["ANALYTICS"] > frozen_at

                await until(checkpointed_past_the_freeze, "checkpointed past the freeze", other)
                before_thaw = len(frozen.records())
            finally:
                frozen.proc.send_signal(signal.SIGCONT)
            await logged_n(frozen, "lease.standby", standbys + 1)
            thawed = until_standby(frozen, before_thaw)
            events = [r.get("event", "") for r in thawed]
            assert {"lease.expired", "lease.lost"} & set(events), frozen.tail()
            assert [] == [e for e in events if e.startswith("alert.")], events
            # A save in flight at the freeze may log after the thaw: its write reached the server
            # before the takeover, so its revision is older than the new active's first save.
            taken_over = await first_save_since_ready(other, readies)
            late = [r["revision"] for r in thawed if r.get("event") == "checkpoint.saved"]
            assert [] == [rev for rev in late if rev >= taken_over], (late, taken_over, events)
            assert ["stepped down"] == [r["role"] for r in thawed if r.get("event") == "processor.stopped"]

            # The active stopped frees the lease: the standby takes over at once, not a TTL later.
            active, [standby] = await the_active(b, c)
            await wait_until_acked(js, last_seqs, active)
            readies = len(standby.logged("processor.ready"))
            code, took_s = await active.signal_and_wait(signal.SIGTERM)
            stopped_s = time.monotonic()
            assert (0, True) == (code, took_s < 10), active.tail()
            assert "lease.released" == [r["event"] for r in active.records() if r.get("event", "").startswith("lease.")][-1]
            await logged_n(standby, "processor.ready", readies + 1)
            assert time.monotonic() - stopped_s < TTL_S
            code, _ = await standby.signal_and_wait(signal.SIGTERM)
            assert 0 == code, standby.tail()

            outputs = await slo_outputs(js)
            states = await final_states(nc)
        finally:
            runs.end_all()
        await nc.close()

    expected_outputs, expected_states = uninterrupted
    assert_same_outputs(expected_outputs, outputs)
    assert expected_states == states
