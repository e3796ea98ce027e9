"""slo replay --source kafka with its default engines, one per topic-partition: the engines of
`slo run --source kafka` (processor/kafka/parts.py), against a real Kafka-protocol broker (Tansu).

The scenario is test_kafka_history.py's (the simulator's traffic with two incidents, a topic of
three partitions per stream), on topics of this file's own prefix. A partition's lane evaluates
what the stream's engine evaluates over that partition's records alone; and a replay of the topics
publishes the alerts the live Kafka run published over them, message for message.
"""

from __future__ import annotations

import asyncio
import signal
from collections import Counter
from pathlib import Path

import orjson
import pytest

from processor.cli import main
from tests.integration.test_kafka_history import _kafka_args, _outputs, _topic as _any_topic, on_kafka, scenario  # noqa: F401
from tests.kafkakit import kafka_bootstrap  # noqa: F401

pytestmark = pytest.mark.integration

PREFIX = "kl"  # this file's topics (the broker is shared by the session)
STREAMS = ("ANALYTICS", "TRADE")  # the incidents' streams: only these are sent to Kafka
TWO_TOPICS = ["--topics", f"{PREFIX}-analytics,{PREFIX}-trade"]


def _topic(stream: str) -> str:
    return _any_topic(stream, PREFIX)


async def test_by_default_each_partition_has_its_engine_as_slo_run_source_kafka_gives_it(
        scenario, on_kafka, kafka_bootstrap, tmp_path):  # noqa: F811
    """--kafka-engines partition (the default): kh-trade's partition 2 is a lane of its own, kh-trade-2,
    whose engine evaluates what the TRADE stream's engine evaluates, over that partition's records
    alone; the reference is the stream-merged replay of that one partition (the others read from
    their ends). The SLIs on the input subjects label their series with the lane: left out."""
    from tests.kafkakit import read_all

    records = [r for r in await read_all(kafka_bootstrap, [_topic("TRADE")], timeout_s=1.0)]
    ends = Counter(r.partition for r in records)
    assert len(ends) == 3  # the keys spread the subjects over the three partitions
    by_lane, alone = tmp_path / "lanes", tmp_path / "alone"
    assert 0 == await asyncio.to_thread(main, ["replay", "--source", "kafka", "--kafka-brokers", kafka_bootstrap,
                                              "--config", str(scenario["config"]), "--topics", _topic("TRADE"),
                                              "--out", str(by_lane)])
    only_2 = ",".join(f"{_topic('TRADE')}:{p}:{0 if p == 2 else ends[p]}" for p in range(3))
    assert 0 == await asyncio.to_thread(main, ["replay", *_kafka_args(kafka_bootstrap, scenario), "--streams", "TRADE",
                                              "--topics", _topic("TRADE"), "--from-offset", only_2, "--out", str(alone)])
    summary = orjson.loads((by_lane / "summary.json").read_bytes())
    assert {f"{PREFIX}-trade-{p}": n for p, n in ends.items()} == {s: v["messages"] for s, v in summary["streams"].items()}
    assert (0, ends[2] - 1) == (summary["streams"][f"{PREFIX}-trade-2"]["first_seq"],
                                summary["streams"][f"{PREFIX}-trade-2"]["last_seq"])  # offsets

    lane_2 = tmp_path / "lane-2"
    assert 0 == await asyncio.to_thread(main, ["replay", "--source", "kafka", "--kafka-brokers", kafka_bootstrap,
                                              "--config", str(scenario["config"]), "--topics", _topic("TRADE"),
                                              "--from-offset", only_2, "--out", str(lane_2)])
    assert [f"{PREFIX}-trade-2"] == list(orjson.loads((lane_2 / "summary.json").read_bytes())["streams"])

    def not_input(out: Path) -> dict:
        return {k: v for k, v in _outputs(out).items() if ".slo-processor." not in k[0]}

    assert not_input(alone) == not_input(lane_2) != {}


async def test_a_replay_from_kafka_publishes_the_alerts_slo_run_source_kafka_published(
        scenario, on_kafka, kafka_bootstrap, tmp_path):  # noqa: F811
    """The default engines are the live ones: `slo run --source kafka` over the incident's two topics
    (three partitions each, a lane per partition), then `slo replay --source kafka` of the same
    topics: the same alerts, message for message (subject, id, body)."""
    from processor.bus.embedded import EmbeddedServer
    from processor.bus.connect import ConnectOptions, connect
    from processor.kafka.parts import lane_name
    from tests.integration.test_kafka_source import ENV, _alerts, _slo, _until_checkpointed
    from tests.kafkakit import kafka_config, read_all

    topics = TWO_TOPICS[1].split(",")
    config = kafka_config(tmp_path, kafka_bootstrap, {t: t.split("-", 1)[1] for t in topics}, group="slo-kh")
    last = {}
    for r in await read_all(kafka_bootstrap, topics, timeout_s=1.0):
        last[lane_name(r.topic, r.partition)] = max(r.offset, last.get(lane_name(r.topic, r.partition), -1))
    async with EmbeddedServer(tmp_path / "nats") as server:
        nc = await connect(ConnectOptions(url=server.url))
        proc = _slo("run", "--source", "kafka", "--config", str(config), "--nats-url", server.url, env=ENV,
                    log=tmp_path / "run.log")
        try:
            await _until_checkpointed(nc, "slo-kh", last)
        finally:
            proc.send_signal(signal.SIGTERM)
            assert 0 == proc.wait(30)
        live = await _alerts(nc)
        await nc.close()
    out = tmp_path / "replay"
    assert 0 == await asyncio.to_thread(main, ["replay", "--source", "kafka", "--config", str(config),
                                              "--out", str(out)])
    replayed = [(a["subject"], a["msg_id"], a["data"]) for a in map(orjson.loads, (out / "alerts.ndjson").read_bytes().splitlines())]
    assert any(a[2]["status"] == "firing" for a in live)
    assert sorted(live, key=lambda a: a[1]) == sorted(replayed, key=lambda a: a[1])
