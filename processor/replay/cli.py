"""``slo replay``: history from the streams (or an export file) through the same engines as
``slo run``; what ``slo export`` (replay/export.py) shares with it: the range, the streams, the bus. Handlers return the exit code: 0 done, 1 a bad argument (one line on
stderr; a config that does not validate prints its problems as ``slo validate`` does), 130 stopped
by Ctrl-C with everything written so far kept (progress.py)."""

from __future__ import annotations

__all__ = ["empty_range_note", "ends_at", "open_bus", "parse_moment", "replay_from_args"]

import asyncio
import contextlib
import os
import sys
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import orjson
import structlog

from processor.bus.checkpoint import CheckpointStore, StreamStates, decode_checkpoint, encode_checkpoint
from processor.bus.connect import connect
from processor.bus.embedded import EmbeddedServer, running_server_url
from processor.bus.history import StreamRange, first_seq_after, read_history, stream_range
from processor.bus.streams import load_stream_definitions
from processor.config.model import Config
from processor.config.parse import parse_duration_ms
from processor.bus.jsreply import js_timestamp_ms, stream_sequence
from processor.errors import ConfigError, ProcessorError
from processor.replay.progress import INTERRUPTED_EXIT, Interrupt, Progress
from processor.replay.moves import HISTORY_BATCH, header_moves
from processor.replay.moves import clock_moves as _clock_moves
from processor.replay.run import Replay
from processor.replay.sinks import SUMMARY_FILE, NdjsonSink, PublishSink, check_publish_prefix
from processor.replay.stored import StoredMsg, read_export
from processor.replay.windows import partial_windows
from processor.runtime.logs import warnings_on_stderr
from processor.runtime.partitions import Partition, Rest, partition_instance, share_config, share_from_args
from processor.runtime.render import rfc3339_ms
from processor.runtime.serve import connect_options
from processor.runtime.topology import BUS_LANE, partition_config
from processor.vocabulary import SLO_STREAM

_FEED_BATCH = 1000
CHECKPOINT_FILE = "checkpoint.bin"


class ReplayError(ProcessorError):
    """A replay or export that cannot start: says what to change."""


def parse_moment(text: str, now_ms: int, flag: str = "--from") -> int:
    """``--from``/``--to``: an RFC 3339 time with a zone, ``now``, or ``now-<duration>`` (``now-1h``)."""
    from processor.simulate.cli import parse_start

    cleaned = text.strip().lower()
    try:
        return now_ms - parse_duration_ms(cleaned[4:]) if cleaned.startswith("now-") else parse_start(text, now_ms)
    except (ValueError, TypeError, ProcessorError):
        raise ValueError(f"{flag} {text}: expected an RFC 3339 time with a zone (2026-01-05T14:00:00Z), now, or "
                         "now-<duration> such as now-1h") from None


def _range_ms(args: Any) -> tuple[int | None, int | None]:
    now_ms = time.time_ns() // 1_000_000
    from_ms = parse_moment(args.from_, now_ms) if args.from_ else None
    to_ms = parse_moment(args.to, now_ms, "--to") if args.to else None
    if from_ms is not None and to_ms is not None and to_ms <= from_ms:
        raise ReplayError(f"--to {args.to} is not after --from {args.from_}: give a range that ends after it starts")
    return from_ms, to_ms


def _wanted_streams(args: Any, definitions: Sequence[dict], config: Config | None,
                    partition: Partition | None = None) -> list[str]:
    readable = [d["name"] for d in definitions if d["name"] != SLO_STREAM]
    names = readable
    if config is not None:
        parts, _ = partition_config(config, definitions, partition)
        names = [n for n in names if n in parts and n != BUS_LANE]
    if args.streams:
        asked = [s.strip().upper() for s in args.streams.split(",") if s.strip()]
        if SLO_STREAM in asked:
            raise ReplayError(f"--streams: {SLO_STREAM} holds the processor's own outputs, not events: it is not "
                              f"replayed or exported (the time moves a replay needs come with the streams; read the "
                              f"outputs with `slo tail`); the event streams are {', '.join(readable)}")
        unknown = sorted(set(asked) - set(readable))
        if unknown:
            raise ReplayError(f"--streams: no stream {', '.join(unknown)} in {args.streams_dir}/ "
                              f"(there are {', '.join(readable)})")
        unread = [s for s in asked if s not in names]
        if unread:
            whose = "the config" if getattr(args, "partition", None) is None else "this --partition's share of the config"
            raise ReplayError(f"--streams: {whose} reads nothing from {', '.join(unread)} "
                              f"(it reads {', '.join(names) or 'no stream'})")
        names = [n for n in names if n in asked]
    return names


