"""Replay speed: a simulated backlog replayed from an export file and from the streams of a real
nats-server, against the live processor consuming the same backlog and the engine alone on the
same messages, measured in one run.

The simulator (``--rate``: its gateway requests per second; 72 makes about 10,000 event messages
per minute over every stream, the platform document's baseline volume) generates ``--minutes`` of
traffic. Then, with config/slo.yaml:

- engine alone: one Engine per stream (as ``slo run`` partitions the config), ``Engine.ingest`` over
  each stream's messages in batches of 1000, nothing rendered or written;
- from a file:  ``slo replay --input events.ndjson.gz --out DIR`` (read, decode, the same engines,
  render, write NDJSON), in this process;
- from streams: ``slo replay --nats-url URL --out DIR`` against an embedded nats-server holding the
  same events (history read through ephemeral consumers), in this process; the server shares the
  machine;
- live:         the ``Processor`` as ``slo run`` builds it (every stream's lane and the bus
  monitor's, JSON log lines, checkpoints every 15 s, outputs published to the SLO stream and
  their PubAcks awaited, each batch acked), in this process, on a fresh embedded nats-server
  per round holding the same events; timed from connecting until every stream's durable has
  acked the stream's last message (its ack floor, asked of the server).

Replay times leave out the config load (measured in each round; the first is printed), and so
does the live time (the processor is handed the loaded config). Rates are events/s; each is
printed as a ratio of the engine-alone rate, and the replays also as a ratio of the live rate.
The order of the three end-to-end measurements rotates from round to round. Last, the projected
time to replay one week at the baseline volume (10,000 messages a minute: 100.8 M events).

    python bench/replay.py [--rate 72] [--minutes 10] [--rounds 2]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import structlog

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from processor.bus.connect import ConnectOptions, connect  # noqa: E402
from processor.bus.embedded import EmbeddedServer  # noqa: E402
from processor.bus.jsadmin import stream_last_seq  # noqa: E402
from processor.bus.streams import load_stream_definitions  # noqa: E402
from processor.cli import main as slo  # noqa: E402
from processor.replay import cli as _replay_cli  # noqa: E402  imported here: not timed
from processor.config.load import load_config  # noqa: E402
from processor.engine import Engine  # noqa: E402
from processor.runtime.processor import Processor, fallback_ts_ms  # noqa: E402
from processor.runtime.topology import BUS_LANE, partition_config  # noqa: E402
from processor.simulate import Simulator  # noqa: E402
from processor.simulate.publish import publish  # noqa: E402
from processor.vocabulary import durable_name  # noqa: E402
from tests.replaykit import stored, write_export  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "config" / "slo.yaml"
STREAMS = REPO / "streams"
T0_MS = 1_767_621_600_000  # 2026-01-05 14:00 UTC
MIN_MS = 60_000
WEEK_EVENTS = 10_000 * 60 * 24 * 7
BATCH = 1000


def _engine_alone_s(config, definitions, msgs) -> float:
    parts, _ = partition_config(config, definitions)
    parts.pop(BUS_LANE, None)
    by_stream: dict[str, list] = {}
    for m in msgs:
        by_stream.setdefault(m.stream, []).append(m)
    engines = {n: Engine(p, fallback_ts_ms=fallback_ts_ms, stream=n) for n, p in parts.items()}
    started = time.perf_counter()
    for name, stream_msgs in by_stream.items():
        engine = engines.get(name)
        if engine is None:
            continue
        for i in range(0, len(stream_msgs), BATCH):
            engine.ingest(stream_msgs[i:i + BATCH])
    return time.perf_counter() - started


def _replay_s(argv: list[str]) -> float:
    started = time.perf_counter()
    with contextlib.redirect_stderr(io.StringIO()):
        code = slo(argv)
    if code != 0:
        raise SystemExit(f"slo {' '.join(argv)}: exit {code}")
    return time.perf_counter() - started


async def _load_streams(url: str, simulator: Simulator, until_ms: int) -> None:
    nc = await connect(ConnectOptions(url=url))
    try:
        await publish(nc, simulator, until_ms, streams_dir=STREAMS)
    finally:
        await nc.close()


@contextlib.contextmanager
def _live_logging():
    """slo run's log configuration (runtime/logs.py, JSON lines), written to /dev/null; the
    previous configuration back after."""
    previous = structlog.get_config()
    with open(os.devnull, "w") as sink:
        structlog.configure(
            processors=[structlog.contextvars.merge_contextvars, structlog.processors.add_log_level,
                        structlog.processors.TimeStamper(fmt="iso", utc=True), structlog.processors.format_exc_info,
                        structlog.processors.JSONRenderer()],
            logger_factory=structlog.PrintLoggerFactory(file=sink),
        )
        try:
            yield
        finally:
            structlog.configure(**previous)


async def _acked(js, last_seqs: dict[str, int]) -> bool:
    """Every stream's durable (slo run's name) has acked up to its stream's last message."""
    for stream, last in last_seqs.items():
        info = await js.consumer_info(stream, durable_name("slo", stream))
        if info.ack_floor.stream_seq < last:
            return False
    return True


