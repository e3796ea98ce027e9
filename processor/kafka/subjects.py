"""A Kafka record's subject: what the SLI selectors of config/slo.yaml read (docs/kafka.md).

The platform's payloads are the same on Kafka as on NATS; what Kafka lacks is the subject. Each
topic names how to get it (config ``kafka.topics``, ``KafkaTopicConfig``): its prefix, then

- ``field``: a payload field (a dotted path), e.g. topic ``trade`` + ``"type": "order.submitted"``
  -> ``trade.order.submitted``;
- ``key``: the record key, e.g. topic ``market`` + key ``quote.updated`` -> ``market.quote.updated``;
- ``topic``: the prefix alone (a topic that carries one kind of event).

A record whose subject cannot be derived (no key, no such field, a value that is not a subject
token) is not an event of any SLI: it is dead-lettered with the reason of the same names the
engine uses (``not_json``, ``not_object``, ``missing_field``, ``bad_field_type``, ``bad_value``).
No faust here: this module is the mapping alone, tested without a broker.
"""

from __future__ import annotations

__all__ = ["KafkaRecord", "SubjectMap", "Unmapped", "default_topic"]

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import orjson

from processor.config.model import KafkaConfig, KafkaTopicConfig

# One or more subject tokens: no wildcard, no space, no empty token.
_TOKENS = re.compile(r"[^.*>\s]+(\.[^.*>\s]+)*")


@dataclass(frozen=True, slots=True)
class KafkaRecord:
    """One Kafka record presented to the engine like a bus message (``subject``, ``data``,
    ``reply``): ``reply`` is empty (there is no JetStream reply subject); the record timestamp
    stands in for the JetStream timestamp (``timestamp_ms``, read by the engine's fallback)."""

    subject: str
    data: bytes
    topic: str
    partition: int
    offset: int
    timestamp_ms: int | None = None
    key: bytes | None = None
    reply: str = ""


@dataclass(frozen=True, slots=True)
class Unmapped:
    """Why a record has no subject: an engine rejection reason and a detail naming the record."""

    reason: str
    detail: str


def default_topic(name: str) -> KafkaTopicConfig:
    """A topic named only on the command line (``--topics``): its name as the prefix, the field
    ``type`` as the rest."""
    return KafkaTopicConfig(topic=name, prefix=name)


def _field(payload: Any, path: str) -> Any:
    value = payload
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            raise KeyError(path)
        value = value[part]
    return value


class SubjectMap:
    """Topic -> how its records get their subject. ``subject(topic, key, data)`` is the mapping."""

    def __init__(self, topics: Iterable[KafkaTopicConfig]):
        self.topics = {t.topic: t for t in topics}

    @classmethod
    def from_config(cls, kafka: KafkaConfig | None, names: Iterable[str] = ()) -> SubjectMap:
        """The configured topics, and each of ``names`` (``--topics``) not configured with the
        default mapping; with ``names``, only those topics."""
        configured = {t.topic: t for t in (kafka.topics if kafka is not None else ())}
        wanted = list(names) or list(configured)
        return cls(configured.get(n) or default_topic(n) for n in wanted)

    def subject(self, topic: str, key: bytes | None, data: bytes) -> str | Unmapped:
        """The subject of a record of ``topic``, or why it has none."""
        cfg = self.topics.get(topic) or default_topic(topic)
        where = f"topic {topic}"
        if cfg.subject_from == "topic":
            return cfg.prefix
        if cfg.subject_from == "key":
            if not key:
                return Unmapped("missing_field", f"{where}: the record has no key (the subject comes from the key)")
            try:
                rest = key.decode("utf-8")
            except UnicodeDecodeError:
                return Unmapped("bad_value", f"{where}: the record key is not UTF-8 text")
            return self._joined(cfg, rest, f"{where}: key")
        try:
            payload = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            return Unmapped("not_json", f"{where}: payload is not JSON ({exc})")
        if not isinstance(payload, dict):
            return Unmapped("not_object", f"{where}: payload is {type(payload).__name__}, expected an object")
        assert cfg.field is not None
        try:
            value = _field(payload, cfg.field)
        except KeyError:
            return Unmapped("missing_field", f"{where}: no field {cfg.field!r} to take the subject from")
        if not isinstance(value, str):
            return Unmapped("bad_field_type", f"{where}: field {cfg.field!r} is {type(value).__name__}, expected text")
        return self._joined(cfg, value, f"{where}: field {cfg.field!r}")

    @staticmethod
    def _joined(cfg: KafkaTopicConfig, rest: str, what: str) -> str | Unmapped:
        if not _TOKENS.fullmatch(rest):
            return Unmapped("bad_value", f"{what} is {rest[:80]!r}, not subject tokens (no * > spaces or empty tokens)")
        return f"{cfg.prefix}.{rest}"
