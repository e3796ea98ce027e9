"""The bus measured by the processor itself, against a real nats-server of its own per test."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import nats
import pytest
import pytest_asyncio
import structlog
from nats.aio.client import Client
from structlog.testing import capture_logs

from processor.bus import _jsapi
from processor.bus.connect import ConnectOptions, connect, let_go
from processor.bus.embedded import EmbeddedServer
from processor.bus.monitor import BusMonitor
from processor.bus.streams import load_stream_definitions, provision_streams
from processor.config.model import BusMonitorConfig

pytestmark = pytest.mark.integration

STREAMS_DIR = Path(__file__).resolve().parents[2] / "streams"
NS_PER_S = 1_000_000_000
# interval 1 s -> every request of a round waits at most 0.5 s
INTERVAL_MS = 1_000
REQUEST_TIMEOUT_S = 0.5
# Long enough for a local core delivery, short enough to wait out in a test.
DELIVERY_TIMEOUT_MS = 200


@dataclass
class Bus:
    server: EmbeddedServer
    nc: Client


class Clock:
    """The wall clock of the monitor, set by the test so that every ``ts`` is known."""

    def __init__(self, now_ms: int) -> None:
        self.now_ms = now_ms

    def __call__(self) -> int:
        return self.now_ms


@pytest_asyncio.fixture
async def bus(tmp_path: Path) -> AsyncIterator[Bus]:
    """A fresh server (tests stop it or delete streams) with the repository's SLO stream."""
    server = EmbeddedServer(tmp_path)
    url = await server.start()
    nc = await connect(ConnectOptions(url=url, name="bus-monitor-tests"))
    [slo] = [d for d in load_stream_definitions(STREAMS_DIR) if d["name"] == "SLO"]
    await provision_streams(nc, [slo], structlog.get_logger())
    try:
        yield Bus(server, nc)
    finally:
        await let_go(nc)  # the tests may have stopped the server
        await server.stop()


def spec(**overrides: object) -> BusMonitorConfig:
    fields: dict[str, object] = {"interval_ms": INTERVAL_MS, "delivery_timeout_ms": DELIVERY_TIMEOUT_MS}
    fields.update(overrides)
    return BusMonitorConfig(**fields)


def decoded(events: list[tuple[str, bytes]]) -> list[tuple[str, dict]]:
    return [(subject, json.loads(payload)) for subject, payload in events]


def without_latency(events: list[tuple[str, dict]]) -> list[tuple[str, dict]]:
    """The events with ``latency_ms`` (not ours to choose) checked for type and taken out."""
    out = []
    for subject, body in events:
        if subject == "bus.publish.probe":
            assert isinstance(body["latency_ms"], float) and body["latency_ms"] >= 0
            body = {k: v for k, v in body.items() if k != "latency_ms"}
        out.append((subject, body))
    return out


async def make_stream(nc: Client, name: str, subjects: list[str], **extra: object) -> None:
    config = {"name": name, "subjects": subjects, "storage": "file", **extra}
    await _jsapi.request(nc, f"$JS.API.STREAM.CREATE.{name}", config, what="test stream")


async def stored_probes(nc: Client, count: int) -> list[tuple[str, dict]]:
    """(Nats-Msg-Id, payload) of the first ``count`` messages of the SLO stream."""
    probes = []
    for seq in range(1, count + 1):
        body = await _jsapi.request(nc, "$JS.API.STREAM.MSG.GET.SLO", {"seq": seq}, what="get")
        message = body["message"]
        assert "slo.probe" == message["subject"]
        headers = base64.b64decode(message["hdrs"]).decode()
        [msg_id] = [
            line.split(":", 1)[1].strip()
            for line in headers.split("\r\n")
            if line.startswith("Nats-Msg-Id:")
        ]
        probes.append((msg_id, json.loads(base64.b64decode(message["data"]))))
    return probes


async def settle() -> None:
    # The probe's copy on the core subscription and its PubAck race; on one local server the
    # copy wins by far, this only keeps a slow machine from making the next round's report flaky.
    await asyncio.sleep(0.05)


