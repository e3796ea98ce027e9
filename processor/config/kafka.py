"""The ``kafka:`` section: which brokers and topics ``slo run --source kafka`` reads, and how a
record's subject is derived (processor/kafka/subjects.py, docs/kafka.md).

    kafka:
      brokers: [kafka-1:9092, kafka-2:9092]
      group: slo-processor
      topics:
        trade: {subject_from: field, field: type}   # trade + "type": "order.submitted" -> trade.order.submitted
        market: {subject_from: key}                 # market + key quote.updated -> market.quote.updated
        ai: {}                                      # the default: the field "type"

Every problem gets the line of its key.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from processor.config.fields import DurationMs, PositiveInt, RawModel
from processor.config.model import KafkaConfig, KafkaTopicConfig
from processor.config.problems import Problems
from processor.config.tree import Loc

__all__ = ["parse_brokers", "read_kafka", "topic_problem"]

_SECTION_SHAPE = "expected a mapping such as {brokers: [127.0.0.1:9092], topics: {trade: {field: type}}}"
_DEFAULTS = KafkaConfig()
# Kafka's own rule for a topic name: 1-249 of these characters.
_TOPIC = re.compile(r"[A-Za-z0-9._-]{1,249}")
# A subject prefix: dot-separated tokens without wildcards or spaces.
_PREFIX = re.compile(r"[^.*>\s]+(\.[^.*>\s]+)*")
_BROKER = re.compile(r"[A-Za-z0-9._\-\[\]:]+:\d{1,5}")


class RawTopic(RawModel):
    prefix: str | None = None
    subject_from: Literal["field", "key", "topic"] = "field"
    field: str | None = None


class RawKafka(RawModel):
    brokers: list[Any] = []
    group: str = _DEFAULTS.group
    topics: Any = None  # {name: {...}} or [name, ...]: each entry validated on its own (_topic)
    batch_size: PositiveInt = _DEFAULTS.batch_size
    batch_within: DurationMs = _DEFAULTS.batch_within_ms
    session_timeout: DurationMs = _DEFAULTS.session_timeout_ms
    rebalance_timeout: DurationMs = _DEFAULTS.rebalance_timeout_ms


def topic_problem(name: Any) -> str | None:
    """Why ``name`` is not a Kafka topic name (None: it is one)."""
    if isinstance(name, str) and _TOPIC.fullmatch(name) and name not in (".", ".."):
        return None
    return f"expected a Kafka topic name (letters, digits, '.', '_', '-'), got {name!r}"


def parse_brokers(value: Any) -> tuple[tuple[str, ...], list[str]]:
    """``host:9092,host2:9092`` or a list of them: (the addresses, the problems)."""
    items = value.split(",") if isinstance(value, str) else list(value or [])
    brokers, problems = [], []
    for item in items:
        text = item.strip() if isinstance(item, str) else item
        if not isinstance(text, str) or not _BROKER.fullmatch(text):
            problems.append(f"expected a broker address host:port such as 127.0.0.1:9092, got {item!r}")
        else:
            brokers.append(text)
    return tuple(brokers), problems


def _topic(name: Any, value: Any, loc: Loc, problems: Problems) -> KafkaTopicConfig | None:
    n = len(problems)
    problems.check(loc, topic_problem(name))
    entry, raw = problems.validate(RawTopic, value, loc)
    if entry is None:
        return None
    prefix = raw.prefix if raw.prefix is not None else name
    if not _PREFIX.fullmatch(prefix or ""):
        problems.add(loc + ("prefix",), f"expected a subject prefix such as {name} (tokens without * > or spaces), "
                                        f"got {prefix!r}")
    if raw.subject_from != "field" and raw.field is not None:
        problems.add(loc + ("field",), f"a field is read only with subject_from: field (here: {raw.subject_from})")
    field = (raw.field or "type") if raw.subject_from == "field" else None
    if field is not None and not all(field.split(".")):
        problems.add(loc + ("field",), f"expected a field name or dotted path such as type, got {field!r}")
    if len(problems) > n:
        return None
    return KafkaTopicConfig(topic=name, prefix=prefix, subject_from=raw.subject_from, field=field)


def read_kafka(value: Any, problems: Problems) -> KafkaConfig | None:
    """The section (``value``, not None); None if it has problems."""
    loc: Loc = ("kafka",)
    if not isinstance(value, dict):
        problems.add(loc, _SECTION_SHAPE)
        return None
    n = len(problems)
    entry, raw = problems.validate(RawKafka, value, loc)
    brokers, broker_problems = parse_brokers(raw.brokers or [])
    for text in broker_problems:
        problems.add(loc + ("brokers",), text)
    for key in ("batch_within", "session_timeout", "rebalance_timeout"):
        if getattr(raw, key) is not None and getattr(raw, key) <= 0:
            problems.add(loc + (key,), "must be greater than 0")
    topics_raw = raw.topics or {}
    if isinstance(topics_raw, list):
        topics_raw = dict.fromkeys(topics_raw)
    if not isinstance(topics_raw, dict):
        problems.add(loc + ("topics",), "expected a mapping {topic: {subject_from: ..., field: ...}} or a list of topics")
        topics_raw = {}
    topics = [_topic(name, t, loc + ("topics", name), problems) for name, t in topics_raw.items()]
    if entry is None or len(problems) > n:
        return None
    return KafkaConfig(brokers=brokers, group=entry.group, topics=tuple(t for t in topics if t is not None),
                       batch_size=entry.batch_size, batch_within_ms=entry.batch_within,
                       session_timeout_ms=entry.session_timeout, rebalance_timeout_ms=entry.rebalance_timeout)
