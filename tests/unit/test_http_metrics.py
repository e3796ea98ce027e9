"""/metrics after known outputs: exact family names, labels and values (runtime/metrics.py), the
board's history (runtime/board.py) and readiness (runtime/telemetry.py), without a bus."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from processor.config.load import load_config
from processor.engine.outputs import AlertTransition, BudgetReport, Outputs, Rejection, SliReport
from processor.runtime.board import SloBoard, series_label
from processor.runtime.telemetry import Telemetry

CONFIG = load_config(Path(__file__).parents[2] / "config" / "slo.yaml")
T_MS = 1_700_000_040_000  # a whole minute
MIN = 60_000


def sli(t_ms: int, p95: float | None, labels=(), name="gateway_request_latency", service="api-gateway") -> SliReport:
    return SliReport(sli=name, service=service, kind="latency", labels=labels, evaluated_at_ms=t_ms, window_ms=MIN,
                     values=(("p50", 40.0), ("p95", p95), ("p99", None)))


def budget(t_ms: int, bad: int, policy: str | None = "normal", slo: str = "gateway_latency_p95") -> BudgetReport:
    allowed = 50.0  # 5 % of 1000
    return BudgetReport(slo=slo, service="api-gateway", sli="gateway_request_latency", reason="periodic",
                        evaluated_at_ms=t_ms, method="occurrences", objective=0.95, window="30d",
                        period_start_ms=t_ms - 30 * 86_400_000, period_end_ms=t_ms, good=1000 - bad, total=1000,
                        allowed_bad=allowed, consumed=bad / allowed, remaining=1 - bad / allowed,
                        remaining_bad=allowed - bad, burn_rates=((300_000, 12.0), (3_600_000, 2.5), (86_400_000, None)),
                        time_to_exhaustion_ms=None, policy=policy)


def alert(status: str, fingerprint: str, route: str, tier: str | None = None, t_ms: int = T_MS) -> AlertTransition:
    labels = {"alertname": "GatewayLatencyP95High", "service": "api-gateway", "severity": "warning",
              "sli": "gateway_request_latency", "route": route}
    if tier:
        labels["tier"] = tier
    return AlertTransition(status=status, labels=tuple(sorted(labels.items())), templates=(), fingerprint=fingerprint,
                           active_at_ms=t_ms - MIN, starts_at_ms=t_ms, ends_at_ms=t_ms + MIN if status == "resolved" else None,
                           value=250.0, threshold=150.0, expr="p95 > 150ms", window_ms=MIN, for_ms=0,
                           evaluated_at_ms=t_ms, window="1m")


def scrape(telemetry: Telemetry) -> dict[tuple[str, tuple], float]:
    out = {}
    for family in text_string_to_metric_families(telemetry.metrics.exposition().decode()):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def samples(scraped, name):
    return {labels: v for (n, labels), v in scraped.items() if n == name}


def test_the_gauges_hold_the_latest_published_outputs_with_their_exact_labels():
    telemetry = Telemetry(CONFIG)
    out = Outputs(slis=[sli(T_MS, 180.0), sli(T_MS, 7.5, labels=(("provider", "openai"), ("model", "gpt-4o")),
                                                name="ai_model_cost", service="ai-decision")],
                  budgets=[budget(T_MS, 20, "prioritize_reliability"),
                           budget(T_MS, 90, None, slo="sla_api_response_time")],  # policy: false
                  alerts=[alert("firing", "f1", "/a"), alert("firing", "f2", "/b"), alert("firing", "f3", "/c", tier="page")])
    telemetry.published(out, 0.002)
    telemetry.published(Outputs(alerts=[alert("resolved", "f3", "/c", tier="page")]), None)
    m = scrape(telemetry)

    assert {(("series", ""), ("service", "api-gateway"), ("sli", "gateway_request_latency"), ("stat", "p50")): 40.0,
            (("series", ""), ("service", "api-gateway"), ("sli", "gateway_request_latency"), ("stat", "p95")): 180.0,
            (("series", "model=gpt-4o,provider=openai"), ("service", "ai-decision"), ("sli", "ai_model_cost"),
             ("stat", "p50")): 40.0,
            (("series", "model=gpt-4o,provider=openai"), ("service", "ai-decision"), ("sli", "ai_model_cost"),
             ("stat", "p95")): 7.5} == samples(m, "slo_sli_value")  # p99 None: no sample
    key = (("service", "api-gateway"), ("slo", "gateway_latency_p95"))
    no_policy = (("service", "api-gateway"), ("slo", "sla_api_response_time"))
    assert {key: 0.6, no_policy: pytest.approx(-0.8)} == samples(m, "slo_budget_remaining_ratio")
    assert {key: 0.4, no_policy: 1.8} == samples(m, "slo_budget_consumed_ratio")
    assert {(*k, ("window", w)): v for k in (key, no_policy) for w, v in (("5m", 12.0), ("1h", 2.5))} == samples(
        m, "slo_burn_rate")
    assert {(*key[:1], key[1], ("tier", t)): v for t, v in (("normal", 0.0), ("prioritize_reliability", 1.0),
                                                            ("feature_freeze", 0.0), ("emergency", 0.0))} == samples(
        m, "slo_policy_tier")
    base = (("alertname", "GatewayLatencyP95High"), ("service", "api-gateway"), ("severity", "warning"),
            ("sli", "gateway_request_latency"), ("slo", ""))
    # /a and /b are two series of one rule: one sample, 1 while either fires; the page tier resolved.
    assert {(*base, ("tier", "")): 1.0, (*base, ("tier", "page")): 0.0} == samples(m, "slo_alert_firing")
    assert 1.0 == m[("slo_publish_duration_seconds_count", ())]
    assert (0.0, 0.0) == (m[("slo_alertmanager_queue_length", ())], m[("slo_alertmanager_dropped_total", ())])
    assert any(name.startswith("process_") for name, _ in m)


class _Msg:
    def __init__(self, reply: str) -> None:
        self.subject, self.data, self.reply = "analytics.gateway.request", b"{}", reply


def test_lane_counters_pending_batches_and_the_alertmanager_hook():
    now = [100.0]
    telemetry = Telemetry(CONFIG, clock=lambda: now[0])
    telemetry.lane_opened("ANALYTICS", consumed=True)
    msgs = [_Msg(f"$JS.ACK.ANALYTICS.slo_ANALYTICS.1.{s}.{s}.1700000000000000000.{1000 - s}") for s in (1, 2, 3)]
    telemetry.pulled("ANALYTICS", msgs)
    out = Outputs(rejections=[Rejection(0, "not_json", "x"), Rejection(2, "late", "y"), Rejection(1, "late", "z")])
    telemetry.applied("ANALYTICS", msgs, out, 0.03)
    now[0] = 142.5
    telemetry.metrics.attach_alertmanager(lambda: 7)
    telemetry.metrics.alertmanager_dropped(2)
    m = scrape(telemetry)

    stream = (("stream", "ANALYTICS"),)
    assert 3.0 == m[("slo_events_total", stream)]
    rejected = samples(m, "slo_events_rejected_total")
    assert (1.0, 2.0, 0.0) == (rejected[(("reason", "not_json"), *stream)], rejected[(("reason", "late"), *stream)],
                               rejected[(("reason", "future"), *stream)])
    assert 997.0 == m[("slo_consumer_pending_messages", stream)]
    assert (1.0, 0.03) == (m[("slo_batch_duration_seconds_count", stream)], m[("slo_batch_duration_seconds_sum", stream)])
    assert 1.0 == m[("slo_batch_duration_seconds_bucket", (("le", "0.05"), *stream))]
    assert 0.0 == m[("slo_batch_duration_seconds_bucket", (("le", "0.025"), *stream))]
    assert 42.5 == m[("slo_checkpoint_age_seconds", ())]
    telemetry.checkpointed()
    assert 0.0 == scrape(telemetry)[("slo_checkpoint_age_seconds", ())]
    assert (7.0, 2.0) == (m[("slo_alertmanager_queue_length", ())], m[("slo_alertmanager_dropped_total", ())])


def test_readiness_starting_not_pulled_behind_and_caught_up():
    telemetry = Telemetry(CONFIG, max_pending=100)
    telemetry.lane_opened("TRADE", consumed=True)
    telemetry.lane_opened("BUS", consumed=False)
    assert (False, ["processor starting", "TRADE: no batch pulled yet"]) == _why(telemetry)
    telemetry.phase = "running"
    telemetry.pulled("TRADE", [_Msg("$JS.ACK.TRADE.slo_TRADE.1.5.5.1700000000000000000.101")])
    assert (False, ["TRADE: 101 messages pending > 100"]) == _why(telemetry)
    telemetry.pulled("TRADE", [_Msg("$JS.ACK.TRADE.slo_TRADE.1.6.6.1700000000000000000.100")])
    assert (True, []) == _why(telemetry)
    telemetry.pulled("TRADE", [])
    ready, body = telemetry.readiness()
    assert (True, {"TRADE": {"pending": 0, "ready": True}}) == (ready, body["streams"])
    telemetry.phase = "stopping"
    assert (False, ["processor stopping"]) == _why(telemetry)


def _why(telemetry: Telemetry) -> tuple[bool, list[str]]:
    ready, body = telemetry.readiness()
    return ready, body["reasons"]


def test_the_board_keeps_one_point_a_minute_for_six_hours_and_the_worst_series():
    board = SloBoard(CONFIG)
    for i in range(400):  # 400 minutes, two reports in each (the second one replaces the first)
        t = T_MS + i * MIN
        board.observe(Outputs(slis=[sli(t, 100.0 + i, labels=(("route", "/a"),)), sli(t, 90.0, labels=(("route", "/b"),))]))
        board.observe(Outputs(slis=[sli(t + 10_000, 100.0 + i, labels=(("route", "/a"),)),
                                    sli(t + 10_000, 300.0 + i, labels=(("route", "/b"),))]))
    track = board.tracks["gateway_latency_p95"]
    assert 361 == len(track.sli)  # 6 h at 1 min, both ends
    assert (T_MS + 39 * MIN + 10_000, 339.0) == track.sli[0]
    assert (T_MS + 399 * MIN + 10_000, 699.0) == track.sli[-1]
    assert (699.0, 2) == (track.sli_now, track.series)
    # An older boundary's report does not replace the newer one's; a newer one drops evicted series.
    board.observe(Outputs(slis=[sli(T_MS, 1.0, labels=(("route", "/a"),))]))
    assert 2 == len(board.slis["gateway_request_latency"].series)
    board.observe(Outputs(slis=[sli(T_MS + 500 * MIN, 1.0, labels=(("route", "/a"),))]))
    assert [(("route", "/a"),)] == list(board.slis["gateway_request_latency"].series)


def test_good_ratio_objectives_take_the_lowest_series_and_alerts_go_to_their_slo():
    board = SloBoard(CONFIG)
    # A ratio SLI reports good_ratio; bad_ratio objectives read 1 - good_ratio.
    report = SliReport(sli="gateway_requests", service="api-gateway", kind="ratio", labels=(("route", "/x"),),
                       evaluated_at_ms=T_MS, window_ms=MIN, values=(("count", 100.0), ("good_ratio", 0.96875)))
    other = SliReport(sli="gateway_requests", service="api-gateway", kind="ratio", labels=(("route", "/y"),),
                      evaluated_at_ms=T_MS, window_ms=MIN, values=(("count", 100.0), ("good_ratio", 0.999)))
    burn = AlertTransition(status="firing", labels=(("alertname", "ErrorBudgetBurn"), ("service", "api-gateway"),
                                                    ("severity", "critical"), ("slo", "gateway_error_rate"),
                                                    ("tier", "critical")), templates=(), fingerprint="b1",
                           active_at_ms=T_MS, starts_at_ms=T_MS, ends_at_ms=None, value=6.0, threshold=5.0,
                           expr="burn", window_ms=MIN, for_ms=0, evaluated_at_ms=T_MS, window="6h")
    board.observe(Outputs(slis=[report, other], alerts=[burn]))
    assert 0.96875 == board.tracks["gateway_availability"].sli_now
    assert 0.03125 == board.tracks["gateway_error_rate"].sli_now  # bad_ratio < 0.1 %: the highest
    assert (["b1"], []) == ([a.fingerprint for a in board.firing_for("gateway_error_rate")],
                            board.firing_for("gateway_availability"))


@pytest.mark.parametrize(("labels", "text"), [((), ""), ((("b", "2"), ("a", "1")), "a=1,b=2")])
def test_series_label(labels, text):
    assert text == series_label(labels)


def test_a_restored_engine_tells_the_board_which_alerts_fire():
    from processor.engine import Engine
    from tests.enginekit import T0_MS, event, latency_sli, quantile_alert, spec_of

    spec = spec_of([latency_sli()], [quantile_alert(0.5, ">", 100.0)])
    engine = Engine(spec)
    out = engine.ingest([event("svc.req", T0_MS + i * 1000, latency_ms=300.0) for i in range(30)])
    (fired,) = [a for a in out.alerts if a.status == "firing"]
    restored = Engine(spec)
    restored.restore(engine.snapshot())
    (again,) = restored.firing_alerts()
    assert (fired.fingerprint, fired.labels, fired.starts_at_ms, fired.active_at_ms, None) == (
        again.fingerprint, again.labels, again.starts_at_ms, again.active_at_ms, again.value)

    telemetry = Telemetry(spec)
    telemetry.restored(restored)
    m = scrape(telemetry)
    assert {(("alertname", "LatencyHigh"), ("service", "svc"), ("severity", "warning"), ("sli", "lat"),
             ("slo", ""), ("tier", "")): 1.0} == samples(m, "slo_alert_firing")
    # A transition published after the restore wins over the restored state.
    telemetry.published(Outputs(alerts=[dataclasses.replace(again, status="resolved", ends_at_ms=T0_MS + 60_000)]), None)
    assert 0.0 == next(iter(samples(scrape(telemetry), "slo_alert_firing").values()))
    assert [] == Engine(spec).firing_alerts()
