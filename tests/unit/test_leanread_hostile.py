"""Deliveries whose subject a producer chose badly: the pull path's reader must hand them on.

nats-server takes any byte but space, tab, CR and LF in a subject token, and a JetStream stream
stores what it takes. The processor reads every delivery of its durables, so a subject that the
reader cannot read is not the producer's problem but the processor's: it must become a delivery
(which the engine then ignores or dead-letters), never an exception in the connection's read loop,
which nats-py answers by reconnecting, after which the server delivers the same message again.

A vertical tab or form feed in a subject (Python's ``bytes.split`` and nats-py's ``\\s`` take them
for separators) and invalid UTF-8 (decoded strictly) used to be refused as nats-py's own parser
refuses them: the processor then reconnected forever and could not start. End to end, on a real
server: tests/integration/test_hostile_live.py.
"""

from __future__ import annotations

import pytest

from tests.unit.test_leanread import ack, lean_read, msg, run_of


def _msg(subject: bytes, data: bytes, seq: int) -> bytes:
    return b"MSG " + subject + b" 7 " + ack(seq).encode() + b" %d\r\n" % len(data) + data + b"\r\n"


@pytest.mark.parametrize("subject", [
    b"a.b\x0bc",
    b"a.b\x0cc",
    b"a.\xff\xfe",
    b"a.b\x01\x7fc",  # odd, and always read: the control case
])
@pytest.mark.parametrize("in_a_run", [False, True])
async def test_a_delivery_with_an_odd_subject_is_delivered(subject: bytes, in_a_run: bool) -> None:
    before = run_of(7, 1, 10) if in_a_run else msg(7, "a.b", b"{}", ack(1))
    wire = before + _msg(subject, b"{}", 20) + run_of(7, 21, 10)
    events = await lean_read([wire])
    delivered = [e[2] for e in events if e[0] == "delivery"]
    assert 21 == len(delivered) if in_a_run else 12 == len(delivered)
    odd = next(m for m in delivered if m.reply == ack(20))
    assert b"{}" == odd.data and isinstance(odd.subject, str)
    if subject.isascii():
        assert subject.decode() == odd.subject