@contextlib.asynccontextmanager
async def open_bus(args: Any) -> AsyncIterator[Any]:
    """A connection to the NATS of ``--nats-url`` (or SLO_NATS_URL/NATS_URL), else to the embedded
    server on ``--store-dir`` (the one ``slo run`` uses): the running one, or one started for the
    occasion."""
    opts = connect_options(args, os.environ)
    embedded = None
    if opts.url is None:
        opts = replace(opts, url=running_server_url(Path(args.store_dir) / "nats"))
    if opts.url is None:
        store = Path(args.store_dir) / "nats"
        if not store.exists():
            # Only replay and backtest take --input: status, tail and export read the streams or nothing.
            or_input = ", or read an export file with --input" if hasattr(args, "input") else ""
            raise ReplayError(f"no --nats-url given and no embedded store at {store}: give --nats-url URL "
                              f"(or run `slo run` first){or_input}")
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



def _check_held(held: StreamRange, from_ms: int | None, after_seq: int | None = None) -> None:
    """A range the stream no longer holds is an error, not a silently shorter replay."""
    if after_seq is not None:
        if after_seq > held.last_seq:
            raise ReplayError(
                f"stream {held.stream}: the checkpoint holds it up to sequence {after_seq} but the stream ends at "
                f"{held.last_seq}: a checkpoint of another stream (was the stream deleted and created again?)")
        if held.last_seq > after_seq and held.first_seq > after_seq + 1:
            raise ReplayError(
                f"stream {held.stream} no longer holds the messages after the checkpoint (sequence {after_seq + 1} on): "
                f"its oldest is sequence {held.first_seq} (max_age {held.max_age_ms // 1000}s); take a newer checkpoint")
        return
    if from_ms is None or held.first_seq <= 1:
        return
    if held.first_ts_ms is None:  # empty now, after holding messages: were any of them in the range?
        if held.max_age_ms and from_ms >= time.time_ns() // 1_000_000 - held.max_age_ms:
            return  # only older messages can have expired; no purge we cannot see is assumed
        raise ReplayError(
            f"stream {held.stream} no longer holds --from {rfc3339_ms(from_ms)}: it holds no message now "
            f"(messages 1 to {held.last_seq} expired or were purged; max_age {held.max_age_ms // 1000}s); start later, or keep "
            "incidents with `slo export` while the stream still holds them")
    if held.first_ts_ms <= from_ms:
        return
    raise ReplayError(
        f"stream {held.stream} no longer holds --from {rfc3339_ms(from_ms)}: its oldest message is from "
        f"{rfc3339_ms(held.first_ts_ms)} (max_age {held.max_age_ms // 1000}s); start later, or keep incidents "
        "with `slo export` while the stream still holds them")


def _stamp_ms(msg: Any) -> int | None:
    stamp = getattr(msg, "ts_ms", None)
    return stamp if stamp is not None else js_timestamp_ms(msg.reply)


class _Reading:
    """Where a replay or an export is: the progress shown, Ctrl-C, where each stream stopped."""

    def __init__(self, progress: Progress, interrupt: Interrupt) -> None:
        self.progress = progress
        self.interrupt = interrupt
        self.events = 0
        self.done = 0
        self._last: dict[str, Any] = {}  # stream -> the last message read
        # The position shown: a replay's event time (its engine's), else the stream time read.
        self.event_time: Callable[[str], int | None] | None = None

    def batch(self, stream: str, msgs: Sequence[Any], done: int | None = None) -> None:
        self.events += len(msgs)
        self.done = self.events if done is None else done
        self._last[stream] = msgs[-1]
        at_ms = self.event_time(stream) if self.event_time is not None else None
        self.progress.update(self.events, self.done, at_ms if at_ms is not None else _stamp_ms(msgs[-1]))

    @property
    def stopped_at(self) -> dict[str, dict[str, Any]]:
        """Each stream's last message read: its sequence and stream time."""
        where = {}
        for stream, last in self._last.items():
            seq = getattr(last, "seq", None)
            at_ms = _stamp_ms(last)
            where[stream] = {"last_seq": seq if seq is not None else stream_sequence(last.reply),
                             "stream_time": None if at_ms is None else rfc3339_ms(at_ms)}
        return where

    @property
    def stopped(self) -> bool:
        return self.interrupt.stopped


