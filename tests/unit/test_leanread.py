"""The lean parser reads the wire exactly as nats-py's own parser does, however the bytes are cut.

The reference is nats-py's stock ``Parser`` on the same bytes, in one piece: every operation it
hands to the client (messages, pings, info) is recorded, and a message of a registered
subscription is turned into what the lean parser must deliver for it (a ``PulledMsg``, or a
status with the headers nats-py parses). The lean parser is then fed the same bytes cut at every
point, and in random pieces, and must produce the same sequence.
"""

from __future__ import annotations

import random

import pytest
from nats.aio.client import Client
from nats.errors import ProtocolError
from nats.protocol.parser import Parser

from processor.bus.leanread import Deliveries, LeanParser, PulledMsg, lean_routes

ROUTED = (7, 8)


class Recorder(Client):
    """A nats-py client that records what its parser hands it instead of acting on it."""

    def __init__(self) -> None:
        super().__init__()
        self.events: list[tuple] = []

    async def _process_msg(self, sid, subject, reply, data, headers) -> None:  # type: ignore[override]
        self.events.append(("nats-py", sid, subject, reply, data, headers))

    async def _process_ping(self) -> None:
        self.events.append(("ping",))

    async def _process_pong(self) -> None:
        self.events.append(("pong",))

    async def _process_info(self, info, initial_connection=False) -> None:  # type: ignore[override]
        self.events.append(("info", info))

    async def _process_err(self, err_msg) -> None:  # type: ignore[override]
        self.events.append(("err", err_msg))


class Route:
    def __init__(self, sid: int, events: list[tuple]) -> None:
        self.sid, self.events = sid, events
        self.calls: list[int] = []

    def on_deliveries(self, msgs: list[PulledMsg]) -> None:
        self.calls.append(len(msgs))
        self.events.extend(("delivery", self.sid, m) for m in msgs)

    def on_status(self, subject: str, headers: dict[str, str]) -> None:
        self.events.append(("status", self.sid, subject, headers))


def msg(sid: int, subject: str, data: bytes, reply: str = "") -> bytes:
    head = f"MSG {subject} {sid} {reply + ' ' if reply else ''}{len(data)}\r\n".encode()
    return head + data + b"\r\n"


def hmsg(sid: int, subject: str, headers: bytes, data: bytes, reply: str = "") -> bytes:
    sizes = f"{len(headers)} {len(headers) + len(data)}"
    head = f"HMSG {subject} {sid} {reply + ' ' if reply else ''}{sizes}\r\n".encode()
    return head + headers + data + b"\r\n"


def ack(seq: int) -> str:
    return f"$JS.ACK.S.d.1.{seq}.{seq}.1764632000000000000.{100 - seq}"


WIRE = b"".join([
    b"INFO {\"server_id\":\"x\",\"max_payload\":1048576}\r\n",
    msg(7, "a.b", b'{"i":1}', ack(1)),
    msg(7, "a.b", b"", ack(2)),  # an empty payload
    msg(7, "a.c", b"MSG x 7 y 3\r\nabc\r\n", ack(3)),  # protocol bytes inside a payload
    hmsg(7, "a.b", b"NATS/1.0\r\nNats-Msg-Id: m4\r\n\r\n", b'{"i":4}', ack(4)),  # data with headers
    msg(9, "other", b"not ours", "_INBOX.x"),  # a subscription of someone else
    b"PING\r\n",
    msg(8, "z.y", b"second route", ack(1)),
    msg(7, "a.b", b'{"i":5}', ack(5)),
    b"PONG\r\n",
    b"+OK\r\n",
    hmsg(7, "_INBOX.p.1", b"NATS/1.0 408 Request Timeout\r\nNats-Pending-Messages: 3\r\n\r\n", b""),
    hmsg(7, "_INBOX.p.2", b"NATS/1.0 404 No Messages\r\n\r\n", b""),
    hmsg(9, "_INBOX.q", b"NATS/1.0 404 No Messages\r\n\r\n", b""),  # someone else's status
    msg(7, "a.b", b"no reply", ""),  # routed sid, no reply, no headers: nats-py's way
    msg(8, "z.y", b"x" * 700, ack(2)),  # longer than most pieces below
    msg(7, "a.b", b'{"i":6}', ack(6)),
])


