"""`slo run`: connect (starting the embedded nats-server when no URL is given) and run a Processor
until SIGINT or SIGTERM, then stop within the bounds of ``runtime/stopping.py``."""

from __future__ import annotations

__all__ = ["connect_options", "run_from_args", "serve"]

import asyncio
import contextlib
import os
import sys
import time
from collections.abc import Callable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import replace
from pathlib import Path
from typing import Any

import nats.errors
import structlog
from nats.aio.client import Client

from processor.bus.connect import ConnectOptions, connect, let_go
from processor.bus.embedded import EmbeddedServer
from processor.bus.lease import LeaseStore
from processor.bus.streams import load_stream_definitions
from processor.config.model import Config
from processor.errors import BusError, DeliveryGapError, PermissionDeniedError, ProcessorError
from processor.runtime.http import HttpServer
from processor.runtime.alertmanager import credentials
from processor.runtime.lease import DEFAULT_LEASE_TTL_S, Lease
from processor.runtime.logs import configure_logging
from processor.runtime.outbox import OutputPublisher
from processor.runtime.partitions import Partition, Rest, partition_instance, share_config, share_from_args
from processor.runtime.processor import CHECKPOINT_INTERVAL_S, Processor
from processor.runtime.stopping import CLOSE_GRACE_S, EMBEDDED_STOP_S, StopSignals, within
from processor.runtime.telemetry import Telemetry
from processor.runtime.testhooks import checkpoint_interval_s, idle_after_s, stall_from_env
from processor.runtime.topology import consumer_prefix, parse_services, services_config, sidecar_instance
from processor.vocabulary import PULL_BATCH_SIZE

# Opens (and at the end closes) the publisher of the outputs, when they do not go to NATS.
Outputs = Callable[[], AbstractAsyncContextManager[OutputPublisher]]


async def serve(
    config: Config,
    opts: ConnectOptions,
    streams_dir: Path,
    store_dir: Path,
    *,
    batch_size: int = PULL_BATCH_SIZE,
    instance: str = "default",
    sidecar: bool = False,
    partition: Partition | None = None,
    stop: asyncio.Event | None = None,
    on_start: Callable[[Processor], None] = lambda proc: None,
    env: Mapping[str, str] = os.environ,
    http: tuple[str, int] | None = None,
    generator_base_url: str | None = None,
    lease_ttl_s: float | None = None,
    outputs: Outputs | None = None,
) -> None:
    """Connect (starting the embedded server when no URL is given), run until ``stop`` is set.

    ``instance`` names this processor's durable consumers and checkpoint: replicas that should
    each see every event (availability) or partitions run under different names. ``sidecar``: the
    config is one partition's (``services_config``), each consumer filtered to its SLIs' subjects;
    ``partition``: also its share of the hot subject (``runtime/partitions.py``). ``env`` is read
    for the test-only hooks of ``runtime/testhooks.py``. ``http``: (host, port) of the listener
    of ``/metrics``, ``/healthz``, ``/readyz`` and the SLO page (``runtime/http.py``), started
    first so that it answers (not ready) while the processor connects and restores.
    ``generator_base_url``: where the SLO page is served, the base of the alerts' generatorURL in
    Alertmanager (default: the ``http`` listener's own address). ``lease_ttl_s`` (``--standby``):
    run as one of several instances of ``instance``, active only while holding its lease
    (``runtime/lease.py``), standby otherwise. ``outputs``: opens the publisher
    the outputs go to instead of NATS ``slo.>`` (``slo run --outputs kafka``: kafka/sink.py)."""
    log = structlog.get_logger("slo")
    stop = stop or asyncio.Event()
    telemetry = Telemetry(config)
    listener = None if http is None else await _listen(telemetry, http, log)
    if generator_base_url is None and listener is not None:
        generator_base_url = f"http://{_url_host(listener.host)}:{listener.port}"
    try:
        await _serve(config, opts, streams_dir, store_dir, batch_size=batch_size, instance=instance, sidecar=sidecar,
                     partition=partition, stop=stop, on_start=on_start, env=env, telemetry=telemetry, log=log,
                     generator_base_url=generator_base_url, lease_ttl_s=lease_ttl_s, outputs=outputs)
    finally:
        telemetry.phase = "stopping"
        if listener is not None:
            await listener.stop()


