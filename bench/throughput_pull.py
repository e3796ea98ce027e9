"""Bare pull-and-ack throughput: the lean BatchPuller against today's and nats-py's fetch().

Starts an embedded nats-server, fills the ANALYTICS stream with N small gateway events, then
drains the same backlog with fresh durables, in each round and for each batch size:

- lean:      BatchPuller reading the pull responses with bus/leanread.py (the processor's path);
- callback:  BatchPuller with ``lean=False``: the same puller on nats-py's subscription callback
             and ``Msg`` objects, which was the processor's path before the lean reader;
- nats-py's own ``pull_subscribe().fetch()``, with --fetch-batch (slow, so not by default).

"Bare" means nothing is done with a message beyond receiving it; the last message of each batch is
acked (AckPolicy ALL), as the processor does. This is the ceiling the end-to-end pipeline is
measured against (bench/throughput.py). Besides msgs/s it prints the client's CPU per message
(process time; nats-server runs in its own process and is not counted).

    python bench/throughput_pull.py [--n 200000] [--batch-sizes 1000] [--repeat 3] [--fetch-batch 1000]

Absolute rates drift +-20 % between runs on the 2-core dev machine (more when it is shared);
compare the ratios, which are measured in one run.
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
    nc: Client, stream: str, durable: str, n: int, *, batch_size: int = 1000, lean: bool = True
) -> float:
    """Pull ``n`` messages with a new BatchPuller on ``durable``, acking each batch's last; msgs/s.
    ``lean=False``: the subscription-callback path (nats-py ``Msg`` objects), the old baseline."""
    return (await measure_bare_pull_cpu(nc, stream, durable, n, batch_size=batch_size, lean=lean))[0]


async def measure_bare_pull_cpu(
    nc: Client, stream: str, durable: str, n: int, *, batch_size: int = 1000, lean: bool = True
) -> tuple[float, float]:
    """(msgs/s, client CPU µs per message) of ``measure_bare_pull``."""
    puller = BatchPuller(nc, stream, durable, batch_size=batch_size, lean=lean)
    await puller.start()
    if lean and not puller.lean:
        raise RuntimeError("the lean reader is not available with this nats-py")
    received = 0
    started_s, cpu_started_s = time.perf_counter(), time.process_time()
    try:
        while received < n:
            batch = await puller.next_batch(timeout_s=1.0)
            if batch:
                received += len(batch)
                await puller.ack(batch[-1])
        elapsed_s, cpu_s = time.perf_counter() - started_s, time.process_time() - cpu_started_s
    finally:
        await puller.stop()
    return received / elapsed_s, cpu_s / received * 1e6


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
    paths = {"lean": True, "callback": False}
    rates: dict[tuple[str, int], list[float]] = {(p, s): [] for s in batch_sizes for p in paths}
    cpu: dict[tuple[str, int], list[float]] = {key: [] for key in rates}
    fetch_rates = []
    with tempfile.TemporaryDirectory(prefix="slo-bench-") as store:
        async with EmbeddedServer(Path(store)) as server:
            nc = await connect(ConnectOptions(url=server.url, name="bench"))
            definitions = [
                d for d in load_stream_definitions(REPO / "streams") if d["name"] == STREAM
            ]
            await provision_streams(nc, definitions, structlog.get_logger())
            publish_rate = await publish_backlog(nc, n)
            print(f"backlog: {n:,} events on {SUBJECT} ({publish_rate:,.0f} msgs/s stored)")
            for round_no in range(repeat):
                for size in batch_sizes:
                    # Alternate which path goes first, so neither always runs on a warmer machine.
                    for path in paths if round_no % 2 == 0 else reversed(paths):
                        rate, us = await measure_bare_pull_cpu(
                            nc, STREAM, f"bare_{path}_{size}_{round_no}", n, batch_size=size, lean=paths[path]
                        )
                        rates[path, size].append(rate)
                        cpu[path, size].append(us)
                        print(f"  round {round_no + 1}: {path:>8} batch_size={size:>5}: {rate:>10,.0f} msgs/s"
                              f"  {us:5.2f} µs client CPU/msg")
                if fetch_batch:
                    rate = await measure_nats_py_fetch(nc, STREAM, f"fetch_{round_no}", n, fetch_batch)
                    fetch_rates.append(rate)
                    print(f"  round {round_no + 1}: nats-py fetch({fetch_batch}):    {rate:>10,.0f} msgs/s")
            await nc.close()

    print()
    print(f"median of {repeat} round(s), {n:,} events:")
    for size in batch_sizes:
        lean, old = statistics.median(rates["lean", size]), statistics.median(rates["callback", size])
        print(f"  batch_size={size:>5}: lean {lean:>10,.0f} msgs/s ({statistics.median(cpu['lean', size]):.2f} µs/msg),"
              f" callback {old:>10,.0f} msgs/s ({statistics.median(cpu['callback', size]):.2f} µs/msg),"
              f" ratio lean / callback {lean / old:.2f}  (target >= 1.5)")
    if fetch_rates:
        print(f"  nats-py pull_subscribe().fetch({fetch_batch}): {statistics.median(fetch_rates):,.0f} msgs/s")


def _parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--n", type=int, default=200_000, help="backlog size (default 200000)")
    parser.add_argument(
        "--batch-sizes",
        default="1000",
        help="BatchPuller batch sizes to try, comma-separated (default 1000, the processor's)",
    )
    parser.add_argument("--fetch-batch", type=int, default=0,
                        help="also measure nats-py fetch() with this batch (slow: ~16k msgs/s); 0: skip")
    parser.add_argument("--repeat", type=int, default=3, help="rounds; medians are reported")
    return parser.parse_args(argv)


if __name__ == "__main__":
    args = _parse_args(sys.argv[1:])
    sizes = [int(s) for s in args.batch_sizes.split(",") if s.strip()]
    asyncio.run(main(args.n, sizes, args.fetch_batch, args.repeat))
