"""Hand-worked timelines for "p95 > 150ms for 5m" (1 m window, 10 s resolution, 5 s lateness).

One event per second; 60 events in a full window, so p95's rank is 0.95 * 59 = 56.05 and the p95
is the 57th smallest value: it is the slow value as soon as 4 or more of the 60 are slow. Every
expected time below is worked out from that by hand in the comments, not by the engine.
"""

from __future__ import annotations

import pytest

from processor.engine import Engine, run_all
from processor.runtime.render import alert_annotations
from tests.enginekit import T0_MS, event, latency_sli, quantile_alert, spec_of

S = 1000


def steady(start_s: int, end_s: int, latency_of) -> list:
    return [event("svc.req", T0_MS + t * S, latency_ms=latency_of(t)) for t in range(start_s, end_s)]


def transitions(outputs):
    return [
        (a.status, (a.active_at_ms - T0_MS) // S, (a.starts_at_ms - T0_MS) // S,
         None if a.ends_at_ms is None else (a.ends_at_ms - T0_MS) // S)
        for a in outputs.alerts
    ]


CASES = [
    pytest.param(
        # Slow from 120 s to 480 s. Boundary 130 s sees 10 slow of 60 -> pending, activeAt 130.
        # It holds at every boundary to 430 s = 130 + 300 -> firing, startsAt 430. Boundary 540 s
        # is the first whose window [480, 540) has no slow event -> resolved, endsAt 540.
        dict(slow=(120, 480), end=700, for_ms=300_000, keep_ms=0),
        [("firing", 130, 430, None), ("resolved", 130, 430, 540)],
        id="a slow spell longer than for fires at activeAt + 5m and resolves when the window clears",
    ),
    pytest.param(
        # Slow from 120 s to 300 s: pending at 130, the condition stops at 360 (window [300, 360)
        # clean) before 130 + 300 = 430, so it never fires and nothing is published.
        dict(slow=(120, 300), end=700, for_ms=300_000, keep_ms=0),
        [],
        id="a slow spell shorter than for stays pending and publishes nothing",
    ),
    pytest.param(
        # As the first case, but keep_firing_for 1m: the condition first fails at 540, the alert
        # keeps firing until the first boundary 60 s later -> endsAt 600.
        dict(slow=(120, 480), end=700, for_ms=300_000, keep_ms=60_000),
        [("firing", 130, 430, None), ("resolved", 130, 430, 600)],
        id="keep_firing_for holds a resolved condition firing for one more minute",
    ),
    pytest.param(
        # Exactly 3 slow events in a window never reach the 57th rank; 4 do. Slow at 200, 201,
        # 202 only -> nothing. (Sanity check of the rank arithmetic above.)
        dict(slow=(200, 203), end=400, for_ms=0, keep_ms=0),
        [],
        id="three slow events of sixty stay under p95",
    ),
    pytest.param(
        # Slow at 200..203 (4 events) with for 0: boundary 210 sees them -> firing at 210;
        # they leave the window at boundary 270 (window [210, 270)) -> resolved 270.
        dict(slow=(200, 204), end=400, for_ms=0, keep_ms=0),
        [("firing", 210, 210, None), ("resolved", 210, 210, 270)],
        id="four slow events of sixty cross p95 and with for 0 fire at once",
    ),
]


@pytest.mark.parametrize(("case", "expected"), CASES)
def test_p95_over_150ms_timeline(case, expected):
    slow_lo, slow_hi = case["slow"]
    spec = spec_of(
        [latency_sli()],
        [quantile_alert(0.95, ">", 150.0, for_ms=case["for_ms"], keep_firing_for_ms=case["keep_ms"])],
    )
    engine = Engine(spec)
    events = steady(0, case["end"], lambda t: 200.0 if slow_lo <= t < slow_hi else 100.0)
    out = run_all(engine, [events[i : i + 37] for i in range(0, len(events), 37)])
    assert expected == transitions(out)


def test_firing_alert_carries_labels_value_and_annotations():
    spec = spec_of([latency_sli()], [quantile_alert(0.95, ">", 150.0, for_ms=0, severity="critical")])
    out = Engine(spec).ingest(steady(0, 100, lambda t: 200.0 if t >= 20 else 100.0))
    firing = out.alerts[0]
    assert {"alertname": "LatencyHigh", "service": "svc", "severity": "critical", "sli": "lat"} == firing.label_map
    assert 200.0 == pytest.approx(firing.value, rel=0.01)
    assert f"p{{q}} is {firing.value:.1f}ms" == alert_annotations(firing)["summary"]


def test_a_burst_exactly_on_a_boundary_belongs_to_the_sub_window_it_opens():
    # 100 slow events at exactly 130 s land in [130, 140): the window evaluated at boundary 130
    # ([70, 130)) does not see them, the one at 140 ([80, 140)) does -> firing at 140. They stay
    # in the windows up to boundary 190 ([130, 190)) and leave at 200 ([140, 200)) -> resolved 200.
    spec = spec_of([latency_sli()], [quantile_alert(0.95, ">", 150.0)])
    events = steady(0, 130, lambda t: 100.0)
    events += [event("svc.req", T0_MS + 130 * S, latency_ms=300.0)] * 100
    events += steady(130, 300, lambda t: 100.0)
    out = run_all(Engine(spec), [events])
    assert [("firing", 140, 140, None), ("resolved", 140, 140, 200)] == transitions(out)


def test_late_events_are_rejected_and_never_merged_into_a_closed_window():
    spec = spec_of([latency_sli()], [quantile_alert(0.95, ">", 150.0)])
    engine = Engine(spec)
    engine.ingest(steady(0, 600, lambda t: 100.0))
    # Highest time 599 s, watermark 594 s: sub-windows up to 590 s are closed.
    assert T0_MS + 590 * S == engine.closed_until_ms
    out = engine.ingest(
        [
            event("svc.req", T0_MS + 500 * S, latency_ms=900.0),  # far behind: late
            event("svc.req", T0_MS + 589 * S, latency_ms=900.0),  # in the closed [580, 590): late
            event("svc.req", T0_MS + 592 * S, latency_ms=900.0),  # in the open [590, 600): fine
        ]
    )
    assert [(0, "late"), (1, "late")] == [(r.index, r.reason) for r in out.rejections]
    assert 1 == out.accepted
    assert {"late": 2} == engine.rejected


def test_events_within_the_allowed_lateness_are_accepted_out_of_order():
    spec = spec_of([latency_sli()], [quantile_alert(0.95, ">", 150.0)])
    engine = Engine(spec)
    out = engine.ingest(
        [
            event("svc.req", T0_MS + 100 * S, latency_ms=1.0),
            event("svc.req", T0_MS + 96 * S, latency_ms=1.0),  # 4 s behind the highest: fine
        ]
    )
    assert [] == out.rejections


def test_an_idle_advance_closes_windows_and_resolves_without_new_events():
    spec = spec_of([latency_sli()], [quantile_alert(0.95, ">", 150.0)])
    engine = Engine(spec)
    out = engine.ingest(steady(0, 100, lambda t: 200.0))
    assert ["firing"] == [a.status for a in out.alerts]
    # Last event 99 s; its sub-window [90, 100) leaves the 1 m window at boundary 160.
    out = engine.advance(T0_MS + 159 * S)
    assert [] == out.alerts
    out = engine.advance(T0_MS + 160 * S)
    assert [("resolved", 160)] == [(a.status, (a.ends_at_ms - T0_MS) // S) for a in out.alerts]


def test_series_are_split_by_label_and_alert_independently():
    spec = spec_of([latency_sli(labels=("route",))], [quantile_alert(0.95, ">", 150.0)])
    events = []
    for t in range(0, 100):
        events.append(event("svc.req", T0_MS + t * S, latency_ms=100.0, route="/a"))
        events.append(event("svc.req", T0_MS + t * S, latency_ms=300.0 if t >= 30 else 100.0, route="/b"))
    out = Engine(spec).ingest(events)
    assert [("firing", "/b")] == [(a.status, a.label_map["route"]) for a in out.alerts]


def test_an_alert_that_fires_after_pending_carries_the_value_and_window_of_the_firing_boundary():
    from tests.enginekit import latency_sli, quantile_alert

    spec = spec_of([latency_sli()], [quantile_alert(0.95, ">", 150, for_ms=60_000)])
    # 300 ms every second for three minutes: p95 > 150 from the first boundary (pending at T0 + 10 s),
    # firing a minute later (T0 + 70 s) with the p95 of that boundary's 1 m window: 300 ms within 1 %.
    events = [event("svc.req", T0_MS + i * 1000, latency_ms=300.0) for i in range(180)]
    out = run_all(Engine(spec), [events])
    [firing] = [a for a in out.alerts if a.status == "firing"]
    assert (T0_MS + 10_000, T0_MS + 70_000, "1m", "p95 > 150ms") == (
        firing.active_at_ms, firing.starts_at_ms, firing.window, firing.expr
    )
    assert firing.value == pytest.approx(300.0, rel=0.01)
    labels = firing.label_map
    assert ("svc", "lat", "LatencyHigh", "warning") == (labels["service"], labels["sli"], labels["alertname"], labels["severity"])
