"""``slo replay`` and ``slo export``: history from the streams (or an export file) through the
same engines as ``slo run``. Handlers return the exit code; every bad argument is one line on
stderr and exit 1."""

from __future__ import annotations

__all__ = ["export_from_args", "parse_moment", "replay_from_args"]

import asyncio
import contextlib
import gzip
import os
import sys
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import IO, Any

import orjson
import structlog

from processor.bus.connect import connect
from processor.bus.embedded import EmbeddedServer
from processor.bus.history import StreamRange, read_history, stream_range
from processor.bus.streams import load_stream_definitions
from processor.config.model import Config
from processor.config.parse import parse_duration_ms
from processor.errors import ProcessorError
from processor.replay.run import ClockMove, Replay, clock_move
from processor.replay.sinks import NdjsonSink, PublishSink, check_publish_prefix
from processor.replay.stored import EXPORT_FORMAT, StoredMsg, from_delivery, message_line, read_export
from processor.runtime.render import rfc3339_ms
from processor.runtime.serve import connect_options
from processor.runtime.topology import BUS_LANE, partition_config
from processor.vocabulary import OUTPUT_SUBJECT_PREFIXES

SLO_STREAM = "SLO"
_CLOCK = OUTPUT_SUBJECT_PREFIXES["clock"]
_FEED_BATCH = 1000


class ReplayError(ProcessorError):
    """A replay or export that cannot start: says what to change."""


def parse_moment(text: str, now_ms: int) -> int:
    """``--from``/``--to``: an RFC 3339 time with a zone, ``now``, or ``now-<duration>`` (``now-1h``)."""
    from processor.simulate.cli import parse_start

    cleaned = text.strip().lower()
    if cleaned.startswith("now-"):
        try:
            return now_ms - parse_duration_ms(cleaned[4:])
        except (ValueError, TypeError, ProcessorError):
            raise ValueError(f"expected now-<duration> such as now-1h, got {text!r}") from None
    return parse_start(text, now_ms)


def _range_ms(args: Any) -> tuple[int | None, int | None]:
    now_ms = time.time_ns() // 1_000_000
    from_ms = parse_moment(args.from_, now_ms) if args.from_ else None
    to_ms = parse_moment(args.to, now_ms) if args.to else None
    if from_ms is not None and to_ms is not None and to_ms <= from_ms:
        raise ReplayError(f"--to {args.to} is not after --from {args.from_}: give a range that ends after it starts")
    return from_ms, to_ms


def _wanted_streams(args: Any, definitions: Sequence[dict], config: Config | None) -> list[str]:
    names = [d["name"] for d in definitions if d["name"] != SLO_STREAM]
    if config is not None:
        parts, _ = partition_config(config, definitions)
        names = [n for n in names if n in parts and n != BUS_LANE]
    if args.streams:
        asked = [s.strip().upper() for s in args.streams.split(",") if s.strip()]
        unknown = sorted(set(asked) - {d["name"] for d in definitions})
        if unknown:
            raise ReplayError(f"--streams: no stream {', '.join(unknown)} in {args.streams_dir}/ "
                              f"(there are {', '.join(d['name'] for d in definitions)})")
        names = [n for n in names if n in asked]
    return names


@contextlib.asynccontextmanager
async def _bus(args: Any) -> AsyncIterator[Any]:
    """A connection to the NATS of ``--nats-url`` (or SLO_NATS_URL/NATS_URL), else to the embedded
    server on ``--store-dir`` (the one ``slo run`` uses), started for the occasion."""
    opts = connect_options(args, os.environ)
    embedded = None
    if opts.url is None:
        store = Path(args.store_dir) / "nats"
        if not store.exists():
            raise ReplayError(f"no --nats-url given and no embedded store at {store}: give --nats-url URL "
                              "(or run `slo run` first), or replay an export file with --input")
        embedded = EmbeddedServer(store)
        opts = replace(opts, url=await embedded.start())
    try:
        nc = await connect(opts)
        try:
            yield nc
        finally:
            with contextlib.suppress(Exception):
                await nc.close()
    finally:
        if embedded is not None:
            await embedded.stop()


