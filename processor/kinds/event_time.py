"""A time in a payload: epoch milliseconds or an RFC 3339 string with a zone. The engine reads an
event's time with it, and the kinds that subtract two time fields (``value: ts, minus: quote_ts``)
read both with it, so every format EVENTS.md allows works in either place."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from processor.kinds.payload import Reject, lookup

__all__ = ["MAX_EVENT_TIME_MS", "parse_event_time_ms", "read_time_ms"]

# 9999-12-31T23:59:59.999Z, the last time RFC 3339 can write. Past it an "epoch ms" is garbage (a
# 1e38 would move the watermark, and the state, beyond any integer a snapshot can hold).
MAX_EVENT_TIME_MS = 253_402_300_799_999


def parse_event_time_ms(raw: Any, field: str) -> int:
    """Epoch milliseconds from an int/float ms value or an RFC 3339 string with a zone."""
    t = type(raw)
    if t is int:
        ms = raw
    elif t is float:
        ms = int(raw)
    elif t is str:
        try:
            parsed = datetime.fromisoformat(raw)
        except ValueError:
            raise Reject("bad_timestamp", f"{field}: {raw[:64]!r} is not RFC 3339") from None
        if parsed.tzinfo is None:
            # A zone-less time is ambiguous; guessing UTC would silently shift events by hours.
            raise Reject("bad_timestamp", f"{field}: {raw[:64]!r} has no zone (add Z or an offset)")
        ms = int(parsed.timestamp() * 1000)
    else:
        raise Reject("bad_timestamp", f"{field}: expected epoch ms or RFC 3339, got {t.__name__}")
    if ms < 0:
        raise Reject("bad_timestamp", f"{field}: negative")
    if ms > MAX_EVENT_TIME_MS:
        raise Reject("bad_timestamp", f"{field}: {raw!r} ms is after the year 9999")
    return ms


def read_time_ms(payload: dict, path: tuple[str, ...], field: str) -> int:
    """The time at ``path``: ``missing_field`` when absent, ``bad_timestamp`` when unreadable."""
    try:
        raw = payload[path[0]] if len(path) == 1 else lookup(payload, path)
    except KeyError:
        raise Reject("missing_field", field) from None
    return parse_event_time_ms(raw, field)
