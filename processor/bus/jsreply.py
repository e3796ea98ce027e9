"""Facts about a JetStream delivery read from its ack reply subject, without nats-py.

Pure string parsing, no I/O and no third-party imports, so the engine side can use it too.
``msg.metadata`` in nats-py does the same but builds a dataclass and a datetime per message
(3-5 µs); these read only the one token asked for.
"""

from __future__ import annotations

__all__ = [
    "ack_tokens",
    "consumer_sequence",
    "delivered_count",
    "delivered_index",
    "js_timestamp_ms",
    "pending_count",
    "stream_sequence",
]

# $JS.ACK.<stream>.<consumer>.<delivered>.<stream_seq>.<consumer_seq>.<timestamp_ns>.<pending>
_V1_TOKENS = 9
# $JS.ACK.<domain>.<account_hash>.<stream>.<consumer>.<delivered>.<stream_seq>.<consumer_seq>.
#   <timestamp_ns>.<pending>[.<random token>]
# (the layout of nats-py's Msg.Ack indexes in nats/aio/msg.py; the trailing token is optional, so
# 11 or more tokens; the domain is "_" when none is set)
_V2_MIN_TOKENS = 11
_V1_DELIVERED, _V1_STREAM_SEQ, _V1_TIMESTAMP = 4, 5, 7
_V2_DELIVERED, _V2_STREAM_SEQ, _V2_TIMESTAMP = 6, 7, 9
_V1_PENDING, _V2_PENDING = 8, 10
_V1_CONSUMER_SEQ, _V2_CONSUMER_SEQ = 6, 8

_NS_PER_MS = 1_000_000


def ack_tokens(reply: str) -> list[str]:
    """The dot-separated tokens of a JetStream ack subject; ValueError for anything else."""
    tokens = reply.split(".")
    n = len(tokens)
    if (n == _V1_TOKENS or n >= _V2_MIN_TOKENS) and tokens[0] == "$JS" and tokens[1] == "ACK":
        return tokens
    raise ValueError(f"not a JetStream ack subject: {reply!r}")


def stream_sequence(reply: str) -> int:
    """The stream sequence of a JetStream delivery (ValueError if ``reply`` is not an ack subject)."""
    tokens = ack_tokens(reply)
    return int(tokens[_V1_STREAM_SEQ if len(tokens) == _V1_TOKENS else _V2_STREAM_SEQ])


def consumer_sequence(reply: str) -> int:
    """The consumer's delivery sequence of a delivery: one more for every message the consumer
    delivers to anyone, redeliveries included (ValueError if ``reply`` is not an ack subject)."""
    tokens = ack_tokens(reply)
    return int(tokens[_V1_CONSUMER_SEQ if len(tokens) == _V1_TOKENS else _V2_CONSUMER_SEQ])


def js_timestamp_ms(reply: str) -> int | None:
    """When the stream stored the message, epoch ms; None if ``reply`` is not an ack subject."""
    try:
        tokens = ack_tokens(reply)
        timestamp_ns = int(tokens[_V1_TIMESTAMP if len(tokens) == _V1_TOKENS else _V2_TIMESTAMP])
    except ValueError:
        return None
    return timestamp_ns // _NS_PER_MS


def pending_count(reply: str) -> int | None:
    """Messages of the stream still to deliver to this consumer after this one (its
    ``num_pending`` when the message was sent); None if ``reply`` is not an ack subject."""
    try:
        tokens = ack_tokens(reply)
        return int(tokens[_V1_PENDING if len(tokens) == _V1_TOKENS else _V2_PENDING])
    except ValueError:
        return None


def delivered_count(tokens: list[str]) -> int:
    """How many times this message has been delivered (1 for a first delivery), from ack_tokens()."""
    return int(tokens[_V1_DELIVERED if len(tokens) == _V1_TOKENS else _V2_DELIVERED])


def delivered_index(tokens: list[str]) -> int:
    """Where the <delivered> token sits in ack_tokens() output."""
    return _V1_DELIVERED if len(tokens) == _V1_TOKENS else _V2_DELIVERED
