"""deploy/alertmanager/alertmanager.yml in a real Alertmanager (the Debian package
``prometheus-alertmanager``), fed by the processor's sender.

The test starts Alertmanager on a free loopback port with the deployed file's routes, inhibition
rules and time intervals, but every receiver's integrations (PagerDuty, Slack, email) replaced by
webhooks to a local HTTP server standing in for them: ``/<receiver>/<integration>``
(``/pagerduty-slack/slack``), and every route's waits shortened to a second. PagerDuty, Slack and
an SMTP server themselves cannot run here.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import time
from pathlib import Path

import aiohttp
import pytest
import pytest_asyncio
import yaml
from aiohttp import web

from processor.config.model import AlertmanagerConfig
from processor.kinds.event_time import parse_event_time_ms
from processor.runtime.alertmanager import AlertmanagerSender
from tests.amkit import Log as _Log, http_server, transition, until as _until

ROOT = Path(__file__).resolve().parents[2]
DEPLOYED = ROOT / "deploy" / "alertmanager" / "alertmanager.yml"
ALERTMANAGER = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
AMTOOL = shutil.which("amtool")
pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(ALERTMANAGER is None or AMTOOL is None, reason="Alertmanager is not installed (.ci/run "
                       "installs the Debian package: apt-get install prometheus-alertmanager)"),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_deployed_file_passes_amtool_check_config() -> None:
    done = subprocess.run([AMTOOL, "check-config", str(DEPLOYED)], capture_output=True, text=True, timeout=60)

    assert 0 == done.returncode, done.stdout + done.stderr
    assert "6 inhibit rules" in done.stdout and "4 receivers" in done.stdout


ROUTES = [
    (["severity=emergency"], "pagerduty-slack"),
    (["severity=page"], "pagerduty-slack"),
    (["severity=critical"], "pagerduty-slack"),
    (["severity=warning"], "slack"),
    (["severity=ticket"], "slack"),
    (["severity=info"], "email"),
    (["severity=warning", "escalated=true"], "pagerduty"),
    (["severity=ticket", "escalated=true"], "pagerduty"),
]


@pytest.mark.parametrize(("labels", "receiver"), ROUTES, ids=["+".join(labels) for labels, _ in ROUTES])
def test_amtool_routes_every_severity_to_its_receiver(labels: list[str], receiver: str) -> None:
    done = _routes_test(labels, receiver)

    assert 0 == done.returncode, done.stdout + done.stderr
    assert receiver == done.stdout.strip()


def test_amtool_routes_test_fails_on_a_wrong_receiver() -> None:
    # The check above can fail: a warning does not page.
    assert 0 != _routes_test(["severity=warning"], "pagerduty").returncode


def _routes_test(labels: list[str], receiver: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [AMTOOL, "config", "routes", "test", f"--config.file={DEPLOYED}", f"--verify.receivers={receiver}",
         "alertname=ErrorBudgetBurn", "service=api-gateway", *labels],
        capture_output=True, text=True, timeout=60,
    )


def test_info_is_muted_outside_business_days() -> None:
    deployed = yaml.safe_load(DEPLOYED.read_text())
    [info] = [r for r in deployed["route"]["routes"] if r["matchers"] == ['severity="info"']]
    [interval] = [t for t in deployed["time_intervals"] if t["name"] in info["active_time_intervals"]]

    assert [{"weekdays": ["monday:friday"]}] == interval["time_intervals"]


# -- a real Alertmanager ------------------------------------------------------------------------


class StandIns:
    """The webhook server standing in for PagerDuty, Slack and email: what each received."""

    def __init__(self) -> None:
        self.received: dict[str, list[dict]] = {}

    async def handle(self, request: web.Request) -> web.Response:
        path = request.path.strip("/")
        self.received.setdefault(path, []).append(await request.json())
        return web.Response(text="ok")

    def alerts(self, path: str) -> list[tuple[str, dict]]:
        """(status, labels) of every alert delivered to ``path``, in order."""
        return [(a["status"], a["labels"]) for msg in self.received.get(path, []) for a in msg["alerts"]]


def _test_config(webhook_base: str) -> dict:
    config = yaml.safe_load(DEPLOYED.read_text())
    config["global"] = {"resolve_timeout": "5m"}  # no SMTP or Slack secrets needed by webhooks
    for receiver in config["receivers"]:
        kinds = [k.removesuffix("_configs") for k in list(receiver) if k.endswith("_configs")]
        for kind in kinds:
            del receiver[f"{kind}_configs"]
        receiver["webhook_configs"] = [{"url": f"{webhook_base}/{receiver['name']}/{kind}", "send_resolved": True}
                                       for kind in kinds]
    for route in [config["route"], *config["route"]["routes"]]:
        route.update(group_wait="0s", group_interval="1s", repeat_interval="1h")
    return config


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def alertmanager(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("alertmanager")
    stand_ins = StandIns()
    async with http_server("/{receiver}/{kind}", stand_ins.handle) as hook_url:
        (tmp / "alertmanager.yml").write_text(yaml.safe_dump(_test_config(hook_url)))
        async for url in _alertmanager(tmp):
            yield url, stand_ins


async def _alertmanager(tmp: Path):
    port = _free_port()
    proc = subprocess.Popen(
        [ALERTMANAGER, f"--config.file={tmp / 'alertmanager.yml'}", f"--storage.path={tmp / 'data'}",
         f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address="],
        stdout=subprocess.DEVNULL, stderr=(tmp / "alertmanager.log").open("w"),
    )
    url = f"http://127.0.0.1:{port}"
    try:
        await _ready(url, proc, tmp)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


async def _ready(url: str, proc: subprocess.Popen, tmp: Path) -> None:
    deadline = time.monotonic() + 30
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            assert proc.poll() is None, (tmp / "alertmanager.log").read_text()
            try:
                async with session.get(url + "/-/ready") as resp:
                    if resp.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise AssertionError("Alertmanager did not become ready: " + (tmp / "alertmanager.log").read_text())


async def _am_alerts(url: str) -> list[dict]:
    async with aiohttp.ClientSession() as session, session.get(url + "/api/v2/alerts") as resp:
        return await resp.json()


def _sender(url: str, **config) -> tuple[AlertmanagerSender, asyncio.Event, asyncio.Task]:
    sender = AlertmanagerSender(AlertmanagerConfig(urls=(url,), **config), _Log(),
                                generator_base_url="http://127.0.0.1:9464")
    stop = asyncio.Event()
    return sender, stop, asyncio.create_task(sender.run(stop))


def _burn(status: str, tier: str, severity: str, slo: str, starts_at_ms: int, ends_at_ms: int | None = None):
    """A burn-rate tier's transition, labelled as the engine labels them."""
    return transition(status, severity=severity, fingerprint=f"{slo}-{tier}", starts_at_ms=starts_at_ms,
                      ends_at_ms=ends_at_ms, slo=slo, alertname="ErrorBudgetBurn", tier=tier)


