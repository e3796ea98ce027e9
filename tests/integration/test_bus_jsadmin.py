"""processor.bus.jsadmin, the bus API of tools beside the processor, against a real nats-server."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import orjson
import pytest
from nats.aio.client import Client

from processor.bus.jsadmin import (
    ConsumerNotFoundError,
    JsApiError,
    pause_consumer,
    resume_consumer,
    stream_last_seq,
    streams_storing,
)

pytestmark = pytest.mark.integration


async def js_api(nc: Client, subject: str, payload: dict | None = None) -> dict:
    reply = await nc.request(subject, b"" if payload is None else orjson.dumps(payload), timeout=5)
    body = orjson.loads(reply.data)
    assert "error" not in body, body
    return body


async def make_stream(nc: Client) -> tuple[str, str]:
    token = uuid.uuid4().hex[:10]
    name, prefix = f"J_{token.upper()}", f"j{token}"
    await js_api(nc, f"$JS.API.STREAM.CREATE.{name}", {"name": name, "subjects": [f"{prefix}.>"], "storage": "memory"})
    return name, prefix


async def test_streams_storing_names_the_stream_of_a_subject_and_last_seq_counts_what_it_stored(nc) -> None:
    name, prefix = await make_stream(nc)

    assert [name] == await streams_storing(nc, f"{prefix}.heartbeat")
    assert [] == await streams_storing(nc, f"{prefix}x.heartbeat")
    assert 0 == await stream_last_seq(nc, name)
    for _ in range(3):
        await js_api(nc, f"{prefix}.heartbeat", {})  # a request to a stream's subject is a publish with an ack
    assert 3 == await stream_last_seq(nc, name)


async def test_a_paused_consumer_stays_paused_until_resumed(nc) -> None:
    name, _ = await make_stream(nc)
    await js_api(nc, f"$JS.API.CONSUMER.CREATE.{name}.lane",
                 {"stream_name": name, "config": {"durable_name": "lane", "ack_policy": "all"}})

    await pause_consumer(nc, name, "lane", datetime.now(UTC) + timedelta(minutes=5))
    assert (await js_api(nc, f"$JS.API.CONSUMER.INFO.{name}.lane")).get("paused")
    await resume_consumer(nc, name, "lane")
    assert not (await js_api(nc, f"$JS.API.CONSUMER.INFO.{name}.lane")).get("paused")


async def test_pausing_a_consumer_that_does_not_exist_says_so(nc) -> None:
    name, _ = await make_stream(nc)

    with pytest.raises(ConsumerNotFoundError) as caught:
        await pause_consumer(nc, name, "nobody", datetime.now(UTC) + timedelta(seconds=5))
    assert 10014 == caught.value.err_code
    assert str(caught.value).startswith(f"consumer {name}/nobody: pause: ")
    with pytest.raises(JsApiError) as other:
        await pause_consumer(nc, f"{name}_GONE", "nobody", datetime.now(UTC) + timedelta(seconds=5))
    assert not isinstance(other.value, ConsumerNotFoundError)
