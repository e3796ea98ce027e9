"""Hand-worked error-budget timelines: burn-rate tiers, gates, calendar periods, policy hysteresis.

Traffic is one event per 10 s (one per sub-window, at its start) unless a test says otherwise, so a
window of W seconds holds W / 10 events and a bad fraction is (bad events) / (W / 10). Objective
99.9 %: burn = bad fraction / 0.001. Every expected time is worked out in the comments.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from processor.engine import Engine, run_all
from tests.enginekit import DAY_MS, SRE_TIERS, T0_MS, budget_slo, event, ratio_sli, sli, spec_of

S = 1000


def traffic(start_s: int, end_s: int, step_s: int = 10, bad=lambda t: False, at_ms: int = T0_MS):
    return [
        event("svc.req", at_ms + t * S, status="error" if bad(t) else "ok") for t in range(start_s, end_s, step_s)
    ]


def tier_transitions(out, origin_ms: int):
    return [
        (a.label_map["tier"], a.status, (a.starts_at_ms - origin_ms) // S,
         None if a.ends_at_ms is None else (a.ends_at_ms - origin_ms) // S)
        for a in out.alerts
    ]


def run(slo, events, lateness_ms=0):
    engine = Engine(spec_of([ratio_sli()], [], lateness_ms=lateness_ms, slos=[slo]))
    return run_all(engine, [events[i : i + 5000] for i in range(0, len(events), 5000)])


def test_a_total_outage_fires_every_tier_in_turn_and_each_resets_when_its_short_window_clears():
    # Three days and a bit of clean traffic, then every event bad from T = 260,000 s for 1,200 s
    # (bad events at T, T+10, ..., T+1190: 120 of them), then clean again.
    # Fires (both windows >= burn; the long window decides):
    #   page-fast 14.4x over 1h: needs 0.0144 * 360 = 5.18 -> 6 bad -> T+60 (5m: 6/30, fine)
    #   page-slow 6x over 6h:    needs 0.006 * 2160 = 12.96 -> 13 bad -> T+130
    #   ticket-fast 3x over 1d:  needs 0.003 * 8640 = 25.92 -> 26 bad -> T+260 (minute-aligned,
    #                            so the 1d window holds exactly 8640 events)
    #   ticket-slow 1x over 3d:  needs 0.001 * 25920 = 25.92 -> 26 bad -> T+260
    # Resets (the short window falls below the burn first):
    #   page-fast 5m (30 ev):    needs < 0.432 bad -> none left: window starts at T+1200 -> T+1500
    #   page-slow 30m (180 ev):  needs < 1.08 -> 1 bad left (T+1190): starts at T+1190 -> T+2990
    #   ticket-fast 2h (720 ev): needs < 2.16 -> 2 left (T+1180..): starts at T+1180 -> T+8380
    #   ticket-slow 6h (2160):   needs < 2.16 -> 2 left: starts at T+1180 -> T+22780
    outage_s = 260_000
    events = traffic(0, outage_s + 23_000, bad=lambda t: outage_s <= t < outage_s + 1200)
    out = run(budget_slo(), events)
    origin = T0_MS + outage_s * S
    assert [
        ("page-fast", "firing", 60, None),
        ("page-slow", "firing", 130, None),
        ("ticket-fast", "firing", 260, None),
        ("ticket-slow", "firing", 260, None),
        ("page-fast", "resolved", 60, 1500),
        ("page-slow", "resolved", 130, 2990),
        ("ticket-fast", "resolved", 260, 8380),
        ("ticket-slow", "resolved", 260, 22780),
    ] == tier_transitions(out, origin)
    firing = out.alerts[0]
    assert ("page", "ErrorBudgetBurn", "avail") == (
        firing.label_map["severity"], firing.label_map["alertname"], firing.label_map["slo"]
    )


def test_a_slow_2x_burn_fires_only_the_slow_tier():
    # One bad event in 500 (bad fraction 0.002: burn 2x), the first at t = 4,990 s. At boundary
    # 5,000 every window holds 500 events or fewer with 1 bad: burn 2 >= 1 for ticket-slow (3d and
    # 6h), but 2 < 3, 6 and 14.4 for the others' long windows (1d: 2; 6h: 2; 1h: 1/360 -> 2.78).
    # Later the long windows keep ~2x: 6h has 4-5 bad of 2160 (1.85-2.3 >= 1), 1d 17-18 of 8640
    # (~2 < 3). So ticket-slow fires at 5,000 s and stays firing for the four days run here.
    events = traffic(0, 4 * 86_400, bad=lambda t: (t // 10) % 500 == 499)
    out = run(budget_slo(), events)
    assert [("ticket-slow", "firing", 5000, None)] == tier_transitions(out, T0_MS)


@pytest.mark.parametrize(
    ("min_events", "expected"),
    [
        pytest.param((100, 20), [], id="with gates of 100 and 20 events a single failure in a quiet hour pages nobody"),
        pytest.param(
            (0, 0),
            # Without gates: boundary 3,610 closes the failure's sub-window. The 5m window then
            # holds 5 events (3,360 ... 3,600), 1 bad: burn 200; the 1h window [10, 3,610) 60 events,
            # 1 bad: burn 16.7 >= 14.4 -> page-fast. The 6h window 61 events (burn 16.4 >= 6) and the
            # 30m window 30 (burn 33) -> page-slow.
            [("page-fast", "firing", 3610, None), ("page-slow", "firing", 3610, None)],
            id="without gates the same single failure would page twice",
        ),
    ],
)
def test_a_short_spike_below_the_minimum_events_gate_pages_nobody(min_events, expected):
    # One event a minute for 2 hours; the one at 3,600 s fails. (With the gates the ticket tiers
    # still open once their long windows hold 100 events: 1 bad in 100 is a real 10x burn.)
    events = traffic(0, 7200, step_s=60, bad=lambda t: t == 3600)
    out = run(budget_slo(min_events=min_events), events)
    pages = [a for a in out.alerts if a.label_map["severity"] == "page" and a.status == "firing"]
    assert expected == tier_transitions(type(out)(alerts=pages), T0_MS)


def utc_ms(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000)


def test_a_calendar_month_budget_resets_at_local_midnight_in_its_zone():
    # America/New_York: DST ended on Sunday 1 Nov 2026 at 02:00, so November began at 00:00 EDT
    # (04:00Z) and December begins at 00:00 EST (05:00Z). Events every 10 s from 04:50Z to 05:10Z
    # on 1 Dec; in November (before 05:00Z) every 10th is bad: 6 bad of 60.
    start_ms = utc_ms("2026-12-01T04:50:00")
    events = traffic(0, 1200, bad=lambda t: t < 600 and t % 100 == 0, at_ms=start_ms)
    slo = budget_slo(calendar="month", timezone="America/New_York", tiers=(), policy=False)
    out = run(slo, events)
    reports = {r.evaluated_at_ms: r for r in out.budgets}
    last_november = reports[utc_ms("2026-12-01T05:00:00")]
    first_december = reports[utc_ms("2026-12-01T05:01:00")]
    assert (utc_ms("2026-11-01T04:00:00"), utc_ms("2026-12-01T05:00:00"), 54, 60) == (
        last_november.period_start_ms, last_november.period_end_ms, last_november.good, last_november.total
    )
    assert (utc_ms("2026-12-01T05:00:00"), utc_ms("2027-01-01T05:00:00"), 6, 6) == (
        first_december.period_start_ms, first_december.period_end_ms, first_december.good, first_december.total
    )
    assert pytest.approx(0.06) == last_november.allowed_bad  # 0.1 % of 60 events
    assert 1.0 == first_december.remaining


def hovering(hysteresis: float):
    # Objective 90 %: remaining = 1 - 10 * bad / total. Each sub-window's events come at its start.
    #   sw 0: 1000 good                 -> 0/1000,   remaining 1.0      normal
    #   sw 1: 900 good + 100 bad        -> 100/2000, remaining 0.5      prioritize (50 % is 25-50 %)
    #   then ten times: 38 good -> 100/2038, remaining 0.509 (normal without hysteresis, but not
    #   0.02 above the border); 2 bad -> 102/2040, remaining 0.5 (prioritize): the cumulative bad
    #   ratio stays at 5 %, so the budget hovers on the 50 % border
    #   sw 22: 2000 good                -> 120/4400, remaining 0.727    normal again
    batches = [(1000, 0), (900, 100)] + [(38, 0), (0, 2)] * 10 + [(2000, 0), (1, 0)]
    events = []
    for i, (good, bad) in enumerate(batches):
        t = T0_MS + i * 10 * S
        events += [event("svc.req", t, status="ok")] * good + [event("svc.req", t, status="error")] * bad
    slo = budget_slo(objective=0.9, tiers=(), hysteresis=hysteresis, report_every_ms=DAY_MS)
    return run(slo, events).actions


def test_a_budget_hovering_on_a_policy_border_inside_the_hysteresis_makes_one_transition_not_ten():
    actions = hovering(0.02)
    # sw 1 closes at boundary 20 s; the 2000 good events of sw 22 close at boundary 230 s.
    assert [("normal", "prioritize_reliability", 20), ("prioritize_reliability", "normal", 230)] == [
        (a.previous_policy, a.policy, (a.evaluated_at_ms - T0_MS) // S) for a in actions
    ]
    assert "prioritize reliability work" == actions[0].action


def test_without_hysteresis_the_same_hovering_flaps_on_every_crossing():
    # The first drop, two crossings in each of the ten cycles, and the final recovery.
    assert 22 == len(hovering(0.0))


@pytest.mark.parametrize(
    ("objective", "allowed_minutes"),
    [
        pytest.param(0.999, 43.2, id="99.9 % over 30 days allows 43.2 bad minutes"),
        pytest.param(0.9995, 21.6, id="99.95 % over 30 days allows 21.6 bad minutes"),
        pytest.param(0.995, 216.0, id="99.5 % over 30 days allows 3.6 hours"),
        pytest.param(0.9999, 4.32, id="99.99 % over 30 days allows 4.32 bad minutes"),
    ],
)
def test_the_engine_reports_the_documents_budgets_for_time_slices(objective, allowed_minutes):
    from processor.config.model import Condition, Stat

    beats = sli("beats", "events", "svc.req")
    slo = budget_slo(sli="beats", objective=objective, tiers=(), method="time_slices", policy=False,
                     slice_condition=Condition(stat=Stat(kind="count"), op=">=", threshold=1, text="count >= 1"))
    engine = Engine(spec_of([beats], [], lateness_ms=0, slos=[slo]))
    out = run_all(engine, [traffic(0, 200)])
    report = out.budgets[-1]
    assert allowed_minutes == pytest.approx(report.allowed_bad, rel=1e-12)
    assert "30d" == report.window


def test_the_engine_allows_errors_in_proportion_4320_per_4_32m_requests():
    # 4.32 M requests would take long to feed; the allowance is proportional: 1,000 requests at
    # 99.9 % allow 1 error, 4,320,000 allow 4,320. Checked at 43,200 requests: 43.2 allowed.
    slo = budget_slo(objective=0.999, tiers=(), policy=False)
    engine = Engine(spec_of([ratio_sli()], [], lateness_ms=0, slos=[slo]))
    batch = [event("svc.req", T0_MS + (i // 720) * 1000, status="ok") for i in range(43_200)]
    out = run_all(engine, [batch, [event("svc.req", T0_MS + 3_600_000, status="ok")]])
    report = out.budgets[-1]
    assert (43_200, 43.2) == (report.total, pytest.approx(report.allowed_bad, rel=1e-12))


def test_a_burn_of_exactly_the_tier_rate_fires_as_the_documents_arithmetic_says():
    # 99 %: 3 bad in every 100 events is a burn of exactly 3x. In binary floating point
    # 0.03 / (1 - 0.99) is 2.9999999999999973, below 3: the tier would never fire on a tie.
    assert 0.03 / (1 - 0.99) < 3
    # 100 events per 10 s sub-window (one every 100 ms), 3 of them bad: every window of whole
    # sub-windows holds exactly 3 bad per 100, from the first boundary on.
    events = [
        event("svc.req", T0_MS + t_ds * 100, status="error" if t_ds % 100 in (20, 40, 60) else "ok")
        for t_ds in range(0, 6000)
    ]
    tiers = (("exact", 3.0, 300_000, 100_000, "ticket"),)
    out = run(budget_slo(objective=0.99, tiers=tiers), events)
    assert [("exact", "firing", 10, None)] == tier_transitions(out, T0_MS)


def test_a_calendar_week_budget_resets_on_monday_at_local_midnight_in_its_zone():
    # Asia/Kolkata (+05:30, no DST): Monday 7 Dec 2026 begins at 00:00 IST, Sunday 6 Dec 18:30Z.
    # Events every 10 s from 18:20Z to 18:40Z; before the turn every 10th is bad: 6 bad of 60.
    start_ms = utc_ms("2026-12-06T18:20:00")
    events = traffic(0, 1200, bad=lambda t: t < 600 and t % 100 == 0, at_ms=start_ms)
    slo = budget_slo(calendar="week", timezone="Asia/Kolkata", tiers=(), policy=False)
    out = run(slo, events)
    reports = {r.evaluated_at_ms: r for r in out.budgets}
    last_of_week = reports[utc_ms("2026-12-06T18:30:00")]
    first_of_week = reports[utc_ms("2026-12-06T18:31:00")]
    # The week that ends: Monday 30 Nov 00:00 IST (29 Nov 18:30Z) to Monday 7 Dec 00:00 IST.
    assert (utc_ms("2026-11-29T18:30:00"), utc_ms("2026-12-06T18:30:00"), 54, 60) == (
        last_of_week.period_start_ms, last_of_week.period_end_ms, last_of_week.good, last_of_week.total
    )
    assert (utc_ms("2026-12-06T18:30:00"), utc_ms("2026-12-13T18:30:00"), 6, 6) == (
        first_of_week.period_start_ms, first_of_week.period_end_ms, first_of_week.good, first_of_week.total
    )


@pytest.mark.parametrize(("op", "good"), [("<=", 10), ("<", 0)])
def test_a_latency_objective_counts_a_value_exactly_at_its_threshold_as_its_operator_says(op, good):
    from processor.config.load import load_config_text

    config = load_config_text(f"""
