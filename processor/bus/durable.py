"""A durable consumer's facts and position, read from the JetStream API (BatchPuller's helpers)."""

from __future__ import annotations

__all__ = ["checked_start_seq", "consumer_pending", "filter_config"]

from collections.abc import Sequence
from typing import Any

import structlog
from nats.aio.client import Client

from processor.bus import _jsapi

_log = structlog.get_logger("processor.bus.consumer")


async def consumer_pending(nc: Client, stream: str, durable: str, timeout_s: float = _jsapi.DEFAULT_TIMEOUT_S) -> int:
    """Messages in the stream that the consumer has not delivered yet (its ``num_pending``)."""
    info = await _jsapi.request(
        nc,
        f"{_jsapi.API_PREFIX}.CONSUMER.INFO.{stream}.{durable}",
        what=f"consumer {stream}/{durable}: info",
        timeout_s=timeout_s,
    )
    return int(info.get("num_pending", 0))


def filter_config(filter_subject: str | Sequence[str] | None) -> dict[str, Any]:
    """The consumer config keys of one filter subject or several (nats-server 2.10+: ``filter_subjects``)."""
    if not filter_subject:
        return {}
    if isinstance(filter_subject, str):
        return {"filter_subject": filter_subject}
    subjects = list(filter_subject)
    return {"filter_subject": subjects[0]} if len(subjects) == 1 else {"filter_subjects": subjects}


async def checked_start_seq(nc: Client, stream: str, durable: str, start_after_seq: int) -> int:
    """``start_after_seq + 1``, unless the stream cannot have what the checkpoint says."""
    info = await _jsapi.request(
        nc,
        f"{_jsapi.API_PREFIX}.STREAM.INFO.{stream}",
        what=f"consumer {stream}/{durable}: stream info",
    )
    state = info.get("state", {})
    first_seq, last_seq = int(state.get("first_seq", 0)), int(state.get("last_seq", 0))
    if start_after_seq == 0:
        return max(first_seq, 1)  # no checkpoint: whatever the stream still holds
    if start_after_seq > last_seq:
        # A stream sequence never goes back, so this stream is not the one the checkpoint was
        # taken on (deleted and recreated). Waiting for it to reach the checkpoint would
        # ignore everything until then; its events are new to us, so read it from the start.
        _log.warning(
            "consumer.checkpoint_ahead_of_stream",
            stream=stream,
            durable=durable,
            start_after_seq=start_after_seq,
            stream_last_seq=last_seq,
            action="delivering the stream from its first message",
        )
        return max(first_seq, 1)
    if first_seq > start_after_seq + 1:
        _log.warning(
            "consumer.resume_gap",
            stream=stream,
            durable=durable,
            start_after_seq=start_after_seq,
            stream_first_seq=first_seq,
            missing=first_seq - start_after_seq - 1,
            reason="messages after the checkpoint aged out of the stream before this start",
        )
    return start_after_seq + 1
