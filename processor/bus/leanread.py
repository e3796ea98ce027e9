"""Pull responses read straight off nats-py's connection, without a nats-py ``Msg`` per message.

nats-py hands every delivery to a subscription through a chain built for generality: a regular
expression on each protocol line, a ``Msg`` dataclass, an ``asyncio.Queue`` and a task that
awaits one coroutine per message. At JetStream backlog rates that chain, not the server, is the
ceiling of a pull consumer (~11 µs of client CPU per message on the 2-core dev machine).

``LeanParser`` takes the place of the connection's protocol parser (the same object, its class
swapped, so nothing nats-py holds goes stale) and reads the MSG/HMSG lines of *registered*
subscriptions itself: it splits the control line, slices the payload out of one snapshot of the
read buffer and calls the route synchronously, in wire order, with the messages as columns
(``Deliveries``: subjects, payloads, replies, headers). A run of plain deliveries (MSG
with a reply, no headers: most of a pull request's answer) is read a buffer at a time, in passes
of C (``_run``: about 40 % less CPU per message than the loop, on recorded pull responses).
Everything else -- other subscriptions, PING/PONG, INFO, -ERR, a split message -- is handed, one complete operation at a
time, to nats-py's own parser, so its behaviour (reconnects, errors, slow-consumer accounting of
other subscriptions) is unchanged. Connection, auth, TLS and reconnect stay nats-py's: this
replaces only how bytes already read become messages.

It leans on nats-py internals (``Client._ps``, the ``Parser`` state fields, ``_process_headers``,
``_parse_header_lines``), checked in ``lean_routes``: when they are not what this was written against (nats-py 2.x), it
returns None and the caller keeps the ordinary subscription callback.
"""

from __future__ import annotations

__all__ = ["Deliveries", "LeanParser", "PulledMsg", "Route", "lean_routes", "widen_reads"]

from collections.abc import Iterator, Sequence
from itertools import repeat
from operator import itemgetter
from typing import Any, NamedTuple, Protocol, overload

import structlog
from nats.aio import client as _nats_client
from nats.aio.client import Client
from nats.protocol import parser as _nats_parser

_log = structlog.get_logger(__name__)

_CRLF = b"\r\n"
# What separates a control line's tokens as nats-server writes them. Not any whitespace: a
# subject may hold a vertical tab or a form feed, which nats-server does not split at.
_SP = b" "
_MSG = b"MSG "
_HMSG = b"HMSG "
_AWAITING_CONTROL_LINE = getattr(_nats_parser, "AWAITING_CONTROL_LINE", None)
_PARSER_FIELDS = ("buf", "state", "needed", "header_needed", "msg_arg")
_SUBJECT_CACHE_MAX = 4096
_SIZE_CACHE_MAX = 65536  # payload sizes written out, as a pull response's control lines have them
_HEADER_LINES_AT = len(b"NATS/1.0\r\n")
# Below this many complete messages in the buffer, the per-message loop reads them.
_RUN_MIN = 8
# A control line "MSG <subject> <sid> <reply> <size>" split from the right: head, reply, size.
_HEAD, _REPLY, _SIZE = range(3)
_MSG_VERB = _MSG.strip()
_head_of, _reply_of, _size_of = itemgetter(_HEAD), itemgetter(_REPLY), itemgetter(_SIZE)
_subject_of = itemgetter(1)  # of a head's (sid, subject)
# What nats-py reads off its socket at a time (its DEFAULT_BUFFER_SIZE, 32 KiB, the read loop's
# read size and the stream reader's limit): as much as asyncio's socket transport takes in one
# recv (256 KiB). A pull response of 2,000 gateway events is about 500 KB: read 32 KiB at a time,
# each read pays for a parse call, a buffer copy and a route call for ~130 messages.
_READ_BYTES = 256 * 1024
# nats-py's own reading of a header block (2.16+); without it the lean parser is not used.
_parse_header_lines = getattr(Client, "_parse_header_lines", None)


