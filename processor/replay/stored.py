"""A stored stream message, as a replay and an export see it, and the export file format.

``StoredMsg`` carries what JetStream stored (stream, sequence, stamp, subject, headers, payload)
and presents it as a delivery would (``reply`` is a JetStream ack subject naming the sequence and
the stamp), so the engine's fallback event time, its clock-skew reference and the dead letters'
ids read it exactly as they read a live delivery.

Export file (NDJSON, optionally gzip): one message per line,
``{"stream", "seq", "ts_ms", "subject", "headers"?, "data"}`` with ``data`` the payload as text,
or ``"data_b64"`` instead when the payload is not UTF-8. The first line is a header,
``{"slo_export": 1, "from_ms", "to_ms", "streams": {...}}``; messages of several streams are
interleaved, each stream's in sequence order. The last line is a trailer,
``{"slo_export_end": {"interrupted": bool, "streams": {stream: {"messages", "last_seq"}}}}``: an
export stopped by Ctrl-C still ends with whole lines and this trailer, saying so and where each
stream stopped. (A file without a trailer, from an older export, reads the same.)
"""

from __future__ import annotations

__all__ = ["EXPORT_FORMAT", "ExportFileError", "ExportMessages", "StoredMsg", "from_delivery", "message_line",
           "read_export", "trailer_line"]

import base64
import gzip
import io
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, NamedTuple

import orjson
import structlog

from processor.bus.jsreply import js_timestamp_ms, stream_sequence
from processor.errors import ProcessorError

EXPORT_FORMAT = 1
_NS_PER_MS = 1_000_000


class ExportFileError(ProcessorError):
    """An export file that cannot be read: names the file and the line."""


class StoredMsg(NamedTuple):
    # A named tuple, not a frozen dataclass: as immutable, and made in a quarter of the time (a
    # frozen dataclass sets each field through object.__setattr__), once per message of a file.
    stream: str
    seq: int
    ts_ms: int
    subject: str
    data: bytes
    headers: dict[str, str] | None = None

    @property
    def reply(self) -> str:
        # $JS.ACK.<stream>.<consumer>.<delivered>.<stream_seq>.<consumer_seq>.<timestamp_ns>.<pending>
        return f"$JS.ACK.{self.stream}.replay.1.{self.seq}.{self.seq}.{self.ts_ms * _NS_PER_MS}.0"


def from_delivery(stream: str, msg: Any) -> StoredMsg:
    """A message delivered by a history read, as stored."""
    return StoredMsg(stream, stream_sequence(msg.reply), js_timestamp_ms(msg.reply) or 0, msg.subject, msg.data,
                     dict(msg.headers) if msg.headers else None)


def message_line(msg: StoredMsg) -> bytes:
    body: dict[str, Any] = {"stream": msg.stream, "seq": msg.seq, "ts_ms": msg.ts_ms, "subject": msg.subject}
    if msg.headers:
        body["headers"] = msg.headers
    try:
        body["data"] = msg.data.decode("utf-8")
    except UnicodeDecodeError:
        body["data_b64"] = base64.b64encode(msg.data).decode("ascii")
    return orjson.dumps(body) + b"\n"


_END = "slo_export_end"
_END_PREFIX = b'{"' + _END.encode()


def trailer_line(interrupted: bool, streams: dict[str, dict[str, Any]]) -> bytes:
    return orjson.dumps({_END: {"interrupted": interrupted, "streams": streams}}) + b"\n"


def _open(path: Path) -> tuple[io.BufferedIOBase, IO[bytes]]:
    raw = path.open("rb")
    if raw.read(2) == b"\x1f\x8b":
        raw.seek(0)
        return gzip.GzipFile(fileobj=raw), raw  # type: ignore[return-value]
    raw.seek(0)
    return raw, raw  # type: ignore[return-value]


