"""JetStream requests for tools beside the processor (``slo simulate``, ``slo tail``): which streams
store a subject, how far a stream has got, which subjects it holds, its live config, pausing and
resuming a durable consumer.

Errors are ``BusError``; a request that JetStream refuses is a ``JsApiError`` carrying JetStream's
``err_code``, and the pause of a consumer that does not exist a ``ConsumerNotFoundError``.
"""

from __future__ import annotations

__all__ = [
    "ConsumerNotFoundError",
    "JsApiError",
    "pause_consumer",
    "resume_consumer",
    "stored_subjects",
    "stream_config",
    "stream_last_seq",
    "streams_storing",
]

from datetime import UTC, datetime

from nats.aio.client import Client

from processor.bus._jsapi import API_PREFIX, ERR_CONSUMER_NOT_FOUND, JsApiError, request


class ConsumerNotFoundError(JsApiError):
    """The durable consumer named does not exist (JetStream err_code 10014)."""


async def streams_storing(nc: Client, subject: str) -> list[str]:
    """The names of the streams whose subjects include ``subject``."""
    body = await request(
        nc, f"{API_PREFIX}.STREAM.NAMES", {"subject": subject}, what=f"streams holding {subject}"
    )
    return [str(name) for name in body.get("streams") or []]


async def stream_last_seq(nc: Client, stream: str) -> int:
    """The sequence of the last message stored in ``stream``. Unlike its message count, it does not
    go down when ``max_age`` expires old messages."""
    info = await request(nc, f"{API_PREFIX}.STREAM.INFO.{stream}", what=f"stream {stream}: info")
    return int(info["state"]["last_seq"])


async def stored_subjects(nc: Client, stream: str, pattern: str) -> dict[str, int] | None:
    """The subjects matching ``pattern`` that ``stream`` holds messages of, with their counts;
    None when there are more than nats-server lists in one answer (100,000: it says how many in
    ``total``; an older server refuses)."""
    info = await request(nc, f"{API_PREFIX}.STREAM.INFO.{stream}", {"subjects_filter": pattern},
                         what=f"stream {stream}: subjects")
    subjects = dict((info.get("state") or {}).get("subjects") or {})
    return None if info.get("total", len(subjects)) > len(subjects) else subjects


async def stream_config(nc: Client, stream: str) -> dict:
    """The live config of ``stream`` as JetStream keeps it (durations in nanoseconds)."""
    info = await request(nc, f"{API_PREFIX}.STREAM.INFO.{stream}", what=f"stream {stream}: info")
    return dict(info.get("config") or {})


async def pause_consumer(nc: Client, stream: str, durable: str, until: datetime) -> None:
    """Stop deliveries of a durable consumer until ``until`` (an aware datetime), while the stream
    keeps storing messages (consumer pause, nats-server 2.11+). The server ends the pause by itself
    at ``until``, so a caller that dies cannot leave the consumer paused."""
    what = f"consumer {stream}/{durable}: pause"
    stamp = until.astimezone(UTC).isoformat().replace("+00:00", "Z")
    try:
        await request(nc, f"{API_PREFIX}.CONSUMER.PAUSE.{stream}.{durable}", {"pause_until": stamp}, what=what)
    except JsApiError as exc:
        if exc.err_code == ERR_CONSUMER_NOT_FOUND:
            raise ConsumerNotFoundError(what, exc.subject, exc.code, exc.err_code, exc.description) from exc
        raise


async def resume_consumer(nc: Client, stream: str, durable: str) -> None:
    """End a consumer's pause now."""
    await request(
        nc, f"{API_PREFIX}.CONSUMER.PAUSE.{stream}.{durable}", None, what=f"consumer {stream}/{durable}: resume"
    )