@pytest.mark.asyncio(loop_scope="session")
async def test_a_critical_alert_fires_and_resolves_on_pagerduty_and_slack(alertmanager) -> None:
    url, stand_ins = alertmanager
    sender, stop, task = _sender(url)
    now_ms = int(time.time() * 1000)
    sender.submit([_burn("firing", "critical", "critical", "slo_fire", now_ms - 60_000)])

    await _until(lambda: stand_ins.alerts("pagerduty-slack/pagerduty") and stand_ins.alerts("pagerduty-slack/slack"))
    sender.submit([_burn("resolved", "critical", "critical", "slo_fire", now_ms - 60_000, now_ms)])
    await _until(lambda: ("resolved" in [s for s, _ in stand_ins.alerts("pagerduty-slack/slack")]))
    stop.set()
    await task

    expected_labels = {"alertname": "ErrorBudgetBurn", "service": "api-gateway", "severity": "critical",
                       "sli": "gw_latency", "slo": "slo_fire", "tier": "critical"}
    for path in ("pagerduty-slack/pagerduty", "pagerduty-slack/slack"):
        delivered = stand_ins.alerts(path)
        assert [("firing", expected_labels)] == delivered[:1]
        assert ("resolved", expected_labels) == delivered[-1]
    assert [] == stand_ins.alerts("slack/slack") + stand_ins.alerts("email/email")
    first = stand_ins.received["pagerduty-slack/slack"][0]["alerts"][0]
    assert "http://127.0.0.1:9464/slo/slo_fire" == first["generatorURL"]