async def _read_streams(nc: Any, names: Sequence[str], ranges: dict[str, StreamRange], from_ms: int | None,
                        to_ms: int | None, after: dict[str, int], reading: _Reading,
                        on_batch: Callable[[str, list[Any]], Any]) -> None:
    """Every stream's history in the range (each after its checkpoint sequence, when it has one),
    one batch at a time to ``on_batch``, until done or Ctrl-C."""
    for name in names:
        if reading.stopped:
            return
        async for batch in read_history(nc, name, from_ms=None if name in after else from_ms,
                                        after_seq=after.get(name), to_ms=to_ms, until_seq=ranges[name].last_seq,
                                        batch_size=HISTORY_BATCH):
            result = on_batch(name, batch)
            if asyncio.iscoroutine(result):
                await result
            reading.batch(name, batch)
            if reading.stopped:
                return


async def ends_at(nc: Any, into: Any, ranges: dict[str, StreamRange], to_ms: int | None) -> None:
    """Tell ``into`` (a Replay, a Backtest) where each stream's range ends: at its first message
    stored after ``to_ms`` (``StreamReplay.ends_before``)."""
    if to_ms is None:
        return
    for name, held in ranges.items():
        beyond = await first_seq_after(nc, held, to_ms)
        if beyond is not None:
            into.ends_before(name, beyond)


def _expected_messages(ranges: dict[str, StreamRange], after: dict[str, int]) -> int:
    """At most how many messages the read has (a --from starts somewhere inside)."""
    return sum(max(r.last_seq - max(r.first_seq, after.get(n, 0) + 1) + 1, 0) for n, r in ranges.items())


def _summary(replay: Replay, written: dict[str, int] | int, source: str, from_ms: int | None, to_ms: int | None,
             reading: _Reading, checkpoint: str | None = None) -> dict:
    summary: dict[str, Any] = {
        "source": source,
        "from": None if from_ms is None else rfc3339_ms(from_ms),
        "to": None if to_ms is None else rfc3339_ms(to_ms),
        "from_checkpoint": checkpoint,
        "interrupted": reading.stopped,
        "streams": {},
        "outputs": written,
        "partial_windows": [],
    }
    for name, lane in replay.streams.items():
        t = lane.tally
        engine = lane.engine
        summary["streams"][name] = {
            "messages": t.messages, "accepted": t.accepted, "ignored": t.ignored,
            "rejected": dict(sorted(t.rejected.items())), "time_moves": t.moves,
            "first_seq": t.first_seq, "last_seq": t.last_seq, "resumed_after": lane.resumed_after,
            "event_time": None if engine.max_ts_ms is None else rfc3339_ms(engine.max_ts_ms),
        }
        if reading.stopped:
            summary["streams"][name]["stopped_at"] = reading.stopped_at.get(name)
        first_ms = engine.origin_ms if engine.origin_ms is not None else from_ms
        summary["partial_windows"] += partial_windows(name, engine.config, first_ms, engine.closed_until_ms)
    return summary


def empty_range_note(command: str, from_ms: int | None, to_ms: int | None, messages: int,
                     kafka: bool = False) -> str | None:
    """Why a ranged read found nothing, when it did: --from/--to are easily taken for event time."""
    if messages or (from_ms is None and to_ms is None):
        return None
    asked = " ".join(f"{flag} {rfc3339_ms(ms)}" for flag, ms in (("--from", from_ms), ("--to", to_ms)) if ms is not None)
    stamps = ("the records' Kafka timestamps (the producer's or the broker's)" if kafka else
              "the streams' stored time (JetStream timestamps, the moment each event was published)")
    return (f"slo {command}: no message in {asked}: the range is {stamps}, not the events' own time; with "
            "events published late or in a burst (slo simulate --fast) the two differ")


