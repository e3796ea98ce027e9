"""Rules that fire on the event that makes them hold (processor/engine/instant.py).

Timelines worked by hand: resolution 10 s, allowed lateness 5 s unless a test says otherwise,
times in seconds after T0 (a multiple of 10 s). An event at t is checked against the window that
the boundary at the end of its own sub-window, b = floor(t / 10) * 10 + 10, will read. Boundary b
closes when an event at b + 5 s or later arrives (watermark = highest event time - 5 s), before
that event is recorded. Each expected transition is (status, activeAt, startsAt, endsAt) in s."""

from __future__ import annotations

from processor.config.model import Condition, Stat
from processor.engine import Engine, run_all
from processor.engine.outputs import Outputs
from tests.enginekit import T0_MS, event, ratio_sli, rule, sli, spec_of

S = 1000
SUBJECT = "svc.req"


def at(t_s: float) -> int:
    return T0_MS + round(t_s * S)


def s_of(ms: int | None) -> float | None:
    return None if ms is None else (ms - T0_MS) / S


def ok(t_s: float):
    return event(SUBJECT, at(t_s), status="ok")


def bad(t_s: float):
    return event(SUBJECT, at(t_s), status="error")


def tick(t_s: float):
    return event("svc.tick", at(t_s))


def gauge(t_s: float, value: float):
    return event("svc.gauge", at(t_s), value=value)


def bad_count_rule(**fields):
    return rule("Mismatch", "req", "bad_count", ">", 0, **fields)


def transitions(out: Outputs) -> list[tuple]:
    return [(a.status, s_of(a.active_at_ms), s_of(a.starts_at_ms), s_of(a.ends_at_ms)) for a in out.alerts]


def run(spec, messages, final_s: float | None = None, batch: int = 1) -> list[tuple]:
    batches = [messages[i:i + batch] for i in range(0, len(messages), batch)]
    return transitions(run_all(Engine(spec), batches, None if final_s is None else at(final_s)))


RATIO = spec_of([ratio_sli()], [bad_count_rule()])


def test_bad_count_fires_on_the_bad_event_and_resolves_at_a_boundary():
    # bad at 3.2 s: window [0, 10) holds at once -> firing at 3.2. Boundary 10 (closed by the event
    # at 16) reads [0, 10): holds, nothing new. Boundary 20 (event at 26) reads [10, 20): no bad
    # event -> resolved at 20.
    out = run(RATIO, [ok(1), bad(3.2), ok(12), ok(16), ok(26)])
    assert [("firing", 3.2, 3.2, None), ("resolved", 3.2, 3.2, 20)] == out


def test_the_firing_transition_is_in_the_outputs_of_the_event_that_made_it():
    engine = Engine(RATIO)
    assert [] == transitions(engine.ingest([ok(1)]))
    out = engine.ingest([bad(3.2)])
    assert [("firing", 3.2, 3.2, None)] == transitions(out)
    assert at(3.2) == out.alerts[0].evaluated_at_ms
    assert [] == transitions(engine.ingest([ok(12), ok(16)]))  # boundary 10 publishes no second firing


def test_an_earlier_boundary_cannot_resolve_what_a_later_sub_window_fired():
    # ok at 1, 9, 12 (watermark 7: sub-windows [0, 10) and [10, 20) both open). bad at 13 holds
    # [10, 20): firing at 13, for boundary 20. ok at 16 closes boundary 10, whose window [0, 10) has
    # no bad event: it would resolve, but it is before 20, so the series is left alone. Boundary 20
    # (event at 26) holds: nothing. Boundary 30 (event at 36) reads [20, 30): resolved at 30.
    out = run(RATIO, [ok(1), ok(9), ok(12), bad(13), ok(16), ok(26), ok(36)])
    assert [("firing", 13, 13, None), ("resolved", 13, 13, 30)] == out


def test_a_late_but_accepted_event_fires_at_its_own_time():
    # ok at 14 (watermark 9: boundary 0 only; [0, 10) still open). bad at 8 arrives after it, in
    # [0, 10): its window [0, 10) holds -> firing at 8. Boundary 10 (event at 16) holds, boundary 20
    # (event at 26) reads [10, 20): resolved at 20.
    out = run(RATIO, [ok(1), ok(14), bad(8), ok(16), ok(26)])
    assert [("firing", 8, 8, None), ("resolved", 8, 8, 20)] == out


