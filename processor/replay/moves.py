"""The time moves live runs recorded (``slo.clock.<stream>``, runtime/render.clock_message), as a
replay makes them: read from the SLO stream, or from an export file's header.

Each instance's idle clock moves its own engines' time: an unpartitioned instance records its moves
on ``slo.clock.<stream>``, a `slo run --partition I/N` instance on ``slo.clock.<stream>.p<I>of<N>``
(its body's ``partition``). A replay makes one instance's moves: those of no partition, or those of
the partition it replays. An export keeps the unpartitioned ones as ``clock_moves`` and each
partition's as ``partition_clock_moves[<tag>]``.
"""

from __future__ import annotations

__all__ = ["clock_moves", "header_moves", "recorded_moves"]

from collections.abc import Iterable, Sequence
from typing import Any

import structlog

from processor.bus.history import read_history, stream_range
from processor.errors import ProcessorError
from processor.replay.run import ClockMove, clock_move
from processor.vocabulary import OUTPUT_SUBJECT_PREFIXES, SLO_STREAM

_CLOCK = OUTPUT_SUBJECT_PREFIXES["clock"]
# Messages per pull of a history read; 5000 measured no faster than 1000 (bench/replay.py
# --history-batch): nats-py's per-message delivery, not the round trips, is the cost.
HISTORY_BATCH = 1000


async def recorded_moves(nc: Any, streams: Sequence[str], from_ms: int | None,
                         to_ms: int | None) -> dict[str | None, dict[str, list[ClockMove]]]:
    """The live runs' recorded time moves of each stream within the range, by the partition tag
    of the instance that made them (None: an unpartitioned instance's)."""
    moves: dict[str | None, dict[str, list[ClockMove]]] = {None: {s: [] for s in streams}}
    try:
        held = await stream_range(nc, SLO_STREAM)
    except ProcessorError:
        return moves  # no SLO stream: a bus no processor ran on moved no time
    if not held.last_seq:
        return moves
    async for batch in read_history(nc, SLO_STREAM, filter_subject=f"{_CLOCK}.>", until_seq=held.last_seq,
                                    batch_size=HISTORY_BATCH):
        for msg in batch:
            try:
                stream, partition, move = clock_move(msg.data)
            except (ValueError, KeyError, TypeError):
                structlog.get_logger("slo").warning("replay.clock_unreadable", subject=msg.subject)
                continue
            if stream in streams and (from_ms is None or move[1] >= from_ms) and (to_ms is None or move[1] <= to_ms):
                moves.setdefault(partition, {s: [] for s in streams})[stream].append(move)
    return moves


async def clock_moves(nc: Any, streams: Sequence[str], from_ms: int | None, to_ms: int | None,
                       partition: str | None = None) -> dict[str, list[ClockMove]]:
    """The time moves of one instance's clock: an unpartitioned one's, or those of the partition
    tagged ``partition`` (``p0of2``): each partition's idle clock moved its own engines' time."""
    recorded = await recorded_moves(nc, streams, from_ms, to_ms)
    return recorded.get(partition, {s: [] for s in streams})


def header_moves(header: dict, streams: Iterable[str], from_ms: int | None, to_ms: int | None,
                 partition: str | None = None) -> dict[str, list[ClockMove]]:
    """An export file's recorded moves of ``streams`` within the range: an unpartitioned
    instance's, or those of the partition tagged ``partition``."""
    recorded = (header.get("clock_moves", {}) if partition is None
                else header.get("partition_clock_moves", {}).get(partition, {}))
    return {s: [(int(m[0]), int(m[1])) for m in recorded.get(s, [])
                if (from_ms is None or m[1] >= from_ms) and (to_ms is None or m[1] <= to_ms)] for s in streams}
