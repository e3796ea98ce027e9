"""``slo backtest``: one pass over history through two engines per stream, a baseline config and a
candidate, as ``slo replay`` runs one (``replay/run.py``: the same partition by stream as
``slo run``, the same recorded time moves). Each message is decoded once for both engines
(``SharedDecode``). What each side produced (alert transitions, budget reports, SLI reports) is
kept for the diff (``timeline``), the scores (``scoring``) and the report (``report``).
"""

from __future__ import annotations

__all__ = ["Backtest", "SharedDecode", "Side", "feed_export"]

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import orjson

from processor.bus.publisher import OutMessage
from processor.config.model import Config
from processor.replay.run import ClockMove, Replay
from processor.replay.sinks import NdjsonSink
from processor.replay.stored import StoredMsg
from processor.vocabulary import OUTPUT_SUBJECT_PREFIXES

_FEED_BATCH = 1000
_ALERTS = OUTPUT_SUBJECT_PREFIXES["alerts"] + "."
_BUDGET = OUTPUT_SUBJECT_PREFIXES["budget"] + "."
_SLI = OUTPUT_SUBJECT_PREFIXES["sli"] + "."


class SharedDecode:
    """``Engine.ingest``'s ``decode`` for several engines fed the same batch: the first engine that
    reads a message decodes it, the others get the same payload. Each gets its own shallow copy,
    since an engine may add top-level fields to its payload (``engine/core.py``). ``reset`` between
    batches: the cache is keyed by the identity of the message's data, alive while its batch is."""

    def __init__(self) -> None:
        self._cache: dict[int, tuple[bytes, Any]] = {}
        self.decoded = 0

    def reset(self) -> None:
        self._cache.clear()

    def __call__(self, data: bytes) -> Any:
        hit = self._cache.get(id(data))
        if hit is None:
            try:
                payload: Any = orjson.loads(data)
            except orjson.JSONDecodeError as exc:
                payload = exc
            self._cache[id(data)] = (data, payload)  # the data kept alive: its id stays unique
            self.decoded += 1
        else:
            payload = hit[1]
        if type(payload) is dict:
            return payload.copy()
        if isinstance(payload, orjson.JSONDecodeError):
            raise payload
        return payload


class Side:
    """One config's engines (a ``Replay``) and the outputs kept from them."""

    def __init__(self, name: str, config: Config, definitions: Sequence[dict], moves: dict[str, list[ClockMove]],
                 streams: Sequence[str] | None, out_dir: Path | None, keep_series: bool = True) -> None:
        self.name = name
        self.keep_series = keep_series  # the SLI and budget reports, for the HTML report only
        self.config = config
        self.alerts: list[dict] = []
        self.budgets: list[dict] = []
        self.slis: list[dict] = []
        self.sink = NdjsonSink(out_dir / name) if out_dir is not None else None
        self.replay = Replay(config, definitions, self._emit, moves=moves, streams=streams)

    def _emit(self, messages: list[OutMessage]) -> None:
        if self.sink is not None:
            self.sink(messages)
        for m in messages:
            subject = m.subject
            if subject.startswith(_ALERTS):
                self.alerts.append(orjson.loads(m.payload))
            elif not self.keep_series:
                continue
            elif subject.startswith(_BUDGET):
                self.budgets.append(orjson.loads(m.payload))
            elif subject.startswith(_SLI):
                self.slis.append(orjson.loads(m.payload))

    def close(self) -> None:
        if self.sink is not None:
            self.sink.close()


class Backtest:
    """Baseline and candidate fed the same batches."""

    def __init__(self, baseline: Config, candidate: Config, definitions: Sequence[dict],
                 moves: dict[str, list[ClockMove]] | None = None, streams: Sequence[str] | None = None,
                 out_dir: Path | None = None, share_decode: bool = True, keep_series: bool = True) -> None:
        moves = moves or {}
        self.sides = (Side("baseline", baseline, definitions, moves, streams, out_dir, keep_series),
                      Side("candidate", candidate, definitions, moves, streams, out_dir, keep_series))
        self.decode = SharedDecode() if share_decode else None
        if self.decode is not None:
            for side in self.sides:
                for lane in side.replay.streams.values():
                    lane.decode = self.decode
        self.messages = 0

    @property
    def streams(self) -> list[str]:
        return sorted(set().union(*(side.replay.streams for side in self.sides)))

    def event_range(self) -> tuple[int, int] | None:
        """In event time: the engines' first boundary and the latest event time they saw."""
        engines = [lane.engine for side in self.sides for lane in side.replay.streams.values()]
        origins = [e.origin_ms for e in engines if e.origin_ms is not None]
        ends = [e.max_ts_ms for e in engines if e.max_ts_ms is not None]
        return (min(origins), max(ends)) if origins and ends else None

    def feed(self, stream: str, msgs: Sequence[Any]) -> None:
        if not msgs:
            return
        self.messages += len(msgs)
        if self.decode is not None:
            self.decode.reset()
        for side in self.sides:
            side.replay.feed(stream, msgs)

    def ends_before(self, stream: str, seq: int) -> None:
        for side in self.sides:
            side.replay.ends_before(stream, seq)

    def finish(self) -> None:
        for side in self.sides:
            side.replay.finish()
            side.close()
        if self.decode is not None:
            self.decode.reset()


def feed_export(messages: Iterable[StoredMsg], into: Any, from_ms: int | None, to_ms: int | None,
                batch_size: int = _FEED_BATCH) -> None:
    """An export file's messages within the range, in batches of one stream, into ``into.feed``;
    the first of each stream past ``to_ms`` to ``into.ends_before``."""
    batch: list[StoredMsg] = []
    ended: set[str] = set()
    for msg in messages:
        if to_ms is not None and msg.ts_ms > to_ms:
            if msg.stream not in ended:  # each stream's messages come in sequence order
                ended.add(msg.stream)
                into.ends_before(msg.stream, msg.seq)
            continue
        if from_ms is not None and msg.ts_ms < from_ms:
            continue
        if batch and (msg.stream != batch[0].stream or len(batch) >= batch_size):
            into.feed(batch[0].stream, batch)
            batch = []
        batch.append(msg)
    if batch:
        into.feed(batch[0].stream, batch)
