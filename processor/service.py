"""The asyncio runtime: bus -> engine -> publisher, checkpoints, idle time, signals.

One engine per consumed JetStream stream (each stream is its own time domain, see engine/core.py),
one batch puller per stream, and one loop per stream that does, in this order and nothing else:
pull a batch -> ``engine.ingest`` -> publish the alerts and dead letters and wait for their PubAcks
-> ack the batch's last message (AckPolicy.ALL). A crash anywhere before the ack redelivers the
batch; the alerts' and dead letters' ``Nats-Msg-Id`` make the republish a no-op in the stream.

Checkpoints hold every engine's snapshot with the last stream sequence whose effects it contains.
They are taken between batches (under each stream's lock), so a restored engine resumes exactly
after that sequence: nothing is lost and nothing is counted twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import structlog

from processor.bus.checkpoint import CheckpointStore, decode_checkpoint, encode_checkpoint
from processor.bus.connect import ConnectOptions, connect
from processor.bus.consumer import BatchPuller, js_timestamp_ms, stream_sequence
from processor.bus.embedded import EmbeddedServer
from processor.bus.monitor import BusMonitor
from processor.bus.publisher import OutMessage, Publisher
from processor.bus.streams import load_stream_definitions, provision_streams
from processor.engine import Engine, Outputs
from processor.engine.outputs import PolicyAction
from processor.engine.extract import subject_matches
from processor.errors import BusError, ProcessorError
from processor.render import action_message, alert_message, budget_message, deadletter_message, sli_message
from processor.config.model import Config

__all__ = ["Processor", "configure_logging", "run_from_args"]


def configure_logging(json_logs: bool | None = None) -> None:
    """JSON lines when not on a TTY (collectors parse them), readable console otherwise."""
    if json_logs is None:
        json_logs = not sys.stderr.isatty()
    renderer = structlog.processors.JSONRenderer() if json_logs else structlog.dev.ConsoleRenderer()
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )


def _stream_subjects(definition: dict) -> list[str]:
    return list(definition.get("subjects", []))


BUS_LANE = "BUS"  # the bus monitor's measurements: a time domain of their own, not a stream
BUS_SUBJECTS = "bus.>"


def partition_spec(spec: Config, definitions: Sequence[dict]) -> tuple[dict[str, Config], list[str]]:
    """The sub-spec each stream's engine evaluates, and the SLIs that no stream holds."""
    parts: dict[str, Config] = {}
    orphans = []
    for sli in spec.slis:
        if subject_matches(BUS_SUBJECTS, sli.subject):
            home: str | None = BUS_LANE
        else:
            home = next(
                (d["name"] for d in definitions if any(subject_matches(s, sli.subject) for s in _stream_subjects(d))),
                None,
            )
        if home is None:
            orphans.append(sli.name)
            continue
        part = parts.setdefault(home, spec.model_copy(update={"slis": (), "slos": (), "alerts": ()}))
        parts[home] = part.model_copy(
            update={
                "slis": part.slis + (sli,),
                "slos": part.slos + tuple(s for s in spec.slos if s.sli == sli.name),
                "alerts": part.alerts + tuple(a for a in spec.alerts if a.sli == sli.name),
            }
        )
    return parts, orphans


@dataclass
class StreamStats:
    accepted: int = 0
    ignored: int = 0
    rejected: int = 0
    alerts: int = 0
    batches: int = 0
    last_seq: int = 0


@dataclass
class _Lane:
    """Everything one consumed stream needs: its engine, puller, lock and counters."""

    stream: str
    engine: Engine
    puller: BatchPuller | None  # None: the bus monitor's lane, fed by measurements, never acked
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    stats: StreamStats = field(default_factory=StreamStats)
    last_event_monotonic_s: float = 0.0
    changes: int = 0  # batches and time moves applied
    changes_saved: int = 0  # ... of which the last stored checkpoint holds

    @property
    def dirty(self) -> bool:
        return self.changes != self.changes_saved

    # The last checkpointed (seq, snapshot). A lane whose engine holds effects that could not be
    # published (stopped while the bus was down) is "unsafe": its checkpoint stays at this one, so
    # a restart replays those events instead of skipping them.
    saved: tuple[int, dict] | None = None
    unsafe: bool = False


