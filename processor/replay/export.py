"""``slo export``: the streams' messages in a range, with the recorded time moves, to an export
file that ``slo replay --input`` reads (replay/stored.py); or the live checkpoint to a file. The
exit code as ``slo replay``'s (replay/cli.py)."""

from __future__ import annotations

__all__ = ["export_from_args"]

import asyncio
import gzip
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import orjson

from processor.bus.history import first_seq_after, stream_range
from processor.bus.streams import load_stream_definitions
from processor.errors import ProcessorError
from processor.replay.cli import (ReplayError, _check_held, _check_kafka_args, _expected_messages, _fail,
                                  _kv_checkpoint, _range_ms, _read_streams, _Reading, _wanted_streams,
                                  empty_range_note, open_bus)
from processor.replay.moves import recorded_moves
from processor.replay.progress import INTERRUPTED_EXIT, Interrupt, Progress
from processor.replay.stored import EXPORT_FORMAT, from_delivery, message_line, trailer_line
from processor.runtime.logs import warnings_on_stderr


async def _export(args: Any, definitions: list[dict], out: IO[bytes] | None, from_ms: int | None, to_ms: int | None,
                  reading: _Reading) -> dict:
    names = _wanted_streams(args, definitions, None)
    async with open_bus(args) as nc:
        after: dict[str, int] = {}
        if args.checkpoint_out:
            states, raw = await _kv_checkpoint(nc, args.instance)
            Path(args.checkpoint_out).write_bytes(raw)
            if from_ms is None:  # the events after the checkpoint: what a replay from it needs
                after = {n: states[n][0] for n in names if n in states}
        if out is None:
            return {}
        ranges = {}
        for name in names:
            ranges[name] = held = await stream_range(nc, name)
            _check_held(held, from_ms, after.get(name))
        recorded = _before_the_end(await recorded_moves(nc, names, from_ms, to_ms),
                                   {n: await first_seq_after(nc, r, to_ms) for n, r in ranges.items()} if to_ms else {})
        header = {"slo_export": EXPORT_FORMAT, "from_ms": from_ms, "to_ms": to_ms,
                  "streams": {n: {"last_seq": r.last_seq} for n, r in ranges.items()},
                  "clock_moves": {n: sorted(m) for n, m in recorded.pop(None, {}).items() if m}}
        partitioned = {tag: {n: sorted(m) for n, m in moves.items() if m} for tag, moves in sorted(recorded.items())}
        if partitioned:  # `slo run --partition` instances' moves, by partition tag (`slo replay --partition`)
            header["partition_clock_moves"] = partitioned
        out.write(orjson.dumps(header) + b"\n")
        reading.progress.total = _expected_messages(ranges, after)
        counts = {n: 0 for n in names}

        def write(name: str, batch: list[Any]) -> None:
            out.write(b"".join([message_line(from_delivery(name, m)) for m in batch]))
            counts[name] += len(batch)

        try:
            await _read_streams(nc, names, ranges, from_ms, to_ms, after, reading, write)
        finally:
            stopped = {n: {"messages": c, **reading.stopped_at.get(n, {})} for n, c in counts.items()}
            out.write(trailer_line(reading.stopped, stopped))
    return counts


def _before_the_end(recorded: dict, beyond: dict[str, int | None]) -> dict:
    """The moves of each stream recorded before its first message past ``--to`` (``beyond``): one
    made after a later message is not the range's (``StreamReplay.ends_before``)."""
    return {tag: {n: [m for m in ms if beyond.get(n) is None or m[0] < beyond[n]] for n, ms in streams.items()}
            for tag, streams in recorded.items()}


def export_from_args(args: Any) -> int:
    """``slo export``: the exit code."""
    with warnings_on_stderr():
        return _export_file(args)


def _export_to(path: Path, write: Callable[[IO[bytes]], dict]) -> dict:
    """``write`` into ``<path>.partial``, renamed to ``path`` once it ends (done or Ctrl-C, a valid
    file either way): a failed export leaves no file without its trailer, and an earlier file of
    that name as it was."""
    partial = path.with_name(path.name + ".partial")
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(partial, "wb") as out:  # type: ignore[operator]
            counts = write(out)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    os.replace(partial, path)
    return counts


def _export_file(args: Any) -> int:
    path = Path(args.out) if args.out else None
    with Interrupt() as interrupt:
        reading = _Reading(Progress("export", None, "msg"), interrupt)
        try:
            if path is None and not args.checkpoint_out:
                raise ReplayError("give --out FILE (the events) and/or --checkpoint-out FILE (the live checkpoint)")
            definitions = load_stream_definitions(Path(args.streams_dir))
            from_ms, to_ms = _range_ms(args)
            export: Callable[..., Any] = _export
            if getattr(args, "source", "nats") == "kafka":
                from processor.replay.kafka_input import export_from_kafka as export

                _check_kafka_args(args, "--checkpoint-out")
            else:
                _wanted_streams(args, definitions, None)  # a bad --streams before the file is opened
            if path is None:
                counts = asyncio.run(export(args, definitions, None, from_ms, to_ms, reading))
            else:
                counts = _export_to(path, lambda out: asyncio.run(export(args, definitions, out, from_ms, to_ms, reading)))
        except (ProcessorError, ValueError, OSError) as exc:
            return _fail(reading, f"slo export: {exc}")
        finally:
            reading.progress.close()
    print(orjson.dumps({"out": None if path is None else str(path), "checkpoint_out": args.checkpoint_out,
                        "messages": counts, "interrupted": reading.stopped,
                        **({"stopped_at": reading.stopped_at} if reading.stopped else {})}).decode(), file=sys.stderr)
    note = (empty_range_note("export", from_ms, to_ms, sum(counts.values()), getattr(args, "source", "nats") == "kafka")
            if path is not None else None)
    if note and not reading.stopped:
        print(note, file=sys.stderr)
    if reading.stopped:
        print(f"slo export: interrupted: {path} holds whole lines up to where each stream stopped and ends with a "
              "trailer saying so (\"interrupted\": true)", file=sys.stderr)
        return INTERRUPTED_EXIT
    return 0