async def test_a_healthy_round_reports_probe_streams_and_exact_consumer_lag(bus: Bus) -> None:
    nc = bus.nc
    await make_stream(nc, "ORDERS", ["orders.>"])
    for i in range(7):
        await nc.request("orders.new", json.dumps({"i": i}).encode(), timeout=2)
    js = nc.jetstream()
    puller = await js.pull_subscribe("orders.>", durable="engine")
    fetched = await puller.fetch(3, timeout=2)  # delivered and left unacked
    assert 3 == len(fetched)
    clock = Clock(1_795_000_000_000)
    monitor = BusMonitor(
        nc, spec(consumers=(("ORDERS", "engine"),)), ["SLO", "ORDERS"], now_ms=clock
    )
    await monitor.start()

    first = decoded(await monitor.sample())
    await settle()
    clock.now_ms += INTERVAL_MS
    second = decoded(await monitor.sample())
    await monitor.stop()

    [(first_id, first_probe), (second_id, second_probe)] = await stored_probes(nc, 2)
    # The probe carries its id and send time; the id is its Nats-Msg-Id, unique per probe.
    assert {"probe_id": first_id, "ts": 1_795_000_000_000} == first_probe
    assert {"probe_id": second_id, "ts": 1_795_000_001_000} == second_probe
    assert first_id != second_id
    assert [
        ("bus.publish.probe", {"ts": 1_795_000_000_000, "status": "ok", "stream": "SLO"}),
        ("bus.stream.status", {"ts": 1_795_000_000_000, "stream": "SLO", "state": "up"}),
        ("bus.stream.status", {"ts": 1_795_000_000_000, "stream": "ORDERS", "state": "up"}),
        (
            "bus.consumer.lag",
            {
                "ts": 1_795_000_000_000,
                "stream": "ORDERS",
                "consumer": "engine",
                "pending": 4,
                "ack_pending": 3,
            },
        ),
    ] == without_latency(first)
    delivery_subject, delivery = second[0]
    delay_ms = delivery.pop("delay_ms")
    assert isinstance(delay_ms, float) and 0 <= delay_ms <= DELIVERY_TIMEOUT_MS
    assert "bus.probe.delivery" == delivery_subject
    assert {"ts": 1_795_000_001_000, "probe_id": first_id, "delivered": True} == delivery
    assert ["bus.publish.probe", "bus.stream.status", "bus.stream.status", "bus.consumer.lag"] == [
        s for s, _ in second[1:]
    ]


async def test_the_slo_stream_keeps_probes_inside_a_duplicate_window(bus: Bus) -> None:
    info = await _jsapi.request(bus.nc, "$JS.API.STREAM.INFO.SLO", what="info")
    assert ["slo.>"] == info["config"]["subjects"]
    assert 120 * NS_PER_S == info["config"]["duplicate_window"]


async def test_streams_default_to_the_given_list_and_the_spec_list_wins(bus: Bus) -> None:
    assert ("SLO", "TRADE") == BusMonitor(bus.nc, spec(), ["SLO", "TRADE"]).streams
    assert ("SLO",) == BusMonitor(bus.nc, spec(streams=("SLO",)), ["SLO", "TRADE"]).streams


async def test_a_consumer_that_does_not_exist_yet_is_skipped_with_one_log_line(bus: Bus) -> None:
    nc = bus.nc
    await make_stream(nc, "ORDERS", ["orders.>"])
    for i in range(5):
        await nc.request("orders.new", b"{}", timeout=2)
    clock = Clock(2_000)
    monitor = BusMonitor(nc, spec(consumers=(("ORDERS", "later"),)), ["ORDERS"], now_ms=clock)
    await monitor.start()

    with capture_logs() as logs:
        rounds = [decoded(await monitor.sample()) for _ in range(3)]
        await _jsapi.request(
            nc,
            "$JS.API.CONSUMER.CREATE.ORDERS.later",
            {"stream_name": "ORDERS", "config": {"durable_name": "later", "ack_policy": "explicit"}},
            what="create consumer",
        )
        after = decoded(await monitor.sample())
    await monitor.stop()

    for events in rounds:
        assert [] == [e for e in events if e[0] == "bus.consumer.lag"]
    assert (
        "bus.consumer.lag",
        {"ts": 2_000, "stream": "ORDERS", "consumer": "later", "pending": 5, "ack_pending": 0},
    ) == after[-1]
    assert [
        ("bus_monitor.consumer_missing", "ORDERS", "later"),
        ("bus_monitor.consumer_found", "ORDERS", "later"),
    ] == [(e["event"], e["stream"], e["consumer"]) for e in logs if "consumer" in e]


