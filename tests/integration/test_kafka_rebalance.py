"""Rebalances on Kafka input: a second worker joins the group, then the first leaves it.

The first worker reads the first half of every partition alone. A second `slo run --source kafka`
joins the same group: faust revokes the first worker's partitions (each lane checkpoints its state)
and assigns them again; faust's assignor keeps co-partitioned topics (here: all, one partition each)
together, so they go back to the first, which restores them from those checkpoints. Then the first
stops: its partitions move to the second, which restores them from the first's checkpoints and
seeks to the offset after each; then the second half is produced. Together they must publish the
alerts of a replay of the same events, message for message (tests/integration/test_kafka_source.py
builds the backlog and the replay the same way).
"""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

import pytest

from processor.bus.connect import ConnectOptions, connect
from processor.bus.embedded import EmbeddedServer
from processor.kafka.parts import lane_name
from tests.integration.test_kafka_source import (  # noqa: F401
    ENV,
    STREAMS,
    _alerts,
    _run_args,
    _slo,
    _until_checkpointed,
    backlog,
)
from tests.kafkakit import create_topics, export_records, kafka_bootstrap, kafka_config, produce  # noqa: F401

pytestmark = pytest.mark.integration


async def _until_logged(path: Path, text: str, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while text not in (path.read_text() if path.exists() else ""):
        assert time.monotonic() < deadline, f"{path.name} never logged {text}"
        await asyncio.sleep(0.1)


async def test_partitions_moving_to_a_second_worker_lose_and_duplicate_nothing(
        kafka_bootstrap: str, backlog, tmp_path: Path) -> None:
    events, expected = backlog
    records = {f"move-{s}": r for s, r in export_records(events).items() if s.upper() in STREAMS}
    await create_topics(kafka_bootstrap, dict.fromkeys(records, 1))
    for topic, recs in records.items():
        await produce(kafka_bootstrap, topic, recs[: len(recs) // 2])
    config = kafka_config(tmp_path, kafka_bootstrap, {t: t.split("-", 1)[1] for t in records}, group="slo-move")
    half = {lane_name(t, 0): len(r) // 2 - 1 for t, r in records.items()}
    lanes = {lane_name(t, 0): len(r) - 1 for t, r in records.items()}
    logs = [tmp_path / "run1.log", tmp_path / "run2.log"]
    async with EmbeddedServer(tmp_path / "nats") as server:
        nc = await connect(ConnectOptions(url=server.url))
        procs = [_slo(*_run_args(config, server.url), env=ENV, log=logs[0])]
        try:
            await _until_checkpointed(nc, "slo-move", half)
            procs.append(_slo(*_run_args(config, server.url), env=ENV, log=logs[1]))
            await _until_logged(logs[1], '"event": "kafka.started"')
            await _until_logged(logs[0], '"event": "kafka.revoked"')
            procs[0].send_signal(signal.SIGTERM)  # the first leaves: its partitions move
            await _until_logged(logs[1], '"restored": true')
            for topic, recs in records.items():
                await produce(kafka_bootstrap, topic, recs[len(recs) // 2:])
            await _until_checkpointed(nc, "slo-move", lanes)
        finally:
            for proc in procs:
                proc.send_signal(signal.SIGTERM)
            codes = [proc.wait(30) for proc in procs]
        got = await _alerts(nc)
        await nc.close()

    assert [0, 0] == codes
    for lane, offset in half.items():  # the second took every partition over from the first's checkpoint
        assert f'"lane": "{lane}", "from_offset": {offset + 1}, "restored": true' in logs[1].read_text()
    assert sorted(expected, key=lambda a: a[1]) == sorted(got, key=lambda a: a[1])
