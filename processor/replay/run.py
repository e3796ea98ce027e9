"""History through the same engines as ``slo run``: one engine per stream (``runtime/topology``),
the same ``Engine.ingest``, the same rendering of outputs into messages (``runtime/outbox``).

Where the live run moved time without events (its idle clock), it recorded the move on
``slo.clock.<stream>`` with the last stream sequence applied before it; a replay makes each
recorded move at that same point of the stream, so it ends where the live run did. No wall clock
is read here: a replay of the same messages and moves is the same every time.

A partition of a hot subject (`slo run --partition I/N`, runtime/partitions.py) replays as its
instance ran: its part of the config, each stream's messages narrowed to what its filtered
consumer was delivered, its engines labelled as its own, and the moves its idle clock recorded
(``slo.clock.<stream>.p<I>of<N>``, Partition.tag). Together the N partitions' replays write what
the N instances published.
"""

from __future__ import annotations

__all__ = ["ClockMove", "Replay", "StreamReplay", "clock_move"]

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from processor.bus.jsreply import stream_sequence
from processor.bus.publisher import OutMessage
from processor.config.model import Config
from processor.config.parse import subject_pattern_matches
from processor.engine import Engine, Outputs
from processor.runtime.outbox import render_outputs
from processor.runtime.processor import fallback_ts_ms
from processor.runtime.partitions import Partition
from processor.runtime.topology import BUS_LANE, consumer_filter, partition_config

# (the stream sequence it came after, the boundary closed through, epoch ms)
ClockMove = tuple[int, int]


def clock_move(data: bytes) -> tuple[str, str | None, ClockMove]:
    """The stream, the partition tag (``p0of2``; None: an unpartitioned instance's) and the move of
    a ``slo.clock.<stream>`` message (runtime/render.clock_message)."""
    body = orjson.loads(data)
    partition = body.get("partition")
    return (str(body["stream"]), None if partition is None else str(partition),
            (int(body["afterSeq"]), int(body["closedThroughMs"])))


def _seq(msg: Any) -> int:
    seq = getattr(msg, "seq", None)
    return seq if seq is not None else stream_sequence(msg.reply)


@dataclass
class StreamTally:
    """What a replay did with one stream."""

    messages: int = 0
    accepted: int = 0
    ignored: int = 0
    rejected: Counter = field(default_factory=Counter)  # reason -> messages
    moves: int = 0
    first_seq: int | None = None
    last_seq: int | None = None


class StreamReplay:
    """One stream's engine fed its messages in order, with the recorded time moves in between."""

    def __init__(self, stream: str, engine: Engine, moves: Iterable[ClockMove], emit: Callable[[list[OutMessage]], None],
                 runbook_base_url: str) -> None:
        self.stream = stream
        self.engine = engine
        self._moves = sorted(set(moves))
        self._next_move = 0
        self._emit = emit
        self._runbook_base_url = runbook_base_url
        self.tally = StreamTally()
        # The sequence a checkpoint left this stream at (restore()); None: it started empty.
        self.resumed_after: int | None = None
        # The first sequence past the range's --to (ends_before()); None: the range has no end.
        self._beyond_seq: int | None = None
        # Engine.ingest's decode: a backtest feeding two engines decodes each message once.
        self.decode: Callable[[bytes], Any] | None = None

    def restore(self, seq: int, snapshot: dict) -> list[str]:
        """Start from a checkpoint's state of this stream (its engine snapshot with the last
        sequence it holds) instead of empty: the recorded moves it already holds are dropped.
        Returns the engine's notes on state the config no longer has a place for."""
        notes = self.engine.restore(snapshot)
        self.resumed_after = seq
        closed_ms = self.engine.closed_until_ms
        self._moves = [m for m in self._moves
                       if m[0] > seq or (m[0] == seq and (closed_ms is None or m[1] > closed_ms))]
        self._next_move = 0
        return notes

    def state(self) -> tuple[int, dict] | None:
        """(the last sequence applied, the engine snapshot), as a checkpoint stores it; None for a
        stream that neither read a message nor started from a checkpoint."""
        seq = self.tally.last_seq if self.tally.last_seq is not None else self.resumed_after
        return None if seq is None else (seq, self.engine.snapshot())

    def feed(self, msgs: Sequence[Any]) -> None:
        """Apply a batch (stream order), making each recorded move before the first message
        that came after it."""
        if not msgs:
            return
        tally = self.tally
        if tally.first_seq is None:
            tally.first_seq = _seq(msgs[0])
        last_seq = _seq(msgs[-1])
        start = 0
        moves = self._moves
        while self._next_move < len(moves) and moves[self._next_move][0] < last_seq:
            after_seq, closed_ms = moves[self._next_move]
            split = self._first_after(msgs, start, after_seq)
            if split > start:
                self._ingest(msgs[start:split])
            self._move(closed_ms)
            start = split
        if start < len(msgs):
            self._ingest(msgs[start:])
        tally.last_seq = last_seq

    def ends_before(self, seq: int) -> None:
        """The range ends before sequence ``seq``, the stream's first message stored after ``--to``:
        a move recorded after it, or after a later message, is not this range's. A ``--to`` by
        stored time admits moves by their closed-through time, and with events stored long after
        their event time (``slo simulate --fast`` into a live run) that lets in moves the live run
        made after messages past it: made here, they would carry this replay's time past events
        that a chained replay then reads late."""
        if self._beyond_seq is None or seq < self._beyond_seq:
            self._beyond_seq = seq

    def finish(self) -> None:
        """The moves recorded after the last message of the range (and before the first past it)."""
        moves, beyond = self._moves, self._beyond_seq
        while self._next_move < len(moves) and (beyond is None or moves[self._next_move][0] < beyond):
            self._move(moves[self._next_move][1])

    @staticmethod
    def _first_after(msgs: Sequence[Any], lo: int, after_seq: int) -> int:
        hi = len(msgs)
        while lo < hi:
            mid = (lo + hi) // 2
            if _seq(msgs[mid]) <= after_seq:
                lo = mid + 1
            else:
                hi = mid
        return lo

    def _ingest(self, msgs: Sequence[Any]) -> None:
        out = self.engine.ingest(msgs, self.decode)
        tally = self.tally
        tally.messages += len(msgs)
        tally.accepted += out.accepted
        tally.ignored += out.ignored
        tally.rejected.update(r.reason for r in out.rejections)
        self._render(msgs, out)

    def _move(self, closed_ms: int) -> None:
        self._next_move += 1
        self.tally.moves += 1
        self._render((), self.engine.advance_idle(closed_ms))

    def _render(self, msgs: Sequence[Any], out: Outputs) -> None:
        messages = render_outputs(self.stream, msgs, out, None, self._runbook_base_url)
        if messages:
            self._emit(messages)