async def test_a_deleted_stream_is_down_and_its_consumer_gives_no_lag(bus: Bus) -> None:
    nc = bus.nc
    await make_stream(nc, "ORDERS", ["orders.>"])
    await _jsapi.request(
        nc,
        "$JS.API.CONSUMER.CREATE.ORDERS.engine",
        {"stream_name": "ORDERS", "config": {"durable_name": "engine", "ack_policy": "explicit"}},
        what="create consumer",
    )
    monitor = BusMonitor(
        nc, spec(consumers=(("ORDERS", "engine"),)), ["ORDERS"], now_ms=Clock(3_000)
    )
    await monitor.start()
    assert ("bus.stream.status", {"ts": 3_000, "stream": "ORDERS", "state": "up"}) in decoded(
        await monitor.sample()
    )

    await settle()
    await _jsapi.request(nc, "$JS.API.STREAM.DELETE.ORDERS", what="delete stream")
    events = without_latency(decoded(await monitor.sample()))
    await monitor.stop()

    assert [
        ("bus.probe.delivery", "ok"),
        ("bus.publish.probe", {"ts": 3_000, "status": "ok", "stream": "SLO"}),
        (
            "bus.stream.status",
            {
                "ts": 3_000,
                "stream": "ORDERS",
                "state": "down",
                "error": "STREAM.INFO: stream not found (code=404, err_code=10059)",
            },
        ),
    ] == [(s, "ok") if s == "bus.probe.delivery" else (s, b) for s, b in events]


async def test_a_stopped_server_is_a_publish_error_and_every_stream_down_within_the_interval(
    bus: Bus,
) -> None:
    clock = Clock(4_000)
    monitor = BusMonitor(
        bus.nc, spec(consumers=(("SLO", "engine"),)), ["SLO", "TRADE"], now_ms=clock
    )
    await monitor.start()
    await monitor.sample()
    await settle()
    [(first_id, _)] = await stored_probes(bus.nc, 1)

    await bus.server.stop()
    clock.now_ms = 9_000
    started_s = time.monotonic()
    events = decoded(await monitor.sample())
    took_s = time.monotonic() - started_s

    assert took_s < INTERVAL_MS / 1000
    no_answer = f"STREAM.INFO: JetStream did not answer within {REQUEST_TIMEOUT_S:g} s"
    delivery, (subject, publish), *statuses = events
    assert "bus.probe.delivery" == delivery[0]
    assert {"ts": 9_000, "probe_id": first_id, "delivered": True} == {
        k: v for k, v in delivery[1].items() if k != "delay_ms"
    }
    assert "bus.publish.probe" == subject
    assert REQUEST_TIMEOUT_S * 1000 <= publish.pop("latency_ms") < INTERVAL_MS
    assert {"ts": 9_000, "status": "error", "error": "no PubAck within 0.5 s", "stream": "SLO"} == publish
    assert [
        ("bus.stream.status", {"ts": 9_000, "stream": "SLO", "state": "down", "error": no_answer}),
        ("bus.stream.status", {"ts": 9_000, "stream": "TRADE", "state": "down", "error": no_answer}),
    ] == statuses
    await monitor.stop()


