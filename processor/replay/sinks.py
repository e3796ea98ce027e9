"""Where a replay's outputs go: NDJSON files (or stdout), or NATS under a prefix of their own.

A line of an output file is one message as the live run would publish it:
``{"subject", "msg_id", "headers"?, "data"}``, ``data`` the JSON payload (a dead letter's payload is
the raw rejected message: text, or ``data_b64`` when it is not UTF-8). Files in ``--out``:
``alerts.ndjson``, ``budget.ndjson``, ``sli.ndjson``, ``actions.ndjson``, ``deadletter.ndjson``
(one per prefix of ``vocabulary.OUTPUT_SUBJECT_PREFIXES``), and ``summary.json`` at the end.
"""

from __future__ import annotations

__all__ = ["SUMMARY_FILE", "NdjsonSink", "PublishSink", "check_publish_prefix", "output_line"]

import base64
import re
import sys
from pathlib import Path
from typing import IO, Any

import orjson

from processor.bus.publisher import OutMessage
from processor.config.parse import subject_pattern_matches
from processor.errors import ProcessorError
from processor.vocabulary import OUTPUT_SUBJECT_PREFIXES

_LIVE_OUTPUTS = "slo.>"
# The kinds a replay writes: not the clock, whose moves it makes rather than publishes.
_FILES = tuple(kind for kind in OUTPUT_SUBJECT_PREFIXES if kind != "clock")
_TOKEN = re.compile(r"[A-Za-z0-9_-]+")


def output_line(message: OutMessage) -> bytes:
    body: dict[str, Any] = {"subject": message.subject, "msg_id": message.msg_id}
    if message.headers:
        body["headers"] = message.headers
    if message.subject.startswith(OUTPUT_SUBJECT_PREFIXES["deadletter"] + "."):
        try:
            body["data"] = message.payload.decode("utf-8")
        except UnicodeDecodeError:
            body["data_b64"] = base64.b64encode(message.payload).decode("ascii")
    else:
        body["data"] = orjson.Fragment(message.payload)
    return orjson.dumps(body) + b"\n"


def _kind(subject: str) -> str:
    for kind, prefix in OUTPUT_SUBJECT_PREFIXES.items():
        if subject.startswith(prefix + "."):
            return kind
    return "other"


SUMMARY_FILE = "summary.json"  # written by the replay last (replay/cli.py)


class NdjsonSink:
    """One NDJSON file per kind of output in ``out_dir``, or every line on ``stream`` (stdout)."""

    def __init__(self, out_dir: Path | None = None, stream: IO[bytes] | None = None) -> None:
        self.out_dir = out_dir
        self._stream = stream if stream is not None else (None if out_dir else sys.stdout.buffer)
        self._files: dict[str, IO[bytes]] = {}
        self.written: dict[str, int] = {}
        if out_dir is not None:
            out_dir.mkdir(parents=True, exist_ok=True)
            # Every file the docs promise, empty when nothing of its kind came out: a script can
            # count lines, and a file left in the directory by an earlier replay is never read as
            # this one's. Its summary goes too: this replay writes its own once it ends, so files
            # without one are those of a replay that failed before its end.
            (out_dir / SUMMARY_FILE).unlink(missing_ok=True)
            for kind in _FILES:
                self._file(kind)

    def __call__(self, messages: list[OutMessage]) -> None:
        for message in messages:
            kind = _kind(message.subject)
            self._file(kind).write(output_line(message))
            self.written[kind] = self.written.get(kind, 0) + 1

    def _file(self, kind: str) -> IO[bytes]:
        if self._stream is not None:
            return self._stream
        handle = self._files.get(kind)
        if handle is None:
            assert self.out_dir is not None
            handle = self._files[kind] = (self.out_dir / f"{kind}.ndjson").open("wb")
        return handle

    def close(self) -> None:
        for handle in self._files.values():
            handle.close()
        if self._stream is not None:
            self._stream.flush()


def check_publish_prefix(prefix: str) -> str:
    """A prefix under which replayed outputs may be published: NATS tokens, never a subject of
    the live outputs (``slo.>``)."""
    tokens = prefix.split(".")
    if not all(_TOKEN.fullmatch(t) for t in tokens):
        raise ProcessorError(f"--publish-prefix {prefix!r}: use NATS subject tokens (letters, digits, _ or -) separated by dots")
    if subject_pattern_matches(_LIVE_OUTPUTS, f"{prefix}.slo.alerts"):
        raise ProcessorError(f"--publish-prefix {prefix!r}: replayed outputs must not land on the live {_LIVE_OUTPUTS} subjects; "
                             "choose a prefix such as replay or backtest.<name>")
    return prefix


class PublishSink:
    """Collects the replay's outputs for publishing under ``<prefix>.<subject>`` (core NATS: no
    stream stores them unless the operator adds one for that prefix)."""

    def __init__(self, prefix: str) -> None:
        self.prefix = check_publish_prefix(prefix)
        self.pending: list[OutMessage] = []
        self.written = 0

    def __call__(self, messages: list[OutMessage]) -> None:
        self.pending.extend(OutMessage(f"{self.prefix}.{m.subject}", m.payload, m.headers, m.msg_id) for m in messages)

    async def flush(self, nc: Any) -> None:
        pending, self.pending = self.pending, []
        for m in pending:
            headers = dict(m.headers or {})
            if m.msg_id:
                headers["Nats-Msg-Id"] = m.msg_id
            await nc.publish(m.subject, m.payload, headers=headers or None)
        self.written += len(pending)
        if pending:
            await nc.flush()
