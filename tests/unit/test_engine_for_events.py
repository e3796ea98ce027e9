"""``for_events: N`` counts events of the series and filter the rule is about (issue 9: "three
*analysis* cycles, not three cycles of any type"): events that the SLI's ``where`` drops, events of
the rule's other series, and latency values still queued for a later sub-window do not count.
Timelines worked by hand; resolution 10 s.

The analysis cycles of every scenario: one a minute, 30 s long until 245 s, 100 s long from then on;
the rule is ``p95 > 90s`` over 10 minutes, ``for_events: 3``. p95 of n values is the
floor(0.95 * (n - 1))-th smallest (0-based): 5 fast + 1 slow, index 4, fast; 5 fast + 2 slow, index
5, slow. So the rule holds from the second slow cycle's sub-window on."""

from __future__ import annotations

import orjson

from processor.engine import Engine, run_all
from tests import reference
from tests.enginekit import T0_MS, event, rule, sli, spec_of

S = 1000
SUBJECT = "trade.cycle.completed"


def at(t_s: float) -> int:
    return T0_MS + round(t_s * S)


def _cycle(t_s: float, cycle_type: str, duration_s: float):
    return event(SUBJECT, at(t_s), cycle_type=cycle_type, duration_ms=duration_s * S, cycle_id=f"{cycle_type}-{t_s}")


def _analysis(offset_s: float, until_s: int = 600) -> list:
    return [_cycle(t + offset_s, "analysis", 100 if t >= 300 else 30) for t in range(0, until_s, 60)]


def _fired(slis, events, until_s: int, lateness_ms: int):
    spec = spec_of(slis, [rule("CycleSlow", slis[0].name, "quantile", ">", 90_000, q=0.95, window_ms=600_000,
                               for_events=3)], lateness_ms=lateness_ms)
    out = run_all(Engine(spec), [sorted(events, key=_ts)], at(until_s))
    return spec, [(a.status, (a.starts_at_ms - T0_MS) // S, dict(a.labels).get("cycle_type")) for a in out.alerts]


def _ts(msg) -> int:
    return orjson.loads(msg.data)["ts"]


def test_cycles_of_other_types_on_the_same_subject_do_not_count():
    # Analysis cycles at 5 s, 65 s, ...; heartbeat cycles every 10 s from 1 s, 100 s long (they would
    # hold the p95 over 90 s on their own, but the where drops them). With the shipped 5 s lateness.
    # The rule holds from boundary 370 (cycles at 305 s and 365 s slow): pending, counting the cycle
    # at 365 s (1); 425 s closes at 430 (2), 485 s at 490 (3): fires at 490. Had the heartbeat cycles
    # counted (one per sub-window), the third event would have come at 380
    # (370: one of each, 380: one more).
    analysis = sli("analysis_cycles", "latency", SUBJECT, value_field="duration_ms", where='cycle_type == "analysis"')
    events = _analysis(5) + [_cycle(1 + 10 * i, "heartbeat", 100) for i in range(60)]
    spec, fired = _fired([analysis], events, 600, lateness_ms=5_000)
    assert [("firing", 490, None)] == fired
    # The brute-force reference (tests/reference.py) counts the selected events alike.
    decoded = reference.decode([(m.subject, m.data) for m in sorted(events, key=_ts)])
    expected = reference.expected_alerts(spec, spec.alerts[0], decoded, range(at(10), at(600) + 1, 10 * S), at(0))
    assert [("firing", at(490))] == [(e.status, e.starts_at_ms) for e in expected]


def test_a_rule_on_one_series_counts_only_that_series_events():
    # One SLI, a series per cycle_type: the analysis series as above, the heartbeat series a fast
    # (30 s) cycle every 10 s from 1 s, which never holds the p95 over 90 s. Only the analysis series
    # fires, at 490; counting the heartbeat series' events would have fired it at 380.
    cycles = sli("cycles", "latency", SUBJECT, value_field="duration_ms", labels=("cycle_type",))
    events = _analysis(5) + [_cycle(1 + 10 * i, "heartbeat", 30) for i in range(60)]
    _, fired = _fired([cycles], events, 600, lateness_ms=5_000)
    assert [("firing", 490, "analysis")] == fired


def test_latency_values_queued_until_the_boundary_count_in_their_own_sub_window():
    # No lateness; cycles exactly at boundaries (0 s, 60 s, ...), values queued until the sub-window
    # closes. Slow from 300 s; an extra slow analysis cycle at 429.999 s, in [420, 430) with the one
    # at 420 s. Boundary 370: pending with the cycle at 360 s (1). Boundary 430: + 2 = 3: fires at
    # 430. (A count of one event per sub-window would fire at 490; one that read the sub-window
    # still open would fire at 420.)
    analysis = sli("analysis_cycles", "latency", SUBJECT, value_field="duration_ms", where='cycle_type == "analysis"')
    events = _analysis(0) + [_cycle(429.999, "analysis", 100)] + [_cycle(1 + 10 * i, "heartbeat", 100) for i in range(60)]
    _, fired = _fired([analysis], events, 600, lateness_ms=0)
    assert [("firing", 430, None)] == fired