class ExportMessages:
    """The messages of an export file, in file order. ``bytes_read``: how far into the file (as
    stored, compressed or not) the reading is; ``end``: the trailer, once read (None before, or
    for a file without one)."""

    def __init__(self, path: Path, handle: io.BufferedIOBase, raw: IO[bytes]) -> None:
        self._raw = raw
        self.path = path
        self.size = path.stat().st_size
        self.end: dict[str, Any] | None = None
        self.last_seqs: dict[str, int] = {}  # each stream's last message read so far
        self._lines = _messages(path, handle, self)

    def warn_if_cut_short(self, header: dict[str, Any], command: str) -> None:
        """Once every line is read: a warning when the file has no trailer and some stream ends
        before the last sequence its header lists (a copy cut at the end of a line: ``head``, a
        full disk), which reads as a whole file of fewer messages."""
        listed = header.get("streams")
        if self.end is not None or not isinstance(listed, dict):
            return
        short = {stream: {"read_to": self.last_seqs.get(stream, 0), "header_last_seq": info["last_seq"]}
                 for stream, info in listed.items()
                 if isinstance(info, dict) and type(info.get("last_seq")) is int
                 and self.last_seqs.get(stream, 0) < info["last_seq"]}
        if short:
            structlog.get_logger("slo").warning(f"{command}.input_cut_short", input=str(self.path), streams=short,
                                                note="the file ends before the messages its header lists, without "
                                                     "the trailer an export ends with: it was cut short")

    def __iter__(self) -> Iterator[StoredMsg]:
        return self._lines

    def __next__(self) -> StoredMsg:
        return next(self._lines)

    @property
    def bytes_read(self) -> int:
        try:
            return self._raw.tell()
        except (OSError, ValueError):  # closed at the end
            return self.size


def read_export(path: Path) -> tuple[dict[str, Any], ExportMessages]:
    """The header of an export file and an iterator of its messages; ExportFileError names the
    file and line of anything unreadable (a truncated gzip included)."""
    handle, raw = _open(path)
    try:
        first = handle.readline()
    except (OSError, EOFError) as exc:
        handle.close()
        raise ExportFileError(f"{path}: cannot read: {exc}") from exc
    try:
        header = orjson.loads(first)
    except orjson.JSONDecodeError as exc:
        handle.close()
        raise ExportFileError(f"{path}:1: not an slo export file (the first line is not JSON: {exc})") from exc
    if not isinstance(header, dict) or header.get("slo_export") != EXPORT_FORMAT:
        handle.close()
        raise ExportFileError(f"{path}:1: not an slo export file of format {EXPORT_FORMAT} (no \"slo_export\": 1 header)")
    return header, ExportMessages(path, handle, raw)


# Read in chunks of this many (uncompressed) bytes and split into lines: a third of the cost of
# iterating the file line by line (GzipFile.readline is Python code, run once per line).
_CHUNK = 1 << 20


def _messages(path: Path, handle: io.BufferedIOBase, into: ExportMessages) -> Iterator[StoredMsg]:
    line_no = 1
    end = _END_PREFIX
    rest = b""  # the start of a line the last chunk cut
    with handle:
        while True:
            try:
                chunk = handle.read(_CHUNK)
            except (OSError, EOFError) as exc:
                raise ExportFileError(f"{path}:{line_no + 1}: the file ends in the middle (truncated?): {exc}") from exc
            if not chunk:
                if rest:
                    raise ExportFileError(f"{path}:{line_no + 1}: the last line is cut off (a truncated file)")
                return
            lines = chunk.split(b"\n")
            if rest:
                lines[0] = rest + lines[0]
            rest = lines.pop()
            for line in lines:
                line_no += 1
                if line.startswith(end):
                    into.end = _trailer(path, line_no, line)
                    continue
                msg = _stored(path, line_no, line)
                into.last_seqs[msg.stream] = msg.seq
                yield msg


def _trailer(path: Path, line_no: int, line: bytes) -> dict[str, Any]:
    try:
        end = orjson.loads(line)[_END]
        if not isinstance(end, dict):
            raise TypeError("not an object")
        return end
    except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
        raise ExportFileError(f"{path}:{line_no}: not a trailer line ({exc})") from exc


def _stored(path: Path, line_no: int, line: bytes) -> StoredMsg:
    try:
        body = orjson.loads(line)
        data = body["data"].encode("utf-8") if "data" in body else base64.b64decode(body["data_b64"], validate=True)
        return StoredMsg(str(body["stream"]), int(body["seq"]), int(body["ts_ms"]), str(body["subject"]), data,
                         body.get("headers") or None)
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ExportFileError(f"{path}:{line_no}: not a message line ({type(exc).__name__}: {exc})") from exc
