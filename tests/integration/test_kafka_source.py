"""`slo run --source kafka` against a real Kafka-protocol broker (Tansu, tests/kafkakit.py).

The reference is independent of the Kafka path: the same events, written by `slo simulate --out`
(with an incident), replayed from the file by `slo replay` through the engines of the NATS path.
Each stream's events go to a one-partition topic of their own (key = the subject after its first
token, timestamp = the JetStream stamp); `slo run --source kafka` reads them with the mapping
``subject_from: key`` and publishes to a fresh nats-server. Its alerts on the SLO stream must be the
replay's, message for message (subject, Nats-Msg-Id, body), after a clean run and after a kill -9
in the middle of the backlog (restart from the per-partition checkpoints, the republished outputs
dropped by their Nats-Msg-Id as on NATS).
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest

from processor.bus.checkpoint import CheckpointStore, decode_checkpoint
from processor.bus.connect import ConnectOptions, connect
from processor.bus.embedded import EmbeddedServer
from processor.bus.history import read_history
from processor.kafka.checkpoints import checkpoint_key
from processor.kafka.parts import lane_name
from tests.kafkakit import create_topics, export_records, kafka_bootstrap, kafka_config, produce  # noqa: F401

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
INCIDENT = "latency_spike:gateway@1m+5m"
# The streams sent to Kafka (and replayed): MARKET's quotes, 60 % of the events, fire nothing here.
STREAMS = ("ANALYTICS", "TRADE", "AI")


def _slo(*args: str, env: dict | None = None, log: Path | None = None) -> subprocess.Popen:
    out = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115
    return subprocess.Popen([sys.executable, "-m", "processor.cli", *args], cwd=ROOT, stdout=out,
                            stderr=subprocess.STDOUT, env={**os.environ, **(env or {})})


@pytest.fixture(scope="module")
def backlog(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[tuple[str, str, dict]]]:
    """The events file and the alerts a replay of it publishes: (subject, msg id, body)."""
    d = tmp_path_factory.mktemp("backlog")
    events = d / "events.ndjson"
    sim = _slo("simulate", "--duration", "8m", "--start", "2026-01-05T14:00:00Z", "--rate", "2",
               "--incident", INCIDENT, "--out", str(events))
    assert 0 == sim.wait(120)
    rep = _slo("replay", "--input", str(events), "--out", str(d / "replay"), "--store-dir", str(d / "store"),
               "--streams", ",".join(STREAMS))
    assert 0 == rep.wait(120)
    lines = (d / "replay" / "alerts.ndjson").read_bytes().splitlines()
    alerts = [(a["subject"], a["msg_id"], a["data"]) for a in map(orjson.loads, lines)]
    assert any(a[2]["status"] == "firing" for a in alerts), "the incident must fire something"
    return events, alerts


async def _setup(bootstrap: str, d: Path, events: Path, tag: str) -> tuple[Path, dict[str, int]]:
    """Topics ``<tag>-<stream>`` holding the events; the config reading them; each lane's last offset."""
    records = export_records(events)
    topics = {f"{tag}-{stream}": stream for stream in records if stream.upper() in STREAMS}
    await create_topics(bootstrap, dict.fromkeys(topics, 1))
    for topic, stream in topics.items():
        await produce(bootstrap, topic, records[stream])
    config = kafka_config(d, bootstrap, topics, group=f"slo-{tag}")
    return config, {lane_name(t, 0): len(records[s]) - 1 for t, s in topics.items()}


async def _checkpointed(nc, group: str, lanes: dict[str, int]) -> dict[str, int | None]:
    out = {}
    for lane in lanes:
        raw = await CheckpointStore(nc, key=checkpoint_key(group, lane)).load()
        out[lane] = None if raw is None else decode_checkpoint(raw)[lane][0]
    return out