class Replay:
    """Every stream's engine of a config, as ``slo run`` builds them (the bus monitor's lane
    measures the live bus and has nothing to replay); with ``partition``, as `slo run --partition`
    builds them from its part of the config (``split_config``): each engine is fed only the
    messages its instance's filtered consumer is delivered; ``by_slis``: as a sidecar's consumers
    (`slo run --services`, `--partition rest`) deliver, only its SLIs' subjects."""

    def __init__(self, config: Config, definitions: Sequence[dict], emit: Callable[[list[OutMessage]], None],
                 moves: dict[str, list[ClockMove]] | None = None, streams: Sequence[str] | None = None,
                 partition: Partition | None = None, by_slis: bool = False) -> None:
        parts, self.orphans = partition_config(config, definitions, partition)
        parts.pop(BUS_LANE, None)
        moves = moves or {}
        self._emit, self._runbook_base_url = emit, config.defaults.runbook_base_url
        self.streams: dict[str, StreamReplay] = {}
        self._delivered: dict[str, list[str]] = {}  # stream -> its partition's filter subjects
        for name, part in parts.items():
            if streams is not None and name not in streams:
                continue
            label = name if partition is None else partition.label(name)
            engine = Engine(part, fallback_ts_ms=fallback_ts_ms, stream=label)
            self.streams[name] = StreamReplay(name, engine, moves.get(name, ()), emit,
                                              config.defaults.runbook_base_url)
            delivered = consumer_filter(name, part, definitions, partition, by_slis)
            if delivered is not None:
                self._delivered[name] = delivered

    def add_stream(self, name: str, part: Config, moves: Iterable[ClockMove] = ()) -> StreamReplay:
        """A lane with a part of its own, beside those of the streams: a Kafka topic-partition's
        (kafka/parts.topic_part), as ``slo run --source kafka`` gives each one an engine."""
        engine = Engine(part, fallback_ts_ms=fallback_ts_ms, stream=name)
        lane = self.streams[name] = StreamReplay(name, engine, moves, self._emit, self._runbook_base_url)
        return lane

    def feed(self, stream: str, msgs: Sequence[Any]) -> None:
        lane = self.streams.get(stream)
        if lane is None:
            return
        subjects = self._delivered.get(stream)
        if subjects is not None:
            msgs = [m for m in msgs if any(subject_pattern_matches(s, m.subject) for s in subjects)]
        lane.feed(msgs)

    def ends_before(self, stream: str, seq: int) -> None:
        """``StreamReplay.ends_before`` of ``stream``'s lane (none: nothing to do)."""
        lane = self.streams.get(stream)
        if lane is not None:
            lane.ends_before(seq)

    def finish(self) -> None:
        for lane in self.streams.values():
            lane.finish()

    def checkpoint(self) -> dict[str, tuple[int, dict]]:
        """Every stream's (last sequence, engine snapshot): ``bus/checkpoint.encode_checkpoint``
        stores it as ``slo run`` does, so a replay can start where another ended."""
        return {name: state for name, lane in self.streams.items() if (state := lane.state()) is not None}
