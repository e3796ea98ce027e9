"""A timeline of good events with hostile ones mixed in, for tests on a real nats-server.

Three kinds of item:

- ``good``: well-formed events (gateway requests, orders, quotes), one timeline in event time;
- ``shared``: odd but possibly usable input (every JSON type in every field the shipped config
  reads on these subjects, odd RFC 3339 offsets, unicode and control characters in subjects and
  label values, a valid object of the server's max payload). Whether an SLI uses such an event is
  the engine's call, so a test sends these in the reference run too and compares the two runs;
- ``garbage``: input that no SLI can use, each with the reason it must be rejected for, decided
  here and not by the engine: not JSON, truncated, deeper than the decoder allows, not an object,
  unreadable or late timestamps, and repeats of the same bytes.

Every item is published at its place in the timeline, with event time (``ts``) at its slot, so a
garbage item is never late by accident and a good one after it must still count.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

import orjson

from processor.vocabulary import REJECTION_REASONS

T0_MS = 1_700_000_000_000
END_S = 480
GARBAGE_FROM_S = 60  # past the first minute, so that a timestamp at the epoch is certainly late

# The fields config/slo.yaml reads from each subject (a test checks this against the config).
FIELDS = {
    "analytics.gateway.request": ("ts", "latency_ms", "status_code", "rate_limit_correct"),
    "trade.order.submitted": ("ts", "latency_ms", "order_type", "status", "qty"),  # qty: the fill rate (issue 9)
    "market.quote.AAPL": ("ts", "quote_ts", "symbol"),
}

# Every JSON type, as raw JSON text: orjson writes no integer beyond 64 bits, a producer may.
DEEP_OK = b"[" * 1020 + b"]" * 1020  # as deep as orjson decodes (1024 levels), deeper than repr() goes
ODD_TEXT = orjson.dumps("é\u0000\r\n\u202e\U0001f642\x7f")
JSON_VALUES = (
    b"null", b"true", b"false", b"0", b"-1", b"0.5", b"-0.0", b"1e308", b"-1e308",
    b"18446744073709551616", b"-1180591620717411303424", b'"NaN"', b'"Infinity"', b'"-Infinity"',
    b'""', ODD_TEXT, b'"' + b"x" * 10_000 + b'"', b"[]", b"{}", b'{"a": [1, {"b": null}]}', DEEP_OK,
)


@dataclass(frozen=True)
class Item:
    subject: str
    data: bytes
    kind: str  # good, shared, garbage
    reason: str | None = None  # garbage: the reason it must be dead-lettered for


def gateway_body(t_s: int) -> dict:
    latency_ms = 250.0 if 200 <= t_s < 700 else 100.0
    return {"ts": T0_MS + t_s * 1000, "route": "/v1/orders", "method": "POST", "status_code": 200,
            "latency_ms": latency_ms, "rate_limited": False, "rate_limit_correct": True}


def order_body(t_s: int) -> dict:
    latency_ms = 250.0 if 100 <= t_s < 400 else 50.0
    return {"ts": T0_MS + t_s * 1000, "order_id": f"o{t_s}", "order_type": "market" if t_s % 2 else "limit",
            "symbol": "AAPL", "qty": 10, "latency_ms": latency_ms, "status": "ok"}


def quote_body(t_s: int, symbol: str = "AAPL") -> dict:
    ts_ms = T0_MS + t_s * 1000
    return {"ts": ts_ms, "symbol": symbol, "provider": "alpaca", "bid": 1.0, "ask": 1.1, "quote_ts": ts_ms - 40}


BODIES = {"analytics.gateway.request": gateway_body, "trade.order.submitted": order_body, "market.quote.AAPL": quote_body}


def with_raw(body: dict, field: str, raw: bytes) -> bytes:
    """``body`` as JSON with ``field`` set to the raw JSON text ``raw``."""
    slot = "@@slot@@"
    return orjson.dumps({**body, field: slot}).replace(orjson.dumps(slot), raw)


def rfc3339(ms: int, offset_min: int) -> str:
    zone = timezone(timedelta(minutes=offset_min))
    return datetime.fromtimestamp(ms / 1000, tz=UTC).astimezone(zone).isoformat()


def bad_timestamps(far_future: bool) -> list[tuple[bytes | None, str]]:
    """(raw ``ts``, reason) for timestamps no SLI can use; None: a year past the wall clock. A
    missing or null ``ts`` is not here: then the JetStream timestamp is the event time, by design.

    "Future" is ahead of the JetStream timestamp of the message (the clock-skew policy's trusted
    reference), so it is measured from now, not from the timeline's 2023 slots: a year past a slot
    is still in the past and a legitimate event."""
    out: list[tuple[bytes | None, str]] = [
        (raw, "bad_timestamp") for raw in (b"true", b"false", b"-1", b"-1e308", b"-1180591620717411303424",
                                           b'"NaN"', b'""', ODD_TEXT, b"[]", b"{}", DEEP_OK)]
    out += [(orjson.dumps(s), "bad_timestamp") for s in (
        "0001-01-01T00:00:00+14:00",  # before the epoch once the offset is applied
        "2023-11-14T22:13:20",  # no zone
        "2023-11-14T22:13:20+24:00",  # no such offset
        "+275760-09-13T00:00:00Z",  # beyond what a date holds
        "9999-12-31T23:59:59.999999-23:59",  # in the year 10000 once the offset is applied
    )]
    # Epoch ms past the year 9999: no event time at all, whatever the clock-skew policy.
    out += [(raw, "bad_timestamp") for raw in (b"1e308", b"18446744073709551616", orjson.dumps(2**63 - 1))]
    out += [(raw, "late") for raw in (b"0", b"-0.0", b"0.5", orjson.dumps(T0_MS + 10_000),
                                      orjson.dumps(rfc3339(0, -1)), orjson.dumps("1970-01-01T00:00:00-00:00"))]
    if far_future:
        out += [(raw, "future") for raw in (orjson.dumps(253_402_300_799_999), orjson.dumps("9999-12-31T23:59:59.999Z"),
                                            None)]
    return out


Make = Callable[[int], Item]  # an item at a given second of the timeline


def _with_field(subject: str, field: str, raw: bytes | None, kind: str, reason: str | None = None) -> Make:
    def make(t_s: int) -> Item:
        body = BODIES[subject](t_s)
        if raw is None and field == "ts":
            data = orjson.dumps({**body, "ts": int(time.time() * 1000) + 365 * 86_400_000})
        elif raw is None:
            data = orjson.dumps({k: v for k, v in body.items() if k != field})
        else:
            data = with_raw(body, field, raw)
        return Item(subject, data, kind, reason)

    return make


def _fixed(item: Item) -> Make:
    return lambda t_s: item


def _body(subject: str, body_of: Callable[[int], dict], kind: str = "shared") -> Make:
    return lambda t_s: Item(subject, orjson.dumps(body_of(t_s)), kind)


def garbage(max_payload: int, far_future: bool) -> list[Make]:
    """Input no SLI can use, each with its reason."""
    items = [_with_field(subject, "ts", raw, "garbage", reason)
             for subject in ("analytics.gateway.request", "trade.order.submitted")
             for raw, reason in bad_timestamps(far_future)]
    gw = orjson.dumps(gateway_body(100))
    not_json = [b"", b"\xff\xfe\x00", b"{", b"GET / HTTP/1.1\r\n\r\n", b"\x00" * 64, b'{"ts": NaN}', b'{"ts": 1e999}',
                gw[: len(gw) // 2], gw[:-1], b"[" * 1025 + b"]" * 1025,
                b'{"ts": 1, "latency_ms": ' + b"[" * 1030 + b"]" * 1030 + b"}",
                b"{" + b" " * (max_payload - 1)]  # truncated JSON at the server's max payload
    items += [_fixed(Item("analytics.gateway.request", raw, "garbage", "not_json")) for raw in not_json]
    not_object = [b"[1, 2]", b'"text"', b"42", b"null", b"true", b"[" + b"0," * ((max_payload - 3) // 2) + b"0]"]
    items += [_fixed(Item("trade.order.submitted", raw, "garbage", "not_object")) for raw in not_object]
    items.append(_fixed(Item("market.quote.\x01\x7f", b"{", "garbage", "not_json")))
    items.append(_fixed(Item("market.quote.\u00fc\U0001f642", b"[]", "garbage", "not_object")))
    repeated = _fixed(Item("analytics.gateway.request", b"{not json", "garbage", "not_json"))
    return items + [repeated, repeated]  # the same bytes twice: two messages, two dead letters


def shared(max_payload: int) -> list[Make]:
    """Odd input that an SLI may use: in both the reference run and the hostile one."""
    items = [_with_field(subject, field, raw, "shared")
             for subject, fields in FIELDS.items() for field in fields if field != "ts"
             for raw in (*JSON_VALUES, None)]
    items += [_body("analytics.gateway.request", lambda t, m=minutes: {**gateway_body(t), "ts": rfc3339(T0_MS + t * 1000, m)})
              for minutes in (0, 14 * 60, -(23 * 60 + 59), 5 * 60 + 45, 23 * 60 + 59)]
    items += [_body("market.quote." + token, lambda t, s=symbol: quote_body(t, s))
              for token, symbol in (("\u00fc\U0001f642", "\u00fc\U0001f642"), ("\x01", "\r\n\x00"), ("a\x7f", "\u202e"),
                                    ("x" * 3000, "y" * 5000))]
    items += [_body(subject, gateway_body) for subject in ("analytics.\u202e.\x01", "analytics." + "z" * 3000)]
    pad = max_payload - len(orjson.dumps({**gateway_body(100), "pad": ""}))
    items.append(_body("analytics.gateway.request", lambda t: {**gateway_body(t), "pad": "p" * pad}))
    return items


def timeline(max_payload: int, *, with_garbage: bool, far_future: bool = False) -> list[Item]:
    """Good events every second from 0 to END_S, shared (and garbage) items spread over them."""
    spread = _spread(shared(max_payload), 10)
    if with_garbage:
        for t, items in _spread(garbage(max_payload, far_future), GARBAGE_FROM_S).items():
            spread.setdefault(t, []).extend(items)
    out = []
    for t in range(END_S):
        out += [Item(s, orjson.dumps(BODIES[s](t)), "good") for s in ("analytics.gateway.request", "trade.order.submitted")]
        if t % 5 == 0:
            out.append(Item("market.quote.AAPL", orjson.dumps(quote_body(t)), "good"))
        out += spread.get(t, [])
    return out


def _spread(makes: list[Make], from_s: int) -> dict[int, list[Item]]:
    # Evenly over the rest of the timeline, each item with event time at its own second.
    span = END_S - 10 - from_s
    out: dict[int, list[Item]] = {}
    for i, make in enumerate(makes):
        t = from_s + i * span // len(makes)
        out.setdefault(t, []).append(make(t))
    return out


def far_future_rejected() -> bool:
    """Whether the engine has a clock-skew policy (the ``future`` reason of issue 8)."""
    return "future" in REJECTION_REASONS
