"""The Alertmanager sender against a local HTTP server that fails on purpose: what is sent, the
retries and their backoff, the bounded queue's drops, and evaluation that never waits for it.
The payloads and the firing set (runtime/am_alerts.py) against hand-worked values."""

from __future__ import annotations

import asyncio
import time

import pytest
from aiohttp import web

from processor.bus.backoff import Backoff
from processor.config.model import AlertmanagerConfig
from processor.engine import Engine
from processor.engine import Outputs
from processor.errors import AlertmanagerError, BusError
from processor.runtime.outbox import Outbox
from processor.runtime.alertmanager import AlertmanagerSender, credentials
from processor.runtime.am_alerts import FiringSet, am_alert
from tests.amkit import T_START_MS, Log, http_server, transition, until
from tests.enginekit import T0_MS, event, latency_sli, quantile_alert
from processor.config.model import Config

H_MS = 3_600_000
_Log = Log


def test_a_firing_alert_is_the_v2_shape_with_its_slo_page_and_runbook() -> None:
    body = am_alert(transition(), "https://runbooks/x.md", "http://127.0.0.1:9464")

    assert {
        "labels": {"alertname": "GatewaySlow", "service": "api-gateway", "severity": "warning",
                   "sli": "gw_latency", "slo": "gw_p95"},
        "annotations": {"summary": "p95 180ms", "runbook_url": "https://runbooks/x.md#gatewayslow"},
        "startsAt": "2026-01-01T12:00:00.000Z",
        "generatorURL": "http://127.0.0.1:9464/slo/gw_p95",
    } == body


def test_a_resolved_alert_carries_the_engines_end() -> None:
    body = am_alert(transition("resolved", ends_at_ms=T_START_MS + 90_000))

    assert "2026-01-01T12:01:30.000Z" == body["endsAt"]
    assert "generatorURL" not in body  # no --http address and no external_url: no page to point at


def test_firing_alerts_are_resent_with_an_end_four_intervals_ahead_and_warnings_escalate_after_the_hour() -> None:
    firing = FiringSet(escalate_after_ms=H_MS, escalate_severities=("warning",))
    assert [am_alert(transition())] == firing.apply(transition(), am_alert(transition()))
    firing.apply(transition(severity="critical", fingerprint="f2"), am_alert(transition(severity="critical")))

    # 59m59s after the start: no escalation yet; endsAt = now + 4 x 1m
    now_ms = T_START_MS + H_MS - 1000
    due = firing.due(now_ms, now_ms + 4 * 60_000)
    assert [("warning", "2026-01-01T13:03:59.000Z"), ("critical", "2026-01-01T13:03:59.000Z")] == [
        (d["labels"]["severity"], d["endsAt"]) for d in due]

    # at the hour: the warning's escalated copy starts at startsAt + 1 h; the critical one never escalates
    due = firing.due(T_START_MS + H_MS, T_START_MS + H_MS + 240_000)
    escalated = [d for d in due if d["labels"].get("escalated") == "true"]
    assert [("warning", "2026-01-01T13:00:00.000Z", "2026-01-01T13:04:00.000Z")] == [
        (d["labels"]["severity"], d["startsAt"], d["endsAt"]) for d in escalated]

    # the resolution ends the escalated copy too, at the engine's endsAt
    resolved = transition("resolved", ends_at_ms=T_START_MS + H_MS + 120_000)
    sent = firing.apply(resolved, am_alert(resolved))
    assert [(None, "2026-01-01T13:02:00.000Z"), ("true", "2026-01-01T13:02:00.000Z")] == [
        (d["labels"].get("escalated"), d["endsAt"]) for d in sent]
    assert 1 == len(firing)


def test_a_warning_restored_past_its_hour_and_resolved_before_any_resend_resolves_its_escalated_copy() -> None:
    firing = FiringSet(escalate_after_ms=H_MS, escalate_severities=("warning",))
    firing.restore([(transition(), am_alert(transition()))])
    early = transition("resolved", fingerprint="f2", ends_at_ms=T_START_MS + H_MS - 1)
    firing.restore([(transition(fingerprint="f2"), am_alert(transition(fingerprint="f2")))])

    late = transition("resolved", ends_at_ms=T_START_MS + H_MS)
    assert [None, "true"] == [d["labels"].get("escalated") for d in firing.apply(late, am_alert(late))]
    # resolved a millisecond before its hour: it never escalated, nothing more to resolve
    assert [None] == [d["labels"].get("escalated") for d in firing.apply(early, am_alert(early))]
    assert 0 == len(firing)