class PulledMsg(NamedTuple):
    """A JetStream delivery as the engine, the outbox, the lane and a history export read it.

    ``reply`` is the ``$JS.ACK...`` subject: the stream sequence, the stream timestamp (the
    engine's fallback event time) and the ack all come from it. A tuple: built in C, read in C,
    and only when asked for (``Deliveries`` keeps a batch as columns). The reply and the headers
    stay raw until asked for (``reply``, ``headers``): the puller checks every raw reply at once,
    and the lane decodes two replies a batch (its first and last).
    """

    subject: str
    data: bytes
    raw_reply: bytes
    raw_headers: bytes | None

    @property
    def reply(self) -> str:
        return self.raw_reply.decode()

    @property
    def headers(self) -> dict[str, str] | None:
        """The headers as nats-py's ``Msg.headers`` has them (None without any)."""
        raw = self.raw_headers
        if raw is None or len(raw) <= _HEADER_LINES_AT:
            return None
        return _parse_header_lines(raw[_HEADER_LINES_AT:]) or None


class Deliveries(Sequence[PulledMsg]):
    """Deliveries in wire order, kept as columns: what the lean parser hands a route and the
    puller hands its caller as a batch. A message is a ``PulledMsg`` built when one is asked
    for (by index, or iterating); the engine reads ``subjects`` and ``datas`` whole, so a run of
    a backlog is read with no Python object per message beyond its payload and reply (parsing,
    buffering and ingesting recorded pull responses: 1.39-1.47 µs a message, against 1.60-1.76
    with a ``PulledMsg`` each). The columns are not to be changed by a reader."""

    __slots__ = ("datas", "raw_headers", "raw_replies", "subjects")

    def __init__(self, subjects: list[str] | None = None, datas: list[bytes] | None = None,
                 raw_replies: list[bytes] | None = None, raw_headers: list[bytes | None] | None = None) -> None:
        self.subjects = [] if subjects is None else subjects
        self.datas = [] if datas is None else datas
        self.raw_replies = [] if raw_replies is None else raw_replies
        self.raw_headers = [None] * len(self.datas) if raw_headers is None else raw_headers

    def __len__(self) -> int:
        return len(self.datas)

    @overload
    def __getitem__(self, index: int) -> PulledMsg: ...

    @overload
    def __getitem__(self, index: slice) -> Deliveries: ...

    def __getitem__(self, index: int | slice) -> PulledMsg | Deliveries:
        if isinstance(index, slice):
            return Deliveries(self.subjects[index], self.datas[index], self.raw_replies[index], self.raw_headers[index])
        return tuple.__new__(PulledMsg, (self.subjects[index], self.datas[index], self.raw_replies[index],
                                         self.raw_headers[index]))

    def __iter__(self) -> Iterator[PulledMsg]:
        return map(tuple.__new__, repeat(PulledMsg), zip(self.subjects, self.datas, self.raw_replies, self.raw_headers))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sequence) and list(self) == list(other)

    __hash__ = None  # type: ignore[assignment]  # mutable, as a list

    def __repr__(self) -> str:
        return f"Deliveries({list(self)!r})"

    def append(self, msg: PulledMsg) -> None:
        self.subjects.append(msg.subject)
        self.datas.append(msg.data)
        self.raw_replies.append(msg.raw_reply)
        self.raw_headers.append(msg.raw_headers)

    def extend(self, other: Deliveries) -> None:
        self.subjects.extend(other.subjects)
        self.datas.extend(other.datas)
        self.raw_replies.extend(other.raw_replies)
        self.raw_headers.extend(other.raw_headers)


class Route(Protocol):
    """Where the lean parser delivers the messages of one subscription (sid). Neither method
    may raise: it would end nats-py's read loop, and with it the connection."""

    def on_deliveries(self, msgs: Deliveries) -> None:
        """Messages with a reply subject (JetStream deliveries), in wire order."""

    def on_status(self, subject: str, headers: dict[str, str]) -> None:
        """A message without one: a status (404, 408, 409, 100 ...), headers parsed by nats-py."""


