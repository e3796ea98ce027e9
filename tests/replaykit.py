"""Export files made from the simulator, for replay tests that need no NATS: each event is stored
in its subject's stream (``market.>`` in MARKET, ...) with the next sequence and its own event
time as the stream timestamp, as ``slo export`` writes them."""

from __future__ import annotations

import gzip
from collections.abc import Iterable
from pathlib import Path

import orjson

from processor.replay.stored import EXPORT_FORMAT, StoredMsg, message_line, trailer_line


def stored(events: Iterable, stored_at_ms: int | None = None) -> list[StoredMsg]:
    """``stored_at_ms``: the stream timestamps of a fast publish instead (``slo simulate --fast``):
    from that moment on, 1,000 a millisecond, whatever the event times."""
    seqs: dict[str, int] = {}
    out = []
    for i, e in enumerate(events):
        stream = e.subject.split(".", 1)[0].upper()
        seqs[stream] = seqs.get(stream, 0) + 1
        ts_ms = e.ts_ms if stored_at_ms is None else stored_at_ms + i // 1000
        out.append(StoredMsg(stream, seqs[stream], ts_ms, e.subject, orjson.dumps(e.payload)))
    return out


def write_export(path: Path, msgs: list[StoredMsg], trailer: bool = True,
                 clock_moves: dict[str, list[tuple[int, int]]] | None = None) -> Path:
    """``clock_moves``: per stream, the live run's recorded time moves (after sequence, closed through ms)."""
    header = {"slo_export": EXPORT_FORMAT, "from_ms": None, "to_ms": None, "streams": {},
              "clock_moves": clock_moves or {}}
    body = orjson.dumps(header) + b"\n" + b"".join(message_line(m) for m in msgs)
    if trailer:
        body += trailer_line(False, {})
    if path.suffix == ".gz":
        body = gzip.compress(body)
    path.write_bytes(body)
    return path


def outputs(out_dir: Path) -> list[tuple[str, str, bytes]]:
    """(subject, msg_id, data) of every output line in a replay's --out, in file order per kind."""
    rows = []
    for path in sorted(out_dir.glob("*.ndjson")):
        for line in path.read_bytes().splitlines():
            row = orjson.loads(line)
            rows.append((row["subject"], row["msg_id"], orjson.dumps(row.get("data"), option=orjson.OPT_SORT_KEYS)))
    return rows
