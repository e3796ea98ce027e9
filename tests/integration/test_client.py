"""processor/client.py against a real nats-server: typed alerts, ack after the callback, and a
durable subscriber that is killed mid-stream and restarted resumes after the last alert it acked:
no alert lost, none it had finished with seen again."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
import pytest_asyncio
import structlog

from processor.bus.connect import ConnectOptions, connect
from processor.bus.embedded import EmbeddedServer
from processor.bus.streams import load_stream_definitions, provision_streams
from processor.client import Alert, Subscription, alerts_subject, kind_subjects

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def alert_body(n: int, service: str = "trading-engine", status: str = "firing") -> tuple[str, bytes]:
    labels = {"alertname": f"Rule{n}", "service": service, "sli": "s", "severity": "critical"}
    body = {"status": status, "labels": labels, "annotations": {"summary": f"rule {n}"},
            "activeAt": "2026-12-01T09:00:00.000Z", "startsAt": "2026-12-01T09:05:00.000Z",
            "endsAt": None if status == "firing" else "2026-12-01T09:09:00.000Z", "fingerprint": f"fp{n}",
            "value": 200.0 + n, "threshold": 150.0}
    return f"slo.alerts.critical.{service}", orjson.dumps(body)


@pytest_asyncio.fixture
async def server(tmp_path):
    async with EmbeddedServer(tmp_path / "nats") as srv:
        nc = await connect(ConnectOptions(url=srv.url))
        await provision_streams(nc, load_stream_definitions(ROOT / "streams"), structlog.get_logger("test"))
        await nc.close()
        yield srv.url


async def publish(url: str, items) -> None:
    nc = await connect(ConnectOptions(url=url))
    js = nc.jetstream()
    for subject, data in items:
        await js.publish(subject, data)
    await nc.close()


def test_subjects_of_each_kind():
    assert ["slo.alerts.*.api-gateway"] == kind_subjects("alerts", "api-gateway")
    assert ["slo.alerts.page.*"] == kind_subjects("alerts", severity="page")
    assert ["slo.budget.x.*"] == kind_subjects("budget", "x")
    assert ["slo.alerts.*.*", "slo.actions.*", "slo.budget.*.*", "slo.sli.*.*", "slo.deadletter.*"] == kind_subjects(None)
    assert ["slo.alerts.*.x", "slo.actions.x", "slo.budget.x.*", "slo.sli.x.*"] == kind_subjects(None, "x")
    with pytest.raises(ValueError, match="unknown output kind"):
        kind_subjects("nope")
    with pytest.raises(ValueError, match="a severity narrows alerts only"):
        kind_subjects("budget", severity="page")  # would follow every budget report, the severity ignored


async def test_a_restarted_durable_subscriber_resumes_after_its_last_acked_alert(server):
    # Alerts 1-5 of the trading engine, and one of the gateway the subscription does not follow.
    await publish(server, [alert_body(n) for n in range(1, 4)] + [alert_body(9, "api-gateway")]
                  + [alert_body(n) for n in range(4, 6)])
    subject = alerts_subject(service="trading-engine")
    handled: list[int] = []

    async def handle_until_4(alert: Alert) -> None:
        n = int(alert.alertname.removeprefix("Rule"))
        if n == 4:
            raise RuntimeError("the service dies handling alert 4")
        handled.append(n)

    nc = await connect(ConnectOptions(url=server))
    sub = Subscription(nc, subject, durable="risk-desk", start="all")
    await sub.start()
    with pytest.raises(RuntimeError, match="alert 4"):
        await sub.run(handle_until_4)
    await nc.close()  # gone without closing the subscription: alerts 4 and 5 were delivered, unacked
    assert [1, 2, 3] == handled

    await publish(server, [alert_body(6), alert_body(7, status="resolved")])
    nc = await connect(ConnectOptions(url=server))
    seen: list[Alert] = []

    async def keep(alert: Alert) -> None:
        seen.append(alert)

    async with Subscription(nc, subject, durable="risk-desk") as sub:
        assert 4 == await asyncio.wait_for(sub.run(keep, limit=4), timeout=10)
    # Acked alerts 1-3 not again; 4 (its handling failed) first, then 5, 6, 7: at once, in order.
    assert [("Rule4", "firing"), ("Rule5", "firing"), ("Rule6", "firing"), ("Rule7", "resolved")] == [
        (a.alertname, a.status) for a in seen]
    first = seen[0]
    assert ("trading-engine", "critical", "fp4", 204.0, 150.0, {"summary": "rule 4"}) == (
        first.service, first.severity, first.fingerprint, first.value, first.threshold, first.annotations)
    assert datetime(2026, 12, 1, 9, 5, tzinfo=UTC) == first.starts_at and first.ends_at is None
    assert datetime(2026, 12, 1, 9, 9, tzinfo=UTC) == seen[3].ends_at
    assert [5, 6, 7, 8] == [a.stream_seq for a in seen]  # seq 4, the gateway's alert, not delivered
    info = await nc.jetstream().consumer_info("SLO", "risk-desk")
    assert (0, 8) == (info.num_ack_pending, info.ack_floor.stream_seq)

    # And once more: nothing left, nothing repeated.
    async with Subscription(nc, subject, durable="risk-desk") as sub:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(sub.run(keep, limit=1), timeout=2.5)
    assert 4 == len(seen)
    await nc.close()


async def test_an_ephemeral_subscription_starts_now_and_leaves_no_consumer(server):
    await publish(server, [alert_body(1)])
    nc = await connect(ConnectOptions(url=server))
    async with Subscription(nc, kind_subjects("alerts")) as sub:
        await publish(server, [alert_body(2)])
        outputs = sub.outputs()
        out = await asyncio.wait_for(anext(outputs), timeout=5)
        await outputs.aclose()
    assert ("alerts", "slo.alerts.critical.trading-engine", "Rule2") == (out.kind, out.subject,
                                                                        out.body["labels"]["alertname"])
    assert [] == [c async for c in _consumers(nc)]
    await nc.close()


async def _consumers(nc):
    for info in await nc.jetstream().consumers_info("SLO"):
        yield info.name


async def test_the_documented_example_prints_the_alerts_and_resumes_after_a_restart(server):
    async def example(limit: int) -> list[str]:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, str(ROOT / "examples" / "subscribe_alerts.py"), server, "--service", "trading-engine",
            "--durable", "demo", "--limit", str(limit), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        out, err = await asyncio.wait_for(proc.communicate(), timeout=30)
        assert 0 == proc.returncode, err.decode()[-2000:]
        return [line for line in out.decode().splitlines() if not line.startswith("20")]  # not the log lines

    await publish(server, [alert_body(1), alert_body(2, "api-gateway"), alert_body(3, status="resolved")])
    assert ["firing   critical trading-engine Rule1 value=201.0",
            "resolved critical trading-engine Rule3 value=203.0 (ended 09:09:00)"] == await example(2)
    await publish(server, [alert_body(4)])
    assert ["firing   critical trading-engine Rule4 value=204.0"] == await example(1)


def documented_permissions() -> str:
    """The ```conf block of docs/subscribing.md."""
    text = (ROOT / "docs" / "subscribing.md").read_text()
    return text.split("```conf\n", 1)[1].split("```", 1)[0]


async def test_a_subscriber_with_only_the_documented_permissions_reads_acks_and_resumes(tmp_path):
    conf = ("authorization {\n  users = [\n    { user: admin, password: admin-pw }\n"
            "    { user: risk, password: risk-pw, " + documented_permissions() + " }\n  ]\n}\n")
    (tmp_path / "nats.conf").write_text(conf)
    async with EmbeddedServer(tmp_path / "nats", extra_args=["-c", str(tmp_path / "nats.conf")]) as srv:
        admin = await connect(ConnectOptions(url=srv.url, user="admin", password="admin-pw"))
        await provision_streams(admin, load_stream_definitions(ROOT / "streams"), structlog.get_logger("test"))
        js = admin.jetstream()
        for n in (1, 2, 3):
            await js.publish(*alert_body(n))
        seen: list[str] = []

        async def keep(alert: Alert) -> None:
            seen.append(alert.alertname)

        for limit in (2, 2):  # the second run resumes after the first one's acks, recreating the durable
            nc = await connect(ConnectOptions(url=srv.url, user="risk", password="risk-pw"))
            sub = Subscription(nc, alerts_subject(service="trading-engine"), durable="risk-desk", start="all")
            await sub.start()
            await asyncio.wait_for(sub.run(keep, limit=limit), timeout=10)
            await nc.close()  # without closing the subscription: the fetched alert 3 stays unacked
            await js.publish(*alert_body(4))
        await admin.close()
    assert ["Rule1", "Rule2", "Rule3", "Rule4"] == seen
