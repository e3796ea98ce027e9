"""End-to-end throughput against the bare pull-and-ack ceiling, measured in one run.

Starts an embedded nats-server, publishes a backlog of N gateway events to
``analytics.gateway.request`` (stream ANALYTICS), then drains the same backlog twice per round,
alternating the order so neither always runs on a warmer machine:

- bare:       BatchPuller pulls every message and acks each batch's last one, nothing else;
- end to end: the processor with config/slo.yaml (decode, extract, sketch, evaluate rules and
              budgets, publish outputs and wait for their PubAcks, ack).

It prints both rates, their ratio (the design's target: end to end >= 0.85 of bare, and >= 100k
events/s), and the rates of the engine alone on the same payloads in memory.

    python bench/throughput.py [--n 200000] [--rounds 3] [--batch-size 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import orjson
import structlog

sys.path.insert(0, str(Path(__file__).resolve().parent))

from throughput_pull import STREAM, SUBJECT, gateway_event, measure_bare_pull, publish_backlog  # noqa: E402

from processor.bus.connect import ConnectOptions, connect  # noqa: E402
from processor.bus.embedded import EmbeddedServer  # noqa: E402
from processor.bus.streams import load_stream_definitions, provision_streams  # noqa: E402
from processor.engine import Engine  # noqa: E402
from processor.engine.input import reads_input  # noqa: E402
from processor.runtime.processor import Processor  # noqa: E402
from processor.config.load import load_config  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


async def measure_end_to_end(nc, spec, definitions, n: int, round_no: int, batch_size: int) -> float:
    proc = Processor(
        spec,
        nc,
        definitions,
        batch_size=batch_size,
        checkpoint_key=f"bench-{round_no}",
        checkpoint_interval_s=3600,
        idle_after_s=3600,
        consumer_prefix=f"bench{round_no}",
    )
    await proc.start()
    lane = proc.lanes[STREAM]
    started_s = time.perf_counter()
    runner = asyncio.create_task(proc.run())
    while lane.stats.accepted + lane.stats.rejected + lane.stats.ignored < n:
        await asyncio.sleep(0.002)
    elapsed_s = time.perf_counter() - started_s
    proc.stop()
    await runner
    return n / elapsed_s


@dataclass
class _Msg:
    subject: str
    data: bytes
    reply: str = ""


def measure_engine_only(spec, n: int, batch_size: int) -> float:
    base_ms = int(time.time() * 1000)
    msgs = [_Msg(SUBJECT, orjson.dumps(gateway_event(i, base_ms))) for i in range(n)]
    # The gateway's SLIs and those measuring the input (every lane has them), as the lane has them.
    slis = tuple(s for s in spec.slis if s.subject == SUBJECT or reads_input(s.subject))
    part = spec.model_copy(update={"slis": slis})
    part = part.model_copy(update={
        "slos": tuple(s for s in spec.slos if s.sli in {x.name for x in part.slis}),
        "alerts": tuple(a for a in spec.alerts if a.sli in {x.name for x in part.slis}),
    })
    engine = Engine(part)
    started_s = time.perf_counter()
    for i in range(0, n, batch_size):
        engine.ingest(msgs[i : i + batch_size])
    return n / (time.perf_counter() - started_s)


async def main(n: int, rounds: int, batch_size: int) -> None:
    # Errors only: the synthetic backlog's 1 % of 503s overspends budgets, and that is not news here.
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(40))
    spec = load_config(REPO / "config" / "slo.yaml")
    definitions = load_stream_definitions(REPO / "streams")
    print(f"engine alone, in memory: {measure_engine_only(spec, n, batch_size):,.0f} events/s")
    with tempfile.TemporaryDirectory(prefix="slo-bench-") as store:
        async with EmbeddedServer(Path(store)) as server:
            nc = await connect(ConnectOptions(url=server.url, name="bench"))
            await provision_streams(nc, definitions, structlog.get_logger())
            rate = await publish_backlog(nc, n)
            print(f"backlog: {n:,} events on {SUBJECT} ({rate:,.0f} msgs/s stored)")
            bare, e2e = [], []
            for r in range(rounds):
                order = ("bare", "e2e") if r % 2 == 0 else ("e2e", "bare")
                for what in order:
                    if what == "bare":
                        bare.append(await measure_bare_pull(nc, STREAM, f"bare_{r}", n, batch_size=batch_size))
                        print(f"  round {r + 1}: bare pull-and-ack {bare[-1]:>10,.0f} msgs/s")
                    else:
                        e2e.append(await measure_end_to_end(nc, spec, definitions, n, r, batch_size))
                        print(f"  round {r + 1}: end to end       {e2e[-1]:>10,.0f} events/s")
            await nc.close()
    b, e = statistics.median(bare), statistics.median(e2e)
    print()
    print(f"median of {rounds} rounds, batch size {batch_size}, {n:,} events:")
    print(f"  bare pull-and-ack: {b:>10,.0f} msgs/s")
    print(f"  end to end:        {e:>10,.0f} events/s")
    print(f"  ratio end-to-end / bare: {e / b:.2f}   (target >= 0.85; events/s target >= 100,000)")


def bench_args(doc: str, n: int) -> argparse.Namespace:
    """--n (default ``n``), --rounds and --batch-size, the options of the end-to-end benches."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--n", type=int, default=n)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=1000)
    return parser.parse_args()


if __name__ == "__main__":
    args = bench_args(__doc__, 200_000)
    asyncio.run(main(args.n, args.rounds, args.batch_size))