def _partial_lines(windows: list[dict]) -> list[str]:
    """The windows still partly filled where the replay ended, one line per stream, grouped by
    the time from which they are complete (summary.json lists each)."""
    by_stream: dict[str, dict[tuple[str, str], list[str]]] = {}
    for w in windows:
        if w["partial_at_end"]:
            by_stream.setdefault(w["stream"], {}).setdefault((w["complete_from"], w["window"]), []).append(w["name"])
    lines = []
    for stream, groups in by_stream.items():
        parts = [f"{window} ({len(names)}: {', '.join(names[:3])}{', ...' if len(names) > 3 else ''}) from {since}"
                 for (since, window), names in sorted(groups.items())]
        lines.append(f"{stream}: windows only partly filled (they start before the first data), complete: "
                     + "; ".join(parts))
    return lines


def _sink(args: Any) -> NdjsonSink | PublishSink:
    if args.publish_prefix:
        return PublishSink(args.publish_prefix)
    return NdjsonSink(Path(args.out) if args.out else None)


def _checkpoint_source(text: str, partition: Partition | Rest | None = None) -> tuple[str | None, Path | None]:
    """``kv`` / ``kv:<instance>`` (the KV checkpoint of ``slo run --instance``) or a file; ``kv``
    with ``--partition`` is the partition's own (key ``p<I>of<N>``)."""
    if text == "kv" or text.startswith("kv:"):
        instance = text[3:] or ("default" if partition is None else partition_instance("default", partition))
        return instance, None
    path = Path(text)
    if not path.is_file():
        raise ReplayError(f"--from-checkpoint {text}: no such file (give a checkpoint file, kv, or kv:<instance>)")
    return None, path


async def _kv_checkpoint(nc: Any, instance: str) -> tuple[StreamStates, bytes]:
    raw = await CheckpointStore(nc, key=instance).load()
    if raw is None:
        raise ReplayError(f"no checkpoint of instance {instance!r} in the KV bucket: has `slo run"
                          f"{'' if instance == 'default' else ' --instance ' + instance}` saved one on this bus?")
    return decode_checkpoint(raw), raw


def _event_time(replay: Replay) -> Callable[[str], int | None]:
    def event_time(stream: str) -> int | None:
        lane = replay.streams.get(stream)
        return None if lane is None else lane.engine.max_ts_ms
    return event_time


def _restore(replay: Replay, states: StreamStates) -> dict[str, int]:
    """Each replayed stream the checkpoint holds starts from its state; returns where each resumes."""
    after = {}
    for name, lane in replay.streams.items():
        if name in states:
            seq, snapshot = states[name]
            try:
                notes = lane.restore(seq, snapshot)
            except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
                raise ReplayError(f"--from-checkpoint: the state of stream {name} does not fit this config's "
                                  f"engine: {exc!r}") from exc
            for note in notes:
                structlog.get_logger("slo").warning("replay.checkpoint_dropped_state", stream=name, note=note)
            after[name] = seq
    return after


async def _replay_from_streams(args: Any, config: Config, definitions: list[dict], sink: Any,
                               from_ms: int | None, to_ms: int | None, reading: _Reading,
                               share: Partition | Rest | None = None) -> Replay:
    partition = share if isinstance(share, Partition) else None
    names = _wanted_streams(args, definitions, config, partition)
    async with open_bus(args) as nc:
        states: StreamStates = {}
        if args.from_checkpoint:
            instance, path = _checkpoint_source(args.from_checkpoint, share)
            states = (await _kv_checkpoint(nc, instance))[0] if instance is not None else _file_checkpoint(path)
        ranges = {}
        for name in names:
            ranges[name] = held = await stream_range(nc, name)
            _check_held(held, from_ms, states[name][0] if name in states else None)
        moves = await _clock_moves(nc, names, from_ms, to_ms, None if partition is None else partition.tag)
        replay = Replay(config, definitions, sink, moves=moves, streams=names, partition=partition,
                        by_slis=isinstance(share, Rest))
        await ends_at(nc, replay, ranges, to_ms)
        after = _restore(replay, states)
        reading.progress.total = _expected_messages(ranges, after)
        reading.event_time = _event_time(replay)

        async def feed(name: str, batch: list[Any]) -> None:
            replay.feed(name, batch)
            if isinstance(sink, PublishSink):
                await sink.flush(nc)

        await _read_streams(nc, names, ranges, from_ms, to_ms, after, reading, feed)
        if not reading.stopped:
            replay.finish()
        if isinstance(sink, PublishSink):
            await sink.flush(nc)
    return replay


def _file_checkpoint(path: Path | None) -> StreamStates:
    assert path is not None
    return decode_checkpoint(path.read_bytes())


