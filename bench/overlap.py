"""Where a batch's time goes, end to end and on the bare pull: why their ratio follows the machine.

bench/throughput.py compares the two rates; this takes one batch of each apart. It drains a
backlog of N gateway events (stream ANALYTICS) on an embedded server (as `slo run` starts it)
end to end and by the bare lean pull-and-ack, in turns, and times each batch of the stream's
puller from the outside (wrapping ``BatchPuller`` and ``Lane`` methods; nothing in them changes):

- server:    from the pull request to the batch's first delivery read (nats-server finding and
             writing the messages; it writes a batch out in a burst),
- receive:   from its first delivery to its last (reading and parsing them in this process),
- lane:      from the batch handed to the lane to the lane asking for the next (engine, outputs,
             ack; end to end only) -- the next request is already out, so this runs while the
             server works on the next batch,
- wait:      the lane's time in ``next_batch`` (the receive of the batch in it included),

and prints their medians, and each process's CPU per message (nats-server's from /proc). The
bare pull alternates the two processes (the server works, then this one reads), so it needs
about one core at a time; end to end keeps both busy at once, so its rate depends on the second
core being there, and on a shared machine it is not always.

    python bench/overlap.py [--n 300000] [--rounds 4] [--batch-size 2000]
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

import structlog

sys.path.insert(0, str(Path(__file__).resolve().parent))

from partitions import cpu_s  # noqa: E402
from throughput import bench_args, measure_end_to_end_cpu  # noqa: E402
from throughput_pull import STREAM, measure_bare_pull_cpu, publish_backlog  # noqa: E402

from processor.bus.connect import ConnectOptions, connect  # noqa: E402
from processor.bus.consumer import BatchPuller  # noqa: E402
from processor.bus.embedded import EmbeddedServer  # noqa: E402
from processor.bus.streams import load_stream_definitions, provision_streams  # noqa: E402
from processor.config.load import load_config  # noqa: E402
from processor.runtime.heap import held  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
PATHS = {"lean": "bare lean", "e2e": "end to end"}
PHASES = ("server", "receive", "lane", "wait")


class Timeline:
    """The stream's pull requests, deliveries and lane hand-overs, timed (perf_counter, s)."""

    def __init__(self) -> None:
        self.requests: list[float] = []
        self.deliveries: list[tuple[float, int]] = []
        self.calls: list[float] = []
        self.returns: list[tuple[float, int]] = []

    def watch(self) -> None:
        """Wrap the puller's methods to record this stream's events."""
        timeline = self
        next_batch, on_deliveries, top_up = BatchPuller.next_batch, BatchPuller.on_deliveries, BatchPuller._top_up

        async def timed_next_batch(self, timeout_s):
            if self._stream != STREAM:
                return await next_batch(self, timeout_s)
            timeline.calls.append(time.perf_counter())
            batch = await next_batch(self, timeout_s)
            timeline.returns.append((time.perf_counter(), len(batch)))
            return batch

        def timed_on_deliveries(self, msgs):
            if self._stream == STREAM:
                timeline.deliveries.append((time.perf_counter(), len(msgs)))
            return on_deliveries(self, msgs)

        async def timed_top_up(self):
            sent = await top_up(self)
            if sent and self._stream == STREAM:
                timeline.requests.append(time.perf_counter())
            return sent

        BatchPuller.next_batch, BatchPuller.on_deliveries, BatchPuller._top_up = (
            timed_next_batch, timed_on_deliveries, timed_top_up)

    def clear(self) -> None:
        self.__init__()

    def phases_ms(self, batch_size: int) -> dict[str, float]:
        """Each phase's median over the batches, in ms (the first few, warming up, left out)."""
        firsts, lasts, received = [], [], 0
        for at_s, count in self.deliveries:
            if received == 0:
                firsts.append(at_s)
            received += count
            if received >= batch_size:
                lasts.append(at_s)
                received -= batch_size
        batches = min(len(self.requests), len(firsts), len(lasts))
        full = [i for i, (_, count) in enumerate(self.returns) if count > 0]
        skip = 5
        phases = {
            "server": [firsts[i] - self.requests[i] for i in range(skip, batches)],
            "receive": [lasts[i] - firsts[i] for i in range(skip, batches)],
            "lane": [self.calls[i + 1] - self.returns[i][0] for i in full[skip:] if i + 1 < len(self.calls)],
            "wait": [self.returns[i][0] - self.calls[i] for i in full[skip:]],
        }
        return {name: statistics.median(values) * 1e3 for name, values in phases.items() if values}


async def main(n: int, rounds: int, batch_size: int) -> None:
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(40))
    spec = load_config(REPO / "config" / "slo.yaml")
    definitions = load_stream_definitions(REPO / "streams")
    timeline = Timeline()
    timeline.watch()
    figures: dict[str, list[dict[str, float]]] = {what: [] for what in PATHS}
    with tempfile.TemporaryDirectory(prefix="slo-bench-") as store:
        async with EmbeddedServer(Path(store)) as server:
            nc = await connect(ConnectOptions(url=server.url, name="bench"))
            await provision_streams(nc, definitions, structlog.get_logger())
            await publish_backlog(nc, n)
            server_pid = server._proc.pid  # noqa: SLF001 - a bench reads the server's CPU
            for r in range(rounds):
                for what in (PATHS if r % 2 == 0 else list(PATHS)[::-1]):
                    timeline.clear()
                    server_cpu_s = cpu_s(server_pid)
                    with held():
                        if what == "e2e":
                            rate, client_us = await measure_end_to_end_cpu(nc, spec, definitions, n, f"ov{r}", batch_size)
                        else:
                            rate, client_us = await measure_bare_pull_cpu(nc, STREAM, f"ov_lean_{r}", n, batch_size=batch_size)
                    figure = timeline.phases_ms(batch_size)
                    figure.update(rate=rate, client_us=client_us, server_us=(cpu_s(server_pid) - server_cpu_s) / n * 1e6)
                    figures[what].append(figure)
                    _print_row(f"round {r + 1}: {PATHS[what]}", figure)
            await nc.close()
    print(f"\nmedian of {rounds} rounds, {n:,} events, batches of {batch_size}:")
    medians = {what: {key: statistics.median(f.get(key, 0.0) for f in rows) for key in rows[0]}
               for what, rows in figures.items()}
    for what, figure in medians.items():
        _print_row(PATHS[what], figure)
    e2e, lean = medians["e2e"], medians["lean"]
    print(f"  end to end / bare lean: {e2e['rate'] / lean['rate']:.2f}; per batch, end to end "
          f"{e2e['lane'] + e2e['wait']:.2f} ms (lane {e2e['lane']:.2f} overlapping the server's "
          f"{e2e['server']:.2f}), bare {lean['lane'] + lean['wait']:.2f} ms (server {lean['server']:.2f})")


def _print_row(label: str, figure: dict[str, float]) -> None:
    phases = "  ".join(f"{name} {figure.get(name, 0.0):5.2f}" for name in PHASES)
    print(f"  {label:<24} {figure['rate']:>9,.0f} /s   per batch (ms): {phases}   "
          f"CPU per message (µs): client {figure['client_us']:.2f}, nats-server {figure['server_us']:.2f}", flush=True)


if __name__ == "__main__":
    args = bench_args(__doc__, 300_000)
    asyncio.run(main(args.n, args.rounds, args.batch_size))