def test_an_alert_firing_before_a_restart_is_rebuilt_from_the_restored_engine() -> None:
    config = Config(slis=(latency_sli(),), alerts=(quantile_alert(0.95, ">", 100.0),))
    engine = Engine(config)
    out = engine.ingest([event("svc.req", T0_MS + i * 1000, latency_ms=500) for i in range(30)])
    assert ["firing"] == [a.status for a in out.alerts]
    restored = Engine(config)
    restored.restore(engine.snapshot())

    [alert] = restored.firing_alerts()

    fired = out.alerts[0]
    assert ("firing", fired.fingerprint, fired.starts_at_ms, fired.labels) == (
        alert.status, alert.fingerprint, alert.starts_at_ms, alert.labels)
    assert [alert] == engine.firing_alerts()


class FlakyAlertmanager:
    """POST /api/v2/alerts: answers ``statuses`` in turn (then 200), or hangs while ``hang`` is set."""

    def __init__(self, statuses: list[int] | None = None) -> None:
        self.statuses = list(statuses or [])
        self.received: list[tuple[float, list[dict], dict]] = []  # (monotonic time, alerts, headers)
        self.attempts: list[float] = []
        self.hang = asyncio.Event()
        self.release = asyncio.Event()

    async def handle(self, request: web.Request) -> web.Response:
        self.attempts.append(time.monotonic())
        if self.hang.is_set():
            await self.release.wait()
        status = self.statuses.pop(0) if self.statuses else 200
        body = await request.json()
        if status == 200:
            self.received.append((time.monotonic(), body, dict(request.headers)))
        return web.Response(status=status, text="" if status == 200 else "no")


@pytest.fixture
async def flaky():
    server = FlakyAlertmanager()
    async with http_server("/api/v2/alerts", server.handle) as url:
        server.url = url
        yield server
        server.release.set()


def _sender(url: str, log: _Log, **kw) -> AlertmanagerSender:
    config = AlertmanagerConfig(urls=(url,), timeout_ms=kw.pop("timeout_ms", 2000),
                                resend_interval_ms=kw.pop("resend_interval_ms", 60_000), **kw.pop("config", {}))
    return AlertmanagerSender(config, log, backoff=kw.pop("backoff", Backoff(first_s=0.05, max_s=1.0, deadline_s=5)),
                              env={"AM_TOKEN": "t0ken"}, **kw)


_until = until


async def test_failed_posts_are_retried_with_doubling_delays_then_delivered(flaky) -> None:
    flaky.statuses = [503, 503, 502]
    log = _Log()
    sender = _sender(flaky.url, log, config={"bearer_token_env": "AM_TOKEN"})
    stop = asyncio.Event()
    task = asyncio.create_task(sender.run(stop))
    await asyncio.sleep(0.05)  # the first resend (nothing firing yet) is behind it

    sender.submit([transition()])
    await _until(lambda: flaky.received)
    stop.set()
    await task

    gaps = [b - a for a, b in zip(flaky.attempts, flaky.attempts[1:])]
    assert 4 == len(flaky.attempts)
    # 0.05 s, 0.1 s, 0.2 s: the backoff's delays, doubling (the server answers at once)
    for expected, gap in zip([0.05, 0.1, 0.2], gaps, strict=True):
        assert expected <= gap < expected + 0.15, gaps
    assert (3, 1, 0, 0) == (sender.stats.errors, sender.stats.sent, sender.stats.failed, sender.stats.dropped)
    [(_, alerts, headers)] = flaky.received
    assert ["GatewaySlow"] == [a["labels"]["alertname"] for a in alerts]
    assert "Bearer t0ken" == headers["Authorization"]
    assert 3 == sum(1 for level, ev, _ in log.lines if ev == "alertmanager.retrying")
    assert not any("t0ken" in repr(kw) for _, _, kw in log.lines)


async def test_a_refusal_is_not_retried_and_is_counted_as_failed(flaky) -> None:
    flaky.statuses = [400]
    log = _Log()
    sender = _sender(flaky.url, log)
    stop = asyncio.Event()
    task = asyncio.create_task(sender.run(stop))
    await asyncio.sleep(0.05)  # the first resend (nothing firing yet) is behind it
    sender.submit([transition()])
    await _until(lambda: sender.stats.failed)
    stop.set()
    await task

    assert (1, 1, 0) == (len(flaky.attempts), sender.stats.failed, sender.stats.sent)
    assert [("error", "alertmanager.send_failed")] == [(lv, ev) for lv, ev, _ in log.lines if lv == "error"]


