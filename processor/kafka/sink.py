"""The outputs on Kafka topics instead of NATS ``slo.>`` (``slo run --outputs kafka``, docs/kafka-outputs.md).

``KafkaPublisher`` is an ``OutputPublisher`` (runtime/outbox.py) as the NATS ``Publisher`` is: the
outbox renders the same messages, hands them to ``publish_all`` and treats its return as "stored
and acknowledged" (here: every record acked by all in-sync replicas, ``acks=all``), so the input's
position (a JetStream ack, a Kafka offset commit) moves only after that. A ``BusError`` is retried by
the outbox while the processor runs, exactly as an unanswered NATS publish is.

Where a message goes: the kind of output (the second token of its NATS subject) picks the topic,
``<prefix>.<kind>`` (``slo.alerts``, ``slo.budget``, ``slo.actions``, ``slo.deadletter``, ``slo.sli``,
``slo.clock``); the record key is the service (the subject's service token; a dead letter's is its
source stream, a time move's its stream), so one service's outputs stay in order on one
partition. Every record carries the message id the NATS path puts in ``Nats-Msg-Id`` as the header
``Slo-Msg-Id`` (stable across restarts and replicas: a consumer drops a second copy by it) and the
NATS subject as ``Slo-Subject``; a dead letter's own headers (``Slo-Reason``, ...) come along.

The producer is idempotent (``enable_idempotence=True``, ``acks=all``): a retry inside one producer
session never writes a record twice. Across sessions (a restart re-evaluates what came after the
last checkpoint) Kafka keeps no window like JetStream's ``duplicate_window``: the same transition is
written again with the same ``Slo-Msg-Id``, and the consumer dedupes (``MsgIdDedupe``).
"""

from __future__ import annotations

__all__ = ["DEDUPE_HEADER", "SUBJECT_HEADER", "KafkaPublisher", "MsgIdDedupe", "OutputTopics", "kafka_outputs",
           "record_key"]

import asyncio
import contextlib
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from processor.bus.publisher import OutMessage
from processor.config.kafka import parse_brokers, topic_problem
from processor.config.model import Config
from processor.errors import BusError, PermissionDeniedError, ProcessorError
from processor.vocabulary import OUTPUT_SUBJECT_PREFIXES, SERVICE_TOKEN_AT

DEDUPE_HEADER = "Slo-Msg-Id"
SUBJECT_HEADER = "Slo-Subject"
# Kafka's default max.request.size; what a record may take of it, the rest for the batch's framing
# and the record's own headers beyond those the dead letter counts.
_MAX_REQUEST_BYTES = 1_048_576
_FRAMING_BYTES = 4096
# The service's place in each kind's subject (runtime/render.py): slo.alerts.<severity>.<service>,
# slo.budget.<service>.<slo>, slo.sli.<service>.<sli>, slo.actions.<service>; a dead letter
# (slo.deadletter.<reason>) is keyed by its source stream, a time move (slo.clock.<stream>) by its stream.
_KEY_TOKEN = {**SERVICE_TOKEN_AT, "clock": 2}
_KINDS = {prefix: kind for kind, prefix in OUTPUT_SUBJECT_PREFIXES.items()}


@dataclass(frozen=True)
class OutputTopics:
    """Which topic each kind of output goes to: ``<prefix>.<kind>``."""

    prefix: str = "slo"

    def topic(self, kind: str) -> str:
        return f"{self.prefix}.{kind}"

    @property
    def all(self) -> tuple[str, ...]:
        return tuple(self.topic(kind) for kind in OUTPUT_SUBJECT_PREFIXES)


def _kind(subject: str) -> str:
    kind = _KINDS.get(".".join(subject.split(".", 2)[:2]))
    if kind is None:
        raise ValueError(f"not an output subject (slo.<kind>.…): {subject!r}")
    return kind


def record_key(message: OutMessage) -> bytes:
    """The record key of an output: its service (see the module's doc)."""
    kind = _kind(message.subject)
    if kind == "deadletter":
        stream = (message.headers or {}).get("Slo-Stream", "")
        return stream.encode()
    tokens = message.subject.split(".")
    index = _KEY_TOKEN[kind]
    return tokens[index].encode() if index < len(tokens) else b""


