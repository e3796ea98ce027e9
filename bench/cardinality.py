"""Cardinality attack: a million distinct label values on one SLI, end to end, and RSS.

Starts an embedded nats-server and the processor with the shipped config in this process, then
publishes quotes of N distinct symbols, each on its own subject ``market.quote.<symbol>`` (the
SLIs ``market_quote_freshness`` and ``market_quote_age`` keep a series per symbol, capped at
``max_series`` = 2,000), and then M messages on M distinct subjects under ``analytics.>`` that no
SLI reads (the engine's subject route cache). Event time runs 1 ms per quote, in the past.

It prints the process RSS at the start, once the cap is filled, after half the symbols, after all
of them and after the M subjects. By half way every bounded structure is full: both SLIs hold
their 2,000 series (series idle for their 60 s horizon are evicted and their places taken by new
symbols) and the shared ``__overflow__`` series, and the route cache has passed its 65,536
subjects. The bound is RSS at that point plus 8 MB of allocator slack: the second half of the
symbols and all the subjects must fit under it (unbounded, each new symbol would cost a series of
its own), and ``SliCardinalityOverflow`` must fire for both SLIs. Exit status 1 if either fails.

    python bench/cardinality.py [--symbols 1000000] [--subjects 1000000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import structlog

sys.path.insert(0, str(Path(__file__).resolve().parent))

from throughput_pull import publish_messages  # noqa: E402

from processor.bus.connect import ConnectOptions, connect  # noqa: E402
from processor.bus.embedded import EmbeddedServer  # noqa: E402
from processor.bus.jsadmin import stream_last_seq  # noqa: E402
from processor.bus.streams import load_stream_definitions, provision_streams  # noqa: E402
from processor.config.load import load_config  # noqa: E402
from processor.engine.cardinality import CARDINALITY_ALERT  # noqa: E402
from processor.runtime.processor import Processor  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
ATTACKED = ("market_quote_freshness", "market_quote_age")
MB = 1024 * 1024
SLACK_BYTES = 8 * MB  # allocator arenas and buffers, which need not shrink or grow exactly alike
WARM = "half way"


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def quotes(first: int, n: int, base_ms: int) -> Iterator[tuple[str, bytes]]:
    for i in range(first, first + n):
        ts_ms = base_ms + i
        body = {"ts": ts_ms, "symbol": f"S{i}", "provider": "bench", "bid": 1.0, "ask": 1.01, "quote_ts": ts_ms - 40}
        yield f"market.quote.S{i}", orjson.dumps(body)


def strangers(n: int, ts_ms: int) -> Iterator[tuple[str, bytes]]:
    body = orjson.dumps({"ts": ts_ms})
    return ((f"analytics.attack.{i}.\u00fc", body) for i in range(n))


async def consumed(nc, proc: Processor, stream: str) -> None:
    target = await stream_last_seq(nc, stream)
    while proc.lanes[stream].stats.last_seq < target:
        await asyncio.sleep(0.05)


async def attack(nc, proc: Processor, symbols: int, subjects: int) -> dict[str, int]:
    """Publish the phases; RSS after each, once the processor has consumed it."""
    base_ms = int(time.time() * 1000) - 2 * symbols - 600_000  # all in the past, 1 ms apart
    rss = {"start": rss_bytes()}
    print(f"  {'start':<28} RSS {rss['start'] / MB:8.1f} MB")
    cap = max(s.max_series for s in proc.config.slis if s.name in ATTACKED)
    half = symbols // 2
    phases = [("at the cap", "MARKET", quotes(0, cap, base_ms)),
              (WARM, "MARKET", quotes(cap, half - cap, base_ms)),
              (f"after {symbols:,} symbols", "MARKET", quotes(half, symbols - half, base_ms)),
              (f"after {subjects:,} subjects", "ANALYTICS", strangers(subjects, base_ms + symbols))]
    for name, stream, messages in phases:
        started_s = time.perf_counter()
        await publish_messages(nc, messages, stream)
        await consumed(nc, proc, stream)
        rss[name] = rss_bytes()
        print(f"  {name:<28} RSS {rss[name] / MB:8.1f} MB   ({time.perf_counter() - started_s:5.1f} s)")
    return rss


async def main(symbols: int, subjects: int) -> int:
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(40))
    config = load_config(REPO / "config" / "slo.yaml")
    definitions = load_stream_definitions(REPO / "streams")
    fired: set[str] = set()

    async def on_alert(msg) -> None:
        labels = orjson.loads(msg.data)["labels"]
        if labels["alertname"] == CARDINALITY_ALERT:
            fired.add(labels["sli"])

    with tempfile.TemporaryDirectory(prefix="slo-bench-") as store:
        async with EmbeddedServer(Path(store)) as server:
            nc = await connect(ConnectOptions(url=server.url, name="bench-cardinality"))
            await provision_streams(nc, definitions, structlog.get_logger())
            await nc.subscribe("slo.alerts.>", cb=on_alert)
            proc = Processor(config, nc, definitions, checkpoint_interval_s=3600, idle_after_s=3600)
            await proc.start()
            runner = asyncio.create_task(proc.run())
            rss = await attack(nc, proc, symbols, subjects)
            health = proc.lanes["MARKET"].engine.health()
            routed = proc.lanes["ANALYTICS"].engine.health()["routed_subjects"]
            proc.stop()
            await runner
            await nc.flush()
            await nc.close()
    bound = rss[WARM] + SLACK_BYTES
    after = {k: v for k, v in rss.items() if k not in ("start", "at the cap", WARM)}
    print(f"bound: RSS half way + {SLACK_BYTES / MB:.0f} MB = {bound / MB:.1f} MB; after it: "
          + ", ".join(f"{k} {v / MB:.1f} MB" for k, v in after.items()))
    print(f"overflowed events per SLI: {health['overflowed']}; route cache holds {routed:,} subjects")
    print(f"{CARDINALITY_ALERT} fired for: {sorted(fired)}")
    ok = max(after.values()) <= bound and set(ATTACKED) <= fired
    print("OK" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--symbols", type=int, default=1_000_000)
    parser.add_argument("--subjects", type=int, default=1_000_000)
    args = parser.parse_args()
    sys.exit(asyncio.run(main(args.symbols, args.subjects)))
