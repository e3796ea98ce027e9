"""`slo run`: connect (starting the embedded nats-server when no URL is given) and run a Processor
until SIGINT or SIGTERM."""

from __future__ import annotations

__all__ = ["connect_options", "run_from_args", "serve"]

import asyncio
import os
import signal
import sys
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import structlog

from processor.bus.connect import ConnectOptions, connect
from processor.bus.embedded import EmbeddedServer
from processor.bus.streams import load_stream_definitions
from processor.config.model import Config
from processor.errors import ProcessorError
from processor.runtime.logs import configure_logging
from processor.runtime.processor import Processor


async def serve(
    config: Config,
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
                config, nc, definitions, batch_size=batch_size, checkpoint_key=instance, consumer_prefix=prefix, log=log
            )
            await proc.start()
            runner = asyncio.create_task(proc.run())
            stopper = asyncio.create_task((stop or asyncio.Event()).wait())
            await asyncio.wait({runner, stopper}, return_when=asyncio.FIRST_COMPLETED)
            proc.stop()
            stopper.cancel()
            await runner
            log.info("processor.stopped", counters=proc.counters())
        finally:
            await nc.drain()
    finally:
        if embedded is not None:
            await embedded.stop()
            log.info("embedded.stopped")


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


def run_from_args(args: Any) -> int:
    """``slo run``: the process exit code."""
    from processor.config.load import load_config

    configure_logging()
    log = structlog.get_logger("slo")
    try:
        config = load_config(args.config)
    except ProcessorError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    opts = connect_options(args, os.environ)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await serve(
            config,
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