async def test_a_probe_the_stream_refuses_is_a_publish_error_and_has_no_delivery_event(
    bus: Bus,
) -> None:
    # A stream that takes one message and refuses the rest: the second probe is refused.
    await make_stream(bus.nc, "PROBES", ["mon.probe"], max_msgs=1, discard="new")
    clock = Clock(5_000)
    monitor = BusMonitor(bus.nc, spec(probe_subject="mon.probe"), ["PROBES"], now_ms=clock)
    await monitor.start()

    rounds = []
    for _ in range(3):
        rounds.append(without_latency(decoded(await monitor.sample())))
        await settle()
        clock.now_ms += INTERVAL_MS
    await monitor.stop()

    refused = {
        "status": "error",
        "error": "maximum messages exceeded (err_code=10077)",
        "stream": "PROBES",
    }
    assert [
        [("bus.publish.probe", {"ts": 5_000, "status": "ok", "stream": "PROBES"})],
        [("bus.probe.delivery", True), ("bus.publish.probe", {"ts": 6_000, **refused})],
        [("bus.publish.probe", {"ts": 7_000, **refused})],
    ] == [
        [
            (s, b["delivered"]) if s == "bus.probe.delivery" else (s, b)
            for s, b in events
            if s != "bus.stream.status"
        ]
        for events in rounds
    ]


async def test_a_probe_subject_no_stream_holds_is_a_publish_error_that_says_so(bus: Bus) -> None:
    # interval 200 ms -> a request timeout of 0.1 s
    monitor = BusMonitor(
        bus.nc, spec(interval_ms=200, probe_subject="nowhere.probe"), ["SLO"], now_ms=Clock(6_000)
    )
    with capture_logs() as logs:
        await monitor.start()
    events = without_latency(decoded(await monitor.sample()))
    await monitor.stop()

    assert ["nowhere.probe"] == [
        e["probe_subject"] for e in logs if e["event"] == "bus_monitor.probe_subject_not_stored"
    ]
    assert [
        (
            "bus.publish.probe",
            {
                "ts": 6_000,
                "status": "error",
                "error": "no PubAck within 0.1 s (the probe reached subscribers, but no stream stored it)",
                "stream": "",
            },
        ),
        ("bus.stream.status", {"ts": 6_000, "stream": "SLO", "state": "up"}),
    ] == events


async def test_probes_that_never_come_back_are_undelivered_once_the_timeout_passed(bus: Bus) -> None:
    # A connection with no_echo never receives its own messages: probes are stored, never seen.
    client = await nats.connect(bus.server.url, no_echo=True)
    clock = Clock(7_000)
    monitor = BusMonitor(client, spec(streams=("SLO",)), [], now_ms=clock)
    with capture_logs() as logs:
        await monitor.start()
    try:
        first = decoded(await monitor.sample())
        clock.now_ms = 7_100
        second = decoded(await monitor.sample())  # the first probe is not overdue yet
        await asyncio.sleep(DELIVERY_TIMEOUT_MS / 1000 + 0.05)
        clock.now_ms = 7_400
        third = decoded(await monitor.sample())
        outstanding = len(monitor.ledger)  # the third probe, not overdue yet
        await monitor.stop()
    finally:
        await client.close()

    [(first_id, _), (second_id, _), _] = await stored_probes(bus.nc, 3)
    assert ["bus_monitor.no_echo"] == [e["event"] for e in logs if e["event"] == "bus_monitor.no_echo"]
    assert [] == [e for e in first + second if e[0] == "bus.probe.delivery"]
    assert [
        ("bus.probe.delivery", {"ts": 7_400, "probe_id": first_id, "delivered": False}),
        ("bus.probe.delivery", {"ts": 7_400, "probe_id": second_id, "delivered": False}),
    ] == [e for e in third if e[0] == "bus.probe.delivery"]
    assert 1 == outstanding


# --- issue 9: every consumer of a stream, its settings against streams/, the bus-wide messages ------


async def create_consumer(nc: Client, stream: str, config: dict) -> None:
    name = config.get("durable_name")
    subject = f"$JS.API.CONSUMER.CREATE.{stream}" + (f".{name}" if name else "")
    await _jsapi.request(nc, subject, {"stream_name": stream, "config": config}, what="create consumer")


def of_subject(events: list[tuple[str, dict]], subject: str) -> list[dict]:
    return [body for s, body in events if s == subject]