def test_count_fires_on_the_event_that_reaches_it():
    # count >= 3 over 20 s of svc.tick. 5, 15 (boundary 10 at the event at 15: [−10, 0) empty).
    # 25 closes boundary 20 ([0, 20): 2 events) and is checked against [10, 30): 15, 25 -> 2.
    # 26: 15, 25, 26 -> 3: firing at 26. 41 closes boundary 30 ([10, 30): 3, holds). The final
    # watermark 60 closes 40 ([20, 40): 25, 26 -> 2): resolved at 40.
    spec = spec_of([sli("ticks", "events", "svc.tick")], [rule("Busy", "ticks", "count", ">=", 3, window_ms=20_000)])
    out = run(spec, [tick(5), tick(15), tick(25), tick(26), tick(41)], final_s=60)
    assert [("firing", 26, 26, None), ("resolved", 26, 26, 40)] == out


def test_a_window_completed_only_by_a_late_event_of_an_earlier_sub_window_fires_at_its_boundary():
    # count >= 2 over 20 s. A at 12: checked against [0, 20) -> 1. B at 8 (late but accepted, in
    # [0, 10)): checked against its own window [−10, 10) -> 1. Neither event saw a window hold; the
    # boundary 20 reads [0, 20): A and B -> 2: firing at the boundary, 20. Boundary 30 reads
    # [10, 30): A only -> resolved at 30.
    spec = spec_of([sli("ticks", "events", "svc.tick")], [rule("Busy", "ticks", "count", ">=", 2, window_ms=20_000)])
    engine = Engine(spec)
    out = run_all(engine, [[tick(12), tick(8)]])
    out.extend(engine.advance(at(20)))
    out.extend(engine.advance(at(30)))
    assert [("firing", 20, 20, None), ("resolved", 20, 20, 30)] == transitions(out)


def test_a_firing_alert_resolved_by_an_earlier_boundary_fires_again_from_the_event_that_held():
    # bad at 5: firing at 5. Boundary 10 (event at 16) holds. bad at 22 (watermark 17: [10, 20) and
    # [20, 30) open) holds [20, 30) while firing: kept. ok at 26 closes boundary 20: [10, 20) has no
    # bad event -> resolved at 20, and at once firing again from 22. Boundary 30 (event at 36)
    # holds; boundary 40 (event at 46) reads [30, 40): resolved at 40.
    out = run(RATIO, [bad(5), ok(16), bad(22), ok(26), ok(36), ok(46)])
    assert [
        ("firing", 5, 5, None), ("resolved", 5, 5, 20), ("firing", 22, 22, None), ("resolved", 22, 22, 40),
    ] == out


def test_keep_firing_for_still_counts_from_the_boundaries():
    # keep_firing_for 20 s: bad at 5 fires at 5; boundary 20 is the first not to hold (clear since
    # 20), boundary 40 is 20 s later: resolved at 40.
    spec = spec_of([ratio_sli()], [bad_count_rule(keep_firing_for_ms=20_000)])
    out = run(spec, [bad(5), ok(16), ok(26), ok(36), ok(46)])
    assert [("firing", 5, 5, None), ("resolved", 5, 5, 40)] == out


def test_for_events_fires_on_the_event_that_completes_the_count():
    # bad_count > 0 with for_events 3: bad at 3 holds [0, 10): pending from 3 (1 event); ok at 4 and 6
    # also arrive while it holds (2, 3): firing at 6, active since 3. ok at 12 is checked against
    # [10, 20), which has no bad event: not counted, and nothing. Boundary 10 (event at 16) holds;
    # boundary 20 (event at 26) does not: resolved at 20. (At boundaries only, it would have been
    # pending and fired at 10, counting the four events of [0, 10).)
    spec = spec_of([ratio_sli()], [bad_count_rule(for_events=3)])
    out = run(spec, [ok(1), bad(3), ok(4), ok(6), ok(12), ok(16), ok(26)])
    assert [("firing", 3, 6, None), ("resolved", 3, 6, 20)] == out


def test_for_events_pending_is_dropped_at_a_boundary_where_the_window_no_longer_holds():
    # bad at 3 (1), ok at 4 (2): pending. Boundary 10 holds. ok at 12, 14: [10, 20) has no bad:
    # not counted. Boundary 20 (event at 26) does not hold: back to inactive, nothing published.
    spec = spec_of([ratio_sli()], [bad_count_rule(for_events=3)])
    assert [] == run(spec, [bad(3), ok(4), ok(12), ok(14), ok(16), ok(26), ok(36)])


