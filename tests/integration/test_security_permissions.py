"""The permission block of docs/security.md, on a real nats-server: `slo run` with the shipped
config does its whole job under exactly that block, and stops with one clear error line when any
one line of it is missing.

Every run starts on a "lived-in" server, where every conditional permission is needed: four of the
five streams exist, one of them with an older definition (provisioning updates it) and the fifth
missing (provisioning creates it); the checkpoint bucket is missing; ANALYTICS's durable has
delivered and acked a message beyond the (absent) checkpoint (the processor repositions it); and
a backlog waits that makes the processor publish alerts and a dead letter, and ack.
"""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path

import pytest

from processor.bus.connect import ConnectOptions, connect
from processor.bus.embedded import EmbeddedServer
from processor.bus.streams import load_stream_definitions, provision_streams
from processor.config.parse import subject_pattern_matches
from tests.securitykit import BOOK, ROOT, SloRun, gateway_event, password, slo_run, stored_messages

pytestmark = pytest.mark.integration

DOC = ROOT / "docs" / "security.md"
PASSWORD_VARIABLE = "SLO_PROCESSOR_PASSWORD"


def documented_block() -> str:
    """The first ```conf block of docs/security.md."""
    match = re.search(r"^```conf\n(.*?)^```", DOC.read_text(), re.DOTALL | re.MULTILINE)
    assert match is not None, "docs/security.md has no ```conf block"
    return match.group(1)


def permission_lines(block: str) -> list[str]:
    """The lines of the block that grant something: those holding quoted subjects."""
    return [line.strip() for line in block.splitlines() if line.strip().startswith('"')]


def line_subjects(line: str) -> list[str]:
    return re.findall(r'"([^"]+)"', line)


def server_config(block: str, processor_password: str, admin_password: str) -> str:
    # The test's own user (it provisions the lived-in state, publishes events, reads outputs) is
    # added to the documented users; the processor's entry is left exactly as documented.
    assert block.count("users = [") == 1
    admin = f'{{ user: admin, password: "{admin_password}" }}\n'
    return f'{PASSWORD_VARIABLE}: "{processor_password}"\n' + block.replace("users = [", "users = [\n" + admin, 1)


async def lived_in(url: str, admin_password: str) -> None:
    nc = await connect(ConnectOptions(url=url, user="admin", password=admin_password, name="security-admin"))
    try:
        definitions = [d for d in load_stream_definitions(ROOT / "streams") if d["name"] != "SLO"]
        older = [dict(d, max_age=d["max_age"] + 10**9) if d["name"] == "TRADE" else d for d in definitions]
        await provision_streams(nc, older, _Quiet())
        js = nc.jetstream()
        await js.publish("analytics.gateway.request", gateway_event(0))
        sub = await js.pull_subscribe("analytics.gateway.request", durable="slo_analytics", stream="ANALYTICS")
        [msg] = await sub.fetch(1, timeout=5)
        await msg.ack_sync()
        # Seven minutes of failing requests: GatewayErrorRateHigh (bad_ratio > 0.5 % for 5 m) fires.
        for t_s in range(1, 421, 10):
            await js.publish("analytics.gateway.request", gateway_event(t_s, status_code=503))
        await js.publish("analytics.gateway.request", b"{not json")
    finally:
        await nc.close()


class _Quiet:
    def info(self, *args: object, **kwargs: object) -> None:
        pass

    warning = info


async def outputs(url: str, admin_password: str) -> list[str]:
    """The subjects stored in the SLO stream (read as admin)."""
    nc = await connect(ConnectOptions(url=url, user="admin", password=admin_password, name="security-admin"))
    try:
        return [m.subject for m in await stored_messages(nc, "SLO", "slo.>")]
    finally:
        await nc.close()