async def _listen(telemetry: Telemetry, address: tuple[str, int], log: Any) -> HttpServer:
    listener = HttpServer(telemetry, *address)
    try:
        await listener.start()
    except OSError as exc:
        raise ProcessorError(f"--http {address[0]}:{address[1]}: cannot listen: {exc.strerror or exc}") from exc
    log.info("http.listening", url=f"http://{_url_host(listener.host)}:{listener.port}/",
             metrics="/metrics", health="/healthz", ready="/readyz")
    return listener


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


async def _serve(config: Config, opts: ConnectOptions, streams_dir: Path, store_dir: Path, *, batch_size: int,
                 instance: str, sidecar: bool, partition: Partition | None, stop: asyncio.Event,
                 on_start: Callable[[Processor], None], env: Mapping[str, str], telemetry: Telemetry, log: Any,
                 generator_base_url: str | None, lease_ttl_s: float | None,
                 outputs: Outputs | None = None) -> None:
    definitions = load_stream_definitions(streams_dir)
    embedded = None
    if opts.url is None:
        embedded = EmbeddedServer(store_dir / "nats", stop_timeout_s=EMBEDDED_STOP_S)
        opts = replace(opts, url=await embedded.start())  # which logs embedded.started
    try:
        nc = await connect(opts)  # which logs nats.connected
        exits = contextlib.AsyncExitStack()
        try:
            prefix = consumer_prefix(instance)
            # The outputs' publisher when they do not go to NATS, closed after the processor.
            publisher = await exits.enter_async_context(outputs()) if outputs is not None else None

            def processor(may_act: Callable[[], bool] | None = None) -> Processor:
                return Processor(
                    config, nc, definitions, batch_size=batch_size, checkpoint_key=instance, consumer_prefix=prefix,
                    filter_by_slis=sidecar, partition=partition, log=log,
                    checkpoint_interval_s=checkpoint_interval_s(env, CHECKPOINT_INTERVAL_S), stall=stall_from_env(env),
                    idle_after_s=idle_after_s(env, 1.0),
                    telemetry=telemetry, generator_base_url=generator_base_url, may_act=may_act, lease_ttl_s=lease_ttl_s,
                    publisher=publisher,
                )

            if lease_ttl_s is not None:
                await _active_or_standby(processor, Lease(LeaseStore(nc, instance, lease_ttl_s), log), stop, on_start,
                                         telemetry, log)
                return
            proc = await _plain(processor, stop, on_start, log)
            if proc.fenced is not None:
                raise ProcessorError(f"stopped: {proc.fenced}; give each `slo run` its own --instance, or run them "
                                     f"all with --standby")
        finally:
            await exits.aclose()
            await _close(nc, log)
    finally:
        if embedded is not None:
            await embedded.stop()  # which logs embedded.stopped


# A plain `slo run` resumes from its checkpoint after a delivery gap; as many gaps in a row
# within this long mean another process reads its durables, which no restart cures.
GAP_RESTARTS_MAX = 5
GAP_RESTARTS_WITHIN_S = 60.0
RESTART_RETRY_S = 1.0


