"""Publishing a simulator's events to JetStream, as fast as possible or paced against the wall
clock, until the streams hold every event; and the one incident that no payload can carry
(``consumer_lag``), realised on the bus while publishing."""

from __future__ import annotations

__all__ = ["PublishProgress", "PublishResult", "publish", "rfc3339_ms"]

import asyncio
import math
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
from nats.aio.client import Client

from processor.bus.jsadmin import (
    ConsumerNotFoundError,
    JsApiError,
    pause_consumer,
    resume_consumer,
    stream_last_seq,
    streams_storing,
)
from processor.bus.streams import load_stream_definitions, provision_streams
from processor.errors import BusError
from processor.simulate.generator import Simulator
from processor.simulate.incidents import Incident
from processor.simulate.platform import STREAM_OF_PREFIX
from processor.vocabulary import durable_name


@dataclass(frozen=True)
class PublishProgress:
    published: int
    event_ts_ms: int | None  # ts of the last published event
    wall_s: float
    final: bool


@dataclass(frozen=True)
class PublishResult:
    published: int
    per_stream: dict[str, int]
    last_ts_ms: int | None
    wall_s: float
    notes: tuple[str, ...] = ()  # what could not be done (a consumer_lag without its consumer ...)


_FLUSH_EVERY = 5_000
_PACING_SLACK_S = 0.005  # closer than this to due, publishing now is on time


def rfc3339_ms(ms: int) -> str:
    """Epoch ms as RFC 3339 UTC with milliseconds: ``2026-01-05T14:00:00.000Z``."""
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


async def publish(
    nc: Client,
    simulator: Simulator,
    until_ms: int,
    time_scale: float | None = None,
    *,
    streams_dir: Path | str = "streams",
    progress: Callable[[PublishProgress], None] | None = None,
    progress_every_s: float = 2.0,
    consumer_prefix: str = "slo",
    store_timeout_s: float = 30.0,
) -> PublishResult:
    """Publish ``simulator``'s events up to ``until_ms`` and return once the streams hold them.

    ``time_scale=None``: as fast as possible (core publish, a flush every few thousand messages).
    ``time_scale=k``: the event at ``ts`` goes out ``(ts - start_ms) / k`` wall seconds after the
    call, k times real time. Either way the call returns when every stream's last sequence shows
    all messages stored. Streams missing for a prefix are provisioned from ``streams_dir``.
    """
    if time_scale is not None and not (math.isfinite(time_scale) and time_scale > 0):
        raise ValueError(f"time_scale must be a positive number or None, got {time_scale!r}")
    loop = asyncio.get_running_loop()
    wall0 = loop.time()
    streams = await _streams_for_run(nc, streams_dir)
    last_seq_before = {name: await stream_last_seq(nc, name) for name in set(streams.values())}
    lag = _LagInjector(nc, simulator, streams, consumer_prefix, time_scale, wall0)
    sender = _Sender(nc, streams, wall0, progress, progress_every_s)
    try:
        await sender.send_all(simulator, until_ms, time_scale, lag)
        await nc.flush()
        await _wait_stored(nc, last_seq_before, sender.per_stream, store_timeout_s)
        await lag.finish()
    finally:
        await lag.release()
    wall_s = loop.time() - wall0
    if progress is not None:
        progress(PublishProgress(sender.published, sender.last_ts, wall_s, final=True))
    return PublishResult(sender.published, sender.per_stream, sender.last_ts, wall_s, tuple(lag.notes))


@dataclass
class _Sender:
    """The publishing loop and its counts."""

    nc: Client
    streams: dict[str, str]  # subject prefix -> stream
    wall0: float
    progress: Callable[[PublishProgress], None] | None
    progress_every_s: float
    per_stream: dict[str, int] = field(init=False)
    published: int = 0
    last_ts: int | None = None

    def __post_init__(self) -> None:
        self.per_stream = dict.fromkeys(set(self.streams.values()), 0)

    async def send_all(self, simulator: Simulator, until_ms: int, time_scale: float | None,
                       lag: _LagInjector) -> None:
        nc = self.nc
        loop = asyncio.get_running_loop()
        next_progress_s = self.wall0 + self.progress_every_s
        stream_cache: dict[str, str] = {}
        for event in simulator.records(until_ms):
            ts = event.ts_ms
            if time_scale is not None:
                delay_s = self.wall0 + (ts - simulator.start_ms) / 1000 / time_scale - loop.time()
                if delay_s > _PACING_SLACK_S:
                    await nc.flush()
                    await asyncio.sleep(delay_s)
            await lag.reach(ts)
            subject = event.subject
            stream = stream_cache.get(subject)
            if stream is None:
                stream = stream_cache[subject] = self.streams[subject.split(".", 1)[0]]
            await nc.publish(subject, orjson.dumps(event.payload))
            self.per_stream[stream] += 1
            self.published += 1
            self.last_ts = ts
            if self.published % _FLUSH_EVERY == 0:
                # A flush is a round trip: it keeps the client's buffer, and JetStream, from
                # falling behind a publisher that never waits.
                await nc.flush()
            if self.progress is not None and loop.time() >= next_progress_s:
                next_progress_s = loop.time() + self.progress_every_s
                self.progress(PublishProgress(self.published, self.last_ts, loop.time() - self.wall0, final=False))


async def _streams_for_run(nc: Client, streams_dir: Path | str) -> dict[str, str]:
    """The stream of every subject prefix; streams missing for a prefix are provisioned."""
    streams = await _streams_by_prefix(nc)
    missing = [p for p in STREAM_OF_PREFIX if p not in streams]
    if not missing:
        return streams
    wanted = {STREAM_OF_PREFIX[p] for p in missing}
    definitions = [d for d in load_stream_definitions(Path(streams_dir)) if d["name"] in wanted]
    await provision_streams(nc, definitions, _QuietLog())
    streams = await _streams_by_prefix(nc)
    still = [p for p in STREAM_OF_PREFIX if p not in streams]
    if still:
        raise BusError(f"no stream holds {', '.join(p + '.>' for p in still)} and {streams_dir} defines none")
    return streams