async def test_every_consumer_of_a_discovered_stream_has_its_lag_and_ephemerals_are_one(bus: Bus) -> None:
    nc = bus.nc
    await make_stream(nc, "ORDERS", ["orders.>"])
    for i in range(5):
        await nc.request("orders.new", b"{}", timeout=2)
    for i in range(2):
        await nc.request("orders.cancel", b"{}", timeout=2)
    js = nc.jetstream()
    engine = await js.pull_subscribe("orders.>", durable="engine")
    assert 3 == len(await engine.fetch(3, timeout=2))  # delivered, left unacked
    await create_consumer(nc, "ORDERS", {"durable_name": "audit", "ack_policy": "explicit"})
    # Two ephemerals (no durable name; kept alive for the test): all 7 pending, and the 2 cancels.
    keep_s = 60 * NS_PER_S
    await create_consumer(nc, "ORDERS", {"ack_policy": "explicit", "inactive_threshold": keep_s})
    await create_consumer(nc, "ORDERS", {"ack_policy": "explicit", "inactive_threshold": keep_s,
                                         "filter_subject": "orders.cancel"})
    monitor = BusMonitor(
        nc, spec(consumers=(("ORDERS", "engine"),), discover_consumers=("ORDERS",)), ["ORDERS"],
        now_ms=Clock(5_000),
    )
    await monitor.start()
    events = decoded(await monitor.sample())
    await monitor.stop()

    # engine: 7 stored, 3 delivered and unacked -> 4 pending, 3 ack pending (listed: read once,
    # through CONSUMER.INFO, not again from the list); audit: 7 pending; the ephemerals: the larger
    # of 7 and 2 pending, none acked, 2 of them.
    assert [
        {"ts": 5_000, "stream": "ORDERS", "consumer": "engine", "pending": 4, "ack_pending": 3},
        {"ts": 5_000, "stream": "ORDERS", "consumer": "audit", "pending": 7, "ack_pending": 0},
        {"ts": 5_000, "stream": "ORDERS", "consumer": "*ephemeral", "pending": 7, "ack_pending": 0, "count": 2},
    ] == of_subject(events, "bus.consumer.lag")


async def test_discovery_measures_at_most_max_consumers_and_says_so_once(bus: Bus) -> None:
    nc = bus.nc
    await make_stream(nc, "ORDERS", ["orders.>"])
    await nc.request("orders.new", b"{}", timeout=2)
    for name in ("c", "a", "b"):
        await create_consumer(nc, "ORDERS", {"durable_name": name, "ack_policy": "explicit"})
    monitor = BusMonitor(nc, spec(discover_consumers=("ORDERS",), max_consumers=2), ["ORDERS"], now_ms=Clock(6_000))
    await monitor.start()
    with capture_logs() as logs:
        rounds = [decoded(await monitor.sample()) for _ in range(2)]
    await monitor.stop()

    for events in rounds:
        assert ["a", "b"] == [b["consumer"] for b in of_subject(events, "bus.consumer.lag")]
    assert [("bus_monitor.discovery_capped", "3 consumers found, the lag of the first 2 is measured "
             "(bus_monitor.max_consumers)")] == [(e["event"], e["error"]) for e in logs if "discovery" in e["event"]]


async def test_a_stream_whose_settings_leave_its_definition_drifts_in_those_fields(bus: Bus) -> None:
    nc = bus.nc
    [trade] = [d for d in load_stream_definitions(STREAMS_DIR) if d["name"] == "TRADE"]
    await provision_streams(nc, [trade], structlog.get_logger())
    monitor = BusMonitor(nc, spec(), ["TRADE"], definitions=[trade], now_ms=Clock(7_000))
    await monitor.start()
    # One server: the file's 3 replicas are 1 here, and that is no drift.
    before = of_subject(decoded(await monitor.sample()), "bus.stream.config")
    info = await _jsapi.request(nc, "$JS.API.STREAM.INFO.TRADE", what="info")
    edited = dict(info["config"], max_age=3_600 * NS_PER_S, subjects=["trade.>", "orders.>"])
    await _jsapi.request(nc, "$JS.API.STREAM.UPDATE.TRADE", edited, what="edit by hand")
    with capture_logs() as logs:
        after = of_subject(decoded(await monitor.sample()), "bus.stream.config")
        await _jsapi.request(nc, "$JS.API.STREAM.UPDATE.TRADE", info["config"], what="put back")
        restored = of_subject(decoded(await monitor.sample()), "bus.stream.config")
    await monitor.stop()

    assert 1 == info["config"]["num_replicas"]
    assert [{"ts": 7_000, "stream": "TRADE", "drift": False, "fields": ""}] == before
    assert [{"ts": 7_000, "stream": "TRADE", "drift": True, "fields": "max_age,subjects"}] == after
    assert [{"ts": 7_000, "stream": "TRADE", "drift": False, "fields": ""}] == restored
    assert [
        ("bus_monitor.config_drift", "differs from streams/ in max_age, subjects"),
        ("bus_monitor.config_recovered", None),
    ] == [(e["event"], e.get("error")) for e in logs if e.get("stream") == "TRADE"]


