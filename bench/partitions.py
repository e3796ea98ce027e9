"""Two partition instances against one instance, same backlog, same run.

Starts an embedded nats-server whose MARKET stream carries the partition transform of
``market.quote.{symbol}`` (tests/partitionkit.py: the transform of docs/scaling.md; its config of
the quote SLIs alone, so that each partition's durable has one filter subject), publishes a
backlog of N quotes over 64 symbols (about half of them in each partition, by nats-server's hash),
then drains it per round, alternating the order:

- one:  one ``slo run`` process, unpartitioned, reading the whole backlog;
- two:  ``slo run --partition 0/2`` and ``--partition 1/2``, two processes (one per core).

Each under a fresh instance name (its own durables, from the first message). A rate is the backlog
over the time from the first instance ready (its consumer created, pulling) to the last durable
with nothing pending. Printed per round: both rates, their ratio (the goal: >= 1.6 on this 2-core
machine) and the CPU that each process and nats-server used in that time, and from that CPU per
message the bound on a dedicated 2-core machine, which says what limits the ratio: two processors
and the server share two cores. First, nats-server's own cost of delivering the backlog through an
unfiltered durable and through the partitions' filtered ones (a bare pull, no processor).

    python bench/partitions.py [--n 200000] [--rounds 2] [--batch-size 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

import orjson
import structlog

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.throughput_pull import publish_messages  # noqa: E402
from processor.bus.connect import ConnectOptions, connect  # noqa: E402
from processor.bus.consumer import BatchPuller  # noqa: E402
from processor.bus.embedded import EmbeddedServer  # noqa: E402
from processor.bus.streams import load_stream_definitions, provision_streams  # noqa: E402
from tests.partitionkit import PartitionRun, fnv1a_partition, write_config, write_streams  # noqa: E402

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


async def pending(js, durable: str) -> int | None:
    try:
        info = await js.consumer_info("MARKET", durable)
    except Exception:  # noqa: BLE001 - not created yet
        return None
    return info.num_pending + info.num_ack_pending


async def drain(js, server_pid: int, runs: list[PartitionRun], durables: list[str]) -> tuple[float, dict[str, float]]:
    """Seconds from the first instance ready to every durable empty; CPU seconds used meanwhile."""
    ready_s: float | None = None
    while True:
        if ready_s is None and any(r.logged("processor.ready") for r in runs):
            ready_s = time.perf_counter()
            before = {"nats-server": cpu_s(server_pid), **{f"slo run {i}": cpu_s(r.proc.pid) for i, r in enumerate(runs)}}
        if ready_s is not None and all(r.logged("processor.ready") for r in runs):
            if all([await pending(js, d) == 0 for d in durables]):
                took_s = time.perf_counter() - ready_s
                after = {"nats-server": cpu_s(server_pid), **{f"slo run {i}": cpu_s(r.proc.pid) for i, r in enumerate(runs)}}
                return took_s, {k: after[k] - before[k] for k in after}
        for r in runs:
            if r.proc.poll() is not None:
                raise SystemExit(f"slo run exited with {r.proc.returncode}: {r.tail()}")
        await asyncio.sleep(0.01)


async def phase(js, tmp: Path, url: str, server_pid: int, config: Path, streams: Path, instance: str,
                partitions: int, batch_size: int) -> tuple[float, dict[str, float]]:
    if partitions == 1:
        args_list = [["--instance", instance]]
        durables = [f"slo_{instance}_market"]
    else:
        args_list = [["--instance", instance, "--partition", f"{i}/{partitions}", "--partition-by",
                      "market.quote.{symbol}"] for i in range(partitions)]
        durables = [f"slo_{instance}_p{i}of{partitions}_market" for i in range(partitions)]
    hooks = {"SLO_TEST_CHECKPOINT_INTERVAL_S": "3600"}
    runs = [PartitionRun(url, tmp / f"{instance}-{i}.log", config, streams, args, hooks=hooks, batch_size=batch_size,
                         own_session=True) for i, args in enumerate(args_list)]
    try:
        return await drain(js, server_pid, runs, durables)
    finally:
        for r in runs:
            r.proc.send_signal(signal.SIGTERM)
        for r in runs:
            try:
                r.proc.wait(timeout=15)
            except Exception:  # noqa: BLE001
                r.proc.kill()


async def bare_pull_server_us(nc, server_pid: int, n: int, filters: list, name: str) -> float:
    """nats-server's CPU per message for pulling the backlog and acking it, nothing else, through
    one durable per filter (None: unfiltered) that shares the backlog."""
    before = cpu_s(server_pid)
    for i, subject in enumerate(filters):
        puller = BatchPuller(nc, "MARKET", f"bare_{name}_{i}", filter_subject=subject, batch_size=1000)
        await puller.start()
        got = 0
        while got < n // len(filters):
            batch = await puller.next_batch(timeout_s=1.0)
            if batch:
                got += len(batch)
                await puller.ack(batch[-1])
        await puller.stop()
    return (cpu_s(server_pid) - before) / n * 1e6


def projection(n: int, cpu_of: dict[int, list[dict[str, float]]]) -> str:
    """What the CPU each side spent per message allows on a dedicated 2-core machine: one
    instance is bound by its one core (or by all it and the server need of two), two by two cores
    between them and the server. A bound from CPU time, which contention changes less than rates."""
    def per_msg_us(partitions: int, who: str) -> float:
        runs = cpu_of[partitions]
        return statistics.median(sum(v for k, v in cpu.items() if k.startswith(who)) for cpu in runs) / n * 1e6

    c1, s1 = per_msg_us(1, "slo run"), per_msg_us(1, "nats-server")
    c2, s2 = per_msg_us(2, "slo run"), per_msg_us(2, "nats-server")
    one = min(1e6 / c1, 2e6 / (c1 + s1))
    two = min(2e6 / c2, 2e6 / (c2 + s2))
    return (f"CPU per message: one instance {c1:.1f} us + nats-server {s1:.1f} us; two partitions {c2:.1f} us "
            f"(both) + nats-server {s2:.1f} us. Bound on a dedicated 2-core machine: one {one:,.0f} msg/s, two "
            f"{two:,.0f} msg/s, ratio {two / one:.2f} ({'nats-server' if 2e6 / (c2 + s2) < 2e6 / c2 else 'the processors'}"
            f" limit the two)")


async def main(n: int, rounds: int, batch_size: int) -> None:
    with tempfile.TemporaryDirectory() as tmp_text:
        tmp = Path(tmp_text)
        config, streams = write_config(tmp, hot_only=True), write_streams(tmp, 2)
        async with EmbeddedServer(tmp / "nats") as server:
            server_pid = int((tmp / "nats" / "nats-server.pid").read_text())
            nc = await connect(ConnectOptions(url=server.url))
            js = nc.jetstream()
            await provision_streams(nc, load_stream_definitions(streams), structlog.get_logger("bench"))
            rate = await publish_messages(nc, quotes(n), stream="MARKET")
            shares = [sum(1 for i in range(n) if fnv1a_partition(SYMBOLS[i % 64], 2) == p) for p in (0, 1)]
            print(f"backlog: {n} quotes of {len(SYMBOLS)} symbols on MARKET (published at {rate:,.0f}/s); "
                  f"partition shares {shares[0]} / {shares[1]}")
            unfiltered = await bare_pull_server_us(nc, server_pid, n, [None], "all")
            split = await bare_pull_server_us(nc, server_pid, n, ["market.quote.*.0", "market.quote.*.1"], "split")
            multi = await bare_pull_server_us(nc, server_pid, n, [["market.quote.*.0", "market.request"],
                                                                  ["market.quote.*.1", "market.request"]], "multi")
            print(f"bare pull and ack (no processor): nats-server {unfiltered:.1f} us/msg through one unfiltered "
                  f"durable, {split:.1f} us/msg through the two partitions' filtered durables, {multi:.1f} us/msg "
                  f"when each has a second filter subject (filter_subjects)")
            ones, twos = [], []
            cpu_of: dict[int, list[dict[str, float]]] = {1: [], 2: []}
            for r in range(rounds):
                order = (1, 2) if r % 2 == 0 else (2, 1)
                for partitions in order:
                    took_s, cpu = await phase(js, tmp, server.url, server_pid, config, streams, f"b{r}n{partitions}",
                                              partitions, batch_size)
                    (ones if partitions == 1 else twos).append(n / took_s)
                    cpu_of[partitions].append(cpu)
                    used = ", ".join(f"{k} {v / took_s:.0%}" for k, v in cpu.items())
                    print(f"round {r + 1}: {partitions} instance{'s' if partitions > 1 else ''}: {n / took_s:,.0f} "
                          f"msg/s ({took_s:.2f} s); CPU of a core: {used}")
            one, two = statistics.median(ones), statistics.median(twos)
            print(f"median: one instance {one:,.0f} msg/s, two partitions {two:,.0f} msg/s, ratio {two / one:.2f} "
                  f"(goal >= 1.6; on a shared 2-core machine)")
            print(projection(n, cpu_of))
            await nc.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=1000)
    a = parser.parse_args()
    asyncio.run(main(a.n, a.rounds, a.batch_size))