# What _fast() found after the deliveries it returns.
_ALL_READ = -1  # nothing: the buffer is consumed
_OTHER_ROUTE = -2  # deliveries of another route
_INCOMPLETE = 0  # the start of an operation whose end has not been read yet
_SIZE_DISAGREES = object()  # _run_of: a payload's size cut the run short
# (a positive value: the end of an operation that nats-py's parser reads)


class LeanParser(_nats_parser.Parser):
    """nats-py's protocol parser with a fast lane for the subscriptions in ``routes``."""

    routes: dict[int, Route]
    subjects: dict[bytes, str]
    heads: dict[bytes, tuple[bytes, str]]
    size_tokens: _SizeTokens

    async def parse(self, data: bytes = b"") -> None:
        if not self.routes:
            await super().parse(data)
            return
        buf = self.buf
        buf.extend(data)
        while buf:
            if self.state != _AWAITING_CONTROL_LINE:
                # nats-py holds a control line and waits for its payload: it finishes that one.
                length = self.needed + len(_CRLF)
                if len(buf) < length or not await self._one_op(length, may_be_status=False):
                    return
                continue
            view = bytes(buf)
            pos = 0
            while True:
                pos, found, route, msgs = self._fast(view, pos)
                if msgs:
                    route.on_deliveries(msgs)  # type: ignore[union-attr]
                if found != _OTHER_ROUTE:
                    break
            del buf[:pos]
            if found == _ALL_READ or found == _INCOMPLETE:
                return  # an incomplete operation waits for more bytes
            if not await self._one_op(found - pos) or self.buf is not buf:
                return  # incomplete, or nats-py reset the parser (an error, a reconnect)

    def _fast(self, view: bytes, pos: int) -> tuple[int, int, Route | None, Deliveries]:
        """The deliveries of one route from ``pos`` on: (where they end, what follows them, the
        route, the messages)."""
        routes = self.routes
        subjects = self.subjects
        size = len(view)
        msgs = Deliveries()
        route: Route | None = None
        sid = b""
        eol = pos
        in_bytes = 0
        run = self._run(view, pos) if view.startswith(_MSG, pos) else None
        if run is not None:
            pos, route, sid, msgs, in_bytes = run
        add_subject, add_data, add_reply, add_headers = (msgs.subjects.append, msgs.datas.append,
                                                         msgs.raw_replies.append, msgs.raw_headers.append)
        try:
            while pos < size:
                eol = view.find(_CRLF, pos)
                if eol < 0:
                    return pos, _INCOMPLETE, route, msgs
                if view.startswith(_MSG, pos):
                    args = view[pos + 4 : eol].split(_SP)
                    header_size = 0
                elif view.startswith(_HMSG, pos):
                    args = view[pos + 5 : eol].split(_SP)
                    header_size = _size(args.pop(-2))
                else:
                    return pos, eol + 2, route, msgs
                end = eol + 2 + _size(args[-1])
                if end + 2 > size:
                    return pos, _INCOMPLETE, route, msgs
                if args[1] != sid or len(args) != 4:
                    # A status (no reply subject) or another subscription's message.
                    other = routes.get(int(args[1])) if len(args) == 4 else None
                    if other is None:
                        return pos, end + 2, route, msgs
                    if route is not None:
                        return pos, _OTHER_ROUTE, route, msgs
                    route, sid = other, args[1]
                subject = subjects.get(args[0])
                if subject is None:
                    subject = self._subject(args[0])
                body = eol + 2 + header_size
                add_subject(subject)
                add_data(view[body:end])
                add_reply(args[2])
                add_headers(view[eol + 2 : body] if header_size else None)
                in_bytes += end - eol - 2
                pos = end + 2
            return pos, _ALL_READ, route, msgs
        except (ValueError, IndexError):
            return pos, eol + 2, route, msgs  # a line this does not read: nats-py reads it (or raises)
        finally:
            stats = self.nc.stats
            stats["in_msgs"] += len(msgs)
            stats["in_bytes"] += in_bytes

    def _run(self, view: bytes, pos: int) -> tuple[int, Route, bytes, Deliveries, int] | None:
        """A run of plain deliveries (MSG with a reply, one route) from ``pos``, read with a few
        passes of C over the whole buffer instead of a loop of Python per message: (where it ends,
        the route, its sid, the messages, their bytes), or None (the per-message loop reads on).

        The buffer is split into pieces at its line breaks: while the payloads hold none, the
        pieces alternate control line, payload. A pair belongs to the run when its line reads MSG
        <subject> <sid> <reply> <size> (split as the per-message loop splits it) with the run's
        sid, and <size> is the length of the piece after it -- which a payload holding a line
        break, a message with headers, a status or any other operation fails, so the run ends
        before it and the per-message loop reads from there. The pieces of a run are therefore
        each followed by nats-server's CRLF. A pair is complete when its payload piece is
        followed by a CRLF.

        Split first at every line break (``splitlines``: CRLF, CR or LF), which takes about half
        the CPU of splitting at CRLF alone; when a payload's size then disagrees (it holds a
        lone CR or LF: pretty-printed JSON), or a run's break is a lone CR or LF (a wire that
        nats-server does not write, _breaks_are_crlf), split again at CRLF alone, as before."""
        rest = view[pos:] if pos else view
        parts = rest.splitlines()
        run = self._run_of(parts, len(parts) if rest.endswith(_CRLF) else len(parts) - 1, pos, whole=True)
        if isinstance(run, tuple) and not _breaks_are_crlf(rest, parts, run[0] - pos, 2 * len(run[3])):
            run = _SIZE_DISAGREES  # a lone CR or LF, which nats-py does not take for a break
        if run is _SIZE_DISAGREES:
            parts = rest.split(_CRLF)
            run = self._run_of(parts, len(parts) - 1, pos, whole=False)
        return run  # type: ignore[return-value]

    def _run_of(self, parts: list[bytes], complete: int, pos: int, *,
                whole: bool) -> tuple[int, Route, bytes, Deliveries, int] | object | None:
        """``_run`` on pieces of which the first ``complete`` are followed by a CRLF.
        ``whole``: ``_SIZE_DISAGREES`` instead of a run that a payload's size cuts short.

        Each control line is split from the right into its head (``MSG <subject> <sid>``), reply
        and size: a stream's heads are few, so each is read once (``_head``) and looked up after."""
        pairs = complete // 2
        if pairs < _RUN_MIN:
            return None
        fields = list(map(bytes.rsplit, parts[0 : 2 * pairs : 2], repeat(_SP), repeat(2)))
        first = self._head(fields[0][_HEAD]) if len(fields[0]) == 3 else None
        if first is None:
            return None
        sid = first[0]
        route = self.routes.get(int(sid))
        if route is None:
            return None
        n = _agreeing(list(map(len, fields)), 3)
        del fields[n:]
        heads = list(map(self.heads.get, map(_head_of, fields)))
        one_head = heads.count(first) == n  # one subject: the usual pull response of a stream
        if not one_head:
            n = self._same_sid(heads, fields, sid)
            del fields[n:], heads[n:]
        payloads = parts[1 : 2 * n : 2]
        sized = self._sized(fields, payloads)
        if sized < n and whole:
            return _SIZE_DISAGREES
        n = sized
        if n == 0:
            return None
        subjects = [first[1]] * n if one_head else list(map(_subject_of, heads[:n]))
        msgs = Deliveries(subjects, payloads, list(map(_reply_of, fields)))
        in_bytes = sum(map(len, payloads))
        end = pos + sum(map(len, parts[: 2 * n])) + 2 * len(_CRLF) * n
        return end, route, sid, msgs, in_bytes

    def _same_sid(self, heads: list[tuple[bytes, str] | None], fields: list[list[bytes]], sid: bytes) -> int:
        """How many lines, from the first, have a head of the run's sid (heads not seen before
        read here)."""
        for i, head in enumerate(heads):
            if head is None:
                head = heads[i] = self._head(fields[i][_HEAD])
            if head is None or head[0] != sid:
                return i
        return len(heads)

    def _head(self, head: bytes) -> tuple[bytes, str] | None:
        """(sid, subject) of a control line's head ``MSG <subject> <sid>``, split as the
        per-message loop splits it (single spaces); None for anything else."""
        known = self.heads.get(head)
        if known is not None:
            return known
        tokens = head.split(_SP)
        if len(tokens) != 3 or tokens[0] != _MSG_VERB or not tokens[2].isdigit():
            return None
        if len(self.heads) >= _SUBJECT_CACHE_MAX:  # a token per entity: bounded, as the subjects
            self.heads.clear()
        subjects = self.subjects
        subject = subjects.get(tokens[1])
        known = self.heads[head] = (tokens[2], subject if subject is not None else self._subject(tokens[1]))
        return known

    def _sized(self, fields: list[list[bytes]], payloads: list[bytes]) -> int:
        """How many pairs, from the first, declare the size their payload has; both lists are cut
        to that many. A size token is compared as bytes with the payload's length written out
        (cached), not parsed: one that ``int`` would also read (``0150``, ``+150``, ``1_50``)
        ends the run, and the per-message loop reads it as nats-py does (``_size``)."""
        tokens = self.size_tokens
        if len(tokens) >= _SIZE_CACHE_MAX:
            tokens.clear()
        expected = list(map(tokens.__getitem__, map(len, payloads)))
        declared = list(map(_size_of, fields))
        if declared == expected:
            return len(fields)
        n = next(i for i, (a, b) in enumerate(zip(declared, expected, strict=True)) if a != b)
        del fields[n:], payloads[n:]
        return n

    def _subject(self, subject: bytes) -> str:
        # A stream's subjects are few; the cap bounds one with a token per entity.
        if len(self.subjects) >= _SUBJECT_CACHE_MAX:
            self.subjects.clear()
        # Not UTF-8 (nats-server stores what a producer's own client wrote): read with U+FFFD in
        # place of the bytes that are not, so that it is routed, counted and dead-lettered like
        # any other message instead of stopping the read loop at it, delivery after delivery.
        decoded = self.subjects[subject] = subject.decode(errors="replace")
        return decoded

    async def _one_op(self, length: int, *, may_be_status: bool = True) -> bool:
        """Run nats-py's parser on exactly the first ``length`` bytes of the buffer (one whole
        operation, or a registered status); False if it kept some (incomplete) or was reset."""
        buf = self.buf
        rest = buf[length:]
        del buf[length:]
        status = self._registered_status(buf) if may_be_status else None
        if status is not None:
            subject, route, header_bytes = status
            headers = await self.nc._process_headers(header_bytes) or {}
            del buf[:]
            route.on_status(subject, headers)
        else:
            await _nats_parser.Parser.parse(self)
        if self.buf is not buf:
            return False
        kept = len(buf)
        buf.extend(rest)
        return kept == 0

    def _registered_status(self, op: bytearray) -> tuple[str, Route, bytes] | None:
        """(subject, route, header bytes) when ``op`` is an HMSG without reply for a route."""
        if not op.startswith(_HMSG):
            return None
        eol = op.find(_CRLF)
        args = bytes(op[5:eol]).split()
        route = self.routes.get(int(args[1])) if len(args) == 4 and args[1].isdigit() else None
        if route is None or not args[2].isdigit():
            return None
        return args[0].decode(), route, bytes(op[eol + 2 : eol + 2 + int(args[2])])


