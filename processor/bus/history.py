"""A stream's stored history, read in batches for a replay or an export.

An ephemeral pull consumer (AckPolicy none, in memory, removed at the end and by the server once
inactive) starts at a time or after a sequence; the read ends at the stream's last message when
it began (what arrives during a replay is not part of it) or at the first message stored after
``to_ms``. No durable consumer is created or moved: a replay never disturbs a live processor.
"""

from __future__ import annotations

__all__ = ["StreamRange", "first_seq_after", "read_history", "stream_range"]

import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from nats.aio.client import Client

from processor.bus import _jsapi
from processor.bus.consumer import BatchPuller
from processor.bus.jsreply import js_timestamp_ms, stream_sequence
from processor.errors import BusError

_EMPTY_PULLS_BEFORE_ASKING = 2


@dataclass(frozen=True, slots=True)
class StreamRange:
    """What a stream holds now: its first and last sequence and when its first and last messages
    were stored (None when empty)."""

    stream: str
    first_seq: int
    last_seq: int
    first_ts_ms: int | None
    max_age_ms: int
    last_ts_ms: int | None = None


def _rfc3339_to_ms(text: str) -> int | None:
    if not text or text.startswith("0001-01-01"):
        return None
    # Go writes nanoseconds; Python's fromisoformat takes at most microseconds.
    head, _, frac = text.rstrip("Z").partition(".")
    micros = (frac + "000000")[:6] if frac else "000000"
    stamp = datetime.fromisoformat(f"{head}.{micros}+00:00")
    return int(stamp.timestamp() * 1000)


def rfc3339_ns(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}000000Z"


async def stream_range(nc: Client, stream: str) -> StreamRange:
    try:
        info = await _jsapi.request(nc, f"{_jsapi.API_PREFIX}.STREAM.INFO.{stream}", what=f"stream {stream}: info")
    except _jsapi.JsApiError as exc:
        if exc.err_code != _jsapi.ERR_STREAM_NOT_FOUND:
            raise
        raise _jsapi.JsApiError(f"stream {stream}: not on this server: `slo run` creates the streams of its "
                                "--streams-dir when it starts (is this the processor's NATS?)",
                                exc.subject, exc.code, exc.err_code, exc.description) from None
    state: dict[str, Any] = info.get("state", {})
    return StreamRange(
        stream=stream,
        first_seq=int(state.get("first_seq", 0)),
        last_seq=int(state.get("last_seq", 0)),
        first_ts_ms=_rfc3339_to_ms(str(state.get("first_ts", ""))) if int(state.get("messages", 0)) else None,
        max_age_ms=int(info.get("config", {}).get("max_age", 0)) // 1_000_000,
        last_ts_ms=_rfc3339_to_ms(str(state.get("last_ts", ""))) if int(state.get("messages", 0)) else None,
    )


async def first_seq_after(nc: Client, held: StreamRange, after_ms: int) -> int | None:
    """The sequence of the first message of ``held``'s stream stored after ``after_ms`` (a range's
    ``--to``); None when none is (no consumer is made then)."""
    if held.last_ts_ms is None or held.last_ts_ms <= after_ms:
        return None
    reading = read_history(nc, held.stream, from_ms=after_ms + 1, until_seq=held.last_seq, batch_size=1)
    async with contextlib.aclosing(reading) as batches:
        async for batch in batches:
            return stream_sequence(batch[0].reply)
    return None


async def read_history(
    nc: Client,
    stream: str,
    *,
    from_ms: int | None = None,
    after_seq: int | None = None,
    to_ms: int | None = None,
    until_seq: int | None = None,
    filter_subject: str | None = None,
    batch_size: int = 1000,
    last_per_subject: bool = False,
) -> AsyncIterator[list[Any]]:
    """Batches of the stream's messages, in order, from ``from_ms`` (stream time) or after
    ``after_seq`` (neither: from the first), up to ``until_seq`` (default: the last message when
    the read starts) and no later than ``to_ms``. ``last_per_subject``: only the last message of each
    subject (of ``filter_subject``), e.g. the latest budget of every SLO."""
    if until_seq is None:
        until_seq = (await stream_range(nc, stream)).last_seq
    if until_seq == 0 or (after_seq is not None and after_seq >= until_seq):
        return
    if last_per_subject:
        deliver: dict[str, Any] = {"deliver_policy": "last_per_subject"}
    elif after_seq is not None:
        deliver = {"deliver_policy": "by_start_sequence", "opt_start_seq": after_seq + 1}
    elif from_ms is not None:
        deliver = {"deliver_policy": "by_start_time", "opt_start_time": rfc3339_ns(from_ms)}
    else:
        deliver = {"deliver_policy": "all"}
    name = f"slo_replay_{uuid.uuid4().hex[:12]}"
    puller = BatchPuller(nc, stream, name, filter_subject=filter_subject, batch_size=batch_size, history=deliver)
    await puller.start()
    try:
        empty = 0
        while True:
            batch = await puller.next_batch(timeout_s=1.0)
            if not batch:
                empty += 1
                # Deliveries are in order and the range ends before what is arriving now: an
                # empty consumer is the end (messages deleted from the range are never coming).
                if empty >= _EMPTY_PULLS_BEFORE_ASKING and await puller.pending() == 0:
                    return
                continue
            empty = 0
            end = len(batch)
            while end and (stream_sequence(batch[end - 1].reply) > until_seq
                           or (to_ms is not None and (js_timestamp_ms(batch[end - 1].reply) or 0) > to_ms)):
                end -= 1
            if end:
                yield batch[:end]
            if end < len(batch) or stream_sequence(batch[-1].reply) >= until_seq:
                return
    except BusError:
        raise
    finally:
        await puller.stop()
