"""`slo status` against a real nats-server holding known outputs on the SLO stream: the latest
budget of each SLO (an older report of the same SLO is not shown) and the alerts whose last
transition is firing (a1 fired and resolved: not firing; a4 fired, resolved and fired again: firing)."""

from __future__ import annotations

import io
from pathlib import Path

import orjson
import pytest
import pytest_asyncio
import structlog

from processor.bus.connect import ConnectOptions, connect
from processor.bus.embedded import EmbeddedServer
from processor.bus.streams import load_stream_definitions, provision_streams
from processor.cli import build_parser
from processor.ops.cli import status_from_args
ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.integration


def budget(service, slo, objective, remaining, policy, burn):
    return (f"slo.budget.{service}.{slo}",
            {"slo": slo, "service": service, "sli": "x", "reason": "periodic", "evaluatedAt": "2026-12-01T10:00:00.000Z",
             "method": "events", "objective": objective, "window": "30d", "good": 1, "total": 1, "bad": 0,
             "remaining": remaining, "burnRates": burn, "timeToExhaustionSeconds": None, "policy": policy})


def alert(fp, status, name, severity, service, slo=None, starts="2026-12-01T09:00:00.000Z", value=1.0):
    labels = {"alertname": name, "service": service, "sli": "x", "severity": severity, **({"slo": slo} if slo else {})}
    return (f"slo.alerts.{severity}.{service}",
            {"status": status, "labels": labels, "annotations": {}, "activeAt": starts, "startsAt": starts,
             "endsAt": None if status == "firing" else "2026-12-01T09:30:00.000Z", "fingerprint": fp,
             "value": value, "threshold": 150.0})


PUBLISHED = [
    budget("api-gateway", "gateway_latency_p95", 0.95, 0.9, "normal", {"5m": 1.0, "1h": 1.0}),
    alert("a1", "firing", "GatewayLatencyBudgetBurn", "page", "api-gateway", "gateway_latency_p95"),
    alert("a2", "firing", "GatewayLatencyBudgetBurn", "ticket", "api-gateway", "gateway_latency_p95",
          starts="2026-12-01T09:10:00.000Z", value=3.5),
    alert("a4", "firing", "TradingOrderLatencyP95High", "critical", "trading-engine"),
    alert("a1", "resolved", "GatewayLatencyBudgetBurn", "page", "api-gateway", "gateway_latency_p95"),
    budget("trading-engine", "trading_availability", 0.999, 1.0, "normal", {"5m": 0.0, "1h": 0.5}),
    alert("a3", "firing", "GatewayLatencyP95High", "warning", "api-gateway", starts="2026-12-01T09:20:00.000Z",
          value=250.0),
    alert("a4", "resolved", "TradingOrderLatencyP95High", "critical", "trading-engine"),
    budget("api-gateway", "gateway_latency_p95", 0.95, 0.42, "prioritize_reliability", {"5m": 14.4, "1h": 6.0}),
    alert("a4", "firing", "TradingOrderLatencyP95High", "critical", "trading-engine",
          starts="2026-12-01T09:40:00.000Z", value=320.0),
]


@pytest_asyncio.fixture
async def url_with_outputs(tmp_path):
    async with EmbeddedServer(tmp_path / "store" / "nats") as server:  # as `slo run --store-dir <tmp>/store`
        nc = await connect(ConnectOptions(url=server.url))
        await provision_streams(nc, load_stream_definitions(ROOT / "streams"), structlog.get_logger("test"))
        js = nc.jetstream()
        for subject, body in PUBLISHED:
            await js.publish(subject, orjson.dumps(body))
        await nc.close()
        yield server.url


def status(url: str, *extra: str) -> str:
    args = build_parser().parse_args(["status", *(["--nats-url", url] if url else []), *extra])
    out = io.StringIO()
    assert 0 == status_from_args(args, out)
    return out.getvalue()


async def run_status(url, *extra):
    import asyncio

    return await asyncio.to_thread(status, url, *extra)