def run_of(sid: int, first_seq: int, count: int, subjects: tuple[str, ...] = ("a.b",)) -> bytes:
    """``count`` plain deliveries in a row: what a pull request's answer mostly is."""
    return b"".join(msg(sid, subjects[i % len(subjects)], b'{"i":%d}' % (first_seq + i) * (i % 3), ack(first_seq + i))
                    for i in range(count))


# Long runs of plain deliveries (read a run at a time, not a message at a time), each ended by
# something the run reader must leave to the per-message loop or to nats-py.
RUNS = b"".join([
    run_of(7, 1, 20, ("a.b", "a.c", "a.b.d")),
    msg(7, "a.b", b"holds\r\na CRLF\r\n", ack(21)),  # pieces at CRLF no longer alternate
    run_of(7, 22, 12),
    hmsg(7, "a.b", b"NATS/1.0\r\nNats-Msg-Id: m\r\n\r\n", b"{}", ack(34)),  # headers
    run_of(7, 35, 9),
    msg(9, "_INBOX.pub.1", b'{"stream":"S","seq":1}', ""),  # someone else's (a PubAck)
    run_of(7, 44, 10),
    run_of(8, 1, 10),  # another route
    msg(7, "a.b", b"ok", "$JS.ACK.S.d.2.9.60.1764632000000000000.3"),  # a redelivery
    run_of(7, 54, 8),
    b"PING\r\n",
    run_of(7, 62, 11),
    # A size written with a leading zero: nats-py reads it; the run reader, which compares size
    # tokens as written, leaves it to the per-message loop.
    f"MSG a.b 7 {ack(73)} 02\r\nok\r\n".encode(),
    run_of(7, 74, 9),
    msg(7, "a.b", b"x", "two tokens"),  # six tokens: nats-py's to read (it refuses the line)
])
RUNS_OK = RUNS[: RUNS.index(b"MSG a.b 7 two tokens")]


async def reference(wire: bytes) -> list[tuple]:
    """What nats-py's stock parser makes of ``wire``, as the lean parser must deliver it."""
    client = Recorder()
    await Parser(client).parse(wire)
    return await _as_lean_delivers(client)


async def _as_lean_delivers(client: Recorder) -> list[tuple]:
    """What nats-py's parser handed ``client``, as the lean parser must deliver it."""
    expected = []
    for event in client.events:
        if event[0] != "nats-py" or event[1] not in ROUTED or not (event[3] or event[5]):
            expected.append(event)
            continue
        _, sid, subject, reply, data, headers = event
        if reply:
            expected.append(("delivery", sid, PulledMsg(subject.decode(), data, bytes(reply), headers)))
        else:
            parsed = await client._process_headers(headers)
            expected.append(("status", sid, subject.decode(), parsed))
    return expected


async def lean_read(pieces: list[bytes], *, before: bytes = b"", calls: list[int] | None = None) -> list[tuple]:
    client = Recorder()
    if before:
        await client._ps.parse(before)  # nats-py's parser, before the lean one is installed
    routes = lean_routes(client)
    assert routes is not None
    for sid in ROUTED:
        routes[sid] = Route(sid, client.events)
        if calls is not None:
            routes[sid].calls = calls
    for piece in pieces:
        await client._ps.parse(piece)
    return client.events


async def test_the_reference_holds_every_kind_of_operation() -> None:
    kinds = [e[0] for e in await reference(WIRE)]
    assert kinds.count("delivery") == 8
    assert kinds.count("status") == 2
    assert kinds.count("nats-py") == 3
    assert {"info", "ping", "pong"} <= set(kinds)


async def test_headers_of_a_delivery_read_as_nats_py_reads_them() -> None:
    client = Recorder()
    blocks = [
        b"NATS/1.0\r\nNats-Msg-Id: m4\r\nX-Two: a b: c\r\n\r\n",
        b"NATS/1.0\r\nName:Value\r\nCaf\xc3\xa9: \xff\r\n\r\n",
        b"NATS/1.0\r\n\r\n",
    ]
    for block in blocks:
        lean = PulledMsg("a", b"", ack(1).encode(), block).headers
        assert await client._process_headers(block) == lean
    assert PulledMsg("a", b"", ack(1).encode(), None).headers is None


