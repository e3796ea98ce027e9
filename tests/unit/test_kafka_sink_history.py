"""The pure parts of Kafka outputs and Kafka history: which topic and key an output gets, the
consumer's dedupe by Slo-Msg-Id, --from-offset, and the arguments --source kafka refuses (one line,
exit 1, before anything is read). The broker side is tests/integration/test_kafka_{outputs,history}.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from processor.bus.publisher import OutMessage
from processor.cli import main
from processor.engine.outputs import Rejection
from processor.kafka.history import parse_offsets
from processor.kafka.sink import DEDUPE_HEADER, MsgIdDedupe, OutputTopics, record_key
from processor.runtime.render import deadletter_message

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(("subject", "topic", "key"), [
    ("slo.alerts.critical.trading-engine", "slo.alerts", b"trading-engine"),
    ("slo.budget.api-gateway.gateway_availability", "slo.budget", b"api-gateway"),
    ("slo.sli.market-data.quote_latency", "slo.sli", b"market-data"),
    ("slo.actions.ai-decision", "slo.actions", b"ai-decision"),
    ("slo.clock.TRADE", "slo.clock", b"TRADE"),
])
def test_each_output_goes_to_its_kinds_topic_keyed_by_its_service(subject, topic, key):
    from processor.kafka.sink import _kind

    assert (topic, key) == (OutputTopics().topic(_kind(subject)), record_key(OutMessage(subject, b"{}")))
    assert "ops.alerts" == OutputTopics("ops").topic("alerts")


def test_a_dead_letter_is_keyed_by_its_source_stream():
    subject, data, headers, msg_id = deadletter_message(Rejection(0, "not_json", "x"), "trade.order.submitted",
                                                         b"{", "TRADE", 7)
    assert b"TRADE" == record_key(OutMessage(subject, data, headers, msg_id))
    assert "slo.deadletter" == OutputTopics().topic("deadletter") and "dl-TRADE-7" == msg_id


def test_a_subject_that_is_not_an_output_is_refused():
    with pytest.raises(ValueError, match="not an output subject"):
        record_key(OutMessage("trade.order.submitted", b"{}"))


def test_the_dedupe_drops_an_id_seen_and_forgets_the_oldest_past_its_capacity():
    dedupe = MsgIdDedupe(capacity=2)
    ids = [[(DEDUPE_HEADER, f"m{i}".encode())] for i in range(3)]
    assert [False, True, False] == [dedupe.seen(ids[0]), dedupe.seen(ids[0]), dedupe.seen(ids[1])]
    assert dedupe.seen(ids[0])  # seen again: now the newest
    assert not dedupe.seen(ids[2])  # m1 is forgotten, the oldest of three
    assert not dedupe.seen(ids[1])
    assert not dedupe.seen([("other", b"m0")]) and not dedupe.seen([("other", b"m0")])  # no id: never a duplicate


def test_from_offset_is_one_offset_for_all_or_one_per_partition():
    assert {None: 120} == parse_offsets("120")
    assert {("trade", 0): 5, ("my.topic", 11): 0} == parse_offsets("trade:0:5, my.topic:11:0")
    for bad in ("-1", "trade:5", "trade:x:1", ":0:1"):
        with pytest.raises(ValueError, match="expected N or topic:partition:offset"):
            parse_offsets(bad)


def _one_line_error(capsys, argv: list[str]) -> str:
    assert 1 == main(argv)
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert 1 == len(lines), lines
    return lines[0]


@pytest.mark.parametrize(("argv", "expected"), [
    (["replay", "--source", "kafka", "--input", "e.ndjson"], "slo replay: --source kafka and --input:"),
    (["replay", "--source", "kafka", "--publish-prefix", "replay"], "slo replay: --source kafka and --publish-prefix:"),
    (["replay", "--from-offset", "5"], "slo replay: --from-offset reads Kafka: give --source kafka"),
    (["replay", "--source", "kafka", "--topics", "trade"], "slo replay: --source kafka: give --kafka-brokers"),
    (["replay", "--source", "kafka", "--kafka-brokers", "nowhere"], "slo replay: --kafka-brokers: expected a broker"),
    (["replay", "--source", "kafka", "--kafka-brokers", "127.0.0.1:9", "--topics", "t", "--from-offset", "t:0"],
     "slo replay: --from-offset 't:0': expected N or topic:partition:offset"),
    (["export", "--source", "kafka", "--checkpoint-out", "c.bin"], "slo export: --source kafka and --checkpoint-out:"),
])
def test_what_source_kafka_refuses_is_one_line(capsys, tmp_path, argv, expected):
    full = [*argv, "--streams-dir", str(ROOT / "streams")]
    if argv[0] == "replay":
        full += ["--config", str(ROOT / "config" / "slo.yaml")]
        full += [] if "--publish-prefix" in argv else ["--out", str(tmp_path / "o")]
    assert _one_line_error(capsys, full).startswith(expected)


def test_run_refuses_a_bad_output_prefix_and_missing_brokers(capsys):
    config = str(ROOT / "config" / "slo.yaml")
    assert _one_line_error(capsys, ["run", "--config", config, "--outputs", "kafka"]).startswith(
        "--outputs kafka: give --kafka-brokers")
    assert _one_line_error(capsys, ["run", "--config", config, "--outputs", "kafka", "--kafka-brokers", "h:9092",
                                    "--kafka-output-prefix", "a b"]).startswith("--kafka-output-prefix 'a b': expected a Kafka topic")
