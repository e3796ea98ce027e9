"""Failover, RPO and catch-up of `slo run --standby` for the shipped config at the document's
baseline volume (PLATFORM-SLOS.md "Current Baseline": 10,000 event messages a minute).

An embedded nats-server; the simulator publishes the whole platform's traffic live (paced against
the wall clock, about 10,000 events a minute) for the whole run. Two `slo run --standby` processes
of config/slo.yaml with the shipped settings (checkpoint every 15 s, lease TTL 5 s): A active, B
standby. Then:

1. kill -9 A at a random point of its checkpoint interval: the failover time (kill -> B ready,
   restored from A's last checkpoint), the events B re-applies (RPO: what A had acked after its
   last checkpoint; at most one checkpoint interval's, and never counted twice: the outputs
   repeat under the same Nats-Msg-Id), and B's time to catch up with the live stream;
2. kill -9 B, and a plain `slo run` started ``--down`` seconds later: its time to be ready and to
   catch up with everything published while nothing ran (a restart after a crash).

At the end it reads the SLO stream and counts the messages stored twice under one id (0 expected).

    python bench/failover.py [--warm 20] [--down 30] [--seed 1]

Figures from a shared 2-core machine are noisy; the bounds printed beside them are the design's.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import signal
import sys
import tempfile
import time
from collections import Counter
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from processor.bus.connect import ConnectOptions, connect  # noqa: E402
from processor.bus.embedded import EmbeddedServer  # noqa: E402
from processor.bus.jsadmin import stream_last_seq  # noqa: E402
from processor.runtime.lease import DEFAULT_LEASE_TTL_S  # noqa: E402
from processor.runtime.processor import CHECKPOINT_INTERVAL_S  # noqa: E402
from processor.simulate import Simulator  # noqa: E402
from processor.simulate.publish import publish  # noqa: E402
from tests.slorun import MSG_ID, STREAMS_DIR, SloRun, acked_seq, checkpoint_seqs, stream_messages  # noqa: E402

BASELINE_PER_MIN = 10_000
# The simulator's rate is gateway requests a second; the platform publishes ~2.2 events per one.
SIM_RATE = 76.0
STREAMS = ("AI", "ANALYTICS", "MARKET", "TRADE")


async def positions(nc, js) -> tuple[dict[str, int], dict[str, int]]:
    """(each stream's last sequence, the processor's ack floor on it)."""
    return ({s: await stream_last_seq(nc, s) for s in STREAMS}, {s: await acked_seq(js, s) for s in STREAMS})


async def caught_up_s(run: SloRun, nc, js, since_s: float) -> float:
    """Seconds from ``since_s`` until the run has acked, on every stream, all that the stream held
    when it became ready (what piled up while nothing ran, and the events re-applied)."""
    await run.wait_for_log("processor.ready", timeout_s=120)
    target, _ = await positions(nc, js)
    while True:
        _, acked = await positions(nc, js)
        if all(acked[s] >= target[s] for s in STREAMS):
            return time.monotonic() - since_s
        assert run.proc.poll() is None, run.tail()
        await asyncio.sleep(0.05)


async def ready_s(run: SloRun, since_s: float, nth: int = 1) -> float:
    while len(run.logged("processor.ready")) < nth:
        assert run.proc.poll() is None, run.tail()
        await asyncio.sleep(0.01)
    return time.monotonic() - since_s


def _stamp(record: dict) -> float:
    return datetime.fromisoformat(record["timestamp"].replace("Z", "+00:00")).timestamp()


async def main(args: argparse.Namespace) -> None:
    rng = random.Random(args.seed)
    tmp = Path(tempfile.mkdtemp(prefix="failover-"))
    async with EmbeddedServer(tmp / "nats") as server:
        nc = await connect(ConnectOptions(url=server.url))
        js = nc.jetstream()
        start_ms = int(time.time() * 1000)
        span_s = args.warm + CHECKPOINT_INTERVAL_S + args.down + 120
        feed_started_s = time.monotonic()
        feed = asyncio.create_task(publish(nc, Simulator(start_ms, seed=args.seed, rate=SIM_RATE),
                                           start_ms + int(span_s * 1000), streams_dir=STREAMS_DIR, time_scale=1.0))
        runs = []
        try:
            a = SloRun(server.url, tmp / "a.log", args=("--standby",))
            runs.append(a)
            await a.wait_for_log("processor.ready", timeout_s=60)
            b = SloRun(server.url, tmp / "b.log", args=("--standby",))
            runs.append(b)
            await b.wait_for_log("lease.standby", timeout_s=60)
            await asyncio.sleep(args.warm + rng.uniform(0, CHECKPOINT_INTERVAL_S))

            # 1. kill -9 the active.
            fed_s = time.monotonic()
            last, _ = await positions(nc, js)
            a.proc.kill()
            a.proc.wait()
            killed_s = time.monotonic()
            _, acked = await positions(nc, js)
            saved = await checkpoint_seqs(nc) or {}
            failover_s = await ready_s(b, killed_s)
            takeover_catch_up_s = await caught_up_s(b, nc, js, killed_s)
            reapplied = {s: acked[s] - saved.get(s, 0) for s in STREAMS}

            # 2. kill -9 the last one; a plain restart --down seconds later.
            b.proc.kill()
            b.proc.wait()
            await asyncio.sleep(args.down)
            before, acked_before = await positions(nc, js)
            restarted_s, restarted_wall_s = time.monotonic(), time.time()
            c = SloRun(server.url, tmp / "c.log")
            runs.append(c)
            restart_ready_s = await ready_s(c, restarted_s)
            connected_s = _stamp(c.logged("nats.connected")[0]) - restarted_wall_s
            restart_catch_up_s = await caught_up_s(c, nc, js, restarted_s)
            backlog = sum(before[s] - acked_before[s] for s in STREAMS)
            code, _ = await c.signal_and_wait(signal.SIGTERM)
            assert code == 0, c.tail()

            per_min = sum(last.values()) / max(1e-9, fed_s - feed_started_s) * 60
            dup = Counter(m.headers[MSG_ID] for m in await stream_messages(js, "SLO", "slo.>") if m.headers)
        finally:
            feed.cancel()
            for run in runs:
                run.ensure_gone()
            await nc.close()

    interval_events = CHECKPOINT_INTERVAL_S * per_min / 60
    print(f"live feed: {per_min:,.0f} events/min (baseline {BASELINE_PER_MIN:,}); checkpoint every "
          f"{CHECKPOINT_INTERVAL_S:g} s, lease TTL {DEFAULT_LEASE_TTL_S:g} s; shared 2-core machine")
    print(f"failover (kill -9 -> standby ready):   {failover_s:5.2f} s   (goal < 10 s; TTL + poll + start)")
    print(f"  caught up with the live stream:      {takeover_catch_up_s:5.2f} s after the kill")
    print(f"RPO, events re-applied by the standby: {sum(reapplied.values()):5d}     per stream {reapplied} "
          f"(bound: one checkpoint interval, ~{interval_events:,.0f} events)")
    print(f"restart after {args.down:g} s down: ready in {restart_ready_s:5.2f} s ({connected_s:.2f} s of it to start "
          f"the interpreter and connect), caught up in {restart_catch_up_s:5.2f} s ({backlog:,} events behind at start)")
    print(f"messages stored twice under one Nats-Msg-Id: {sum(1 for n in dup.values() if n > 1)} "
          f"(of {len(dup):,} in the SLO stream)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--warm", type=float, default=20.0, help="seconds of live traffic before the kill")
    parser.add_argument("--down", type=float, default=30.0, help="seconds between the second kill and the restart")
    parser.add_argument("--seed", type=int, default=1)
    asyncio.run(main(parser.parse_args()))