async def test_status_json_has_each_slos_latest_budget_and_the_firing_alerts(url_with_outputs):
    doc = orjson.loads(await run_status(url_with_outputs, "--json"))
    assert [
        ("api-gateway", "gateway_latency_p95", 0.42, "prioritize_reliability", {"5m": 14.4, "1h": 6.0},
         ["GatewayLatencyBudgetBurn/ticket"]),
        ("trading-engine", "trading_availability", 1.0, "normal", {"5m": 0.0, "1h": 0.5}, []),
    ] == [(s["service"], s["slo"], s["remaining"], s["policy"], s["burnRates"], s["firing"]) for s in doc["slos"]]
    assert [
        ("api-gateway", "GatewayLatencyBudgetBurn", "ticket", "gateway_latency_p95", "2026-12-01T09:10:00.000Z", 3.5),
        ("api-gateway", "GatewayLatencyP95High", "warning", None, "2026-12-01T09:20:00.000Z", 250.0),
        ("trading-engine", "TradingOrderLatencyP95High", "critical", None, "2026-12-01T09:40:00.000Z", 320.0),
    ] == [(a["service"], a["alertname"], a["severity"], a["slo"], a["startsAt"], a["value"]) for a in doc["firing"]]
    assert [{"sli": "x"}] * 3 == [a["labels"] for a in doc["firing"]]  # the rest: what tells one rule's series apart


async def test_status_table_in_plain_text_when_not_a_terminal(url_with_outputs):
    expected = """\
SERVICE         SLO                   OBJECTIVE    REMAINING  POLICY                  BURN RATES        FIRING
api-gateway     gateway_latency_p95   0.95 / 30d   42.0%      prioritize_reliability  5m=14.40 1h=6.00  GatewayLatencyBudgetBurn/ticket
trading-engine  trading_availability  0.999 / 30d  100.0%     normal                  5m=0.00 1h=0.50   -

firing alerts (3)
SERVICE         ALERT                       SEVERITY  SLO                  LABELS  SINCE                     VALUE
api-gateway     GatewayLatencyBudgetBurn    ticket    gateway_latency_p95  sli=x   2026-12-01T09:10:00.000Z  3.5
api-gateway     GatewayLatencyP95High       warning   -                    sli=x   2026-12-01T09:20:00.000Z  250
trading-engine  TradingOrderLatencyP95High  critical  -                    sli=x   2026-12-01T09:40:00.000Z  320
"""
    assert expected == await run_status(url_with_outputs)


async def test_status_without_a_url_reads_the_embedded_server_slo_run_started_on_the_store(url_with_outputs, tmp_path,
                                                                                           monkeypatch):
    monkeypatch.delenv("SLO_NATS_URL", raising=False)
    monkeypatch.delenv("NATS_URL", raising=False)
    doc = orjson.loads(await run_status("", "--json", "--store-dir", str(tmp_path / "store")))
    assert 2 == len(doc["slos"]) and 3 == len(doc["firing"])


def test_status_without_a_server_or_a_store_says_so(tmp_path, capsys):
    args = build_parser().parse_args(["status", "--store-dir", str(tmp_path)])
    assert 1 == status_from_args(args, io.StringIO())
    assert "no --nats-url given and no embedded store" in capsys.readouterr().err


def test_on_a_terminal_the_same_rows_are_drawn_by_rich():
    from processor.ops.status import Status, fold_alerts, print_rich

    budgets = [body for subject, body in PUBLISHED[-2:-1]]
    firing = fold_alerts(body for subject, body in PUBLISHED if subject.startswith("slo.alerts."))
    out = io.StringIO()
    print_rich(Status(budgets, firing), out, width=250)
    lines = out.getvalue().splitlines()
    row = next(line for line in lines if "gateway_latency_p95" in line and "42.0%" in line)
    assert ["api-gateway", "gateway_latency_p95", "0.95 / 30d", "42.0%", "prioritize_reliability",
            "5m=14.40 1h=6.00", "GatewayLatencyBudgetBurn/ticket"] == [c.strip() for c in row.split("│")[1:-1]]
    assert "firing alerts (3)" in out.getvalue()