version: 1
slis:
  lat: {{service: s, kind: latency, subject: r, value: latency_ms}}
slos:
  fast: {{sli: lat, objective: p95 {op} 100ms, budget: {{window: 1h, report_every: 1m}}}}
""")
    # 10 requests at exactly 100 ms, 10 just above it, in the first minute.
    events = [event("r", T0_MS + i * 1000, latency_ms=100.0 if i % 2 else 100.001) for i in range(20)]
    out = run_all(Engine(config), [events], final_watermark_ms=T0_MS + 120_000)
    report = out.budgets[-1]  # a minute after the last of them: every one counted
    assert (good, 20) == (report.good, report.total)


def test_a_budget_exactly_half_spent_is_in_the_25_to_50_percent_tier_as_the_document_says():
    # 99.9 % of 2,000 events allows 2 bad; 1 bad leaves exactly 50 %, which PLATFORM-SLOS.md puts in
    # "25-50 %: prioritize reliability". In binary 1 - 1 / ((1 - 0.999) * 2000) is 0.5000000000000004,
    # "> 50 %", and the policy would stay normal.
    assert 1 - 1 / ((1 - 0.999) * 2000) > 0.5
    # 2,000 events, one every 10 s, the last one bad; its sub-window closes at 20,000 s.
    events = traffic(0, 20_000, bad=lambda t: t == 19_990)
    engine = Engine(spec_of([ratio_sli()], [], lateness_ms=0, slos=[budget_slo(tiers=(), policy=True, window_ms=DAY_MS)]))
    out = run_all(engine, [events], final_watermark_ms=T0_MS + 20_000 * S)
    moves = [(a.previous_policy, a.policy, (a.evaluated_at_ms - T0_MS) // S) for a in out.actions]
    assert [("normal", "prioritize_reliability", 20_000)] == moves


def test_a_burn_rate_alert_names_its_slo_tier_window_and_what_the_burn_means_for_the_budget():
    # A total outage from the start: page-fast (14.4x over 1h and 5m) fires at the first boundary.
    events = traffic(0, 600, bad=lambda t: True)
    out = run(budget_slo(tiers=SRE_TIERS[:1]), events)
    firing = out.alerts[0]
    labels = firing.label_map
    assert ("ErrorBudgetBurn", "avail", "req", "svc", "page", "page-fast") == (
        labels["alertname"], labels["slo"], labels["sli"], labels["service"], labels["severity"], labels["tier"]
    )
    assert ("1h", "burn_rate >= 14.4 over 1h and 5m") == (firing.window, firing.expr)
    templates = dict(firing.templates)
    assert "svc avail: error budget burning at {value:.1f}x (tier page-fast)" == templates["summary"]
    # 99.9 %: a 0.1 % budget; a 30-day budget burnt at 14.4x lasts 30 d / 14.4 = 50 h = 2d2h.
    assert templates["description"] == (
        "Burn rate is at least 14.4x over both 1h and 5m (budget 0.1% of the avail SLO); "
        "at this rate the budget lasts 2d2h."
    )
    # Every bad event: the burn is 1 / 0.001 = 1000x.
    assert firing.value == pytest.approx(1000.0)


def test_an_slo_without_a_budget_policy_reports_no_tier_even_overspent():
    # Half the events bad at 99 %: the budget is spent fifty times over. With a policy the
    # report says emergency; without one (``policy: false``) it names no tier at all, never
    # "normal", and makes no policy transition.
    events = traffic(0, 3000, bad=lambda t: t % 20 == 0)
    with_policy = run(budget_slo(objective=0.99, tiers=(), policy=True), events)
    without = run(budget_slo(objective=0.99, tiers=(), policy=False), events)
    assert "emergency" == with_policy.budgets[-1].policy
    assert without.budgets and {None} == {r.policy for r in without.budgets}
    assert without.budgets[-1].remaining < 0
    assert [] == without.actions