def _check_held(held: StreamRange, from_ms: int | None) -> None:
    """A range the stream no longer holds is an error, not a silently shorter replay."""
    if from_ms is None or held.first_seq <= 1 or held.first_ts_ms is None or held.first_ts_ms <= from_ms:
        return
    raise ReplayError(
        f"stream {held.stream} no longer holds --from {rfc3339_ms(from_ms)}: its oldest message is from "
        f"{rfc3339_ms(held.first_ts_ms)} (max_age {held.max_age_ms // 1000}s); start later, or keep incidents "
        "with `slo export` while the stream still holds them")


async def _clock_moves(nc: Any, streams: Sequence[str], from_ms: int | None, to_ms: int | None) -> dict[str, list[ClockMove]]:
    """The live run's recorded time moves of each stream within the range."""
    moves: dict[str, list[ClockMove]] = {s: [] for s in streams}
    try:
        held = await stream_range(nc, SLO_STREAM)
    except ProcessorError:
        return moves  # no SLO stream: a bus no processor ran on moved no time
    if not held.last_seq:
        return moves
    async for batch in read_history(nc, SLO_STREAM, filter_subject=f"{_CLOCK}.>", until_seq=held.last_seq):
        for msg in batch:
            try:
                stream, move = clock_move(msg.data)
            except (ValueError, KeyError, TypeError):
                structlog.get_logger("slo").warning("replay.clock_unreadable", subject=msg.subject)
                continue
            if stream in moves and (from_ms is None or move[1] >= from_ms) and (to_ms is None or move[1] <= to_ms):
                moves[stream].append(move)
    return moves


def _summary(replay: Replay, written: dict[str, int] | int, source: str, from_ms: int | None, to_ms: int | None) -> dict:
    return {
        "source": source,
        "from": None if from_ms is None else rfc3339_ms(from_ms),
        "to": None if to_ms is None else rfc3339_ms(to_ms),
        "streams": {
            name: {"messages": t.messages, "accepted": t.accepted, "ignored": t.ignored,
                   "rejected": dict(sorted(t.rejected.items())), "time_moves": t.moves,
                   "first_seq": t.first_seq, "last_seq": t.last_seq}
            for name, lane in replay.streams.items() for t in [lane.tally]
        },
        "outputs": written,
    }


def _sink(args: Any) -> NdjsonSink | PublishSink:
    if args.publish_prefix:
        return PublishSink(args.publish_prefix)
    return NdjsonSink(Path(args.out) if args.out else None)


async def _replay_from_streams(args: Any, config: Config, definitions: list[dict], sink: Any,
                               from_ms: int | None, to_ms: int | None) -> Replay:
    async with _bus(args) as nc:
        names = _wanted_streams(args, definitions, config)
        ranges = {}
        for name in names:
            ranges[name] = held = await stream_range(nc, name)
            _check_held(held, from_ms)
        moves = await _clock_moves(nc, names, from_ms, to_ms)
        replay = Replay(config, definitions, sink, moves=moves, streams=names)
        for name in names:
            async for batch in read_history(nc, name, from_ms=from_ms, to_ms=to_ms, until_seq=ranges[name].last_seq):
                replay.feed(name, batch)
                if isinstance(sink, PublishSink):
                    await sink.flush(nc)
        replay.finish()
        if isinstance(sink, PublishSink):
            await sink.flush(nc)
    return replay