async def _until_checkpointed(nc, group: str, lanes: dict[str, int], timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if await _checkpointed(nc, group, lanes) == lanes:
            return
        await asyncio.sleep(0.3)
    raise AssertionError(f"not all checkpointed: {await _checkpointed(nc, group, lanes)} != {lanes}")


async def _alerts(nc) -> list[tuple[str, str, dict]]:
    out = []
    async for batch in read_history(nc, "SLO", filter_subject="slo.alerts.>"):
        out += [(m.subject, m.headers["Nats-Msg-Id"], orjson.loads(m.data)) for m in batch]
    return out


def _run_args(config: Path, url: str) -> list[str]:
    return ["run", "--source", "kafka", "--config", str(config), "--nats-url", url]


ENV = {"SLO_TEST_IDLE_AFTER_S": "3600", "SLO_TEST_CHECKPOINT_INTERVAL_S": "0.3"}


async def test_a_backlog_with_an_incident_fires_the_alerts_of_a_replay_of_the_same_events(
        kafka_bootstrap: str, backlog, tmp_path: Path) -> None:
    events, expected = backlog
    config, lanes = await _setup(kafka_bootstrap, tmp_path, events, "clean")
    async with EmbeddedServer(tmp_path / "nats") as server:
        nc = await connect(ConnectOptions(url=server.url))
        proc = _slo(*_run_args(config, server.url), env=ENV, log=tmp_path / "run.log")
        try:
            await _until_checkpointed(nc, "slo-clean", lanes)
        finally:
            proc.send_signal(signal.SIGTERM)
            assert 0 == proc.wait(30)
        got = await _alerts(nc)
        await nc.close()

    assert sorted(expected, key=lambda a: a[1]) == sorted(got, key=lambda a: a[1])
    assert len({a[1] for a in got}) == len(got)


async def test_kill_9_in_the_middle_of_the_backlog_loses_and_duplicates_nothing(
        kafka_bootstrap: str, backlog, tmp_path: Path) -> None:
    events, expected = backlog
    config, lanes = await _setup(kafka_bootstrap, tmp_path, events, "kill")
    async with EmbeddedServer(tmp_path / "nats") as server:
        nc = await connect(ConnectOptions(url=server.url))
        # faust commits after every batch, ahead of the checkpoints: the restart must seek back (a
        # partition whose committed offset is its end would otherwise never deliver again).
        first = _slo(*_run_args(config, server.url), env={**ENV, "SLO_TEST_KAFKA_COMMIT_EVERY": "1",
                                                              "SLO_TEST_CHECKPOINT_INTERVAL_S": "0.05"},
                     log=tmp_path / "run1.log")
        try:
            # Killed once the incident's partition is checkpointed a third of the way or more, not to
            # the end: state, offsets and alerts on both sides of the restart.
            deadline = time.monotonic() + 60
            gateway = lane_name("kill-analytics", 0)
            while time.monotonic() < deadline:
                done = await _checkpointed(nc, "slo-kill", lanes)
                # (the batched engine takes a partition fast: any checkpoint short of its end will do)
                if done[gateway] is not None and 0 < done[gateway] < lanes[gateway]:
                    break
                await asyncio.sleep(0.05)
            else:
                raise AssertionError(f"no partial checkpoint seen: {done}")
        finally:
            first.send_signal(signal.SIGKILL)
            first.wait(10)
        partial = await _checkpointed(nc, "slo-kill", lanes)
        second = _slo(*_run_args(config, server.url), env=ENV, log=tmp_path / "run2.log")
        try:
            await _until_checkpointed(nc, "slo-kill", lanes)
        finally:
            second.send_signal(signal.SIGTERM)
            assert 0 == second.wait(30)
        got = await _alerts(nc)
        await nc.close()

    assert partial[gateway] < lanes[gateway]  # the kill came before the end
    restored = (tmp_path / "run2.log").read_text()
    assert f'"lane": "{gateway}", "from_offset": {partial[gateway] + 1}, "restored": true' in restored
    missing = {a[1] for a in expected} - {a[1] for a in got}
    extra = {a[1] for a in got} - {a[1] for a in expected}
    logs = "".join(line for run in ("run1", "run2") for line in (tmp_path / f"{run}.log").read_text().splitlines(True)
                   if '"kafka.' in line and '"kafka.started"' not in line)
    assert sorted(expected, key=lambda a: a[1]) == sorted(got, key=lambda a: a[1]), (sorted(missing), sorted(extra), logs)