async def test_the_messages_a_stream_stored_between_rounds_are_counted_from_its_last_seq(bus: Bus) -> None:
    nc = bus.nc
    await make_stream(nc, "ORDERS", ["orders.>"])
    await make_stream(nc, "OTHER", ["other.>"])

    async def publish(subject: str, count: int) -> None:
        for _ in range(count):
            await nc.request(subject, b"{}", timeout=2)

    monitor = BusMonitor(nc, spec(count_messages=("ORDERS",)), ["ORDERS", "OTHER"], now_ms=Clock(8_000))
    await monitor.start()

    async def counted() -> list[dict]:
        return of_subject(decoded(await monitor.sample()), "bus.stream.messages")

    await publish("orders.new", 3)
    first = await counted()  # no earlier round: nothing to count against
    await publish("orders.new", 5)
    await publish("other.new", 4)  # OTHER is not counted
    second = await counted()
    third = await counted()
    # Made anew: last_seq starts again at 0, below the 8 seen, so that round counts nothing.
    await _jsapi.request(nc, "$JS.API.STREAM.DELETE.ORDERS", what="delete")
    await make_stream(nc, "ORDERS", ["orders.>"])
    await publish("orders.new", 2)
    fourth = await counted()
    await publish("orders.new", 6)
    fifth = await counted()
    await monitor.stop()

    assert [] == first
    assert [{"ts": 8_000, "stream": "ORDERS", "messages": 5}] == second
    assert [{"ts": 8_000, "stream": "ORDERS", "messages": 0}] == third
    assert [] == fourth
    assert [{"ts": 8_000, "stream": "ORDERS", "messages": 6}] == fifth


async def test_the_shipped_streams_as_provisioned_on_one_server_do_not_drift(bus: Bus) -> None:
    # The processor provisions streams/ and hands the same definitions to its monitor: on a single
    # server every file's 3 replicas become 1, and that is what the monitor must expect.
    definitions = load_stream_definitions(STREAMS_DIR)
    await provision_streams(bus.nc, definitions, structlog.get_logger())
    names = [d["name"] for d in definitions]
    monitor = BusMonitor(bus.nc, spec(), names, definitions=definitions, now_ms=Clock(9_000))
    await monitor.start()
    events = decoded(await monitor.sample())
    await monitor.stop()

    assert [3] * len(definitions) == [d["num_replicas"] for d in definitions]
    assert [{"ts": 9_000, "stream": n, "drift": False, "fields": ""} for n in names] == of_subject(
        events, "bus.stream.config"
    )


async def test_discovery_reads_every_page_of_the_consumer_list(bus: Bus) -> None:
    # nats-server answers CONSUMER.LIST 256 consumers a page: 300 need a second page.
    nc = bus.nc
    await make_stream(nc, "ORDERS", ["orders.>"])
    await nc.request("orders.new", b"{}", timeout=2)
    names = [f"c{i:03d}" for i in range(300)]
    for name in names:
        await create_consumer(nc, "ORDERS", {"durable_name": name, "ack_policy": "explicit"})
    # interval 4 s: 2 s for a page, plenty for a loaded machine
    monitor = BusMonitor(nc, spec(interval_ms=4_000, discover_consumers=("ORDERS",), max_consumers=1_000),
                         ["ORDERS"], now_ms=Clock(10_000))
    await monitor.start()
    lags = of_subject(decoded(await monitor.sample()), "bus.consumer.lag")
    await monitor.stop()

    assert names == [b["consumer"] for b in lags]
    assert {1} == {b["pending"] for b in lags}
