"""Two partition instances against one instance, same backlog, same run, in two layouts.

Two embedded nats-servers, each with a backlog of N quotes over 64 symbols (about half of them in
each partition, by nats-server's hash), the config of the quote SLIs alone
(tests/partitionkit.py), drained per round in turn:

- one:        one ``slo run`` process, unpartitioned, reading the whole backlog from MARKET
              through one unfiltered durable (the transform server);
- transform:  ``slo run --partition 0/2`` and ``--partition 1/2`` on the server whose MARKET
              stream appends the partition token (its subject_transform): each partition's
              durable on MARKET is filtered to its share (``market.quote.*.I``);
- streams:    the same two partitions on the server whose account ``mappings`` append the token
              as the quotes are published, with one stream per partition (``MARKET_P<I>``, MARKET
              narrowed to the other market subjects): each partition reads its own stream through
              an unfiltered durable (docs/scaling.md, "One stream per partition").

Each under a fresh instance name (its own durables, from the first message). A rate is the backlog
over the time from the first instance ready (its consumer created, pulling) to the last durable
with nothing pending. Printed per round: the rate and the CPU each process and nats-server used in
that time; then the medians, the ratios of each two-instance layout to one instance (the goal:
>= 1.6 on this 2-core machine), each side's CPU per message, and from it the bound on a dedicated
2-core machine: one instance is bound by its core, 1/c, two by the two cores that they and the
server share, 2/(c + s), so the ratio is at most 2c/(c + s) (c: the processors' CPU per message, s:
nats-server's). First, nats-server's own cost of delivering the backlog through each layout's
durables (a bare pull and ack, no processor).

    python bench/partitions.py [--n 200000] [--rounds 2] [--batch-size 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import structlog

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.throughput_pull import publish_messages  # noqa: E402
from processor.bus.connect import ConnectOptions, connect  # noqa: E402
from processor.bus.consumer import BatchPuller  # noqa: E402
from processor.bus.embedded import EmbeddedServer  # noqa: E402
from processor.bus.jsadmin import stream_last_seq  # noqa: E402
from processor.bus.streams import load_stream_definitions, provision_streams  # noqa: E402
from processor.vocabulary import durable_name  # noqa: E402
from tests.partitionkit import (PARTITION_BY, PartitionRun, fnv1a_partition, write_config,  # noqa: E402
                                write_mapping_conf, write_partition_streams, write_streams)

SYMBOLS = [f"SYM{i:02d}" for i in range(64)]
TICKS_S = os.sysconf("SC_CLK_TCK")


def quotes(n: int):
    """``n`` quotes, 64 symbols in turn, a millisecond apart and ending now (none ahead of the
    moment it is stored): 60,000 a minute, the hot subject at 6x the whole platform's baseline."""
    base_ms = int(time.time() * 1000) - n - 1000
    for i in range(n):
        ts = base_ms + i
        symbol = SYMBOLS[i % len(SYMBOLS)]
        body = {"ts": ts, "quote_ts": ts - 40 - i % 50, "symbol": symbol, "bid": 100.0, "ask": 100.02,
                "provider": "alpaca"}
        yield f"market.quote.{symbol}", orjson.dumps(body)


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of a running process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS_S


async def pending(js, stream: str, durable: str) -> int | None:
    try:
        info = await js.consumer_info(stream, durable)
    except Exception:  # noqa: BLE001 - not created yet
        return None
    return info.num_pending + info.num_ack_pending


async def drain(js, server_pid: int, runs: list[PartitionRun],
                durables: list[tuple[str, str]]) -> tuple[float, dict[str, float]]:
    """Seconds from the first instance ready to every durable empty; CPU seconds used meanwhile."""
    ready_s: float | None = None
    while True:
        if ready_s is None and any(r.logged("processor.ready") for r in runs):
            ready_s = time.perf_counter()
            before = {"nats-server": cpu_s(server_pid), **{f"slo run {i}": cpu_s(r.proc.pid) for i, r in enumerate(runs)}}
        if ready_s is not None and all(r.logged("processor.ready") for r in runs):
            if all([await pending(js, *d) == 0 for d in durables]):
                took_s = time.perf_counter() - ready_s
                after = {"nats-server": cpu_s(server_pid), **{f"slo run {i}": cpu_s(r.proc.pid) for i, r in enumerate(runs)}}
                return took_s, {k: after[k] - before[k] for k in after}
        for r in runs:
            if r.proc.poll() is not None:
                raise SystemExit(f"slo run exited with {r.proc.returncode}: {r.tail()}")
        await asyncio.sleep(0.01)