@dataclass(frozen=True, slots=True)
class _LocalMsg:
    """A measurement made in this process, shaped like a bus message for the engine."""

    subject: str
    data: bytes
    reply: str = ""


def _fallback_ts_ms(msg: Any) -> int | None:
    return js_timestamp_ms(msg.reply) if msg.reply else None


class Processor:
    def __init__(
        self,
        spec: Config,
        nc: Any,
        definitions: Sequence[dict],
        *,
        batch_size: int = 1000,
        checkpoint_key: str = "default",
        checkpoint_interval_s: float = 15.0,
        idle_after_s: float = 1.0,
        consumer_prefix: str = "slo",
        log: Any = None,
    ):
        self.spec = spec
        self.nc = nc
        self.definitions = list(definitions)
        self.batch_size = batch_size
        self.checkpoint_interval_s = checkpoint_interval_s
        self.idle_after_s = idle_after_s
        self.consumer_prefix = consumer_prefix
        self.log = log or structlog.get_logger("slo")
        self.publisher = Publisher(nc)
        self.checkpoints = CheckpointStore(nc, key=checkpoint_key)
        self.lanes: dict[str, _Lane] = {}
        self.monitor: BusMonitor | None = None
        self._overflow_seen: dict[str, int] = {}
        self._stop = asyncio.Event()

    async def start(self) -> None:
        results = await provision_streams(self.nc, self.definitions, self.log)
        for r in results:
            self.log.info("stream.provisioned", stream=r.name, action=r.action, replicas=r.replicas)
        parts, orphans = partition_spec(self.spec, self.definitions)
        for name in orphans:
            self.log.warning("sli.no_stream", sli=name, hint="no stream in streams/ holds its subject; it is not evaluated")
        restored: dict[str, tuple[int, dict]] = {}
        raw = await self.checkpoints.load()
        if raw is not None:
            restored = decode_checkpoint(raw)
        if BUS_LANE in parts and self.spec.bus_monitor is None:
            self.log.warning("bus_monitor.missing", slis=[s.name for s in parts.pop(BUS_LANE).slis],
                             hint="SLIs on bus.> need a bus_monitor section in the config")
        for stream, part in parts.items():
            engine = Engine(part, fallback_ts_ms=_fallback_ts_ms)
            start_after = None
            if stream in restored:
                seq, snap = restored[stream]
                for note in engine.restore(snap):
                    self.log.warning("checkpoint.dropped_state", stream=stream, note=note)
                start_after = seq
                self.log.info("checkpoint.restored", stream=stream, after_seq=seq)
            durable = f"{self.consumer_prefix}_{stream}".lower()
            puller = None
            if stream != BUS_LANE:
                puller = BatchPuller(self.nc, stream, durable, batch_size=self.batch_size, start_after_seq=start_after)
                await puller.start()
            lane = _Lane(stream, engine, puller, saved=restored.get(stream))
            lane.stats.last_seq = start_after or 0
            self.lanes[stream] = lane
            self.log.info(
                "consumer.started",
                stream=stream,
                durable=durable,
                slis=len(part.slis),
                slos=len(part.slos),
                alert_rules=len(part.alerts),
            )
        if BUS_LANE in self.lanes:
            self.monitor = BusMonitor(
                self.nc, self.spec.bus_monitor, [d["name"] for d in self.definitions], log=self.log  # type: ignore[arg-type]
            )
            await self.monitor.start()
        self.log.info(
            "processor.ready",
            streams=sorted(self.lanes),
            slis=len(self.spec.slis),
            slos=len(self.spec.slos),
            alert_rules=len(self.spec.alerts),
        )

    def request_stop(self) -> None:
        self._stop.set()

    async def run(self) -> None:
        if not self.lanes:
            self.log.warning("processor.nothing_to_do", hint="no SLI of the config is held by a stream")
            await self._stop.wait()
            return
        lanes = [asyncio.create_task(self._lane_loop(lane), name=f"lane-{lane.stream}") for lane in self.lanes.values()]
        checkpoints = asyncio.create_task(self._checkpoint_loop(), name="checkpoints")
        try:
            # Lanes are never cancelled: each notices the stop between batches (within one pull
            # timeout), so a batch in hand is always published and acked before the lane ends.
            done, _ = await asyncio.wait(lanes, return_when=asyncio.FIRST_EXCEPTION)
            for task in done:
                if task.exception() is not None:
                    self._stop.set()
            await asyncio.gather(*lanes, return_exceptions=True)
        finally:
            # Not cancelled either: a cancel landing inside a KV request can be turned into a
            # timeout error by the client and swallowed; the loop ends by itself on the stop.
            self._stop.set()
            await asyncio.gather(checkpoints, return_exceptions=True)
            try:
                await self.checkpoint()
            except Exception as exc:  # noqa: BLE001 - the consumers still hold everything since the last one
                self.log.error("checkpoint.final_failed", error=str(exc))
            for lane in self.lanes.values():
                if lane.puller is not None:
                    with contextlib.suppress(Exception):
                        await lane.puller.stop()
            if self.monitor is not None:
                with contextlib.suppress(Exception):
                    await self.monitor.stop()
        for task in lanes:
            if task.exception() is not None:
                raise task.exception()

    async def _lane_loop(self, lane: _Lane) -> None:
        lane.last_event_monotonic_s = time.monotonic()
        if lane.puller is None:
            await self._bus_loop(lane)
            return
        delay_s = 0.1
        while not self._stop.is_set() and not lane.unsafe:
            try:
                msgs = await lane.puller.next_batch(timeout_s=0.25)
            except BusError as exc:
                # Pulling holds nothing not yet applied; wait for the bus and pull again.
                self.log.warning("consumer.pull_failed", stream=lane.stream, error=str(exc), retry_in_s=delay_s)
                await asyncio.sleep(delay_s)
                delay_s = min(delay_s * 2, 5.0)
                continue
            delay_s = 0.1
            async with lane.lock:
                await self._apply(lane, msgs)

    async def _bus_loop(self, lane: _Lane) -> None:
        """Measure the bus every interval and evaluate the measurements like any other events."""
        assert self.monitor is not None and self.spec.bus_monitor is not None
        interval_s = self.spec.bus_monitor.interval_ms / 1000
        while not self._stop.is_set() and not lane.unsafe:
            events = await self.monitor.sample()
            async with lane.lock:
                await self._apply(lane, [_LocalMsg(subject, data) for subject, data in events])
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), timeout=interval_s)

    async def _apply(self, lane: _Lane, msgs: list) -> None:
        engine = lane.engine
        now_s = time.monotonic()
        before = (engine.max_ts_ms, engine.closed_until_ms)
        if msgs:
            out = engine.ingest(msgs)
        elif engine.max_ts_ms is not None and now_s - lane.last_event_monotonic_s >= self.idle_after_s:
            # Idle bus: let event time run on with the wall clock so windows close and alerts
            # resolve without new events. Only the shell does this; replays never do.
            idle_ms = int((now_s - lane.last_event_monotonic_s) * 1000)
            out = engine.advance(engine.max_ts_ms + idle_ms - engine.lateness_ms)
        else:
            return
        if engine.max_ts_ms != before[0]:
            # Only events that moved event time count as "not idle": a stream of ignored or late
            # messages must not freeze the windows.
            lane.last_event_monotonic_s = now_s
        try:
            if not await self._publish(lane, msgs, out):
                return
            if msgs and lane.puller is not None:
                lane.stats.last_seq = stream_sequence(msgs[-1].reply)
                try:
                    await lane.puller.ack(msgs[-1])
                except BusError as exc:
                    # Applied and published: the checkpoint records it; an unacked batch is
                    # redelivered after ack_wait and the puller drops redeliveries it has passed.
                    self.log.warning("consumer.ack_failed", stream=lane.stream, error=str(exc))
        except BaseException:
            # The engine holds effects that may not be stored: never checkpoint them.
            lane.unsafe = True
            raise
        if msgs:
            lane.stats.batches += 1
        lane.stats.accepted += out.accepted
        lane.stats.ignored += out.ignored
        lane.stats.rejected += len(out.rejections)
        lane.stats.alerts += len(out.alerts)
        if msgs or (engine.max_ts_ms, engine.closed_until_ms) != before:
            lane.changes += 1

    async def _publish(self, lane: _Lane, msgs: list, out: Outputs) -> bool:
        """Publish a batch's outputs, retrying while the bus is unavailable; False if stopped first."""
        messages = []
        for alert in out.alerts:
            subject, payload, msg_id = alert_message(alert)
            messages.append(OutMessage(subject, payload, msg_id=msg_id))
            self.log.info(
                "alert." + alert.status,
                alertname=alert.label_map["alertname"],
                severity=alert.label_map["severity"],
                service=alert.label_map["service"],
                value=alert.value,
                expr=alert.expr,
                subject=subject,
            )
        for sli_report in out.slis:
            subject, payload, msg_id = sli_message(sli_report)
            messages.append(OutMessage(subject, payload, msg_id=msg_id))
        for report in out.budgets:
            subject, payload, msg_id = budget_message(report)
            messages.append(OutMessage(subject, payload, msg_id=msg_id))
        for action in out.actions:
            subject, payload, msg_id = action_message(action)
            messages.append(OutMessage(subject, payload, msg_id=msg_id))
            self.log.warning("action." + ("budget_policy" if isinstance(action, PolicyAction) else "alert"),
                             service=action.service, action=action.action)
        for rej in out.rejections:
            msg = msgs[rej.index]
            seq = stream_sequence(msg.reply) if msg.reply else None
            subject, payload, headers, msg_id = deadletter_message(rej, msg.subject, msg.data, lane.stream, seq)
            messages.append(OutMessage(subject, payload, headers=headers, msg_id=msg_id))
        if out.rejections:
            # One line per batch, not per event: a broken producer must not flood the log. The
            # dead letters carry every message with its reason.
            first = out.rejections[0]
            reasons: dict[str, int] = {}
            for rej in out.rejections:
                reasons[rej.reason] = reasons.get(rej.reason, 0) + 1
            self.log.warning(
                "events.rejected",
                stream=lane.stream,
                count=len(out.rejections),
                reasons=reasons,
                example_subject=msgs[first.index].subject,
                example_detail=first.detail,
            )
        delay_s = 0.1
        while messages:
            try:
                await self.publisher.publish_all(messages)
                break
            except BusError as exc:
                # The batch cannot be acked before its outputs are stored, so wait for the bus
                # (nats-py reconnects by itself); republishing is safe, the message ids dedupe.
                if self._stop.is_set():
                    lane.unsafe = True
                    self.log.error("publish.abandoned", stream=lane.stream, error=str(exc),
                                   note="batch not acked; it is redelivered and re-evaluated on restart")
                    return False
                self.log.warning("publish.retrying", stream=lane.stream, error=str(exc), retry_in_s=delay_s)
                await asyncio.sleep(delay_s)
                delay_s = min(delay_s * 2, 5.0)
        return True

    async def _checkpoint_loop(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), timeout=self.checkpoint_interval_s)
                return  # stopping: run() writes the final checkpoint after the lanes are done
            self._report_overflow()
            try:
                await self.checkpoint()
            except Exception as exc:  # noqa: BLE001 - logged; the next interval tries again
                # A failed checkpoint loses no data (the consumer still holds everything after
                # the last good one); keep processing and try again next interval.
                self.log.error("checkpoint.failed", error=str(exc))

    async def checkpoint(self) -> None:
        if not any(lane.dirty for lane in self.lanes.values()):
            return
        states = {}
        taken = []
        for lane in self.lanes.values():
            async with lane.lock:
                if not lane.unsafe and lane.dirty:
                    lane.saved = (lane.stats.last_seq, lane.engine.snapshot())
                    taken.append((lane, lane.changes))
                if lane.saved is not None:
                    states[lane.stream] = lane.saved
        # Encoding ~MBs of state is CPU work; off the event loop it does not stall the lanes.
        payload = await asyncio.to_thread(encode_checkpoint, states)
        revision = await self.checkpoints.save(payload)
        for lane, changes in taken:
            lane.changes_saved = changes
        self.log.debug("checkpoint.saved", revision=revision, streams={s: v[0] for s, v in states.items()})

    def counters(self) -> dict[str, dict[str, Any]]:
        out = {}
        for name, lane in self.lanes.items():
            out[name] = {**lane.stats.__dict__, "rejected_by_reason": dict(lane.engine.rejected), **lane.engine.health()}
            if lane.puller is not None:
                out[name]["redeliveries_dropped"] = lane.puller.redeliveries_dropped
        out["publisher"] = {"duplicates": self.publisher.duplicates}
        return out

    def _report_overflow(self) -> None:
        """Log once each time an SLI sends more label sets to its overflow series."""
        for name, lane in self.lanes.items():
            for sli, n in lane.engine.overflow_counts().items():
                if n > self._overflow_seen.get(sli, 0):
                    self._overflow_seen[sli] = n
                    self.log.warning("sli.cardinality_overflow", stream=name, sli=sli, events=n,
                                     hint="label sets past max_series share the __overflow__ series")