def test_deliveries_kept_as_columns_read_as_the_list_of_their_messages() -> None:
    msgs = [PulledMsg(f"s.{i % 3}", b"{%d}" % i, ack(i + 1).encode(), b"NATS/1.0\r\n\r\n" if i == 4 else None)
            for i in range(7)]
    kept = Deliveries()
    for m in msgs[:3]:
        kept.append(m)
    kept.extend(Deliveries([m.subject for m in msgs[3:]], [m.data for m in msgs[3:]],
                           [m.raw_reply for m in msgs[3:]], [m.raw_headers for m in msgs[3:]]))
    assert msgs == list(kept)
    assert (7, msgs[4], msgs[-1]) == (len(kept), kept[4], kept[-1])
    assert msgs[2:5] == list(kept[2:5]) and isinstance(kept[2:5], Deliveries)
    assert [] == list(kept[:0])
    assert kept == msgs and kept != msgs[:6]
    assert ([m.subject for m in msgs], [m.data for m in msgs]) == (kept.subjects, kept.datas)
    assert ack(5) == kept[4].reply
    # Without headers given, none: a run of plain deliveries.
    assert [None, None] == [m.raw_headers for m in Deliveries(["a", "b"], [b"1", b"2"], [b"r1", b"r2"])]


async def test_the_wire_in_one_piece_reads_as_nats_py_reads_it() -> None:
    assert await reference(WIRE) == await lean_read([WIRE])


async def test_the_wire_cut_anywhere_reads_the_same() -> None:
    expected = await reference(WIRE)
    for cut in range(1, len(WIRE)):
        assert expected == await lean_read([WIRE[:cut], WIRE[cut:]]), f"cut at byte {cut}"


async def test_the_wire_in_random_pieces_reads_the_same() -> None:
    expected = await reference(WIRE)
    rng = random.Random(12)
    for _ in range(100):
        pieces, at = [], 0
        while at < len(WIRE):
            size = rng.choice((1, 2, 5, 17, 64, 300, 4096))
            pieces.append(WIRE[at : at + size])
            at += size
        assert expected == await lean_read(pieces)


async def test_installed_while_nats_py_waits_for_a_payload_it_finishes_that_message_first() -> None:
    wire = msg(9, "other", b"someone else's payload", "_INBOX.x") + WIRE
    expected = await reference(wire)
    for cut in (30, 40, 52):  # inside that first payload, or just before its CRLF
        assert expected == await lean_read([wire[cut:]], before=wire[:cut])


async def test_without_routes_it_is_nats_py_s_parser() -> None:
    client = Recorder()
    assert lean_routes(client) is not None
    await client._ps.parse(WIRE)
    expected = Recorder()
    await Parser(expected).parse(WIRE)
    assert expected.events == client.events


@pytest.mark.parametrize("line", [
    b"MSG a.b 7 x notanumber\r\n", b"MSG a.b seven 3\r\nabc\r\n", b"BOGUS\r\n",
    # Sizes that int() reads and nats-py's \d+ does not.
    b"MSG a.b 7 x +2\r\nab\r\n", b"MSG a.b 7 x 1_0\r\n0123456789\r\n", b"MSG a.b 7 x 0\n\r\n\r\n",
    b"HMSG a.b 7 x +12 12\r\nNATS/1.0\r\n\r\n\r\n", b"HMSG a.b 7 x 12 +12\r\nNATS/1.0\r\n\r\n\r\n",
])
async def test_a_line_nats_py_rejects_is_rejected(line: bytes) -> None:
    with pytest.raises(ProtocolError):
        await Parser(Recorder()).parse(line)
    with pytest.raises(ProtocolError):
        await lean_read([msg(7, "a.b", b"ok", ack(1)) + line])


def test_a_parser_it_was_not_written_against_keeps_the_callback_path() -> None:
    client = Recorder()

    class Patched(Parser):
        pass

    client._ps = Patched(client)
    assert lean_routes(client) is None
    assert type(client._ps) is Patched


async def test_runs_of_deliveries_read_as_nats_py_reads_them_in_one_piece() -> None:
    calls: list[int] = []
    assert await reference(RUNS_OK) == await lean_read([RUNS_OK], calls=calls)
    assert max(calls) >= 12  # read a run at a time: one call for many messages


async def test_runs_of_deliveries_cut_anywhere_read_the_same() -> None:
    expected = await reference(RUNS_OK)
    for cut in range(1, len(RUNS_OK), 3):
        assert expected == await lean_read([RUNS_OK[:cut], RUNS_OK[cut:]]), f"cut at byte {cut}"