async def _live_s(config, definitions, url: str) -> float:
    """Seconds of the live processor on the backlog of the server at ``url``: from connecting
    until every stream's durable has acked its stream's last message."""
    watcher = await connect(ConnectOptions(url=url, name="bench-watcher"))
    try:
        last_seqs = {d["name"]: await stream_last_seq(watcher, d["name"]) for d in definitions if d["name"] != "SLO"}
        js = watcher.jetstream()
        with _live_logging():
            started = time.perf_counter()
            nc = await connect(ConnectOptions(url=url, name="slo"))
            proc = Processor(config, nc, definitions, batch_size=BATCH)
            await proc.start()
            runner = asyncio.create_task(proc.run())
            wanted = {s: n for s, n in last_seqs.items() if n and s in proc.lanes}
            lanes = [proc.lanes[s] for s in wanted]
            while True:
                # The lanes' own count first (no request per poll), then the server's word.
                if all(lane.stats.last_seq >= wanted[lane.stream] for lane in lanes) and await _acked(js, wanted):
                    break
                if runner.done():
                    runner.result()
                    raise SystemExit("the processor ended before consuming the backlog")
                await asyncio.sleep(0.005)
            seconds = time.perf_counter() - started
            proc.stop()
            await runner
            await nc.close()
    finally:
        await watcher.close()
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=72.0, help="simulator gateway requests/s (72: ~10k messages/min)")
    parser.add_argument("--minutes", type=int, default=10, help="minutes of event time to replay")
    parser.add_argument("--rounds", type=int, default=2, help="rounds; the median is printed")
    parser.add_argument("--history-batch", type=int, default=_replay_cli.HISTORY_BATCH,
                        help=f"messages per pull of the stream reads (default {_replay_cli.HISTORY_BATCH})")
    args = parser.parse_args()
    _replay_cli.HISTORY_BATCH = args.history_batch
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(file=open(os.devnull, "w")))  # noqa: SIM115
    until_ms = T0_MS + args.minutes * MIN_MS
    events = Simulator(T0_MS, seed=11, rate=args.rate).records(until_ms)
    msgs = stored(events)
    print(f"backlog: {len(msgs):,} event messages over {args.minutes} min of event time "
          f"({len(msgs) / args.minutes:,.0f}/min; the baseline is 10,000/min)")
    started = time.perf_counter()
    config = load_config(CONFIG)
    load_s = time.perf_counter() - started
    definitions = load_stream_definitions(STREAMS)
    print(f"config load: {load_s:.2f} s (measured each round and left out of the replay times below)")
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        export = write_export(tmp_path / "events.ndjson.gz", msgs)
        print(f"export file: {export.stat().st_size / 1e6:.1f} MB gzip")
        server = EmbeddedServer(tmp_path / "nats")
        rates: dict[str, list[float]] = {"engine": [], "file": [], "streams": [], "live": []}

        async def live(r: int, load_s: float) -> None:
            # A fresh server per round: the processor's durables, checkpoint and outputs start empty.
            live_server = EmbeddedServer(tmp_path / f"live{r}")
            live_url = await live_server.start()
            try:
                await _load_streams(live_url, Simulator(T0_MS, seed=11, rate=args.rate), until_ms)
                rates["live"].append(len(msgs) / await _live_s(config, definitions, live_url))
            finally:
                await live_server.stop()

        async def from_file(r: int, load_s: float) -> None:
            out = tmp_path / f"file{r}"
            rates["file"].append(len(msgs) / (_replay_s(
                ["replay", "--config", str(CONFIG), "--streams-dir", str(STREAMS), "--input", str(export),
                 "--out", str(out)]) - load_s))

        async def from_streams(r: int, load_s: float) -> None:
            out = tmp_path / f"streams{r}"
            seconds = await asyncio.to_thread(_replay_s, [
                "replay", "--config", str(CONFIG), "--streams-dir", str(STREAMS), "--nats-url", url,
                "--out", str(out)])
            rates["streams"].append(len(msgs) / (seconds - load_s))

        async def run_all() -> None:
            nonlocal url
            url = await server.start()
            try:
                await _load_streams(url, Simulator(T0_MS, seed=11, rate=args.rate), until_ms)
                measures = [live, from_file, from_streams]
                for r in range(args.rounds):
                    started = time.perf_counter()
                    load_config(CONFIG)
                    load_s = time.perf_counter() - started  # what each replay spends on it, this round
                    rates["engine"].append(len(msgs) / _engine_alone_s(config, definitions, msgs))
                    for measure in measures[r % 3:] + measures[:r % 3]:
                        await measure(r, load_s)
                    print(f"  round {r + 1}: " + ", ".join(f"{k} {v[-1]:,.0f}" for k, v in rates.items()) + " events/s",
                          flush=True)
            finally:
                await server.stop()

        url = ""
        asyncio.run(run_all())
    engine = statistics.median(rates["engine"])
    live_rate = statistics.median(rates["live"])
    week = f"a week at the baseline ({WEEK_EVENTS / 1e6:.1f} M events):"
    print(f"medians of {args.rounds} rounds:")
    print(f"engine alone:  {engine:>9,.0f} events/s  (1.00 of the engine alone); {week} {WEEK_EVENTS / engine / 3600:.1f} h")
    print(f"live:          {live_rate:>9,.0f} events/s  ({live_rate / engine:.2f} of the engine alone); "
          f"{week} {WEEK_EVENTS / live_rate / 3600:.1f} h")
    for name in ("file", "streams"):
        rate = statistics.median(rates[name])
        print(f"from {name + ':':<8} {rate:>9,.0f} events/s  ({rate / engine:.2f} of the engine alone, "
              f"{rate / live_rate:.2f} of live); {week} {WEEK_EVENTS / rate / 3600:.1f} h")


if __name__ == "__main__":
    main()