def _replay_from_file(path: Path, config: Config, definitions: list[dict], sink: Any, args: Any,
                      from_ms: int | None, to_ms: int | None) -> Replay:
    header, messages = read_export(path)
    names = _wanted_streams(args, definitions, config)
    moves = {s: [tuple(m) for m in header.get("clock_moves", {}).get(s, [])
                 if (from_ms is None or m[1] >= from_ms) and (to_ms is None or m[1] <= to_ms)] for s in names}
    replay = Replay(config, definitions, sink, moves=moves, streams=names)  # type: ignore[arg-type]
    batch: list[StoredMsg] = []
    for msg in messages:
        if (from_ms is not None and msg.ts_ms < from_ms) or (to_ms is not None and msg.ts_ms > to_ms):
            continue
        if batch and (msg.stream != batch[0].stream or len(batch) >= _FEED_BATCH):
            replay.feed(batch[0].stream, batch)
            batch = []
        batch.append(msg)
    if batch:
        replay.feed(batch[0].stream, batch)
    replay.finish()
    return replay


def _load(args: Any) -> tuple[Config, list[dict]]:
    from processor.config.load import load_config

    return load_config(args.config), load_stream_definitions(Path(args.streams_dir))


def replay_from_args(args: Any) -> int:
    """``slo replay``: the exit code."""
    try:
        config, definitions = _load(args)
        from_ms, to_ms = _range_ms(args)
        if args.publish_prefix and args.out:
            raise ReplayError("--out and --publish-prefix: choose one place for the outputs")
        sink = _sink(args)
        if args.input:
            source = args.input
            if args.publish_prefix:
                raise ReplayError("--publish-prefix needs NATS: replay a file into --out (or stdout) instead")
            replay = _replay_from_file(Path(args.input), config, definitions, sink, args, from_ms, to_ms)
        else:
            source = "streams"
            replay = asyncio.run(_replay_from_streams(args, config, definitions, sink, from_ms, to_ms))
    except (ProcessorError, ValueError, OSError) as exc:
        print(f"slo replay: {exc}", file=sys.stderr)
        return 1
    written = sink.written
    if isinstance(sink, NdjsonSink):
        sink.close()
    summary = _summary(replay, written, source, from_ms, to_ms)
    if args.out:
        (Path(args.out) / "summary.json").write_bytes(orjson.dumps(summary, option=orjson.OPT_INDENT_2))
    print(orjson.dumps(summary).decode(), file=sys.stderr)
    return 0


async def _export(args: Any, definitions: list[dict], out: IO[bytes], from_ms: int | None, to_ms: int | None) -> dict:
    async with _bus(args) as nc:
        names = _wanted_streams(args, definitions, None)
        ranges = {}
        for name in names:
            ranges[name] = held = await stream_range(nc, name)
            _check_held(held, from_ms)
        moves = await _clock_moves(nc, names, from_ms, to_ms)
        header = {"slo_export": EXPORT_FORMAT, "from_ms": from_ms, "to_ms": to_ms,
                  "streams": {n: {"last_seq": r.last_seq} for n, r in ranges.items()},
                  "clock_moves": {n: sorted(m) for n, m in moves.items() if m}}
        out.write(orjson.dumps(header) + b"\n")
        counts = {}
        for name in names:
            counts[name] = 0
            async for batch in read_history(nc, name, from_ms=from_ms, to_ms=to_ms, until_seq=ranges[name].last_seq):
                out.write(b"".join(message_line(from_delivery(name, m)) for m in batch))
                counts[name] += len(batch)
    return counts


def export_from_args(args: Any) -> int:
    """``slo export``: the exit code."""
    structlog.get_logger("slo")
    path = Path(args.out)
    try:
        definitions = load_stream_definitions(Path(args.streams_dir))
        from_ms, to_ms = _range_ms(args)
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "wb") as out:  # type: ignore[operator]
            counts = asyncio.run(_export(args, definitions, out, from_ms, to_ms))
    except (ProcessorError, ValueError, OSError) as exc:
        print(f"slo export: {exc}", file=sys.stderr)
        return 1
    print(orjson.dumps({"out": str(path), "messages": counts}).decode(), file=sys.stderr)
    return 0
