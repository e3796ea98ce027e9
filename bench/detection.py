"""Detection latency: publish -> alert on ``slo.alerts``, with a real nats-server and the processor.

Starts an embedded nats-server and the processor (in this process, as ``slo run`` runs it) on a
small config, subscribes to ``slo.alerts.>``, and runs trials one after the other: each publishes
one bad check (a series of its own, label ``trial``) with the wall clock as its event time, at a
random point of the sub-window grid, and waits for two alerts:

- ``BenchBadEvent`` (``bad_count > 0``): fires on the event (engine/instant.py). Measured:
  publish -> alert received, split into publish -> the batch holding it reaches the engine
  (the pull path) and the rest (engine, publish, PubAck, delivery to this subscriber).
- ``BenchBadRatio`` (``bad_ratio > 0.5``): decided at the boundary b ending the event's
  sub-window, which is due when event time reaches b + allowed lateness; on a quiet stream the
  idle clock (runtime/idle.py) closes it. Measured: the wait for the boundary, by design
  (b + lateness - publish), and the processing after it is due (alert received - (b + lateness)).

The next trial starts once both alerts of the last have arrived, so every boundary is closed by
the idle clock, not by a later event. Resolution 2 s and lateness 1 s keep the trials short.
The processor shares this process and its event loop with the publisher and the subscriber, and
this machine with other work: compare figures within one run.

    python bench/detection.py [--trials 60] [--poll]

``--poll`` measures the idle clock as it was before it was scheduled (a 0.25 s poll, and at least
1 s of silence), for a comparison on the same machine.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import orjson
import structlog

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from processor.bus.connect import ConnectOptions, connect  # noqa: E402
from processor.bus.embedded import EmbeddedServer  # noqa: E402
from processor.bus.streams import load_stream_definitions, provision_streams  # noqa: E402
from processor.config.load import load_config_text  # noqa: E402
from processor.runtime.processor import Processor  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
RESOLUTION_MS = 2_000
LATENESS_MS = 1_000
SUBJECT = "trade.bench.check"
CONFIG = f"""
version: 1
defaults: {{resolution: {RESOLUTION_MS // 1000}s, allowed_lateness: {LATENESS_MS // 1000}s, rule_window: 4s}}
slis:
  bench_checks: {{service: bench, kind: ratio, subject: {SUBJECT}, good: ok == true, labels: [trial]}}
alerts:
  - {{name: BenchBadEvent, sli: bench_checks, expr: bad_count > 0, window: 4s, severity: critical}}
  - {{name: BenchBadRatio, sli: bench_checks, expr: bad_ratio > 0.5, window: 4s, severity: warning}}
"""


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def row(name: str, values_ms: list[float], goal: str = "") -> str:
    return (f"  {name:<44} p50 {statistics.median(values_ms):8.1f} ms   p99 {percentile(values_ms, 0.99):8.1f} ms"
            f"   max {max(values_ms):8.1f} ms  {goal}")


async def main(trials: int, poll: bool) -> None:
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(40))
    spec = load_config_text(CONFIG)
    definitions = [d for d in load_stream_definitions(REPO / "streams") if d["name"] in ("TRADE", "SLO")]
    received: dict[tuple[str, str], float] = {}  # (alertname, trial) -> epoch ms received
    ingested: dict[str, float] = {}  # trial -> epoch ms its batch reached the engine
    arrived = asyncio.Event()

    async def on_alert(msg) -> None:
        body = orjson.loads(msg.data)
        if body["status"] == "firing":
            received.setdefault((body["labels"]["alertname"], body["labels"]["trial"]), time.time() * 1000)
            arrived.set()

    with tempfile.TemporaryDirectory(prefix="slo-bench-") as store:
        async with EmbeddedServer(Path(store)) as server:
            nc = await connect(ConnectOptions(url=server.url, name="bench"))
            await provision_streams(nc, definitions, structlog.get_logger())
            await nc.subscribe("slo.alerts.>", cb=on_alert)
            proc = Processor(spec, nc, definitions, idle_after_s=1.0 if poll else 0.2, checkpoint_interval_s=3600,
                             consumer_prefix="detect")
            if poll:
                from processor.runtime import lane as lane_module

                lane_module.Lane._pull_timeout_s = lambda self: lane_module.PULL_TIMEOUT_S  # type: ignore[method-assign]
            await proc.start()
            engine = proc.lanes["TRADE"].engine
            ingest = engine.ingest

            def timed_ingest(batch, *args, **kwargs):
                now_ms = time.time() * 1000
                for msg in batch:
                    ingested.setdefault(orjson.loads(msg.data)["trial"], now_ms)
                return ingest(batch, *args, **kwargs)

            engine.ingest = timed_ingest  # type: ignore[method-assign]
            runner = asyncio.create_task(proc.run())
            js = nc.jetstream()
            published: dict[str, float] = {}
            instant, pulled, after_pull, waited, processing = [], [], [], [], []
            try:
                for i in range(-1, trials):
                    trial = f"t{i}"
                    await asyncio.sleep(random.uniform(0.05, RESOLUTION_MS / 1000))  # a random grid position
                    ts_ms = time.time_ns() // 1_000_000
                    published[trial] = time.time() * 1000
                    await js.publish(SUBJECT, orjson.dumps({"ts": ts_ms, "ok": False, "trial": trial}))
                    deadline = time.monotonic() + 20
                    while not all((name, trial) in received for name in ("BenchBadEvent", "BenchBadRatio")):
                        arrived.clear()
                        await asyncio.wait_for(arrived.wait(), timeout=max(0.01, deadline - time.monotonic()))
                    if i < 0:
                        continue  # the first starts the processor's grid: not a trial
                    due_ms = ts_ms - ts_ms % RESOLUTION_MS + RESOLUTION_MS + LATENESS_MS
                    instant.append(received[("BenchBadEvent", trial)] - published[trial])
                    pulled.append(ingested[trial] - published[trial])
                    after_pull.append(received[("BenchBadEvent", trial)] - ingested[trial])
                    waited.append(due_ms - published[trial])
                    processing.append(received[("BenchBadRatio", trial)] - due_ms)
            finally:
                proc.stop()
                await runner
                await nc.close()
    clock = "polled every 0.25 s, idle_after 1 s" if poll else "scheduled at the boundary, idle_after 0.2 s"
    print(f"{trials} trials, resolution {RESOLUTION_MS} ms, allowed lateness {LATENESS_MS} ms, idle clock {clock}")
    print("(a) fires on the event (bad_count > 0):")
    print(row("publish -> alert received", instant, "(goal p99 < 50 ms)"))
    print(row("  publish -> batch reaches the engine (pull)", pulled))
    print(row("  engine -> publish -> PubAck -> received", after_pull))
    print("(b) decided at the boundary (bad_ratio > 0.5):")
    print(row("waiting for the boundary + lateness (design)", waited))
    print(row("processing after the boundary is due", processing, "(goal p99 < 100 ms)"))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--trials", type=int, default=60)
    parser.add_argument("--poll", action="store_true", help="the idle clock as it was: polled, 1 s idle")
    args = parser.parse_args()
    asyncio.run(main(args.trials, args.poll))