async def test_runs_of_deliveries_in_random_pieces_read_the_same() -> None:
    expected = await reference(RUNS_OK)
    rng = random.Random(34)
    for _ in range(100):
        pieces, at = [], 0
        while at < len(RUNS_OK):
            size = rng.choice((1, 7, 64, 200, 1000, 4096))
            pieces.append(RUNS_OK[at : at + size])
            at += size
        assert expected == await lean_read(pieces)


async def test_a_line_of_six_tokens_after_a_run_is_refused_as_nats_py_refuses_it() -> None:
    with pytest.raises(ProtocolError):
        await Parser(Recorder()).parse(RUNS)
    with pytest.raises(ProtocolError):
        await lean_read([RUNS])



# Pretty-printed JSON: payloads holding lone line breaks (LF, CR), which split the buffer at
# every line break into more pieces than messages. The run reader then splits at CRLF alone.
PRETTY = b"".join(msg(7, "a.b", b'{\n  "i": %d,\r  "s": "x"\n}' % i, ack(i + 1)) for i in range(20))


async def test_runs_of_pretty_printed_payloads_read_as_nats_py_reads_them_a_run_at_a_time() -> None:
    assert await reference(PRETTY) == await lean_read([PRETTY])
    # Taken by the run reader (the per-message loop would deliver the same, message by message).
    client = Recorder()
    routes = lean_routes(client)
    assert routes is not None
    routes[7] = Route(7, client.events)
    end, _, sid, msgs, _ = client._ps._run(PRETTY, 0)
    assert (len(PRETTY), b"7", 20) == (end, sid, len(msgs))


async def test_runs_of_pretty_printed_payloads_cut_anywhere_read_the_same() -> None:
    expected = await reference(PRETTY)
    for cut in range(1, len(PRETTY), 5):
        assert expected == await lean_read([PRETTY[:cut], PRETTY[cut:]]), f"cut at byte {cut}"


def _lone_breaks(count: int, *, after_line: bytes = b"\r\n", after_payload: bytes = b"\r\n") -> bytes:
    """``count`` deliveries whose control lines or payloads end in ``after_line`` /
    ``after_payload`` instead of the CRLF nats-server writes."""
    out = []
    for i in range(count):
        data = b'{"i":%d}' % i
        out.append(b"MSG a.b 7 " + ack(i + 1).encode() + b" %d" % len(data) + after_line + data + after_payload)
    return b"".join(out)


async def read_until_refused(pieces: list[bytes], *, lean: bool) -> tuple[list[tuple], bool]:
    """What a parser hands on before it refuses the wire, and whether it did (ProtocolError)."""
    client = Recorder()
    if lean:
        routes = lean_routes(client)
        assert routes is not None
        for sid in ROUTED:
            routes[sid] = Route(sid, client.events)
    try:
        for piece in pieces:
            await client._ps.parse(piece)
    except ProtocolError:
        refused = True
    else:
        refused = False
    return (client.events if lean else await _as_lean_delivers(client)), refused


@pytest.mark.parametrize("wire", [
    _lone_breaks(10, after_line=b"\n"),  # nats-py's MSG line must end in CRLF
    _lone_breaks(10, after_line=b"\r"),
    _lone_breaks(10, after_payload=b"\n"),  # nats-py skips two bytes after a payload: "\nM"
    _lone_breaks(10, after_payload=b"\r"),
    run_of(7, 1, 9) + _lone_breaks(1, after_line=b"\n") + run_of(7, 11, 9),  # one inside a run
    run_of(7, 1, 9) + _lone_breaks(1, after_payload=b"\n") + run_of(7, 11, 9),
])
async def test_a_run_whose_line_breaks_are_not_crlf_is_read_as_nats_py_reads_it(wire: bytes) -> None:
    # bytes.splitlines, which the run reader splits at first, breaks at a lone CR or LF too;
    # nats-py refuses such a line (a delivery of the route as it is to nats-py: the reference).
    expected = await read_until_refused([wire], lean=False)
    assert expected[1]
    assert expected == await read_until_refused([wire], lean=True)
    for cut in range(1, len(wire), 7):
        assert expected == await read_until_refused([wire[:cut], wire[cut:]], lean=True), f"cut at byte {cut}"