class _SizeTokens(dict[int, bytes]):
    """A payload length -> the token a control line declares it with (``150`` -> ``b"150"``)."""

    def __missing__(self, size: int) -> bytes:
        token = self[size] = str(size).encode()
        return token


def _breaks_are_crlf(rest: bytes, parts: list[bytes], end: int, pieces: int) -> bool:
    """Whether the first ``pieces`` of ``parts = rest.splitlines()`` are each followed by a CRLF,
    as a run taken from them says (``end``: where it ends, counting a CRLF after each). A lone
    CR or LF is no break to nats-py: a MSG line ended by one is refused, and after a payload it
    skips two bytes. False also when it cannot be shown (an empty piece after them): the run is
    then read again split at CRLF alone.

    First all of ``rest``: its bytes are the pieces' and the breaks', two a CRLF and one a lone
    CR or LF, so the lone ones are counted with a sum over the few pieces after the run. None,
    or only a CR that ends ``rest`` (after its last piece, which no run takes): every break of
    the run is a CRLF. Otherwise (a payload after the run holds one, or a run's break is one):
    each lone break among the run's leaves ``end`` one byte past where its pieces and breaks
    end. When they are all of ``rest``, ``end`` is its length only without one. Else the next
    piece starts there, not a CR or LF when it is not empty; every CR and LF before ``end`` is a
    break's (the pieces hold none), and with a lone break among them, ``pieces`` of each would
    need the bytes past them, from that piece's first on, to be CRs or LFs."""
    breaks = len(parts) if rest.endswith((b"\r", b"\n")) else len(parts) - 1
    piece_bytes = end - 2 * pieces + sum(map(len, parts[pieces:]))
    lone = 2 * breaks - (len(rest) - piece_bytes)
    if lone == rest.endswith(b"\r"):
        return True
    if pieces == len(parts):
        return end == len(rest)
    return parts[pieces] != b"" and rest.count(b"\n", 0, end) == pieces == rest.count(b"\r", 0, end)


