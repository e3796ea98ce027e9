"""Permission refusals as nats-py reports them (lower-cased -ERR text through the error callback),
turned into one PermissionDeniedError naming the subject as it is spelled."""

from __future__ import annotations

import asyncio

import nats.errors
import pytest

from processor.bus.denials import Denials, denials, guarded
from processor.errors import BusError, PermissionDeniedError


def server_says(text: str) -> nats.errors.Error:
    # What nats-py's parser hands to the error callback: the -ERR text, lower-cased.
    return nats.errors.Error(f"nats: {text.lower()}")


class Key:
    """The record of refusals is kept per connection object; any object stands for one here, as
    nothing is sent. (Subscriptions are spelled from a real client's: test_security_permissions.)"""


def test_a_refused_publish_is_named_as_the_subject_is_spelled() -> None:
    record = Denials()
    record.expect("$JS.API.STREAM.INFO.AI")
    assert record.note(server_says('Permissions Violation for Publish to "$JS.API.STREAM.INFO.AI"'))
    assert str(record.first).startswith("permission denied: publish to $JS.API.STREAM.INFO.AI: ")
    assert isinstance(record.first, BusError)


def test_an_ack_subject_is_spelled_from_its_prefix() -> None:
    record = Denials()
    record.expect("$JS.ACK.ANALYTICS.slo_analytics.")
    record.note(server_says('Permissions Violation for Publish to "$JS.ACK.ANALYTICS.slo_analytics.1.7.7.17000.0"'))
    assert "publish to $JS.ACK.ANALYTICS.slo_analytics.1.7.7.17000.0: " in str(record.first)


def test_a_subject_never_announced_is_named_in_lower_case_saying_so() -> None:
    record = Denials()
    record.note(server_says('Permissions Violation for Publish to "Other.Subject"'))
    assert "publish to other.subject (in lower case" in str(record.first)


def test_the_first_refusal_is_the_one_reported_and_other_errors_are_not_refusals() -> None:
    record = Denials()
    assert not record.note(nats.errors.Error("nats: stale connection"))
    assert record.first is None
    record.note(server_says('Permissions Violation for Publish to "a"'))
    record.note(server_says('Permissions Violation for Publish to "b"'))
    assert (2, "permission denied: publish to a (in") == (record.count, str(record.first)[:35])
    with pytest.raises(PermissionDeniedError):
        record.check()


async def test_a_wait_ends_with_the_refusal_that_leaves_it_hanging() -> None:
    nc = Key()
    never = asyncio.get_running_loop().create_future()
    waiting = asyncio.create_task(guarded(nc, never, "$KV.b.k"))
    await asyncio.sleep(0)
    denials(nc).note(server_says('Permissions Violation for Publish to "$KV.b.k"'))
    with pytest.raises(PermissionDeniedError, match=r"publish to \$KV\.b\.k: "):
        await asyncio.wait_for(waiting, 1)
    assert never.cancelled()
    # Once refused, a connection's next wait does not even start.
    with pytest.raises(PermissionDeniedError):
        await guarded(nc, asyncio.sleep(10))


async def test_a_wait_without_refusal_returns_or_raises_as_it_would() -> None:
    nc = Key()
    assert 3 == await guarded(nc, asyncio.sleep(0, result=3))
    with pytest.raises(TimeoutError):
        await guarded(nc, asyncio.wait_for(asyncio.sleep(1), 0.01))