@pytest.mark.asyncio(loop_scope="session")
async def test_a_higher_burn_rate_tier_inhibits_the_lower_ones_of_the_same_slo(alertmanager) -> None:
    url, stand_ins = alertmanager
    sender, stop, task = _sender(url)
    now_ms = int(time.time() * 1000)
    sender.submit([_burn("firing", "emergency", "emergency", "slo_inhibit", now_ms)])
    await _until(lambda: [a for a in stand_ins.alerts("pagerduty-slack/slack") if a[1]["slo"] == "slo_inhibit"])
    # the slower tiers of the same SLO, and a warning of another SLO that nothing inhibits
    sender.submit([_burn("firing", "critical", "critical", "slo_inhibit", now_ms),
                   _burn("firing", "warning", "warning", "slo_inhibit", now_ms),
                   _burn("firing", "warning", "warning", "slo_other", now_ms)])
    await _until(lambda: [a for a in stand_ins.alerts("slack/slack") if a[1]["slo"] == "slo_other"])
    await asyncio.sleep(2)  # two group intervals: an inhibited alert would have been sent by now
    stop.set()
    await task

    states = {(a["labels"]["slo"], a["labels"]["tier"]): a["status"]["state"] for a in await _am_alerts(url)
              if a["labels"]["slo"] in ("slo_inhibit", "slo_other")}
    assert {("slo_inhibit", "emergency"): "active", ("slo_inhibit", "critical"): "suppressed",
            ("slo_inhibit", "warning"): "suppressed", ("slo_other", "warning"): "active"} == states
    delivered = {(lab["slo"], lab["tier"]) for path in stand_ins.received for _, lab in stand_ins.alerts(path)
                 if lab.get("slo") in ("slo_inhibit", "slo_other")}
    assert {("slo_inhibit", "emergency"), ("slo_other", "warning")} == delivered


@pytest.mark.asyncio(loop_scope="session")
async def test_a_warning_still_firing_after_its_hour_pages(alertmanager) -> None:
    url, stand_ins = alertmanager
    # "an hour" of 2 s, re-sent every 0.5 s
    sender, stop, task = _sender(url, resend_interval_ms=500, escalate_after_ms=2_000)
    started_ms = int(time.time() * 1000)
    sender.submit([transition(severity="warning", fingerprint="esc", starts_at_ms=started_ms, slo="slo_escalate")])
    [(_, original)] = await _until(lambda: [a for a in stand_ins.alerts("slack/slack") if a[1]["slo"] == "slo_escalate"])
    assert "escalated" not in original

    [(status, labels)] = await _until(
        lambda: [a for a in stand_ins.alerts("pagerduty/pagerduty") if a[1]["slo"] == "slo_escalate"], 12)
    paged_after_s = time.time() - started_ms / 1000
    stop.set()
    await task

    assert ("firing", "true", "warning") == (status, labels["escalated"], labels["severity"])
    [paged] = [a for m in stand_ins.received["pagerduty/pagerduty"] for a in m["alerts"]
               if a["labels"]["slo"] == "slo_escalate"]
    # The hour after its start, not before; compared as times: Alertmanager writes .66Z for .660Z.
    assert started_ms + 2_000 == parse_event_time_ms(paged["startsAt"], "startsAt")
    assert 2.0 <= paged_after_s < 10.0  # the hour, plus at most a resend interval and a group wait (slack for load)