@dataclass
class Layout:
    """One server and how the instances of a phase read it."""

    name: str
    server: EmbeddedServer
    js: Any
    server_pid: int
    streams: Path
    partitions: int  # 1: one unpartitioned instance; 2: --partition 0/2 and 1/2
    hot_streams: list[str]  # where each instance's quotes are (one stream, or one per partition)


async def phase(layout: Layout, tmp: Path, config: Path, instance: str, batch_size: int) -> tuple[float, dict[str, float]]:
    count = layout.partitions
    if count == 1:
        args_list = [["--instance", instance]]
        durables = [("MARKET", durable_name(f"slo_{instance}", "MARKET"))]
    else:
        args_list = [["--instance", instance, "--partition", f"{i}/{count}", "--partition-by", PARTITION_BY]
                     for i in range(count)]
        durables = [(stream, durable_name(f"slo_{instance}_p{i}of{count}", stream))
                    for i, stream in enumerate(layout.hot_streams)]
    hooks = {"SLO_TEST_CHECKPOINT_INTERVAL_S": "3600"}
    runs = [PartitionRun(layout.server.url, tmp / f"{instance}-{i}.log", config, layout.streams, args, hooks=hooks,
                         batch_size=batch_size, own_session=True) for i, args in enumerate(args_list)]
    try:
        return await drain(layout.js, layout.server_pid, runs, durables)
    finally:
        for r in runs:
            r.proc.send_signal(signal.SIGTERM)
        for r in runs:
            try:
                r.proc.wait(timeout=15)
            except Exception:  # noqa: BLE001
                r.proc.kill()


async def bare_pull_server_us(nc, server_pid: int, n: int, reads: list[tuple[str, Any, int]], name: str) -> float:
    """nats-server's CPU per message for pulling the backlog and acking it, nothing else: one
    durable per (stream, filter (None: unfiltered), messages to pull), which share the backlog."""
    before = cpu_s(server_pid)
    for i, (stream, subject, count) in enumerate(reads):
        puller = BatchPuller(nc, stream, f"bare_{name}_{i}", filter_subject=subject, batch_size=1000)
        await puller.start()
        got = 0
        while got < count:
            batch = await puller.next_batch(timeout_s=1.0)
            if batch:
                got += len(batch)
                await puller.ack(batch[-1])
        await puller.stop()
    return (cpu_s(server_pid) - before) / n * 1e6


def per_msg_us(n: int, phases: list[dict[str, float]], who: str) -> float:
    """The median over rounds of what ``who`` (the processes or nats-server) spent per message."""
    return statistics.median(sum(v for k, v in cpu.items() if k.startswith(who)) for cpu in phases) / n * 1e6


def bound_lines(n: int, cpu_of: dict[str, list[dict[str, float]]]) -> list[str]:
    """What the CPU each side spent per message allows on a dedicated 2-core machine: one
    instance is bound by its one core (or by all it and the server need of two), two by two cores
    between them and the server: ratio <= 2c/(c + s). A bound from CPU time, which contention
    changes less than rates."""
    c1, s1 = per_msg_us(n, cpu_of["one"], "slo run"), per_msg_us(n, cpu_of["one"], "nats-server")
    one = min(1e6 / c1, 2e6 / (c1 + s1))
    lines = [f"CPU per message, one instance: slo run {c1:.1f} us, nats-server {s1:.1f} us; bound on a dedicated "
             f"2-core machine {one:,.0f} msg/s (1/c)"]
    for name in ("transform", "streams"):
        if not cpu_of.get(name):
            continue
        procs = [per_msg_us(n, cpu_of[name], f"slo run {i}") for i in range(2)]
        c2, s2 = sum(procs), per_msg_us(n, cpu_of[name], "nats-server")
        two = min(2e6 / c2, 2e6 / (c2 + s2))
        # The processors' work per message is the same split or not; what differs in a contended
        # run is mostly noise, so the bound is given both ways: with each side's own c, and with
        # one instance's c for both (2c/(c+s), the form docs/scaling.md reasons with).
        lines.append(f"CPU per message, two partitions ({name}): slo run 0 {procs[0]:.1f} us + slo run 1 "
                     f"{procs[1]:.1f} us = c {c2:.1f} us, nats-server s {s2:.1f} us; bound {two:,.0f} msg/s "
                     f"(2/(c+s)); ratio bound {two / one:.2f} with each side's c, 2c/(c+s) = "
                     f"{2 * c1 / (c1 + s2):.2f} with one instance's c {c1:.1f} us for both")
    return lines