def _replay_from_file(path: Path, config: Config, definitions: list[dict], sink: Any, args: Any,
                      from_ms: int | None, to_ms: int | None, states: StreamStates, reading: _Reading,
                      share: Partition | Rest | None = None) -> Replay:
    header, messages = read_export(path)
    partition = share if isinstance(share, Partition) else None
    names = _wanted_streams(args, definitions, config, partition)
    moves = header_moves(header, names, from_ms, to_ms, None if partition is None else partition.tag)
    replay = Replay(config, definitions, sink, moves=moves, streams=names,  # type: ignore[arg-type]
                    partition=partition, by_slis=isinstance(share, Rest))
    after = _restore(replay, states)
    reading.progress.total = messages.size
    reading.event_time = _event_time(replay)

    def feed(batch: list[StoredMsg]) -> None:
        replay.feed(batch[0].stream, batch)
        reading.batch(batch[0].stream, batch, messages.bytes_read)

    # A file interleaves its streams (in time order, or stream after stream): each stream's
    # messages are gathered into batches of their own, as a stream read delivers them (batches
    # of a message or two would cost the engine its per-batch work each time).
    pending: dict[str, list[StoredMsg]] = {}
    ended: set[str] = set()
    for msg in messages:
        if to_ms is not None and msg.ts_ms > to_ms:
            if msg.stream not in ended:  # each stream's messages come in sequence order
                ended.add(msg.stream)
                replay.ends_before(msg.stream, msg.seq)
            continue
        if (from_ms is not None and msg.ts_ms < from_ms) or msg.seq <= after.get(msg.stream, 0):
            continue
        batch = pending.get(msg.stream)
        if batch is None:
            batch = pending[msg.stream] = []
        batch.append(msg)
        if len(batch) >= _FEED_BATCH:
            feed(batch)
            pending[msg.stream] = []
            if reading.stopped:
                break
    for batch in pending.values():
        if batch:
            feed(batch)
    if not reading.stopped and messages.end is not None and messages.end.get("interrupted"):
        structlog.get_logger("slo").warning("replay.input_interrupted", input=str(path),
                                            note="the export was stopped before its end", streams=messages.end.get("streams"))
    if not reading.stopped:
        messages.warn_if_cut_short(header, "replay")
        replay.finish()
    return replay


def _load(args: Any) -> tuple[Config, list[dict]]:
    from processor.config.load import load_config

    config = load_config(args.config)
    try:  # a problem of --streams-dir, not of the config the report would otherwise name
        return config, load_stream_definitions(Path(args.streams_dir))
    except ConfigError as exc:
        raise ReplayError(f"--streams-dir: {'; '.join(str(p) for p in exc.problems)}") from None


def _fail(reading: _Reading, message: str) -> int:
    """The error on stderr, below the progress bar if one was drawn; exit code 1."""
    reading.progress.close()
    print(message, file=sys.stderr)
    return 1


def _check_replay_args(args: Any) -> None:
    """What is wrong with the arguments alone, before anything is read."""
    if args.publish_prefix and args.out:
        raise ReplayError("--out and --publish-prefix: choose one place for the outputs")
    if args.publish_prefix:
        check_publish_prefix(args.publish_prefix)
        if args.input:
            raise ReplayError("--publish-prefix needs NATS: replay a file into --out (or stdout) instead")
    if getattr(args, "source", "nats") == "kafka":
        _check_kafka_args(args, "--input", "--publish-prefix", "--from-checkpoint")
    elif getattr(args, "from_offset", None):
        raise ReplayError("--from-offset reads Kafka: give --source kafka (a stream is read --from a time)")
    if args.from_checkpoint and args.from_:
        raise ReplayError("--from and --from-checkpoint: a checkpoint decides where each stream starts (right after "
                          "the sequence it holds); give one of them")
    if args.input and not Path(args.input).is_file():
        raise ReplayError(f"--input {args.input}: no such file")


def _check_kafka_args(args: Any, *other_sources: str) -> None:
    """``--source kafka`` reads Kafka: not with a flag of another source or of NATS."""
    given = [flag for flag in other_sources if getattr(args, flag[2:].replace("-", "_"), None)]
    if given:
        raise ReplayError(f"--source kafka and {given[0]}: Kafka history is read from the topics alone "
                          "(no export file, NATS prefix or NATS checkpoint with it)")


