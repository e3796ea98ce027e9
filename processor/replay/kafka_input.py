"""``--source kafka`` for ``slo replay``, ``slo backtest`` and ``slo export``: history from Kafka
topics instead of JetStream streams (docs/kafka-outputs.md).

``kafka/history.read_topics`` gives the records in the range, merged in timestamp order; here each
becomes the ``StoredMsg`` a stream read would give: its subject from the topic's mapping
(``kafka/subjects.SubjectMap``, config ``kafka.topics``), its stream the one of ``streams/`` that
holds that subject (the engine that ``slo run`` gives it), its stream timestamp the record
timestamp, its sequence its place in that stream's read (1, 2, ...: what a dead letter's id and
``Slo-Stream-Seq`` name). A record whose subject cannot be derived, or that no stream holds, is
counted and left out (``slo run --source kafka`` dead-letters the first kind).

No time moves are replayed: the live run's idle-clock moves (``slo.clock.<stream>``) are recorded
against JetStream sequences, which Kafka records do not have.
"""

from __future__ import annotations

__all__ = ["KafkaHistory", "KafkaTally", "backtest_from_kafka", "export_from_kafka", "kafka_history", "read_kafka",
           "replay_from_kafka"]

import contextlib
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import structlog

from processor.config.model import Config
from processor.config.kafka import parse_brokers
from processor.config.parse import subject_pattern_matches
from processor.kafka.history import HistoryRecord, PartitionRange, parse_offsets, read_topics
from processor.kafka.subjects import SubjectMap, Unmapped
from processor.errors import ProcessorError
from processor.replay.stored import StoredMsg
from processor.runtime.topology import stream_subjects

_FEED_BATCH = 1000


@dataclass(frozen=True)
class KafkaHistory:
    """Where ``--source kafka`` reads: the brokers, the topics with their subject mapping, and
    ``--from-offset`` (``kafka/history.parse_offsets``)."""

    brokers: tuple[str, ...]
    subjects: SubjectMap
    from_offsets: dict[tuple[str, int] | None, int] = field(default_factory=dict)

    @property
    def topics(self) -> list[str]:
        return list(self.subjects.topics)

    def describe(self) -> str:
        return f"kafka:{','.join(self.brokers)}/{','.join(self.topics)}"


def kafka_history(args: Any, config: Config | None) -> KafkaHistory:
    """``--kafka-brokers`` and ``--topics`` over the config's ``kafka:`` section; a missing one
    is an error saying where to give it."""
    kafka = config.kafka if config is not None else None
    if args.kafka_brokers:
        brokers, problems = parse_brokers(args.kafka_brokers)
        if problems:
            raise ProcessorError(f"--kafka-brokers: {problems[0]}")
    else:
        brokers = kafka.brokers if kafka is not None else ()
    if not brokers:
        raise ProcessorError("--source kafka: give --kafka-brokers host:9092[,…] (or kafka.brokers in the config)")
    names = [t.strip() for t in (args.topics or "").split(",") if t.strip()]
    subjects = SubjectMap.from_config(kafka, names)
    if not subjects.topics:
        raise ProcessorError("--source kafka: give --topics market,trade,… (or kafka.topics in the config)")
    offsets = parse_offsets(args.from_offset) if getattr(args, "from_offset", None) else {}
    return KafkaHistory(tuple(brokers), subjects, offsets)


@dataclass
class KafkaTally:
    """What the read found: records per topic, and those left out with why."""

    records: Counter = field(default_factory=Counter)  # topic -> records read
    unmapped: Counter = field(default_factory=Counter)  # reason -> records without a subject
    no_stream: Counter = field(default_factory=Counter)  # subject -> records no stream holds
    ranges: list[PartitionRange] = field(default_factory=list)

    def as_json(self) -> dict:
        return {"records": dict(self.records), "unmapped": dict(self.unmapped),
                "no_stream": sum(self.no_stream.values()),
                "partitions": {f"{r.topic}:{r.partition}": {"from_offset": r.start, "to_offset": r.stop}
                               for r in self.ranges}}

    def log(self) -> None:
        if self.unmapped or self.no_stream:
            structlog.get_logger("slo").warning(
                "replay.kafka_records_left_out", unmapped=dict(self.unmapped),
                no_stream=dict(self.no_stream.most_common(5)),
                hint="records without a subject (kafka.topics mapping) or on a subject no stream of streams/ holds")