async def _layout(stack: contextlib.AsyncExitStack, tmp: Path, name: str, streams: Path,
                  extra_args: tuple[str, ...] = ()) -> tuple[Layout, Any]:
    """A server with the streams and the backlog published."""
    server = await stack.enter_async_context(EmbeddedServer(tmp / f"nats-{name}", extra_args=extra_args))
    nc = await connect(ConnectOptions(url=server.url))
    stack.push_async_callback(nc.close)
    await provision_streams(nc, load_stream_definitions(streams), structlog.get_logger("bench"))
    server_pid = int((tmp / f"nats-{name}" / "nats-server.pid").read_text())
    return Layout(name, server, nc.jetstream(), server_pid, streams, 2, []), nc


async def main(n: int, rounds: int, batch_size: int) -> None:
    shares = [sum(1 for i in range(n) if fnv1a_partition(SYMBOLS[i % 64], 2) == p) for p in (0, 1)]
    with tempfile.TemporaryDirectory() as tmp_text:
        tmp = Path(tmp_text)
        config = write_config(tmp, hot_only=True)
        async with contextlib.AsyncExitStack() as stack:
            transform, nc_t = await _layout(stack, tmp, "transform", write_streams(tmp, 2))
            streams, nc_m = await _layout(stack, tmp, "streams", write_partition_streams(tmp, 2),
                                          ("-c", str(write_mapping_conf(tmp, 2))))
            transform.hot_streams = ["MARKET", "MARKET"]
            streams.hot_streams = ["MARKET_P0", "MARKET_P1"]
            one = Layout("one", transform.server, transform.js, transform.server_pid, transform.streams, 1, ["MARKET"])
            rate = await publish_messages(nc_t, quotes(n), stream="MARKET")
            await publish_per_partition(nc_m, n, shares)
            print(f"backlog: {n} quotes of {len(SYMBOLS)} symbols on each server (published at {rate:,.0f}/s); "
                  f"partition shares {shares[0]} / {shares[1]}; on a shared 2-core machine")
            unfiltered = await bare_pull_server_us(nc_t, transform.server_pid, n, [("MARKET", None, n)], "all")
            split = await bare_pull_server_us(nc_t, transform.server_pid, n, [
                ("MARKET", f"market.quote.*.{p}", shares[p]) for p in (0, 1)], "split")
            multi = await bare_pull_server_us(nc_t, transform.server_pid, n, [
                ("MARKET", [f"market.quote.*.{p}", "market.request"], shares[p]) for p in (0, 1)], "multi")
            own = await bare_pull_server_us(nc_m, streams.server_pid, n, [
                (f"MARKET_P{p}", None, shares[p]) for p in (0, 1)], "own")
            print(f"bare pull and ack (no processor), nats-server per message: {unfiltered:.1f} us through one "
                  f"unfiltered durable on MARKET; {split:.1f} us through the two partitions' filtered durables "
                  f"(transform); {multi:.1f} us when each has a second filter subject; {own:.1f} us through one "
                  f"unfiltered durable per partition's stream (streams)")
            rates: dict[str, list[float]] = {"one": [], "transform": [], "streams": []}
            cpu_of: dict[str, list[dict[str, float]]] = {k: [] for k in rates}
            for r in range(rounds):
                order = (one, transform, streams) if r % 2 == 0 else (streams, transform, one)
                for layout in order:
                    took_s, cpu = await phase(layout, tmp, config, f"b{r}{layout.name}", batch_size)
                    rates[layout.name].append(n / took_s)
                    cpu_of[layout.name].append(cpu)
                    used = ", ".join(f"{k} {v / took_s:.0%}" for k, v in cpu.items())
                    print(f"round {r + 1}: {layout.name}: {n / took_s:,.0f} msg/s ({took_s:.2f} s); CPU of a core: {used}")
            median = {k: statistics.median(v) for k, v in rates.items()}
            print(f"median: one instance {median['one']:,.0f} msg/s; two partitions, transform {median['transform']:,.0f} "
                  f"msg/s (ratio {median['transform'] / median['one']:.2f}), streams {median['streams']:,.0f} msg/s "
                  f"(ratio {median['streams'] / median['one']:.2f}); goal >= 1.6, measured on a shared 2-core machine")
            for line in bound_lines(n, cpu_of):
                print(line)


async def publish_per_partition(nc, n: int, shares: list[int]) -> None:
    """The backlog through the account mapping: each partition's stream holds its share."""
    before = [await stream_last_seq(nc, f"MARKET_P{p}") for p in (0, 1)]
    for i, (subject, payload) in enumerate(quotes(n)):
        await nc.publish(subject, payload)
        if i % 5000 == 4999:
            await nc.flush()
    await nc.flush()
    while [await stream_last_seq(nc, f"MARKET_P{p}") - before[p] for p in (0, 1)] != shares:
        await asyncio.sleep(0.01)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=1000)
    a = parser.parse_args()
    asyncio.run(main(a.n, a.rounds, a.batch_size))