def _partition_part(args: Any, config: Config) -> tuple[Partition | Rest | None, Config]:
    """``--partition I/N`` (or ``rest``) ``--partition-by S``: the share and its part of the config
    (the config and None without them)."""
    share = share_from_args(getattr(args, "partition", None), getattr(args, "partition_by", None),
                            getattr(args, "rest_apart", False))
    if share is None:
        return None, config
    if getattr(args, "source", "nats") == "kafka":
        raise ReplayError("--partition replays a partition of a NATS stream's hot subject: not with --source kafka "
                          "(a Kafka topic-partition is an engine of its own already)")
    return share, share_config(config, share)


def replay_from_args(args: Any) -> int:
    """``slo replay``: the exit code."""
    with warnings_on_stderr():
        return _replay(args)


def _replay(args: Any) -> int:
    replay: Replay | None = None
    share: Partition | Rest | None = None  # --partition: one partition's share (runtime/partitions.py)
    kafka = None  # what a --source kafka read found (replay/kafka_input.py)
    with Interrupt() as interrupt:
        reading = _Reading(Progress("replay", None, "B" if args.input else "msg"), interrupt)
        try:
            _check_replay_args(args)
            from_ms, to_ms = _range_ms(args)
            config, definitions = _load(args)
            share, config = _partition_part(args, config)
            sink = _sink(args)
            if args.input:
                source = args.input
                states: StreamStates = {}
                if args.from_checkpoint:
                    instance, path = _checkpoint_source(args.from_checkpoint, share)
                    states = _file_checkpoint(path) if instance is None else asyncio.run(_kv_states(args, instance))
                replay = _replay_from_file(Path(args.input), config, definitions, sink, args, from_ms, to_ms, states,
                                           reading, share)
            elif args.source == "kafka":
                from processor.replay.kafka_input import replay_from_kafka

                replay, read_from, kafka = asyncio.run(replay_from_kafka(args, config, definitions, sink, from_ms,
                                                                         to_ms, reading))
                source = read_from.describe()
            else:
                source = "streams"
                replay = asyncio.run(_replay_from_streams(args, config, definitions, sink, from_ms, to_ms, reading,
                                                          share))
        except ConfigError as exc:
            return _fail(reading, exc.report(args.config))
        except BrokenPipeError:
            raise  # stdout's reader went away (`| head`): `slo` ends quietly (processor/cli.py)
        except (ProcessorError, ValueError, OSError) as exc:
            return _fail(reading, f"slo replay: {exc}")
        finally:
            reading.progress.close()
    written = sink.written
    if isinstance(sink, NdjsonSink):
        sink.close()
    summary = _summary(replay, written, source, from_ms, to_ms, reading, args.from_checkpoint)
    if share is not None:
        summary["partition"] = share.tag
    if kafka is not None:
        summary["kafka"] = kafka.as_json()
    if args.out:
        out = Path(args.out)
        (out / CHECKPOINT_FILE).write_bytes(encode_checkpoint(replay.checkpoint()))
        summary["checkpoint_out"] = str(out / CHECKPOINT_FILE)
        (out / SUMMARY_FILE).write_bytes(orjson.dumps(summary, option=orjson.OPT_INDENT_2))
    _print_summary(summary, from_ms, to_ms, reading, kafka is not None)
    if reading.stopped:
        print("slo replay: interrupted: the outputs so far are kept; summary says where each stream stopped",
              file=sys.stderr)
        return INTERRUPTED_EXIT
    return 0


def _print_summary(summary: dict, from_ms: int | None, to_ms: int | None, reading: _Reading, kafka: bool) -> None:
    """stderr: the summary as one JSON line (the windows counted), why a range read nothing, and
    the windows still partly filled, a line per stream."""
    windows = summary["partial_windows"]
    print(orjson.dumps({**summary, "partial_windows": len(windows)}).decode(), file=sys.stderr)
    # Every message read, not only those the engines were fed: a partition's share may be none.
    note = empty_range_note("replay", from_ms, to_ms, reading.events, kafka)
    if note and not reading.stopped:
        print(note, file=sys.stderr)
    for line in _partial_lines(windows):
        print(f"slo replay: {line}", file=sys.stderr)


async def _kv_states(args: Any, instance: str) -> StreamStates:
    async with open_bus(args) as nc:
        return (await _kv_checkpoint(nc, instance))[0]
