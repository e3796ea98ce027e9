"""The processor: start, run, stop. It wires the runtime's parts; each does its own work.

One engine per consumed JetStream stream (each stream is its own time domain, see engine/core.py),
assigned by ``topology``; one ``Lane`` per stream that pulls, ingests, publishes through the
``Outbox`` and acks; a ``Checkpointer`` that restores every engine at start and saves them all
every interval and at the end. A stop is noticed by each lane between batches, so the batches in
hand (the one evaluated, and the one before it still waiting for its PubAcks: runtime/lane.py) are
published and acked before its lane ends; only a lane still waiting for the bus after
``LANE_GRACE_S`` is cancelled, its batches left unacked and out of the checkpoint (redelivered on
restart). Every wait of the shutdown is bounded (``runtime/stopping.py``).
"""

from __future__ import annotations

__all__ = ["CHECKPOINT_INTERVAL_S", "Processor", "fallback_ts_ms"]

import asyncio
import contextlib
import time
from collections.abc import Callable, Sequence
from typing import Any

import structlog

from processor.bus.checkpoint import CheckpointStore
from processor.bus.consumer import BatchPuller, js_timestamp_ms
from processor.bus.jsadmin import stream_config
from processor.bus.monitor import BusMonitor
from processor.bus.publisher import Publisher
from processor.bus.streams import provision_streams
from processor.config.model import Config
from processor.config.parse import subject_pattern_matches
from processor.engine import Engine
from processor.errors import BusError, ProcessorError
from processor.runtime.alertmanager import AlertmanagerSender
from processor.runtime.checkpoints import Checkpointer
from processor.runtime.counters import OverflowReport, counters
from processor.runtime.idle import IdleClock
from processor.runtime.lane import Lane
from processor.runtime.lease import check_duplicate_window
from processor.runtime.outbox import Outbox, OutputPublisher
from processor.runtime.partitions import Partition, transform_missing
from processor.runtime.stopping import ALERTMANAGER_FLUSH_S, CANCEL_GRACE_S, CHECKPOINT_GRACE_S, LANE_GRACE_S, within
from processor.runtime.telemetry import Telemetry
from processor.runtime.testhooks import Stall
from processor.runtime.topology import BUS_LANE, consumer_filter, partition_config
from processor.vocabulary import OUTPUT_SUBJECT_PREFIXES, PULL_BATCH_SIZE, durable_name


CHECKPOINT_INTERVAL_S = 15.0


def fallback_ts_ms(msg: Any) -> int | None:
    """The stream timestamp of a message: the event time of a payload without one, and the
    reference of the engine's clock-skew check (measurements made here have none)."""
    return js_timestamp_ms(msg.reply) if msg.reply else None


def _seq_range(seqs: tuple[int, int] | None) -> str | None:
    return None if seqs is None else f"{seqs[0]}-{seqs[1]}"


def _saved_seq(lane: Lane) -> int | None:
    return None if lane.saved is None else lane.saved[0]