async def test_a_full_queue_drops_the_oldest_counts_them_and_never_blocks_evaluation(flaky) -> None:
    flaky.hang.set()  # Alertmanager accepts connections and never answers
    log = _Log()
    sender = _sender(flaky.url, log, timeout_ms=30_000, config={"queue_size": 3})
    stop = asyncio.Event()
    task = asyncio.create_task(sender.run(stop))
    sender.submit([transition(fingerprint="f0")])
    await _until(lambda: flaky.attempts)  # f0 is in flight, hanging

    started = time.perf_counter()
    for i in range(1, 11):  # 10 more transitions while the sender is stuck
        sender.submit([transition(fingerprint=f"f{i}", severity="critical")])
    submit_s = time.perf_counter() - started

    # 10 queued into room for 3: the 7 oldest (f1..f7) dropped, f8..f10 wait
    assert (7, 3) == (sender.stats.dropped, sender.stats.queued)
    assert submit_s < 0.05  # no wait: the queue, never the network
    [drop_line] = [kw for lv, ev, kw in log.lines if ev == "alertmanager.dropped"]  # once per 10 s, not per alert
    assert 3 == drop_line["queue_size"]
    # meanwhile the event loop runs: a tick scheduled now runs within a few ms
    ticked = time.monotonic()
    await asyncio.sleep(0.01)
    assert time.monotonic() - ticked < 0.5
    stop.set()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_firing_alerts_are_resent_every_interval(flaky) -> None:
    sender = _sender(flaky.url, _Log(), resend_interval_ms=200)
    stop = asyncio.Event()
    sender.submit([transition()])
    task = asyncio.create_task(sender.run(stop))
    await _until(lambda: len(flaky.received) >= 3)
    stop.set()
    await task

    times = [t for t, _, _ in flaky.received]
    assert all("endsAt" in alerts[0] for _, alerts, _ in flaky.received[1:])
    assert 0.15 < times[2] - times[1] < 0.5


def test_credentials_come_from_the_named_variables_and_a_missing_one_is_named_not_shown() -> None:
    config = AlertmanagerConfig(urls=("http://a",), basic_auth_username_env="AM_USER", basic_auth_password_env="AM_PW")

    # base64("slo:pw") = "c2xvOnB3"
    assert {"headers": {"Authorization": "Basic c2xvOnB3"}} == credentials(config, {"AM_USER": "slo", "AM_PW": "pw"})
    with pytest.raises(AlertmanagerError, match="environment variable AM_PW is not set"):
        credentials(config, {"AM_USER": "slo"})


async def test_tls_verifies_alertmanager_with_the_configured_ca(tmp_path) -> None:
    import ssl

    import trustme

    ca = trustme.CA()
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_ctx)
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    am = FlakyAlertmanager()
    async with http_server("/api/v2/alerts", am.handle, ssl_context=server_ctx) as url:
        trusted = _sender(url, _Log(), config={"tls_ca_file": str(tmp_path / "ca.pem")})
        untrusted = _sender(url, _Log(), backoff=Backoff(first_s=0.01, max_s=0.01, max_attempts=2))
        stop = asyncio.Event()
        tasks = [asyncio.create_task(s.run(stop)) for s in (trusted, untrusted)]
        await asyncio.sleep(0.05)
        for s in (trusted, untrusted):
            s.submit([transition()])
        await _until(lambda: trusted.stats.sent and untrusted.stats.failed)
        stop.set()
        await asyncio.gather(*tasks)

    assert (1, 0) == (trusted.stats.sent, trusted.stats.failed)
    assert (0, 1) == (untrusted.stats.sent, untrusted.stats.failed)  # the system CAs do not know this one
    assert 1 == len(am.received)


class _Publisher:
    """The outbox's publisher: stores, or fails and asks the processor to stop (an outage at a stop)."""

    max_payload = 1 << 20

    def __init__(self, stop: asyncio.Event, fail: bool) -> None:
        self.stop, self.fail, self.stored = stop, fail, []

    async def publish_all(self, messages) -> None:
        if self.fail:
            self.stop.set()
            raise BusError("no responders")
        self.stored += messages


@pytest.mark.parametrize("stored", [True, False], ids=["stored", "never stored"])
async def test_the_outbox_hands_alerts_to_the_sender_only_once_the_bus_stored_them(stored: bool) -> None:
    stop = asyncio.Event()
    handed: list = []
    outbox = Outbox(_Publisher(stop, fail=not stored), stop, _Log(), backoff=Backoff(first_s=0.01, max_s=0.01),
                    alert_sink=handed.extend)

    assert stored == await outbox.deliver("TRADE", [], Outputs(alerts=[transition()]))

    assert ([transition()] if stored else []) == handed