class _Router:
    """subject -> the stream that holds it (None: no stream of ``names``), cached per subject."""

    def __init__(self, definitions: Sequence[dict], names: Sequence[str]) -> None:
        self._defs = [(d["name"], stream_subjects(d)) for d in definitions if d["name"] in names]
        self._cache: dict[str, str | None] = {}

    def __call__(self, subject: str) -> str | None:
        try:
            return self._cache[subject]
        except KeyError:
            home = next((n for n, pats in self._defs if any(subject_pattern_matches(p, subject) for p in pats)), None)
            self._cache[subject] = home
            return home


# (topic, partition) -> the lane (engine) that reads it, None if none does: ``--kafka-engines partition``.
LaneOf = Callable[[str, int], str | None]


async def read_kafka(source: KafkaHistory, definitions: Sequence[dict], names: Sequence[str],
                     from_ms: int | None, to_ms: int | None,
                     on_batch: Callable[[str, list[StoredMsg]], Awaitable[None] | None],
                     stopped: Callable[[], bool] = lambda: False, tally: KafkaTally | None = None,
                     lane_of: LaneOf | None = None) -> KafkaTally:
    """The topics' records in the range as each stream's messages, in batches of one stream to
    ``on_batch`` (each stream's in timestamp order), until done or ``stopped()``. ``tally``: the
    one to count into (its ``ranges`` are there from the first batch on: the progress' total).
    ``lane_of``: each topic-partition is a stream of its own (``slo run --source kafka``'s lanes),
    its messages numbered by their offsets, instead of the streams of ``names``."""
    tally = tally if tally is not None else KafkaTally()
    route = _Router(definitions, names) if lane_of is None else _ByPartition(lane_of)
    seqs: Counter = Counter()
    pending: dict[str, list[StoredMsg]] = {}

    async def flush(stream: str) -> None:
        batch = pending.pop(stream, None)
        if batch:
            result = on_batch(stream, batch)
            if result is not None:
                await result

    reader = read_topics(source.brokers, source.topics, from_ms=from_ms, to_ms=to_ms,
                         from_offsets=source.from_offsets, ranges_out=tally.ranges)
    async with contextlib.aclosing(reader):  # a stop closes the consumer now, not at garbage collection
        async for records in reader:
            for rec in records:
                msg = _stored(rec, source.subjects, route, seqs, tally)
                if msg is None:
                    continue
                batch = pending.setdefault(msg.stream, [])
                batch.append(msg)
                if len(batch) >= _FEED_BATCH:
                    await flush(msg.stream)
            if stopped():
                break
    for stream in list(pending):
        await flush(stream)
    tally.log()
    return tally


class _ByPartition:
    """The lane of a record's topic-partition, whatever its subject."""

    def __init__(self, lane_of: LaneOf) -> None:
        self.lane_of = lane_of
        self._cache: dict[tuple[str, int], str | None] = {}

    def __call__(self, rec: HistoryRecord) -> str | None:
        key = (rec.topic, rec.partition)
        if key not in self._cache:
            self._cache[key] = self.lane_of(*key)
        return self._cache[key]


def _stored(rec: HistoryRecord, subjects: SubjectMap, route: _Router | _ByPartition, seqs: Counter,
            tally: KafkaTally) -> StoredMsg | None:
    tally.records[rec.topic] += 1
    subject = subjects.subject(rec.topic, rec.key, rec.value)
    if isinstance(subject, Unmapped):
        tally.unmapped[subject.reason] += 1
        return None
    headers = {k: v.decode("utf-8", "replace") for k, v in rec.headers} if rec.headers else None
    if isinstance(route, _ByPartition):
        lane = route(rec)
        if lane is None:
            tally.no_stream[subject] += 1
            return None
        return StoredMsg(lane, rec.offset, rec.ts_ms, subject, rec.value, headers)  # as the live lane's after_seq
    stream = route(subject)
    if stream is None:
        tally.no_stream[subject] += 1
        return None
    seqs[stream] += 1
    return StoredMsg(stream, seqs[stream], rec.ts_ms, subject, rec.value, headers)


def partition_lanes(replays: Sequence[Any], configs: Sequence[Config], subjects: SubjectMap,
                    decode: Any = None) -> LaneOf:
    """``lane_of`` for ``read_kafka`` that gives each topic-partition a lane in every replay (a
    backtest has two), each over its config's part for the topic as ``slo run --source kafka``
    builds them (kafka/parts.py); None for a topic no SLI of the first config reads."""
    from processor.kafka.parts import lane_name, topic_part

    def lane_of(topic: str, partition: int) -> str | None:
        cfg = subjects.topics.get(topic)
        parts = [topic_part(config, cfg) if cfg is not None else None for config in configs]
        if parts[0] is None:
            return None
        name = lane_name(topic, partition)
        for replay, part in zip(replays, parts, strict=True):
            lane = replay.add_stream(name, part if part is not None else parts[0])
            lane.decode = decode
        return name

    return lane_of