async def _plain(processor: Callable[[], Processor], stop: asyncio.Event, on_start: Callable[[Processor], None],
                 log: Any) -> Processor:
    """One processor until ``stop``; after a delivery gap (deliveries lost with a connection to a
    NATS node that went down: the consumer's new leader goes on after them) it has stopped and
    checkpointed what it applied, and a new one resumes from that checkpoint, which repositions
    the durables so that the stream delivers the lost messages again."""
    gaps: list[float] = []
    while True:
        proc = processor()
        on_start(proc)
        try:
            started = await _restarted(proc, stop, log, gaps[-1] if gaps else None)
            if started:
                await _run_until(proc, stop)
                log.info("processor.stopped", counters=proc.counters(), positions=proc.positions())
            if started is not None:
                return proc
        except DeliveryGapError as exc:
            now_s = time.monotonic()
            gaps = [t for t in gaps if now_s - t < GAP_RESTARTS_WITHIN_S] + [now_s]
            if len(gaps) > GAP_RESTARTS_MAX:
                raise ProcessorError(f"{exc}, {len(gaps)} times within {GAP_RESTARTS_WITHIN_S:g} s: another process "
                                     "reads these durables; give each `slo run` its own --instance, or run them all "
                                     "with --standby") from exc
            log.error("consumer.delivery_gap", error=str(exc), action="resuming from the checkpoint")
        if stop.is_set():
            return proc


async def _restarted(proc: Processor, stop: asyncio.Event, log: Any, gap_s: float | None) -> bool | None:
    """``_started``, except that within GAP_RESTARTS_WITHIN_S of a delivery gap (``gap_s``) a bus
    that does not answer yet is waited for: a gap comes with a lost NATS node, and the restart's
    first requests can meet the election of its streams' new leaders. None: not started, try again."""
    try:
        return await _started(proc, stop, log)
    except BusError as exc:
        if gap_s is None or isinstance(exc, PermissionDeniedError) or time.monotonic() - gap_s > GAP_RESTARTS_WITHIN_S:
            raise
        log.warning("processor.restart_failed", error=str(exc), retry_in_s=RESTART_RETRY_S)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=RESTART_RETRY_S)
        return None


async def _active_or_standby(processor: Callable[[Callable[[], bool]], Processor], lease: Lease,
                             stop: asyncio.Event, on_start: Callable[[Processor], None], telemetry: Telemetry,
                             log: Any) -> None:
    """Standby until the lease is ours, then a processor that acts only while it holds it; when it
    is lost, that processor stops (publishing and checkpointing nothing more) and we are standby
    again. At ``stop`` the active finishes as a plain run does, then frees the lease."""
    await lease.open()
    while True:
        telemetry.phase, telemetry.role = "standby", "standby"
        telemetry.pending.clear()
        if not await lease.acquire(stop):
            return
        telemetry.phase, telemetry.role = "starting", "active"
        proc = processor(lease.held)
        proc.on_fenced = lease.step_down
        on_start(proc)
        keeper = asyncio.create_task(lease.keep(), name="lease")
        ended = asyncio.Event()
        watchers = [asyncio.create_task(_set_when(event, ended)) for event in (stop, lease.lost)]
        try:
            if await _started(proc, ended, log):
                await _run_until(proc, ended)
                log.info("processor.stopped", counters=proc.counters(), positions=proc.positions(),
                         role="active" if lease.held() else "stepped down")
        except DeliveryGapError as exc:
            log.error("consumer.delivery_gap", error=str(exc))
            lease.step_down(str(exc))  # and take over again (or let the other one) from the checkpoint
        finally:
            for task in (keeper, *watchers):
                task.cancel()
            await asyncio.gather(keeper, *watchers, return_exceptions=True)
            await lease.release()
        if stop.is_set():
            return


async def _set_when(event: asyncio.Event, then: asyncio.Event) -> None:
    await event.wait()
    then.set()


