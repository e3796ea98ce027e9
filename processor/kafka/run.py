"""`slo run --source kafka`: the faust source, outputs to NATS ``slo.>`` (and checkpoints in its KV).

Connects to NATS (starting the embedded nats-server when no URL is given, as `slo run`), provisions
the SLO stream the outputs go to, runs a ``KafkaSource`` until SIGINT or SIGTERM, then lets the
batches in hand finish, checkpoints every partition and stops faust, within the bounds of
runtime/stopping.py.
"""

from __future__ import annotations

__all__ = ["kafka_settings", "run_from_args", "serve_kafka"]

import asyncio
import contextlib
import os
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import structlog

from processor.bus.connect import ConnectOptions, connect, let_go
from processor.bus.embedded import EmbeddedServer
from processor.bus.publisher import Publisher
from processor.bus.streams import load_stream_definitions, provision_streams
from processor.config.kafka import parse_brokers, topic_problem
from processor.config.model import Config, KafkaConfig
from processor.errors import ProcessorError
from processor.kafka.checkpoints import KvCheckpoints
from processor.kafka.source import KafkaSource
from processor.runtime.logs import configure_logging
from processor.runtime.outbox import Outbox
from processor.runtime.processor import CHECKPOINT_INTERVAL_S
from processor.runtime.serve import connect_options
from processor.runtime.stopping import EMBEDDED_STOP_S, LANE_GRACE_S, StopSignals
from processor.runtime.testhooks import checkpoint_interval_s
from processor.vocabulary import OUTPUT_SUBJECT_PREFIXES


def kafka_settings(config: Config, brokers: str | None, topics: str | None) -> tuple[KafkaConfig, list[str]]:
    """The ``kafka:`` section with ``--kafka-brokers`` over its brokers, and the topics to read
    (``--topics``, else the section's); ProcessorError naming what is missing or wrong."""
    kafka = config.kafka or KafkaConfig()
    if brokers:
        parsed, problems = parse_brokers(brokers)
        if problems:
            raise ProcessorError(f"--kafka-brokers: {problems[0]}")
        kafka = kafka.model_copy(update={"brokers": parsed})
    if not kafka.brokers:
        raise ProcessorError("--source kafka needs brokers: --kafka-brokers host:9092[,...] or kafka.brokers in the config")
    names = [t.strip() for t in (topics or "").split(",") if t.strip()]
    for name in names:
        if (problem := topic_problem(name)) is not None:
            raise ProcessorError(f"--topics: {problem}")
    if not names and not kafka.topics:
        raise ProcessorError("--source kafka needs topics: --topics market,trade,... or kafka.topics in the config")
    return kafka, names


def _output_streams(streams_dir: Path) -> list[dict[str, Any]]:
    """The stream definitions that hold the outputs (``slo.>``): the only ones a Kafka run needs."""
    prefix = OUTPUT_SUBJECT_PREFIXES["alerts"].split(".")[0]
    return [d for d in load_stream_definitions(streams_dir)
            if any(s.split(".")[0] == prefix for s in d.get("subjects", []))]


async def serve_kafka(config: Config, kafka: KafkaConfig, topics: list[str], opts: ConnectOptions, streams_dir: Path,
                      store_dir: Path, *, stop: asyncio.Event, log: Any, idle_after_s: float = 1.0,
                      checkpoint_every_s: float = CHECKPOINT_INTERVAL_S,
                      signals: StopSignals | None = None, commit_every: int | None = None,
                      outputs: Any = None) -> None:
    embedded = None
    if opts.url is None:
        embedded = EmbeddedServer(store_dir / "nats", stop_timeout_s=EMBEDDED_STOP_S)
        opts = replace(opts, url=await embedded.start())  # which logs embedded.started
    try:
        nc = await connect(opts)
        exits = contextlib.AsyncExitStack()  # the Kafka outputs' publisher (slo run --outputs kafka)
        try:
            for r in await provision_streams(nc, _output_streams(streams_dir), log):
                log.info("stream.provisioned", stream=r.name, action=r.action, replicas=r.replicas)
            publisher = await exits.enter_async_context(outputs()) if outputs is not None else Publisher(nc)
            outbox = Outbox(publisher, stop, log, runbook_base_url=config.defaults.runbook_base_url)
            source = KafkaSource(config, kafka, outbox, KvCheckpoints(nc, kafka.group), topics=topics, log=log,
                                 idle_after_s=idle_after_s, checkpoint_interval_s=checkpoint_every_s,
                                 commit_every=commit_every)
            if signals is not None:
                signals.progress = source.positions
            await source.start()
            await stop.wait()
            await source.stop(LANE_GRACE_S)
            log.info("processor.stopped", positions=source.positions())
        finally:
            await exits.aclose()
            await let_go(nc)
    finally:
        if embedded is not None:
            await embedded.stop()


def run_from_args(args: Any, outputs_for: Any = None) -> int:
    """``slo run --source kafka``: the process exit code. ``outputs_for``: as runtime/serve.run_from_args'."""
    from processor.config.load import load_config

    configure_logging()
    log = structlog.get_logger("slo")
    unsupported = [flag for flag, value in (("--http", args.http), ("--services", args.services)) if value]
    if unsupported:
        print(f"{', '.join(unsupported)}: not supported with --source kafka yet (docs/kafka.md)", file=sys.stderr)
        return 1
    try:
        config = load_config(args.config)
        kafka, topics = kafka_settings(config, args.kafka_brokers, args.topics)
        outputs = outputs_for(config) if outputs_for is not None else None
    except ProcessorError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    opts = connect_options(args, os.environ)
    stop = asyncio.Event()
    signals = StopSignals(stop, log)
    every_s = checkpoint_interval_s(os.environ, CHECKPOINT_INTERVAL_S)

    async def main() -> None:
        signals.install()
        await serve_kafka(config, kafka, topics, opts, Path(args.streams_dir), Path(args.store_dir), stop=stop,
                          log=log, checkpoint_every_s=every_s, signals=signals, outputs=outputs,
                          # test-only: the idle clock's wait, and faust committing after every N acks
                          idle_after_s=float(os.environ.get("SLO_TEST_IDLE_AFTER_S", "1.0")),
                          commit_every=int(os.environ.get("SLO_TEST_KAFKA_COMMIT_EVERY", "0")) or None)

    try:
        asyncio.run(main())
    except ProcessorError as exc:
        log.error("processor.failed", error=str(exc))
        return 1
    finally:
        signals.uninstall()
    return 0
