"""The Kafka subject mapping (processor/kafka/subjects.py) and the ``kafka:`` config section.

The expected subjects are written out by hand from docs/kafka.md's rules: prefix (the topic unless
given) + "." + the key or the field's text; a record without one is dead-lettered with the engine's
reason of the same meaning.
"""

from __future__ import annotations

import pytest

from processor.config.load import load_config_text
from processor.errors import ConfigError
from processor.kafka.subjects import SubjectMap, Unmapped

BASE = "version: 1\n"
SECTION = """kafka:
  brokers: [127.0.0.1:9092, "[::1]:9093"]
  group: slo-a
  batch_size: 500
  batch_within: 50ms
  topics:
    trade: {subject_from: field, field: type}
    market: {subject_from: key}
    ai: {prefix: ai.decision.generated, subject_from: topic}
    analytics: {field: meta.kind}
    gw: {prefix: analytics.gateway}
"""


def _map() -> SubjectMap:
    return SubjectMap.from_config(load_config_text(BASE + SECTION, "t.yaml").kafka)


def _problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_config_text(BASE + text, "t.yaml")
    return [str(p) for p in info.value.problems]


def test_the_section_reaches_the_model() -> None:
    kafka = load_config_text(BASE + SECTION, "t.yaml").kafka

    assert ("127.0.0.1:9092", "[::1]:9093") == kafka.brokers
    assert ("slo-a", 500, 50) == (kafka.group, kafka.batch_size, kafka.batch_within_ms)
    assert ["trade", "market", "ai", "analytics", "gw"] == [t.topic for t in kafka.topics]
    assert [("trade", "field", "type"), ("market", "key", None), ("ai.decision.generated", "topic", None),
            ("analytics", "field", "meta.kind"), ("analytics.gateway", "field", "type")] == [
        (t.prefix, t.subject_from, t.field) for t in kafka.topics]


def test_without_the_section_there_is_no_kafka_config() -> None:
    assert None is load_config_text(BASE, "t.yaml").kafka


@pytest.mark.parametrize(
    ("topic", "key", "data", "subject"),
    [
        ("trade", None, b'{"type": "order.submitted", "ts": 1}', "trade.order.submitted"),
        ("market", b"quote.updated", b"not even json", "market.quote.updated"),
        ("ai", None, b"{}", "ai.decision.generated"),
        ("analytics", b"k", b'{"meta": {"kind": "query"}}', "analytics.query"),
        ("gw", None, b'{"type": "request"}', "analytics.gateway.request"),
        ("unlisted", None, b'{"type": "x.y"}', "unlisted.x.y"),  # the default: field "type"
    ],
)
def test_a_record_gets_prefix_dot_key_or_field(topic, key, data, subject) -> None:
    assert subject == _map().subject(topic, key, data)


@pytest.mark.parametrize(
    ("topic", "key", "data", "reason"),
    [
        ("trade", None, b"{oops", "not_json"),
        ("trade", None, b"[1, 2]", "not_object"),
        ("trade", None, b'{"kind": "order"}', "missing_field"),
        ("trade", None, b'{"type": 7}', "bad_field_type"),
        ("trade", None, b'{"type": "order.*"}', "bad_value"),
        ("trade", None, b'{"type": "a..b"}', "bad_value"),
        ("trade", None, b'{"type": "has space"}', "bad_value"),
        ("market", None, b"{}", "missing_field"),
        ("market", b"\xff\xfe", b"{}", "bad_value"),
        ("analytics", None, b'{"meta": "flat"}', "missing_field"),
    ],
)
def test_a_record_without_a_subject_gets_the_engines_reason(topic, key, data, reason) -> None:
    got = _map().subject(topic, key, data)

    assert isinstance(got, Unmapped)
    assert reason == got.reason
    assert f"topic {topic}" in got.detail


def test_topics_on_the_command_line_pick_from_the_config_or_take_the_default() -> None:
    kafka = load_config_text(BASE + SECTION, "t.yaml").kafka
    chosen = SubjectMap.from_config(kafka, ["market", "other"])

    assert ["market", "other"] == list(chosen.topics)
    assert "key" == chosen.topics["market"].subject_from
    assert ("other", "field", "type") == (chosen.topics["other"].prefix, chosen.topics["other"].subject_from,
                                          chosen.topics["other"].field)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("kafka: [a]\n", ["t.yaml:2: kafka: expected a mapping"]),
        ("kafka:\n  brokers: [nohost]\n", ["t.yaml:3: kafka.brokers: expected a broker address host:port"]),
        ("kafka:\n  topics:\n    bad/name: {}\n", ["t.yaml:4: kafka.topics.bad/name: expected a Kafka topic name"]),
        ("kafka:\n  topics:\n    t: {prefix: 'a.>'}\n", ["t.yaml:4: kafka.topics.t.prefix: expected a subject prefix"]),
        ("kafka:\n  topics:\n    t: {subject_from: key, field: type}\n",
         ["t.yaml:4: kafka.topics.t.field: a field is read only with subject_from: field"]),
        ("kafka:\n  topics:\n    t: {subject_from: header}\n", ["t.yaml:4: kafka.topics.t.subject_from:"]),
        ("kafka:\n  batch_within: 0s\n", ["t.yaml:3: kafka.batch_within: must be greater than 0"]),
        ("kafka:\n  partitions: 3\n", ["t.yaml:3: kafka.partitions: unknown key"]),
    ],
    ids=["not a mapping", "bad broker", "bad topic", "wildcard prefix", "field with key", "unknown source",
         "zero within", "unknown key"],
)
def test_problems_name_the_line_and_field(text: str, expected: list[str]) -> None:
    problems = _problems(text)

    assert len(expected) == len(problems), problems
    for want, got in zip(expected, problems, strict=True):
        assert got.startswith(want), got