def test_max_and_sum_fire_on_the_event():
    # A gauge: max > 10 over 10 s fires on the value 12 at 7; sum >= 20 over 20 s fires at 14
    # (8 + 12 = 20, the value 5 at 3 is in [0, 20) too: 25 already at 7? [−10, 10) for the event at
    # 7: 5 + 12 = 17, no; at 14 the window [0, 20): 5 + 12 + 8 = 25 -> firing at 14).
    spec = spec_of(
        [sli("g", "gauge", "svc.gauge", value_field="value")],
        [rule("Peak", "g", "max", ">", 10), rule("Total", "g", "sum", ">=", 20, window_ms=20_000)],
    )
    out = run(spec, [gauge(3, 5), gauge(7, 12), gauge(14, 8)])
    assert [("firing", 7, 7, None), ("firing", 14, 14, None)] == out


def test_rules_whose_result_can_still_change_keep_the_boundary():
    # A ratio, a `for`, a `<`: all decided at boundaries. bad at 3: bad_ratio > 0.1 holds at
    # boundary 10 ([0, 10): 1 of 2); count < 5 holds at the first boundary, 0 (closed by the event
    # at 13: [−10, 0) has no event); bad_count > 0 with for: 10s becomes pending at 10 and fires
    # at 20 (still holding: bad at 13).
    spec = spec_of([ratio_sli()], [
        rule("Ratio", "req", "bad_ratio", ">", 0.1),
        rule("Few", "req", "count", "<", 5),
        bad_count_rule(for_ms=10_000),
    ])
    out = run_all(Engine(spec), [[bad(3), ok(4), bad(13), ok(16), ok(26)]])
    assert [("Few", 0), ("Ratio", 10), ("Mismatch", 20)] == [
        (a.label_map["alertname"], s_of(a.starts_at_ms)) for a in out.alerts if a.status == "firing"
    ]


def test_a_restart_between_the_event_and_the_earlier_boundary_keeps_the_decision():
    # The timeline of the no-flapping test, restored from a snapshot taken right after the bad
    # event at 13: the restored engine still leaves boundary 10 alone.
    messages = [ok(1), ok(9), ok(12), bad(13), ok(16), ok(26), ok(36)]
    first = Engine(RATIO)
    out = run_all(first, [messages[:4]])
    second = Engine(RATIO)
    assert [] == second.restore_bytes(first.snapshot_bytes())
    out.extend(run_all(second, [messages[4:]]))
    assert [("firing", 13, 13, None), ("resolved", 13, 13, 30)] == transitions(out)


def test_a_restart_keeps_what_fires_again():
    messages = [bad(5), ok(16), bad(22), ok(26), ok(36), ok(46)]
    first = Engine(RATIO)
    out = run_all(first, [messages[:3]])
    second = Engine(RATIO)
    second.restore_bytes(first.snapshot_bytes())
    out.extend(run_all(second, [messages[3:]]))
    assert run(RATIO, messages) == transitions(out)
    assert ("firing", 22, 22, None) in transitions(out)


def test_every_batch_split_gives_the_same_transitions():
    messages = [ok(1), ok(9), ok(12), bad(13), ok(16), bad(22), ok(26), ok(36), bad(38), ok(47), ok(66)]
    whole = run(RATIO, messages, batch=len(messages))
    for size in range(1, len(messages)):
        assert whole == run(RATIO, messages, batch=size)


def test_a_condition_on_count_reported_in_the_payload_counts_what_it_reports():
    # A ratio with good/bad counts in each event: bad_count >= 3 fires on the report that brings the
    # window's bad count to 3 (1 at 2, 2 more at 6).
    spec = spec_of([sli("d", "ratio", "svc.deliv", good_count_field="delivered", bad_count_field="dropped")],
                   [rule("Drops", "d", "bad_count", ">=", 3)])
    msgs = [event("svc.deliv", at(2), delivered=5, dropped=1), event("svc.deliv", at(6), delivered=0, dropped=2)]
    assert [("firing", 6, 6, None)] == run(spec, msgs)


def test_condition_kinds_are_classified():
    from processor.config.alerts import fires_on_event

    r = ratio_sli()

    def cond(stat, op, threshold=0):
        return Condition(stat=Stat(kind=stat), op=op, threshold=threshold, text="x")

    assert fires_on_event(bad_count_rule(), r)
    assert not fires_on_event(bad_count_rule(for_ms=10_000), r)
    assert not fires_on_event(bad_count_rule().model_copy(update={"condition": cond("bad_count", "<")}), r)
    assert not fires_on_event(bad_count_rule().model_copy(update={"condition": cond("bad_ratio", ">")}), r)
    assert not fires_on_event(bad_count_rule().model_copy(update={"condition": cond("min", ">")}), r)
    assert not fires_on_event(bad_count_rule(calendar="day"), r)