async def test_the_documented_permissions_are_enough_for_a_whole_run_and_a_restart(tmp_path):
    processor_password, admin_password = password(), password()
    (tmp_path / "nats.conf").write_text(server_config(documented_block(), processor_password, admin_password))
    env = {"SLO_NATS_USER": "slo-processor", "SLO_NATS_PASSWORD": processor_password}
    async with EmbeddedServer(tmp_path / "nats", extra_args=["-c", str(tmp_path / "nats.conf")]) as server:
        await lived_in(server.url, admin_password)
        # The restart restores the checkpoint the first run wrote at its end, and fires nothing new.
        for label, sign in (("permissions-whole-run", "alert.firing"), ("permissions-restart", "processor.ready")):
            run = slo_run(label, tmp_path, server.url, env)
            try:
                await asyncio.to_thread(run.wait_for_event, sign)
                await asyncio.sleep(1.0)  # a bus monitor round, the pulls and acks of the backlog
            finally:
                assert 0 == await asyncio.to_thread(run.stop)
            assert [] == [r for r in run.records() if r.get("level") in ("error", "warning")
                          and "permission" in str(r).lower()], run.text()
        restored = [r for r in run.records() if r.get("event") == "checkpoint.restored"]
        assert "ANALYTICS" in {r["stream"] for r in restored}  # the one stream with events
        stored = await outputs(server.url, admin_password)
    assert "slo.deadletter.not_json" in stored
    # The failing requests burn the budgets of the SLOs on gateway requests (the analytics
    # service's availability among them, whose burn-rate tiers fire).
    assert "slo.budget.api-gateway.gateway_availability" in stored
    assert any(s.startswith("slo.alerts.") and s.endswith(".analytics") for s in stored), stored
    assert [] == BOOK.leaks()


def _without(block: str, line: str) -> str:
    kept = [raw for raw in block.splitlines(keepends=True) if raw.strip() != line]
    assert len(kept) == len(block.splitlines()) - 1
    return "".join(kept)


def _short(line: str) -> str:
    first = line_subjects(line)[0]
    return first.replace("$JS.API.", "").replace(".", "_")


@pytest.mark.parametrize("line", permission_lines(documented_block()), ids=_short)
async def test_without_any_one_permission_slo_run_stops_at_once_with_one_line_naming_it(line, tmp_path):
    processor_password, admin_password = password(), password()
    block = _without(documented_block(), line)
    (tmp_path / "nats.conf").write_text(server_config(block, processor_password, admin_password))
    env = {"SLO_NATS_USER": "slo-processor", "SLO_NATS_PASSWORD": processor_password}
    async with EmbeddedServer(tmp_path / "nats", extra_args=["-c", str(tmp_path / "nats.conf")]) as server:
        await lived_in(server.url, admin_password)
        run = slo_run(f"permissions-without-{_short(line)}", tmp_path, server.url, env)
        started_s = time.monotonic()
        code = await asyncio.to_thread(_exit_code, run)
        took_s = time.monotonic() - started_s
    errors = [r for r in run.records() if r.get("level") == "error"]
    assert 1 == code, run.text()
    assert ["processor.failed"] == [r["event"] for r in errors], run.text()
    denied = re.fullmatch(r"permission denied: (publish|subscribe) to (\S+): .*docs/security.md.*", errors[0]["error"])
    assert denied is not None, errors[0]["error"]
    assert any(subject_pattern_matches(p, denied.group(2)) for p in line_subjects(line)), errors[0]["error"]
    assert "Traceback" not in run.text()
    assert took_s < 20, f"took {took_s:.1f} s"  # (5 s or less on a quiet machine)
    assert [] == BOOK.leaks()


def _exit_code(run: SloRun) -> int:
    """Exit code of a run that should stop by itself; a run still alive once its backlog had time
    to be applied gets SIGTERM (a refused checkpoint write shows only then, at the final one)."""
    try:
        run.wait_for_event("processor.ready", timeout_s=20)
    except AssertionError:
        return run.wait(10)  # it stopped before it was ready
    try:
        return run.proc.wait(timeout=3)
    except Exception:  # subprocess.TimeoutExpired: still running, as it should be without SIGTERM
        if any(r.get("event") == "processor.failed" for r in run.records()):
            return run.wait(15)  # it is stopping (slowly, on a loaded machine)
        return run.stop(10)


def test_the_block_has_one_line_per_purpose_and_each_is_explained():
    block = documented_block()
    lines = [line.strip() for line in block.splitlines()]
    for index, line in enumerate(lines):
        if line.startswith('"'):
            assert lines[index - 1].startswith("#"), f"no comment says what {line[:60]} is for"
    subjects = [s for line in permission_lines(block) for s in line_subjects(line)]
    assert len(set(subjects)) == len(subjects)
