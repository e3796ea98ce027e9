"""`slo run --source kafka --outputs kafka`: events from Kafka topics, outputs to Kafka topics (Tansu).

The events of tests/integration/test_kafka_history.py's scenario (two incidents, topics of three
partitions) on this file's topics; the live run's alerts on ``kio.alerts``, deduped by Slo-Msg-Id,
must be the alerts `slo replay --source kafka` of the same topics writes (the engines of the live
run, tests/integration/test_kafka_replay_lanes.py), message for message.
"""

from __future__ import annotations

import asyncio
import signal

import orjson
import pytest

from processor.cli import main
from processor.kafka.parts import lane_name
from processor.kafka.sink import DEDUPE_HEADER, SUBJECT_HEADER, MsgIdDedupe
from tests.integration.test_kafka_history import on_kafka, scenario  # noqa: F401
from tests.kafkakit import create_topics, kafka_bootstrap, kafka_config, read_all  # noqa: F401

pytestmark = pytest.mark.integration

PREFIX = "kio"
STREAMS = ("ANALYTICS", "TRADE")
TOPICS = [f"{PREFIX}-analytics", f"{PREFIX}-trade"]


async def test_events_and_outputs_on_kafka_alert_as_a_replay_of_the_topics(scenario, on_kafka, kafka_bootstrap,  # noqa: F811
                                                                          tmp_path):
    from processor.bus.connect import ConnectOptions, connect
    from processor.bus.embedded import EmbeddedServer
    from tests.integration.test_kafka_source import ENV, _slo, _until_checkpointed

    await create_topics(kafka_bootstrap, {f"{PREFIX}.{k}": 1 for k in ("alerts", "budget", "actions", "deadletter",
                                                                       "sli", "clock")})
    config = kafka_config(tmp_path, kafka_bootstrap, {t: t.split("-", 1)[1] for t in TOPICS}, group="slo-kio")
    last: dict[str, int] = {}
    for r in await read_all(kafka_bootstrap, TOPICS, timeout_s=1.0):
        last[lane_name(r.topic, r.partition)] = max(r.offset, last.get(lane_name(r.topic, r.partition), -1))
    async with EmbeddedServer(tmp_path / "nats") as server:  # the checkpoints' KV only
        nc = await connect(ConnectOptions(url=server.url))
        proc = _slo("run", "--source", "kafka", "--config", str(config), "--nats-url", server.url,
                    "--outputs", "kafka", "--kafka-output-prefix", PREFIX, "--kafka-idempotence", "off",
                    env=ENV, log=tmp_path / "run.log")
        try:
            await _until_checkpointed(nc, "slo-kio", last)
        finally:
            proc.send_signal(signal.SIGTERM)
            assert 0 == proc.wait(30)
        await nc.close()
    dedupe = MsgIdDedupe()
    live = [(dict(r.headers)[SUBJECT_HEADER].decode(), dict(r.headers)[DEDUPE_HEADER].decode(), orjson.loads(r.value))
            for r in await read_all(kafka_bootstrap, [f"{PREFIX}.alerts"], timeout_s=1.0) if not dedupe.seen(r.headers)]
    out = tmp_path / "replay"
    assert 0 == await asyncio.to_thread(main, ["replay", "--source", "kafka", "--config", str(config), "--out", str(out)])
    replayed = [(a["subject"], a["msg_id"], a["data"])
                for a in map(orjson.loads, (out / "alerts.ndjson").read_bytes().splitlines())]
    assert any(a[2]["status"] == "firing" for a in live)
    assert sorted(live, key=lambda a: a[1]) == sorted(replayed, key=lambda a: a[1])