async def _started(proc: Processor, stop: asyncio.Event, log: Any) -> bool:
    """Start ``proc``; False if ``stop`` came first (nothing was consumed: nothing to finish)."""
    starting = asyncio.ensure_future(proc.start())
    stopped = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({starting, stopped}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopped.cancel()
        if not starting.done():
            starting.cancel()
    if not starting.cancelled():
        starting.result()  # its failure, if it failed
        return True
    log.warning("processor.stopped_while_starting", note="nothing was consumed yet")
    return False


async def _run_until(proc: Processor, stop: asyncio.Event) -> None:
    runner = asyncio.create_task(proc.run())
    stopper = asyncio.create_task(stop.wait())
    await asyncio.wait({runner, stopper}, return_when=asyncio.FIRST_COMPLETED)
    proc.stop()
    stopper.cancel()
    await runner  # bounded: the processor's own shutdown bounds every wait


async def _close(nc: Client, log: Any) -> None:
    """Flush the last acks and close, within ``CLOSE_GRACE_S``: a stopped or frozen server must
    not hold us (acks that do not arrive only mean redeliveries that the checkpoint skips)."""

    async def flush_and_close() -> None:
        # The connection is being let go: its errors (a broken pipe of a server that went away)
        # change nothing any more.
        with contextlib.suppress(nats.errors.Error, OSError, TimeoutError):
            if nc.is_connected:
                await nc.flush(timeout=CLOSE_GRACE_S)
        await let_go(nc)

    closed, _ = await within(CLOSE_GRACE_S, flush_and_close())
    if not closed:
        log.warning("nats.close_timeout", waited_s=CLOSE_GRACE_S, note="the server did not answer; closed without it")


def connect_options(args: Any, env: Mapping[str, str]) -> ConnectOptions:
    """Where and how to connect: ``slo run``'s options over ``SLO_NATS_*`` / ``NATS_URL``."""
    opts = ConnectOptions.resolve(args.nats_url, env)
    overrides = {
        k: v
        for k, v in dict(
            user=args.user,
            password=args.password,
            token=args.token,
            creds_file=args.creds,
            nkey_seed_file=args.nkey_seed,
            tls_ca=args.tls_ca,
            tls_cert=args.tls_cert,
            tls_key=args.tls_key,
        ).items()
        if v
    }
    return replace(opts, **overrides) if overrides else opts


def run_from_args(args: Any, outputs_for: Callable[[Config], Outputs] | None = None) -> int:
    """``slo run``: the process exit code. ``outputs_for``: the config -> ``serve``'s ``outputs``
    (``slo run --outputs kafka``; a ProcessorError of it is one line on stderr, exit 1)."""
    from processor.config.load import load_config

    configure_logging()
    log = structlog.get_logger("slo")
    try:
        config = load_config(args.config)
        services = parse_services(getattr(args, "services", None))
        if services:
            config = services_config(config, services)
        share = share_from_args(getattr(args, "partition", None), getattr(args, "partition_by", None),
                                getattr(args, "rest_apart", False))
        config = share_config(config, share)  # `--partition rest`: a sidecar of every SLI but the hot ones
        partition = share if isinstance(share, Partition) else None
        if config.alertmanager is not None:
            credentials(config.alertmanager, os.environ)  # a variable not set: one line, before connecting
        outputs = outputs_for(config) if outputs_for is not None else None
    except ProcessorError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    if args.lease_ttl is not None and not args.standby:
        print("--lease-ttl needs --standby", file=sys.stderr)
        return 2
    instance = sidecar_instance(services) if services and args.instance == "default" else args.instance
    instance = instance if share is None else partition_instance(instance, share)
    opts = connect_options(args, os.environ)

    # A signal sets ``stop`` (and arms the watchdog) from the first line of main() until the
    # interpreter is done with the loop, asyncio.run()'s own cleanup included.
    stop = asyncio.Event()
    signals = StopSignals(stop, log)

    async def main() -> None:
        signals.install()
        await serve(
            config,
            opts,
            Path(args.streams_dir),
            Path(args.store_dir),
            batch_size=args.batch_size,
            instance=instance,
            sidecar=bool(services) or isinstance(share, Rest),
            partition=partition,
            stop=stop,
            on_start=lambda proc: setattr(signals, "progress", proc.positions),
            http=args.http,
            lease_ttl_s=(args.lease_ttl or DEFAULT_LEASE_TTL_S) if args.standby else None,
            outputs=outputs,
        )

    try:
        asyncio.run(main())
    except ProcessorError as exc:
        log.error("processor.failed", error=str(exc))
        return 1
    finally:
        signals.uninstall()
    return 0