class _QuietLog:
    """The structlog-shaped logger provision_streams wants; the CLI reports what matters itself."""

    def info(self, event: str, **kw: Any) -> None:
        pass

    def warning(self, event: str, **kw: Any) -> None:
        print(f"slo simulate: {event} {kw}", file=sys.stderr)


async def _streams_by_prefix(nc: Client) -> dict[str, str]:
    """Which stream stores each subject prefix, asked of JetStream (tests may name them freely)."""
    found = {}
    for prefix in STREAM_OF_PREFIX:
        names = await streams_storing(nc, f"{prefix}.heartbeat")
        if names:
            found[prefix] = names[0]
    return found


async def _wait_stored(nc: Client, before: dict[str, int], sent: dict[str, int], timeout_s: float) -> None:
    """Until every stream's last sequence has moved by what we sent (core publish has no ack)."""
    loop = asyncio.get_running_loop()
    waiting = {s: before[s] + n for s, n in sent.items() if n}
    last_progress_s = loop.time()
    seen: dict[str, int] = {}
    while waiting:
        for stream, wanted in list(waiting.items()):
            seq = await stream_last_seq(nc, stream)
            if seq != seen.get(stream):
                seen[stream] = seq
                last_progress_s = loop.time()
            if seq >= wanted:
                del waiting[stream]
        if not waiting:
            return
        if loop.time() - last_progress_s > timeout_s:
            short = ", ".join(f"{s} {wanted - seen[s]}" for s, wanted in waiting.items())
            raise BusError(f"messages published but not stored after {timeout_s:g} s (missing: {short})")
        await asyncio.sleep(0.02)


class _LagInjector:
    """consumer_lag: pauses the processor's durable consumer of a stream, later resumes it.

    JetStream's consumer pause (nats-server 2.11+) stops deliveries while messages keep being
    stored, so ``num_pending`` grows by every message published on the stream meanwhile: the
    consumer lag the processor's bus monitor reads, exactly as a stalled consumer makes it. The
    pause is sent with ``pause_until`` at its planned end, so a publisher that dies cannot leave
    the consumer paused.
    """

    def __init__(self, nc: Client, simulator: Simulator, streams: dict[str, str], consumer_prefix: str,
                 time_scale: float | None, wall0: float) -> None:
        self._nc = nc
        self._start_ms = simulator.start_ms
        self._streams = streams
        self._prefix = consumer_prefix
        self._time_scale = time_scale
        self._wall0 = wall0
        self._pending = sorted((i for i in simulator.incidents if i.kind == "consumer_lag"),
                               key=lambda i: i.start_ms)
        self._paused: dict[tuple[str, str], asyncio.Task[None]] = {}
        self.notes: list[str] = []

    async def reach(self, ts_ms: int) -> None:
        while self._pending and self._pending[0].start_ms <= ts_ms:
            await self._pause(self._pending.pop(0))

    def _wall_duration_s(self, inc: Incident) -> float:
        loop = asyncio.get_running_loop()
        if self._time_scale is None:
            # Nothing maps event time to wall time when publishing flat out, and the bus monitor
            # measures lag on the wall clock: the duration is taken as wall time.
            return inc.duration_ms / 1000
        end_s = self._wall0 + (inc.end_ms - self._start_ms) / 1000 / self._time_scale
        return max(0.0, end_s - loop.time())

    async def _pause(self, inc: Incident) -> None:
        stream = self._streams[inc.target]  # type: ignore[index]
        durable = durable_name(self._prefix, stream)
        key = (stream, durable)
        duration_s = self._wall_duration_s(inc)
        try:
            await pause_consumer(self._nc, stream, durable, datetime.now(UTC) + timedelta(seconds=duration_s))
        except JsApiError as exc:
            hint = " (is `slo run` consuming it?)" if isinstance(exc, ConsumerNotFoundError) else ""
            self.notes.append(f"consumer_lag at {rfc3339_ms(inc.start_ms)} skipped: {exc}{hint}")
            return
        previous = self._paused.pop(key, None)
        if previous is not None:
            previous.cancel()  # overlapping lags: the later pause decides the end
        self._paused[key] = asyncio.ensure_future(self._resume_after(stream, durable, duration_s))

    async def _resume_after(self, stream: str, durable: str, delay_s: float) -> None:
        await asyncio.sleep(delay_s)
        await self._resume(stream, durable)

    async def _resume(self, stream: str, durable: str) -> None:
        try:
            await resume_consumer(self._nc, stream, durable)
        except BusError as exc:
            self.notes.append(f"consumer {stream}/{durable} not resumed ({exc}); its pause ends by itself")

    async def finish(self) -> None:
        """Let every lag run its course: the run is not over while a consumer is still paused."""
        for inc in self._pending:
            self.notes.append(f"consumer_lag at {rfc3339_ms(inc.start_ms)} not applied: no event after its start")
        self._pending.clear()
        tasks = list(self._paused.values())
        if tasks:
            await asyncio.gather(*tasks)
        self._paused.clear()

    async def release(self) -> None:
        """On the way out after an error or a cancellation: resume what is still paused."""
        for (stream, durable), task in list(self._paused.items()):
            task.cancel()
            try:
                await asyncio.shield(self._resume(stream, durable))
            except (asyncio.CancelledError, Exception):  # noqa: BLE001 - best effort; pause_until ends it
                pass
        self._paused.clear()
