"""Bare pull-and-ack throughput: BatchPuller against nats-py's own pull_subscribe().fetch().

Starts an embedded nats-server, fills the ANALYTICS stream with N small gateway events, then
drains the same backlog with fresh durables: once per BatchPuller batch size, once with fetch().
"Bare" means nothing is done with a message beyond receiving it; the last message of each batch is
acked (AckPolicy ALL), as the processor does. This is the ceiling the end-to-end pipeline is
measured against (the target: at least 0.85 of it).

    python bench/throughput_pull.py [--n 200000] [--batch-sizes 250,500,1000,2000,5000] [--repeat 3]

Measured on the 2-core dev machine (nats-server 2.15.1, nats-py 2.16, 200k events, medians of 3;
run to run noise is about +-10 %): batch_size 100: ~115k msgs/s, 250: ~150k, 500: ~150k,
1000: ~160k, 2000: ~170k, 5000: ~165k; nats-py fetch(1000): ~32k. The curve is flat from about
500 up; below 250 the per-request round trip shows. 1000 is the default: on a plateau, and a
batch the engine turns around in a few milliseconds.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path

import orjson
import structlog
from nats.aio.client import Client
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from processor.bus.jsadmin import stream_last_seq
from processor.bus.connect import ConnectOptions, connect
from processor.bus.consumer import BatchPuller
from processor.bus.embedded import EmbeddedServer
from processor.bus.streams import load_stream_definitions, provision_streams

STREAM = "ANALYTICS"
SUBJECT = "analytics.gateway.request"
REPO = Path(__file__).resolve().parents[1]
_FLUSH_EVERY = 5_000


def gateway_event(i: int, base_ms: int) -> dict:
    """The i-th event of the synthetic gateway backlog: 1 ms apart, 1 % of them 503s."""
    return {
        "ts": base_ms + i,
        "route": "/v1/orders",
        "method": "POST",
        "status_code": 200 if i % 100 else 503,
        "latency_ms": 12.5 + (i % 50),
        "rate_limited": False,
        "rate_limit_correct": True,
    }


async def publish_backlog(nc: Client, n: int, subject: str = SUBJECT) -> float:
    """Core-publish ``n`` gateway events; returns msgs/s stored."""
    # A millisecond apart, ending now: no event time is ahead of the moment it is stored (the
    # processor rejects events more than max_future_skew ahead of their stream timestamp).
    base_ms = int(time.time() * 1000) - n
    return await publish_messages(nc, ((subject, orjson.dumps(gateway_event(i, base_ms))) for i in range(n)))


async def publish_messages(nc: Client, messages: Iterable[tuple[str, bytes]], stream: str = STREAM) -> float:
    """Core-publish (subject, payload) pairs in order, with a flush every few thousand, until
    ``stream`` has stored them all; returns msgs/s stored."""
    started_s = time.perf_counter()
    stored_before = await _stored(nc, stream)
    n = 0
    for subject, payload in messages:
        await nc.publish(subject, payload)
        n += 1
        if n % _FLUSH_EVERY == 0:
            # Without a flush now and then, the client buffers everything and the server falls
            # behind; a flush is a round trip that lets JetStream keep up.
            await nc.flush()
    await nc.flush()
    while await _stored(nc, stream) < stored_before + n:
        await asyncio.sleep(0.01)
    return n / (time.perf_counter() - started_s)


async def _stored(nc: Client, stream: str) -> int:
    # Messages ever stored: the stream's last sequence (the bench never deletes any).
    return await stream_last_seq(nc, stream)


async def measure_bare_pull(
    nc: Client, stream: str, durable: str, n: int, *, batch_size: int = 1000
) -> float:
    """Pull ``n`` messages with a new BatchPuller on ``durable``, acking each batch's last; msgs/s."""
    puller = BatchPuller(nc, stream, durable, batch_size=batch_size)
    await puller.start()
    received = 0
    started_s = time.perf_counter()
    try:
        while received < n:
            batch = await puller.next_batch(timeout_s=1.0)
            if batch:
                received += len(batch)
                await puller.ack(batch[-1])
        elapsed_s = time.perf_counter() - started_s
    finally:
        await puller.stop()
    return received / elapsed_s


