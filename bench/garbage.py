"""End-to-end throughput of a clean gateway backlog against the same backlog with 1 % garbage.

Starts two embedded nats-servers in one run: one holds N gateway events (bench/throughput_pull.py's
backlog), the other the same N events with one garbage message after every 100 of them, of varied
kinds: not JSON, truncated, not an object, a missing or mistyped field, a negative or untrackable
latency, an unreadable or late timestamp, deep nesting, a 16 KB blob. Each round drains both with
the processor and the shipped config (bench/throughput.py's end-to-end measure: decode, evaluate,
publish outputs and dead letters, wait for PubAcks, ack), alternating which goes first.

It prints the rates (messages/s, garbage included) and their ratio; issue 8's goal is a ratio of at
least 0.9 (throughput with 1 % garbage within 10 % of clean throughput).

    python bench/garbage.py [--n 100000] [--rounds 3] [--batch-size 2000]
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import AsyncExitStack
from pathlib import Path

import orjson
import structlog

sys.path.insert(0, str(Path(__file__).resolve().parent))

from throughput import bench_args, measure_end_to_end  # noqa: E402
from throughput_pull import SUBJECT, gateway_event, publish_messages  # noqa: E402

from processor.bus.connect import ConnectOptions, connect  # noqa: E402
from processor.bus.embedded import EmbeddedServer  # noqa: E402
from processor.bus.streams import load_stream_definitions, provision_streams  # noqa: E402
from processor.config.load import load_config  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
GARBAGE_EVERY = 100  # one garbage message after every 100 good ones: 1 % of the good events
FIRST_CLOSED_I = 20_000  # events 1 ms apart: by then a sub-window has closed, so an old one is late


def garbage(k: int, i: int, base_ms: int) -> bytes:
    """The k-th garbage message, placed after good event i: a different kind each time."""
    event = gateway_event(i, base_ms)
    good = orjson.dumps(event)
    kinds = [
        lambda: b"{not json",
        lambda: good[: len(good) // 2],
        lambda: b"[1, 2, 3]",
        lambda: orjson.dumps({k: v for k, v in event.items() if k != "latency_ms"}),
        lambda: orjson.dumps({**event, "latency_ms": "fast"}),
        lambda: orjson.dumps({**event, "latency_ms": -5}),
        lambda: orjson.dumps({**event, "latency_ms": 1e308}),
        lambda: orjson.dumps({**event, "ts": "yesterday"}),
        lambda: orjson.dumps({**event, "rate_limit_correct": "yes"}),
        lambda: b'{"ts": ' + b"[" * 200 + b"]" * 200 + b"}",
        lambda: b"\xff" * 16_384,
    ]
    if i >= FIRST_CLOSED_I:
        kinds.append(lambda: orjson.dumps({**event, "ts": base_ms}))  # late
    return kinds[k % len(kinds)]()


def with_garbage(n: int, base_ms: int) -> Iterator[tuple[str, bytes]]:
    for i in range(n):
        yield SUBJECT, orjson.dumps(gateway_event(i, base_ms))
        if i % GARBAGE_EVERY == GARBAGE_EVERY // 2:
            yield SUBJECT, garbage(i // GARBAGE_EVERY, i, base_ms)


def clean(n: int, base_ms: int) -> Iterator[tuple[str, bytes]]:
    return ((SUBJECT, orjson.dumps(gateway_event(i, base_ms))) for i in range(n))


async def main(n: int, rounds: int, batch_size: int) -> None:
    # Errors only: the backlog's 503s overspend budgets, and garbage is logged per batch.
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(40))
    spec = load_config(REPO / "config" / "slo.yaml")
    definitions = load_stream_definitions(REPO / "streams")
    # Event times a millisecond apart, ending before now: none is ahead of its stream timestamp
    # (max_future_skew), so the only rejections are the garbage's.
    base_ms = int(time.time() * 1000) - n
    backlogs = {"clean": list(clean(n, base_ms)), "garbage": list(with_garbage(n, base_ms))}
    rates: dict[str, list[float]] = {name: [] for name in backlogs}
    async with AsyncExitStack() as stack:
        conns = {}
        for name, messages in backlogs.items():
            store = stack.enter_context(tempfile.TemporaryDirectory(prefix=f"slo-bench-{name}-"))
            server = await stack.enter_async_context(EmbeddedServer(Path(store)))
            nc = conns[name] = await connect(ConnectOptions(url=server.url, name=f"bench-{name}"))
            stack.push_async_callback(nc.close)
            await provision_streams(nc, definitions, structlog.get_logger())
            stored = await publish_messages(nc, iter(messages))
            print(f"{name:>7} backlog: {len(messages):,} messages on {SUBJECT} ({stored:,.0f} msgs/s stored)")
        for r in range(rounds):
            for name in (("clean", "garbage") if r % 2 == 0 else ("garbage", "clean")):
                total = len(backlogs[name])
                rates[name].append(await measure_end_to_end(conns[name], spec, definitions, total, r, batch_size))
                print(f"  round {r + 1}: {name:>7} {rates[name][-1]:>10,.0f} msgs/s")
    c, g = statistics.median(rates["clean"]), statistics.median(rates["garbage"])
    print()
    print(f"median of {rounds} rounds, batch size {batch_size}, {n:,} good events "
          f"(+{len(backlogs['garbage']) - n:,} garbage):")
    print(f"  clean:        {c:>10,.0f} msgs/s")
    print(f"  1 % garbage:  {g:>10,.0f} msgs/s")
    print(f"  ratio garbage / clean: {g / c:.2f}   (goal >= 0.9)")


if __name__ == "__main__":
    args = bench_args(__doc__, 100_000)
    asyncio.run(main(args.n, args.rounds, args.batch_size))