class Processor:
    def __init__(
        self,
        config: Config,
        nc: Any,
        definitions: Sequence[dict],
        *,
        batch_size: int = PULL_BATCH_SIZE,
        checkpoint_key: str = "default",
        checkpoint_interval_s: float = CHECKPOINT_INTERVAL_S,
        idle_after_s: float = 1.0,
        consumer_prefix: str = "slo",
        filter_by_slis: bool = False,
        partition: Partition | None = None,
        log: Any = None,
        stall: Stall | None = None,
        telemetry: Telemetry | None = None,
        generator_base_url: str | None = None,
        may_act: Callable[[], bool] | None = None,
        lease_ttl_s: float | None = None, publisher: OutputPublisher | None = None,  # None: NATS slo.>
    ):
        self.config = config
        # --standby: the lease's fence (runtime/lease.py), also of pulls (a plain instance's puller
        # checks no delivery count: a lost NATS node's deliveries are in it). ``fenced``: why not.
        self._may_act, self._may_pull = may_act or (lambda: True), may_act
        self.lease_ttl_s = lease_ttl_s
        self.fenced: str | None = None
        self.on_fenced: Callable[[str], None] = lambda reason: None
        # What /metrics, /readyz and the SLO page show (runtime/http.py), served or not.
        self.telemetry = telemetry or Telemetry(config)
        self.nc = nc
        self.definitions = list(definitions)
        self.batch_size = batch_size
        self.idle_after_s = idle_after_s
        self.consumer_prefix = consumer_prefix
        # A sidecar (`slo run --services`): each consumer delivers only its SLIs' subjects.
        self.filter_by_slis = filter_by_slis
        self.partition = partition  # `slo run --partition`: consumers filtered to its share of the hot subject
        self.log = log or structlog.get_logger("slo")
        self._stop = asyncio.Event()
        self.lanes: dict[str, Lane] = {}
        self._stall = stall  # test-only (runtime/testhooks.py)
        # generator_base_url: where the SLO page is served (http://<--http address>), for the
        # generatorURL of alerts sent to Alertmanager (alertmanager.external_url overrides it).
        self.alertmanager: AlertmanagerSender | None = None
        if config.alertmanager is not None:
            self.alertmanager = AlertmanagerSender(config.alertmanager, self.log, generator_base_url=generator_base_url,
                                                   runbook_base_url=config.defaults.runbook_base_url)
            sender = self.alertmanager
            self.telemetry.metrics.attach_alertmanager(lambda: sender.stats.queued)
            sender.on_dropped = self.telemetry.metrics.alertmanager_dropped
        self.outbox = Outbox(publisher or Publisher(nc), self._stop, self.log, stall=stall,
                             runbook_base_url=config.defaults.runbook_base_url, telemetry=self.telemetry,
                             alert_sink=self.alertmanager.submit if self.alertmanager else None, may_act=self._may_act,
                             partition=partition.tag if partition is not None else None)
        self.checkpoints = Checkpointer(
            CheckpointStore(nc, key=checkpoint_key), self.lanes, checkpoint_interval_s, self.log, self.telemetry,
            may_act=self._may_act, on_fenced=self._fenced,
        )
        self.monitor: BusMonitor | None = None
        self._report_overflow = OverflowReport(self.lanes, self.log)

    async def start(self) -> None:
        """Provision the streams, restore the last checkpoint, start one consumer per stream."""
        missing = transform_missing(self.definitions, self.partition) if self.partition is not None else None
        if missing is not None:
            raise ProcessorError(missing)
        for r in await provision_streams(self.nc, self.definitions, self.log):
            self.log.info("stream.provisioned", stream=r.name, action=r.action, replicas=r.replicas)
        await self._check_duplicate_window()
        parts, orphans = partition_config(self.config, self.definitions, self.partition)
        for name in orphans:
            self.log.warning("sli.no_stream", sli=name, hint="no stream in streams/ holds its subject; it is not evaluated")
        restored = await self.checkpoints.load()
        if BUS_LANE in parts and self.config.bus_monitor is None:
            self.log.warning("bus_monitor.missing", slis=[s.name for s in parts.pop(BUS_LANE).slis],
                             hint="SLIs on bus.> need a bus_monitor section in the config")
        for stream, part in parts.items():
            self.lanes[stream] = await self._open_lane(stream, part, restored.get(stream))
        if self.alertmanager is not None:
            # What fired before the restart is still firing: re-sent from the first interval on.
            self.alertmanager.restore(a for lane in self.lanes.values() for a in lane.engine.firing_alerts())
            self.log.info("alertmanager.ready", urls=list(self.alertmanager.config.urls),
                          firing=len(self.alertmanager.firing))
        if BUS_LANE in self.lanes:
            self.monitor = BusMonitor(
                self.nc, self.config.bus_monitor, [d["name"] for d in self.definitions],  # type: ignore[arg-type]
                definitions=self.definitions, log=self.log,
            )
            await self.monitor.start()
        if self.telemetry.phase == "starting":
            self.telemetry.phase = "running"
        self.log.info(
            "processor.ready",
            streams=sorted(self.lanes),
            slis=len(self.config.slis),
            slos=len(self.config.slos),
            alert_rules=len(self.config.alerts),
        )

    async def _check_duplicate_window(self) -> None:
        """Warn if the output stream cannot drop what a restart or a takeover publishes again."""
        probe = f"{OUTPUT_SUBJECT_PREFIXES['alerts']}.x.y"
        for definition in self.definitions:
            if any(subject_pattern_matches(p, probe) for p in definition.get("subjects", [])):
                try:
                    window_ns = (await stream_config(self.nc, definition["name"])).get("duplicate_window")
                except BusError as exc:
                    self.log.warning("stream.info_failed", stream=definition["name"], error=str(exc))
                    return
                check_duplicate_window(None if window_ns is None else window_ns / 1e9, self.checkpoints.interval_s,
                                       self.lease_ttl_s, definition["name"], self.log)

    def _fenced(self, reason: str) -> None:
        """The checkpoint was fenced (another instance wrote it) or the lease is gone: stop acting."""
        self.fenced = reason
        self.on_fenced(reason)
        self.stop()

    async def _open_lane(self, stream: str, part: Config, state: tuple[int, dict] | None) -> Lane:
        label = stream if self.partition is None else self.partition.label(stream)
        engine = Engine(part, fallback_ts_ms=fallback_ts_ms, stream=label)
        # Without a checkpoint the engine is empty, so it reads the stream from its first message:
        # resuming at the durable's ack floor would leave out everything acked before a crash.
        start_after = 0 if state is None else self.checkpoints.restore(stream, engine, state)
        if state is not None:
            self.telemetry.restored(engine)
        durable = durable_name(self.consumer_prefix, stream)
        puller = None
        subjects = consumer_filter(stream, part, self.definitions, self.partition, self.filter_by_slis)
        if stream != BUS_LANE:
            puller = BatchPuller(self.nc, stream, durable, filter_subject=subjects, batch_size=self.batch_size,
                                 start_after_seq=start_after, may_pull=self._may_pull, check_gaps=True)
            await puller.start()
        lane = Lane(stream, engine, self.outbox, IdleClock(self.idle_after_s), puller=puller, saved=state, log=self.log,
                    stall=self._stall, telemetry=self.telemetry)
        self.telemetry.lane_opened(stream, consumed=puller is not None)
        self.log.info(
            "consumer.started",
            stream=stream,
            durable=durable,
            slis=len(part.slis),
            slos=len(part.slos),
            alert_rules=len(part.alerts),
            **({"filter_subjects": subjects} if subjects is not None else {}),
        )
        return lane

    def stop(self) -> None:
        """Ask ``run()`` to finish: the lanes end between batches, then the final checkpoint."""
        self.telemetry.phase = "stopping"
        self._stop.set()

    async def run(self) -> None:
        """Run every lane until ``stop()`` or until one fails; raises a lane's failure."""
        if not self.lanes:
            self.log.warning("processor.nothing_to_do", hint="no SLI of the config is held by a stream")
            await self._stop.wait()
            return
        lanes = [self._lane_task(lane) for lane in self.lanes.values()]
        checkpoints = asyncio.create_task(self.checkpoints.run(self._stop, self._report_overflow), name="checkpoints")
        sender = None
        if self.alertmanager is not None:
            sender = asyncio.create_task(self.alertmanager.run(self._stop), name="alertmanager")
            sender.add_done_callback(self._sender_ended)
        checkpoint_by_s = None
        try:
            await self._until_stopped(lanes)
            # The final checkpoint may use what the lanes leave of their grace, and has its own.
            checkpoint_by_s = time.monotonic() + LANE_GRACE_S + CANCEL_GRACE_S + CHECKPOINT_GRACE_S
            await self._finish_lanes(lanes, checkpoints)
        finally:
            # Every lane's failure retrieved (several may fail on one refusal, and the final
            # checkpoint on it too), so that none is reported as lost; the first is raised.
            failures = [task.exception() for task in lanes if task.done() and not task.cancelled()]
            # The Alertmanager sender's last attempt runs beside the final checkpoint (stopping.py).
            done = await asyncio.gather(self._shut_down(checkpoints, checkpoint_by_s), self._stop_sender(sender),
                                        return_exceptions=True)
            for outcome in done:
                if isinstance(outcome, BaseException):
                    raise outcome
        for failure in failures:
            if failure is not None:
                raise failure
        self._report_overflow()

    async def _until_stopped(self, lanes: list[asyncio.Task[None]]) -> None:
        """Until ``stop()``, or a lane ends by itself (it failed): then stop the others too."""
        stopped = asyncio.create_task(self._stop.wait())
        try:
            await asyncio.wait([*lanes, stopped], return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopped.cancel()
            self.telemetry.phase = "stopping"
            self._stop.set()

    async def _finish_lanes(self, lanes: list[asyncio.Task[None]], checkpoints: asyncio.Task[None]) -> None:
        """Give the lanes ``LANE_GRACE_S`` to finish their batches in hand (and a periodic checkpoint
        under way as long to end), then cut off what still waits for the bus."""
        _, late = await asyncio.wait([*lanes, checkpoints], timeout=LANE_GRACE_S)
        for task in late:
            task.cancel()
        if late:
            await asyncio.wait(late, timeout=CANCEL_GRACE_S)
        for lane in self.lanes.values():
            if lane.puller is not None and (lane.unsafe or lane.in_hand is not None):
                self.log.warning("lane.unfinished", stream=lane.stream, acked_seq=lane.stats.last_seq,
                               unacked=_seq_range(lane.in_hand), checkpoint_seq=_saved_seq(lane),
                               note="not acked and not checkpointed: the stream redelivers it on restart")

    def _lane_task(self, lane: Lane) -> asyncio.Task[None]:
        if lane.puller is not None:
            return asyncio.create_task(lane.run(self._stop), name=f"lane-{lane.stream}")
        assert self.monitor is not None and self.config.bus_monitor is not None
        interval_s = self.config.bus_monitor.interval_ms / 1000
        return asyncio.create_task(lane.run_measurements(self._stop, self.monitor, interval_s), name=f"lane-{lane.stream}")

    async def _shut_down(self, checkpoints: asyncio.Task[None], checkpoint_by_s: float | None) -> None:
        self._stop.set()
        checkpoints.cancel()  # done by now, unless run() itself was cancelled
        if checkpoints.done() and not checkpoints.cancelled():
            checkpoints.exception()  # a refusal there is refused to the lanes too: theirs is raised
        timeout_s = max(CHECKPOINT_GRACE_S, (checkpoint_by_s or 0.0) - time.monotonic())
        try:
            # save_final() raises only a permission refusal (the processor's failure then), after
            # which no checkpoint is written: the durables still hold everything since the last one.
            if not self.nc.is_connected:
                self.log.error("checkpoint.final_skipped", reason="not connected to NATS",
                               note="the last stored checkpoint stands; the streams redeliver what came after it")
            elif not (await within(timeout_s, self.checkpoints.save_final()))[0]:
                self.log.error("checkpoint.final_failed", error=f"not stored within {timeout_s:.1f} s",
                               note="the last stored checkpoint stands; the streams redeliver what came after it")
        finally:
            for lane in self.lanes.values():
                if lane.puller is not None:
                    with contextlib.suppress(Exception):
                        await lane.puller.stop()
            if self.monitor is not None:
                with contextlib.suppress(Exception):
                    await self.monitor.stop()

    async def _stop_sender(self, sender: asyncio.Task[None] | None) -> None:
        """The sender ends with the stop; what it still holds gets one bounded attempt."""
        if sender is None or self.alertmanager is None:
            return
        _, late = await asyncio.wait([sender], timeout=CANCEL_GRACE_S)
        for task in late:
            task.cancel()
        with contextlib.suppress(Exception):
            await self.alertmanager.flush(ALERTMANAGER_FLUSH_S)

    def _sender_ended(self, task: asyncio.Task[None]) -> None:
        # A bug in the sender must not go unnoticed until the stop: alerts no longer reach Alertmanager.
        if not task.cancelled() and task.exception() is not None:
            self.log.error("alertmanager.sender_failed", error=repr(task.exception()),
                           note="alerts are still published on slo.alerts, no longer sent to Alertmanager")

    def positions(self) -> dict[str, dict[str, Any]]:
        """Per stream: the last sequence acked, the batches in hand, the last one checkpointed."""
        return {
            name: {"acked_seq": lane.stats.last_seq, "unacked": _seq_range(lane.in_hand),
                   "checkpoint_seq": _saved_seq(lane)}
            for name, lane in self.lanes.items()
            if lane.puller is not None
        }

    def counters(self) -> dict[str, dict[str, Any]]:
        """Per stream and for the publisher: what was counted since start."""
        out = counters(self.lanes, self.outbox.publisher)
        if self.alertmanager is not None:
            out["alertmanager"] = {k: v for k, v in vars(self.alertmanager.stats).items() if k != "by_url"}
        return out
