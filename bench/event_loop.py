"""What uvloop would buy: the same backlog drained on asyncio's own event loop and on uvloop's, in turns.

uvloop is not a dependency (README "Performance": measured, not adopted); install it to run this
(``.venv/bin/pip install uvloop``). One embedded nats-server (as `slo run` starts it) holds a
backlog of N gateway events; each round drains it on a new loop of each kind in turn (which goes
first alternates), each time end to end (the processor with config/slo.yaml) and bare lean
pull-and-ack (the ceiling of bench/throughput.py), back to back. It prints every drain, then per
loop the medians of the rates and of the client's CPU per message (process time: the steadier
figure on a shared machine), and the ratios uvloop / asyncio and end to end / bare.

    python bench/event_loop.py [--n 300000] [--rounds 8] [--batch-size 2000]
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import structlog

try:
    import uvloop
except ImportError:
    sys.exit("bench/event_loop.py needs uvloop, which slo-processor does not depend on: .venv/bin/pip install uvloop")

sys.path.insert(0, str(Path(__file__).resolve().parent))

from throughput import bench_args, measure_end_to_end_cpu  # noqa: E402
from throughput_pull import STREAM, publish_backlog, measure_bare_pull_cpu  # noqa: E402

from processor.bus.connect import ConnectOptions, connect  # noqa: E402
from processor.bus.embedded import EmbeddedServer, describe_cpus, server_cpus, server_environment  # noqa: E402
from processor.bus.streams import load_stream_definitions, provision_streams  # noqa: E402
from processor.config.load import load_config  # noqa: E402
from processor.runtime.heap import held  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
LOOPS: dict[str, Callable[[], asyncio.AbstractEventLoop]] = {"asyncio": asyncio.new_event_loop,
                                                             "uvloop": uvloop.new_event_loop}
PATHS = ("e2e", "lean")


async def _setup(url: str, definitions, n: int) -> None:
    nc = await connect(ConnectOptions(url=url, name="bench"))
    await provision_streams(nc, definitions, structlog.get_logger())
    rate = await publish_backlog(nc, n)
    await nc.close()
    print(f"backlog: {n:,} events ({rate:,.0f} msgs/s stored); nats-server GOMAXPROCS={server_environment()['GOMAXPROCS']}, "
          f"on cores {describe_cpus(server_cpus())}")


async def _drain(url: str, spec, definitions, n: int, key: str, paths: tuple[str, ...],
                 batch_size: int) -> dict[str, tuple[float, float]]:
    """(rate, client CPU µs per message) of each path, on a connection of this loop."""
    nc = await connect(ConnectOptions(url=url, name="bench"))
    out = {}
    try:
        for what in paths:
            with held():  # the collector's settings of running lanes, as in bench/throughput.py
                if what == "e2e":
                    out[what] = await measure_end_to_end_cpu(nc, spec, definitions, n, f"{key}-e2e", batch_size)
                else:
                    out[what] = await measure_bare_pull_cpu(nc, STREAM, f"{key}-lean", n, batch_size=batch_size)
    finally:
        await nc.close()
    return out


def main(n: int, rounds: int, batch_size: int) -> None:
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(40))
    spec = load_config(REPO / "config" / "slo.yaml")
    definitions = load_stream_definitions(REPO / "streams")
    figures: dict[tuple[str, str], list[tuple[float, float]]] = {}
    with tempfile.TemporaryDirectory(prefix="slo-bench-") as store:
        # The server outlives every measured loop: it is started and stopped on a loop of its own.
        home = asyncio.new_event_loop()
        server = EmbeddedServer(Path(store))
        url = home.run_until_complete(server.start())
        try:
            home.run_until_complete(_setup(url, definitions, n))
            for r in range(rounds):
                for name in (list(LOOPS) if r % 2 == 0 else list(LOOPS)[::-1]):
                    paths = PATHS if (r // 2) % 2 == 0 else PATHS[::-1]
                    with asyncio.Runner(loop_factory=LOOPS[name]) as runner:
                        got = runner.run(_drain(url, spec, definitions, n, f"r{r}{name}", paths, batch_size))
                    for what, figure in got.items():
                        figures.setdefault((name, what), []).append(figure)
                    print(f"  round {r + 1} {name:<7}  end to end {got['e2e'][0]:>9,.0f} /s {got['e2e'][1]:5.2f} µs"
                          f"   bare lean {got['lean'][0]:>9,.0f} /s {got['lean'][1]:5.2f} µs"
                          f"   ratio {got['e2e'][0] / got['lean'][0]:.2f}", flush=True)
        finally:
            home.run_until_complete(server.stop())
            home.close()
    _report(figures, n, rounds)


def _report(figures: dict[tuple[str, str], list[tuple[float, float]]], n: int, rounds: int) -> None:
    def median(name: str, what: str, i: int) -> float:
        return statistics.median(f[i] for f in figures[(name, what)])

    print(f"\nmedian of {rounds} rounds, {n:,} events:")
    for name in LOOPS:
        e2e, lean = median(name, "e2e", 0), median(name, "lean", 0)
        print(f"  {name:<7}  end to end {e2e:>9,.0f} /s {median(name, 'e2e', 1):5.2f} µs client CPU each"
              f"   bare lean {lean:>9,.0f} /s {median(name, 'lean', 1):5.2f} µs   end to end / bare {e2e / lean:.2f}")
    for what, label in (("e2e", "end to end"), ("lean", "bare lean")):
        rate = median("uvloop", what, 0) / median("asyncio", what, 0)
        cpu = median("uvloop", what, 1) / median("asyncio", what, 1)
        print(f"  uvloop / asyncio, {label:<10}  rate {rate:.2f}   client CPU per message {cpu:.2f}")


if __name__ == "__main__":
    args = bench_args(__doc__, 300_000)
    main(args.n, args.rounds, args.batch_size)