async def serve(
    spec: Config,
    opts: ConnectOptions,
    streams_dir: Path,
    store_dir: Path,
    *,
    batch_size: int = 1000,
    instance: str = "default",
    stop: asyncio.Event | None = None,
) -> None:
    """Connect (starting the embedded server when no URL is given), run until ``stop`` is set.

    ``instance`` names this processor's durable consumers and checkpoint: replicas that should
    each see every event (availability) or partitions run under different names."""
    log = structlog.get_logger("slo")
    definitions = load_stream_definitions(streams_dir)
    embedded = None
    if opts.url is None:
        embedded = EmbeddedServer(store_dir / "nats")
        url = await embedded.start()
        log.info("embedded.started", url=url, store_dir=str(store_dir / "nats"))
        opts = replace(opts, url=url)
    try:
        nc = await connect(opts)
        log.info("nats.connected", server=opts.redacted())
        try:
            prefix = "slo" if instance == "default" else f"slo_{instance}"
            proc = Processor(
                spec, nc, definitions, batch_size=batch_size, checkpoint_key=instance, consumer_prefix=prefix, log=log
            )
            await proc.start()
            runner = asyncio.create_task(proc.run())
            stopper = asyncio.create_task((stop or asyncio.Event()).wait())
            await asyncio.wait({runner, stopper}, return_when=asyncio.FIRST_COMPLETED)
            proc.request_stop()
            stopper.cancel()
            await runner
            proc._report_overflow()
            log.info("processor.stopped", counters=proc.counters())
        finally:
            await nc.drain()
    finally:
        if embedded is not None:
            await embedded.stop()
            log.info("embedded.stopped")


def run_from_args(args: Any) -> int:
    from processor.config.load import load_config

    configure_logging()
    log = structlog.get_logger("slo")
    try:
        spec = load_config(args.config)
    except ProcessorError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    opts = ConnectOptions.resolve(args.nats_url, os.environ)
    overrides = {
        k: v
        for k, v in dict(
            user=args.user,
            password=args.password,
            token=args.token,
            creds_file=args.creds,
            tls_ca=args.tls_ca,
            tls_cert=args.tls_cert,
            tls_key=args.tls_key,
        ).items()
        if v
    }
    if overrides:
        opts = replace(opts, **overrides)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await serve(
            spec,
            opts,
            Path(args.streams_dir),
            Path(args.store_dir),
            batch_size=args.batch_size,
            instance=args.instance,
            stop=stop,
        )

    try:
        asyncio.run(main())
    except ProcessorError as exc:
        log.error("processor.failed", error=str(exc))
        return 1
    return 0