class KafkaPublisher:
    """Publishes rendered outputs to Kafka topics with an idempotent producer (see the module's doc).

    ``start()`` connects and checks that every output topic exists (a missing topic is an error naming
    it: the operator creates them, with the partitions and retention the platform wants);
    ``close()`` flushes and stops the producer."""

    def __init__(self, brokers: Sequence[str], topics: OutputTopics = OutputTopics(), *, idempotent: bool = True,
                 timeout_s: float = 10.0, client_id: str = "slo-processor", **producer_options: Any) -> None:
        self.brokers = list(brokers)
        self.topics = topics
        self.idempotent = idempotent
        self.timeout_s = timeout_s
        self.duplicates = 0  # as the NATS publisher's count; Kafka does not report duplicates
        self.published = 0
        self._client_id = client_id
        self._options = producer_options
        self._producer: Any = None

    @property
    def max_payload(self) -> int:
        """The largest payload a dead letter may keep (runtime/render.deadletter_message cuts to it)."""
        return int(self._options.get("max_request_size", _MAX_REQUEST_BYTES)) - _FRAMING_BYTES

    async def start(self) -> None:
        from aiokafka import AIOKafkaProducer
        from aiokafka.errors import KafkaError

        producer = AIOKafkaProducer(
            bootstrap_servers=",".join(self.brokers), client_id=self._client_id, acks="all",
            enable_idempotence=self.idempotent, request_timeout_ms=int(self.timeout_s * 1000), **self._options,
        )
        try:
            await producer.start()
            missing = await self._missing_topics(producer)
        except KafkaError as exc:
            await _stop_quietly(producer)
            raise BusError(f"kafka outputs: cannot start the producer on {','.join(self.brokers)}: "
                           f"{type(exc).__name__}: {exc}") from exc
        if missing:
            await _stop_quietly(producer)
            raise ProcessorError(
                f"kafka outputs: no topic {', '.join(missing)} on {','.join(self.brokers)}: create "
                f"{'it' if len(missing) == 1 else 'them'} (e.g. kafka-topics --create --topic {missing[0]}) "
                "with the partitions and retention the platform wants")
        self._producer = producer

    async def _missing_topics(self, producer: Any) -> list[str]:
        # The producer's client knows every topic of the cluster after one metadata request.
        await producer.client.force_metadata_update()
        known = producer.client.cluster.topics()
        return [t for t in self.topics.all if t not in known]

    async def publish_all(self, messages: Sequence[OutMessage]) -> None:
        """Send every message; return once the broker acknowledged all of them (acks=all)."""
        if not messages:
            return
        if self._producer is None:
            raise BusError("kafka outputs: the producer is not started")
        from aiokafka.errors import KafkaError, TopicAuthorizationFailedError

        try:
            await asyncio.wait_for(self._send_all(messages), timeout=self.timeout_s)
        except TopicAuthorizationFailedError as exc:
            raise PermissionDeniedError(f"kafka outputs: not allowed to write to a topic: {exc}") from exc
        except KafkaError as exc:
            raise BusError(f"kafka outputs: publish failed: {type(exc).__name__}: {exc}") from exc
        except TimeoutError:
            raise BusError(f"kafka outputs: {len(messages)} records not acknowledged within {self.timeout_s:g} s") from None
        self.published += len(messages)

    async def _send_all(self, messages: Sequence[OutMessage]) -> None:
        producer = self._producer
        sent = []
        for message in messages:
            headers = [(k, v.encode()) for k, v in (message.headers or {}).items()]
            headers.append((SUBJECT_HEADER, message.subject.encode()))
            if message.msg_id is not None:
                headers.append((DEDUPE_HEADER, message.msg_id.encode()))
            topic = self.topics.topic(_kind(message.subject))
            sent.append(await producer.send(topic, message.payload, key=record_key(message), headers=headers))
        await asyncio.gather(*sent)

    async def close(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            await _stop_quietly(producer)


async def _stop_quietly(producer: Any) -> None:
    try:
        await producer.stop()
    except Exception:  # noqa: BLE001 - a producer being let go: nothing left to do about its errors
        pass


def kafka_outputs(brokers: str | None, topic_prefix: str = "slo", **options: Any,
                  ) -> Callable[[Config], Callable[[], contextlib.AbstractAsyncContextManager[KafkaPublisher]]]:
    """``slo run --outputs kafka``: the config -> what opens (and at the end closes) the publisher.
    ``brokers`` (``--kafka-brokers``) over the config's ``kafka.brokers``."""

    def for_config(config: Config) -> Callable[[], contextlib.AbstractAsyncContextManager[KafkaPublisher]]:
        problem = topic_problem(OutputTopics(topic_prefix).topic("deadletter"))
        if problem is not None:
            raise ProcessorError(f"--kafka-output-prefix {topic_prefix!r}: {problem}")
        if brokers:
            found, problems = parse_brokers(brokers)
            if problems:
                raise ProcessorError(f"--kafka-brokers: {problems[0]}")
        else:
            found = config.kafka.brokers if config.kafka is not None else ()
        if not found:
            raise ProcessorError("--outputs kafka: give --kafka-brokers host:9092[,…] (or kafka.brokers in the config)")

        @contextlib.asynccontextmanager
        async def opened() -> AsyncIterator[KafkaPublisher]:
            publisher = KafkaPublisher(found, OutputTopics(topic_prefix), **options)
            await publisher.start()
            try:
                yield publisher
            finally:
                await publisher.close()

        return opened

    return for_config


class MsgIdDedupe:
    """What a consumer of the output topics keeps to drop redeliveries: the ``Slo-Msg-Id`` of the
    last ``capacity`` records it handled (a restart republishes what came after the processor's last
    checkpoint, at most a few checkpoint intervals of outputs). ``seen(headers)`` is True for a
    record already handled; a record without the header is never a duplicate."""

    def __init__(self, capacity: int = 100_000) -> None:
        self.capacity = capacity
        self._ids: OrderedDict[bytes, None] = OrderedDict()

    def seen(self, headers: Iterable[tuple[str, bytes]]) -> bool:
        msg_id = next((v for k, v in headers if k == DEDUPE_HEADER), None)
        if msg_id is None:
            return False
        if msg_id in self._ids:
            self._ids.move_to_end(msg_id)
            return True
        self._ids[msg_id] = None
        if len(self._ids) > self.capacity:
            self._ids.popitem(last=False)
        return False