def _size(token: bytes) -> int:
    """A size as nats-py reads it (``\\d+``): ASCII digits only, where ``int`` also takes ``+2``,
    ``1_0`` and white space around (``0\\n``, a line ended by a lone LF before the CRLF). A
    ValueError hands the line to nats-py, which refuses it."""
    if not token.isdigit():
        raise ValueError(token)
    return int(token)


def _agreeing(values: list[Any], wanted: Any) -> int:
    """How many of ``values``, from the first, equal ``wanted``."""
    if values.count(wanted) == len(values):
        return len(values)
    return next(i for i, value in enumerate(values) if value != wanted)


def lean_routes(nc: Client) -> dict[int, Route] | None:
    """The connection's route table (sid -> Route), installing the lean parser on first use;
    None when this nats-py is not the one the lean parser was written against."""
    parser: Any = getattr(nc, "_ps", None)
    if isinstance(parser, LeanParser):
        return parser.routes
    if (
        type(parser) is not _nats_parser.Parser
        or _AWAITING_CONTROL_LINE is None
        or not all(hasattr(parser, field) for field in _PARSER_FIELDS)
        or not callable(getattr(nc, "_process_headers", None))
        or _parse_header_lines is None
        or getattr(_nats_client, "parse_email", None) is not None
        or not isinstance(getattr(nc, "stats", None), dict)
    ):
        _log.info("consumer.lean_reader_unavailable", parser=type(parser).__name__)
        return None
    # Between two parse() calls or inside one suspended at an await: either way the state fields
    # are the same object's, and the read loop runs one parse() at a time.
    parser.__class__ = LeanParser
    parser.routes = {}
    parser.subjects = {}
    parser.heads = {}
    parser.size_tokens = _SizeTokens()
    return parser.routes


def widen_reads() -> None:
    """Make nats-py read up to ``_READ_BYTES`` at a time, on every connection made after (the
    reader's limit is set at connect) and on those made before (the read size is read at each
    read). End to end on the gateway backlog: 2.00-2.18 µs of client CPU a message against
    2.15-2.40 with 32 KiB reads; the bare lean path 0.80-0.88 against 0.93-1.11 (README,
    Performance). On plain TCP only: nats-py's TLS transport keeps asyncio's reader limit (64
    KiB), its websocket transport reads a frame at a time. nats-py reads this module constant at
    each use; without it (not the nats-py this was written against), nothing changes."""
    if getattr(_nats_client, "DEFAULT_BUFFER_SIZE", _READ_BYTES) < _READ_BYTES:
        _nats_client.DEFAULT_BUFFER_SIZE = _READ_BYTES
