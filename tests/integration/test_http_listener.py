"""`slo run --http`: the listener of a processor on a real nats-server, fed the known scenario of
tests/httpkit.py: /metrics parsed with prometheus-client's text parser against hand-worked numbers
(and against what was published on slo.>), /readyz through its transitions, /healthz, 404s; and
`serve()` with its listener, and a taken port as one error."""

from __future__ import annotations

import asyncio
import socket

import orjson
import pytest
import pytest_asyncio
from prometheus_client.parser import text_string_to_metric_families

from processor.bus.connect import ConnectOptions
from processor.bus.embedded import EmbeddedServer
from processor.config.load import load_config
from processor.errors import ProcessorError
from processor.runtime.serve import serve
from tests.httpkit import NOT_JSON, ROOT, http_get, served_scenario

pytestmark = pytest.mark.integration


@pytest_asyncio.fixture(scope="module")
async def scenario(tmp_path_factory):
    async with served_scenario(tmp_path_factory.mktemp("nats-http")) as scenario:
        yield scenario


def _scrape(text: str) -> dict[tuple[str, tuple], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


async def test_metrics_hold_the_hand_worked_numbers_of_the_scenario(scenario):
    status, headers, body = await http_get(scenario.port, "/metrics")
    assert (200, "text/plain; version=0.0.4; charset=utf-8") == (status, headers["Content-Type"])
    m = _scrape(body.decode())

    stream = (("stream", "ANALYTICS"),)
    assert 183.0 == m[("slo_events_total", stream)]
    assert float(NOT_JSON) == m[("slo_events_rejected_total", (("reason", "not_json"), *stream))]
    assert 0.0 == m[("slo_events_rejected_total", (("reason", "late"), *stream))]
    assert 0.0 == m[("slo_consumer_pending_messages", stream)]
    assert 19.0 == m[("slo_batch_duration_seconds_count", stream)]  # 183 messages, 10 a batch
    assert m[("slo_publish_duration_seconds_count", ())] >= 1
    p95 = (("series", ""), ("service", "api-gateway"), ("sli", "gateway_request_latency"), ("stat", "p95"))
    assert 250.0 == pytest.approx(m[("slo_sli_value", p95)], rel=0.01)
    slo = (("service", "api-gateway"), ("slo", "gateway_latency_p95"))
    assert (-4.0, 5.0) == (pytest.approx(m[("slo_budget_remaining_ratio", slo)]),
                           pytest.approx(m[("slo_budget_consumed_ratio", slo)]))
    burn = {labels[-1][1]: v for (name, labels), v in m.items() if name == "slo_burn_rate" and labels[:2] == slo}
    assert {"5m", "1h", "30d"} <= set(burn)
    assert all(5.0 == pytest.approx(v) for v in burn.values()), burn
    tiers = {labels[-1][1]: v for (name, labels), v in m.items() if name == "slo_policy_tier" and labels[:2] == slo}
    assert {"normal": 0.0, "prioritize_reliability": 0.0, "feature_freeze": 0.0, "emergency": 1.0} == tiers
    assert m[("process_resident_memory_bytes", ())] > 0


async def test_metrics_agree_with_what_was_published_on_slo(scenario):
    _, _, body = await http_get(scenario.port, "/metrics")
    m = _scrape(body.decode())
    budgets = [orjson.loads(msg.data) for msg in scenario.published if msg.subject == "slo.budget.api-gateway.gateway_latency_p95"]
    last = max(budgets, key=lambda b: b["evaluatedAt"])
    assert last["remaining"] == m[("slo_budget_remaining_ratio", (("service", "api-gateway"), ("slo", "gateway_latency_p95")))]
    # Every alert transition published: its last status per fingerprint is what slo_alert_firing says.
    status: dict[tuple, float] = {}
    for msg in scenario.published:
        if msg.subject.startswith("slo.alerts."):
            alert = orjson.loads(msg.data)
            key = tuple(sorted((k, alert["labels"].get(k, "")) for k in ("alertname", "service", "severity", "slo", "sli", "tier")))
            status[key] = max(status.get(key, 0.0), 1.0 if alert["status"] == "firing" else 0.0) \
                if alert["status"] == "firing" else status.get(key, 0.0)
    firing = {labels: v for (name, labels), v in m.items() if name == "slo_alert_firing"}
    assert status.keys() == firing.keys() and status, status
    # 3 of the 13 messages of the 1 m window ending at 20 s were rejected: over 1 %, it pages.
    rejected = (("alertname", "InputRejectedHigh"), ("service", "slo-processor"), ("severity", "critical"),
                ("sli", "input_messages"), ("slo", ""), ("tier", ""))
    assert 1.0 == firing[rejected]


async def test_readyz_transitions_healthz_and_unknown_paths(scenario):
    when = [(w, ready) for w, ready, _ in scenario.readiness]
    assert [("before start", False), ("started", False)] == when[:2]
    assert ["processor starting"] == scenario.readiness[0][2]["reasons"][:1]
    assert "ANALYTICS: no batch pulled yet" in scenario.readiness[1][2]["reasons"]
    first_pull = scenario.readiness[2][2]["streams"]["ANALYTICS"]
    assert {"pending": 173, "ready": False} == first_pull  # 183 - 10 > 50
    pulls = [body["streams"]["ANALYTICS"] for when, _, body in scenario.readiness if when == "pulled"]
    assert [{"pending": p, "ready": p <= 50} for p in range(173, -1, -10)] + [{"pending": 0, "ready": True}] == pulls
    status, _, body = await http_get(scenario.port, "/readyz")
    assert (200, True, []) == (status, orjson.loads(body)["ready"], orjson.loads(body)["reasons"]), body
    assert (200, b"ok\n") == (await http_get(scenario.port, "/healthz"))[::2]
    assert 404 == (await http_get(scenario.port, "/nope"))[0]
    assert 404 == (await http_get(scenario.port, "/slo/no_such_slo"))[0]
    page = (await http_get(scenario.port, "/slo/gateway_latency_p95"))[2].decode()
    assert "-400.00%" in page and "emergency" in page and "No alert transition" in page


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_serve_answers_health_then_ready_and_stops_listening_with_the_processor(tmp_path):
    config = load_config(ROOT / "config" / "slo.yaml")
    port = _free_port()
    stop = asyncio.Event()
    async with EmbeddedServer(tmp_path / "nats") as server:
        started = asyncio.Event()
        task = asyncio.create_task(serve(config, ConnectOptions(url=server.url), ROOT / "streams", tmp_path,
                                         stop=stop, on_start=lambda proc: started.set(), http=("127.0.0.1", port)))
        await started.wait()
        assert 200 == (await http_get(port, "/healthz"))[0]
        await _wait_ready(port)
        stop.set()
        await task
    with pytest.raises(OSError):
        await http_get(port, "/healthz")


async def _wait_ready(port: int, timeout_s: float = 30.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while (await http_get(port, "/readyz"))[0] != 200:
        assert asyncio.get_running_loop().time() < deadline, "never ready"
        await asyncio.sleep(0.1)


async def test_a_taken_port_is_one_error(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ProcessorError, match=f"--http 127.0.0.1:{port}: cannot listen"):
            await serve(load_config(ROOT / "config" / "slo.yaml"), ConnectOptions(url="nats://127.0.0.1:1"),
                        ROOT / "streams", tmp_path, http=("127.0.0.1", port))