def _no_streams(args: Any) -> list[str]:
    """Engines by topic-partition read no streams: a --streams would be silently ignored."""
    if getattr(args, "streams", None):
        from processor.replay.cli import ReplayError

        raise ReplayError("--streams with --kafka-engines partition: each topic-partition has an engine, there are "
                          "no streams to pick; choose what is read with --topics (or give --kafka-engines stream)")
    return []


# ---- the three commands' reads (replay/cli.py, export.py and backtest_cli.py call these for --source kafka) ----

async def replay_from_kafka(args: Any, config: Config, definitions: list[dict], sink: Any, from_ms: int | None,
                            to_ms: int | None, reading: Any) -> tuple[Any, KafkaHistory, KafkaTally]:
    """``slo replay --source kafka``: (the Replay, where it read, what it read)."""
    from processor.replay.cli import _event_time, _wanted_streams
    from processor.replay.run import Replay

    source = kafka_history(args, config)
    by_partition = getattr(args, "kafka_engines", "partition") == "partition"
    names = _no_streams(args) if by_partition else _wanted_streams(args, definitions, config)
    replay = Replay(config, definitions, sink, moves={}, streams=names)
    lane_of = partition_lanes([replay], [config], source.subjects) if by_partition else None
    reading.event_time = _event_time(replay)
    tally = KafkaTally()

    def feed(stream: str, batch: list[StoredMsg]) -> None:
        if reading.progress.total is None:
            reading.progress.total = sum(r.records for r in tally.ranges)
        replay.feed(stream, batch)
        reading.batch(stream, batch)

    await read_kafka(source, definitions, names, from_ms, to_ms, feed, lambda: reading.stopped, tally, lane_of)
    if not reading.stopped:
        replay.finish()
    return replay, source, tally


async def backtest_from_kafka(args: Any, make: Callable[[dict, list[str]], Any], definitions: list[dict],
                              from_ms: int | None, to_ms: int | None, baseline: Config) -> Any:
    """``slo backtest --source kafka``: the Backtest fed the topics' records (no recorded moves);
    the brokers and topics default to the baseline config's ``kafka:`` section."""
    from processor.replay.cli import _wanted_streams

    source = kafka_history(args, baseline)
    by_partition = getattr(args, "kafka_engines", "partition") == "partition"
    names = _no_streams(args) if by_partition else _wanted_streams(args, definitions, None)
    run = make({}, names)
    lane_of = None
    if by_partition:
        lane_of = partition_lanes([side.replay for side in run.sides], [side.config for side in run.sides],
                                  source.subjects, run.decode)
    await read_kafka(source, definitions, names, from_ms, to_ms, run.feed, lane_of=lane_of)
    return run


async def export_from_kafka(args: Any, definitions: list[dict], out: Any, from_ms: int | None, to_ms: int | None,
                            reading: Any) -> dict[str, int]:
    """``slo export --source kafka``: the topics' records in the range as an export file's lines
    (each stream's messages with the sequence and stream time a replay of the file reads)."""
    import orjson

    from processor.replay.cli import _wanted_streams
    from processor.replay.stored import EXPORT_FORMAT, message_line, trailer_line

    source = kafka_history(args, _export_config(args))
    names = _wanted_streams(args, definitions, None)
    out.write(orjson.dumps({"slo_export": EXPORT_FORMAT, "from_ms": from_ms, "to_ms": to_ms,
                            "source": source.describe(), "streams": {}}) + b"\n")
    counts = dict.fromkeys(names, 0)
    tally = KafkaTally()

    def write(stream: str, batch: list[StoredMsg]) -> None:
        if reading.progress.total is None:
            reading.progress.total = sum(r.records for r in tally.ranges)
        out.write(b"".join([message_line(m) for m in batch]))
        counts[stream] += len(batch)
        reading.batch(stream, batch)

    try:
        await read_kafka(source, definitions, names, from_ms, to_ms, write, lambda: reading.stopped, tally)
    finally:
        out.write(trailer_line(reading.stopped, {n: {"messages": c, **reading.stopped_at.get(n, {})}
                                                 for n, c in counts.items()}))
    return counts


def _export_config(args: Any) -> Config | None:
    """The config whose ``kafka:`` section ``slo export --source kafka`` reads (``--config``), if any."""
    from processor.config.load import load_config

    path = getattr(args, "config", None)
    return load_config(path) if path else None
