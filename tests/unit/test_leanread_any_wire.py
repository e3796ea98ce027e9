"""Any wire nats-py reads (server-written control lines, subjects of any UTF-8 without the bytes
nats-py's ``\\s`` splits at) reads the same through the lean reader, however it is cut."""

from __future__ import annotations

import asyncio
import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.unit.test_leanread import ack, lean_read, read_until_refused, reference

_WS = set(b" \t\r\n\x0b\x0c")
token = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=6).map(str.encode).filter(
    lambda b: not (_WS & set(b)))
op = st.tuples(st.sampled_from([7, 7, 7, 8, 9]), st.lists(token, min_size=1, max_size=3).map(b".".join),
               st.binary(max_size=12) | st.sampled_from([b"{}", b"\r\n", b"MSG a 7 r 1\r\nx\r\n"]),
               st.booleans(), st.sampled_from(["", "", "0", "00"]))


def wire_of(ops) -> bytes:
    out = []
    for seq, (sid, subject, data, has_reply, zeros) in enumerate(ops, 1):
        reply = (b" " + ack(seq).encode()) if has_reply else b""
        out.append(b"MSG " + subject + b" %d" % sid + reply + b" " + zeros.encode() + b"%d\r\n" % len(data) + data + b"\r\n")
    return b"".join(out)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(op, min_size=1, max_size=40), st.integers(0, 2**32))
def test_any_wire_nats_py_reads_reads_the_same(ops, seed):
    wire = wire_of(ops)
    rnd = random.Random(seed)
    cuts = sorted(rnd.sample(range(1, len(wire)), min(len(wire) - 1, rnd.randrange(4))))
    pieces = [wire[a:b] for a, b in zip([0, *cuts], [*cuts, len(wire)])]
    expected = asyncio.run(reference(wire))
    assert asyncio.run(lean_read([wire])) == expected
    assert asyncio.run(lean_read(pieces)) == expected


# Runs (at least _RUN_MIN = 8 deliveries in a row, of one route or two interleaved) whose payloads
# hold line breaks and the bytes str.splitlines breaks at (bytes.splitlines does not), and a few
# of whose breaks are a lone CR or LF instead of nats-server's CRLF, cut at every byte.
_ODD = [b"\r", b"\n", b"\r\n", b"\n\r", b"\x0b", b"\x0c", b"\x1c", b"\x85", b"{}", b"MSG a 7 r 1", b"x"]
run_op = st.tuples(st.sampled_from([7, 7, 7, 8]), st.sampled_from([b"a", b"a.b", b"c"]),
                   st.lists(st.sampled_from(_ODD), max_size=4).map(b"".join),
                   st.sampled_from([b"\r\n"] * 12 + [b"\n", b"\r"]),  # after the control line
                   st.sampled_from([b"\r\n"] * 12 + [b"\n", b"\r"]))  # after the payload


def run_wire_of(ops) -> bytes:
    return b"".join(b"MSG %s %d r%d %d%s%s%s" % (subject, sid, seq, len(data), after_line, data, after_data)
                    for seq, (sid, subject, data, after_line, after_data) in enumerate(ops, 1))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(run_op, min_size=8, max_size=14))
def test_runs_with_line_breaks_anywhere_read_as_nats_py_reads_them_cut_anywhere(ops):
    asyncio.run(_reads_the_same_cut_anywhere(run_wire_of(ops)))


async def _reads_the_same_cut_anywhere(wire: bytes) -> None:
    expected = await read_until_refused([wire], lean=False)
    assert await read_until_refused([wire], lean=True) == expected
    for cut in range(1, len(wire)):
        assert await read_until_refused([wire[:cut], wire[cut:]], lean=True) == expected, f"cut at byte {cut}"