async def test_a_server_without_the_processor_s_streams_is_named_as_such(tmp_path):
    """`slo status`, `tail` and `export` pointed at a NATS that no `slo run` provisioned (a wrong
    URL, a fresh server): one line that says the stream is not on that server and who creates it."""
    import asyncio
    import os
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLO_", "NATS_"))}
    async with EmbeddedServer(tmp_path / "bare") as bare:
        for argv, stream in ((["status"], "SLO"), (["tail"], "SLO"), (["export", "--out", str(tmp_path / "e.ndjson")], "AI")):
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "processor.cli", *argv, "--nats-url", bare.url, "--streams-dir", str(ROOT / "streams"),
                cwd=ROOT, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
            _, err = await asyncio.wait_for(proc.communicate(), 60)
            assert 1 == proc.returncode, err
            lines = err.decode().strip().splitlines()
            assert 1 == len(lines), lines
            assert lines[0].startswith(f"slo {argv[0]}: ") and f"stream {stream}" in lines[0]
            assert "not on this server: `slo run` creates" in lines[0]


def test_a_policy_held_by_policy_min_events_says_so_beside_a_spent_budget():
    from processor.ops.status import Status, render_table, status_json

    _, held = budget("api-gateway", "gateway_error_rate", 0.999, -10.111, "normal", {"5m": 1011.1})
    held.update(total=9, good=8, bad=1, policyMinEvents=100)  # 1 bad in 9: the budget is spent ten times over
    _, moved = budget("api-gateway", "gateway_latency_p95", 0.95, -0.5, "freeze_features", {"5m": 3.0})
    moved.update(total=100, policyMinEvents=100)
    _, slices = budget("trading-engine", "trading_uptime", 0.999, -1.0, "normal", {"5m": 2.0})
    slices.update(method="time_slices", total=3, policyMinEvents=10)
    status = Status(budgets=[held, moved, slices], firing=[])
    assert ["held: 9 of the 100 events it needs", None, "held: 3 of the 10 slices it needs"] == [
        s["policyHeld"] for s in status_json(status)["slos"]]
    rows = render_table(status).splitlines()
    assert "-1011.1%   normal (held: 9 of the 100 events it needs)  5m=1011.10" in rows[1]
    assert rows[2].split()[6] == "freeze_features"  # service, slo, "0.95", "/", "30d", remaining, policy


def test_a_label_value_with_a_comma_or_a_space_is_quoted_in_the_labels_column():
    from processor.ops.status import Status, render_table

    _, firing = alert("a9", "firing", "QuoteStale", "critical", "market-data")
    firing["labels"].update(symbol="BRK A", venue="x,y", plain="AAPL", empty="")
    rows = render_table(Status(budgets=[], firing=[firing])).splitlines()
    assert 'empty="",plain=AAPL,sli=x,symbol="BRK A",venue="x,y"' in rows[-1]  # sorted by name


def test_on_a_terminal_a_label_value_that_looks_like_markup_is_shown_as_it_is():
    from processor.ops.status import Status, print_rich

    _, firing = alert("a8", "firing", "QuoteStale", "critical", "market-data")
    firing["labels"].update(symbol="[/]", venue="[bold]X")  # a producer's values: rich would read them as markup
    out = io.StringIO()
    print_rich(Status(budgets=[], firing=[firing]), out, width=250)
    assert 'sli=x,symbol=[/],venue=[bold]X' in out.getvalue()


def test_on_a_narrow_terminal_names_stay_whole_and_the_other_columns_fold():
    from processor.ops.status import Status, print_rich

    long_burns = {f"{w}": 12.345 for w in ("5m", "30m", "1h", "2h", "6h", "1d", "3d", "30d")}
    _, b = budget("ai-decision-service", "ai_decision_error_rate", 0.999, -0.5, "emergency", long_burns)
    out = io.StringIO()
    print_rich(Status(budgets=[b], firing=[]), out, width=100)
    assert "ai_decision_error_rate" in out.getvalue() and "ai-decision-service" in out.getvalue()