async def measure_nats_py_fetch(nc: Client, stream: str, durable: str, n: int, batch: int) -> float:
    """The same job with nats-py's ``pull_subscribe(...).fetch(batch)``; msgs/s."""
    js = nc.jetstream()
    sub = await js.pull_subscribe(
        SUBJECT,
        durable=durable,
        stream=stream,
        config=ConsumerConfig(
            ack_policy=AckPolicy.ALL,
            deliver_policy=DeliverPolicy.ALL,
            max_ack_pending=max(20 * batch, 50_000),
        ),
    )
    received = 0
    started_s = time.perf_counter()
    while received < n:
        msgs = await sub.fetch(batch, timeout=1.0)
        received += len(msgs)
        await msgs[-1].ack()
    elapsed_s = time.perf_counter() - started_s
    await sub.unsubscribe()
    return received / elapsed_s


async def main(n: int, batch_sizes: list[int], fetch_batch: int, repeat: int) -> None:
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(30))
    with tempfile.TemporaryDirectory(prefix="slo-bench-") as store:
        async with EmbeddedServer(Path(store)) as server:
            nc = await connect(ConnectOptions(url=server.url, name="bench"))
            definitions = [
                d for d in load_stream_definitions(REPO / "streams") if d["name"] == STREAM
            ]
            await provision_streams(nc, definitions, structlog.get_logger())
            publish_rate = await publish_backlog(nc, n)
            print(f"backlog: {n:,} events on {SUBJECT} ({publish_rate:,.0f} msgs/s stored)")

            rates: dict[int, list[float]] = {size: [] for size in batch_sizes}
            for round_no in range(repeat):
                for size in batch_sizes:
                    rate = await measure_bare_pull(
                        nc, STREAM, f"bare_{size}_{round_no}", n, batch_size=size
                    )
                    rates[size].append(rate)
                    print(f"  BatchPuller batch_size={size:>5}: {rate:>10,.0f} msgs/s")
            fetch_rates = []
            for round_no in range(repeat):
                rate = await measure_nats_py_fetch(nc, STREAM, f"fetch_{round_no}", n, fetch_batch)
                fetch_rates.append(rate)
                print(f"  nats-py fetch({fetch_batch}):        {rate:>10,.0f} msgs/s")
            await nc.close()

    medians = {size: statistics.median(r) for size, r in rates.items()}
    top_size = max(medians, key=lambda size: medians[size])
    fetch_median = statistics.median(fetch_rates)
    print()
    print(f"median of {repeat} round(s):")
    for size, rate in medians.items():
        print(f"  BatchPuller batch_size={size:>5}: {rate:>10,.0f} msgs/s")
    print(f"bare pull-and-ack (BatchPuller, batch_size={top_size}): {medians[top_size]:,.0f} msgs/s")
    print(f"nats-py pull_subscribe().fetch({fetch_batch}):       {fetch_median:,.0f} msgs/s")
    print(f"ratio: {medians[top_size] / fetch_median:.2f}x")


def _parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--n", type=int, default=200_000, help="backlog size (default 200000)")
    parser.add_argument(
        "--batch-sizes",
        default="250,500,1000,2000,5000",
        help="BatchPuller batch sizes to try, comma-separated",
    )
    parser.add_argument("--fetch-batch", type=int, default=1000, help="batch of nats-py fetch()")
    parser.add_argument("--repeat", type=int, default=3, help="rounds; medians are reported")
    return parser.parse_args(argv)


if __name__ == "__main__":
    args = _parse_args(sys.argv[1:])
    sizes = [int(s) for s in args.batch_sizes.split(",") if s.strip()]
    asyncio.run(main(args.n, sizes, args.fetch_batch, args.repeat))
