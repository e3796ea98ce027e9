"""Crossing long gaps of event time skips the boundaries at which nothing can change, and gives
exactly what boundary-by-boundary evaluation gives: the same transitions, reports and state.

The reference is the same engine with skipping turned off (``skip_quiet_boundaries``), which
evaluates every 10 s boundary; both publish periodic reports for the last hour of a long move
only (engine/catchup.py), so every output is compared, not a subset.
"""

from __future__ import annotations

import time

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from processor.config.load import load_config, load_config_text
from processor.engine.core import Engine
from tests.enginekit import T0_MS, Msg
from tests.simkit import MIN, T0, run

HOUR = 3_600_000

CATALOGUE = """
version: 1
catalogues:
  test:
    description: short windows, both tiers of the budget's rings
    tiers:
      fast: {burn: 10, long: 1h, short: 5m, severity: critical, min_events: {long: 10, short: 2}}
      slow: {burn: 2, long: 12h, short: 1h, severity: warning, min_events: {long: 10, short: 2}}
"""

CONFIG = """
version: 1
burn_rate_catalogues: tiers.yaml
defaults:
  slo_window: 1d
  budget: {method: occurrences, window: 1d, burn_alerts: test, policy: true, hysteresis: 2%,
           report_every: 1m, exhaustion_window: 1h}
slis:
  lat: {service: svc, kind: latency, subject: svc.req, value: latency_ms, unit: ms, labels: [route], max_series: 2}
  req: {service: svc, kind: ratio, subject: svc.req, good: status == "ok"}
  beat: {service: svc, kind: events, subject: svc.beat}
  snap: {service: svc, kind: events, subject: svc.snap}
  provider: {service: svc, kind: state, subject: svc.provider, entity: provider, state: state, bad_states: [down]}
  jobs:
    service: svc
    kind: correlation
    subject: svc.job
    correlate: {id: id, start: phase == "start", end: phase == "end", timeout: 2m, max_open: 50}
  cost: {service: svc, kind: gauge, subject: svc.cost, value: usd}
slos:
  latency: {sli: lat, objective: p95 < 100ms}
  availability:
    sli: req
    objective: 99%
    budget: {calendar: day, timezone: Asia/Kathmandu, policy: true}
  uptime:
    sli: beat
    objective: 99%
    budget: {method: time_slices, slice: 1m, slice_condition: count >= 1, min_events: 0}
  snapshots:
    sli: snap
    objective: 95%
    budget: {method: time_slices, slice: 1m, slice_condition: since_last <= 70s, min_events: 0}
  provider_up:
    sli: provider
    objective: 90%
    budget: {method: time_slices, slice: 1m, slice_condition: good_ratio >= 50%, min_events: 0}
  jobs_done: {sli: jobs, objective: 90%}
alerts:
  - {name: Slow, sli: lat, expr: p95 > 100ms, window: 5m, for: 1m, keep_firing_for: 30s, severity: warning}
  - {name: Errors, sli: req, expr: bad_ratio > 5%, window: 1m, severity: critical}
  - {name: NoBeat, sli: beat, expr: since_last > 2m, for: 30s, severity: critical}
  - {name: ProviderDown, sli: provider, expr: bad_for > 1m, severity: critical}
  - {name: ProviderFlaky, sli: provider, expr: bad_ratio > 50%, window: 30m, severity: warning}
  - {name: Spend, sli: cost, expr: sum > 10, calendar: day, timezone: Asia/Kathmandu, severity: warning}
"""


@pytest.fixture(scope="module")
def config(tmp_path_factory):
    d = tmp_path_factory.mktemp("catchup")
    (d / "tiers.yaml").write_text(CATALOGUE)
    (d / "slo.yaml").write_text(CONFIG)
    return load_config(d / "slo.yaml")


def _burst(start_ms: int, span_ms: int, bad: float, seed: int) -> list[Msg]:
    """A few minutes of every subject, with a share ``bad`` of slow, failed or down events."""
    out = []
    step_ms = 2_000
    for i in range(span_ms // step_ms):
        t = start_ms + i * step_ms
        worse = (i * 7919 + seed) % 100 < bad * 100
        out.append(Msg("svc.req", orjson.dumps({
            "ts": t, "latency_ms": 400 if worse else 20 + i % 30, "status": "err" if worse else "ok",
            "route": f"r{(i + seed) % 3}",
        })))
        if i % 15 == 0:
            out.append(Msg("svc.beat", orjson.dumps({"ts": t})))
            out.append(Msg("svc.snap", orjson.dumps({"ts": t + 1})))
            out.append(Msg("svc.provider", orjson.dumps({"ts": t, "provider": "p1", "state": "down" if worse else "up"})))
            out.append(Msg("svc.cost", orjson.dumps({"ts": t, "usd": 3.5})))
        if i % 10 == 0:
            out.append(Msg("svc.job", orjson.dumps({"ts": t, "id": f"j{i}", "phase": "start"})))
        if i % 10 == 4 and not worse:
            out.append(Msg("svc.job", orjson.dumps({"ts": t, "id": f"j{i - 4}", "phase": "end"})))
    if bad:  # a spell that begins as the burst ends runs on into the gap
        out.append(Msg("svc.provider", orjson.dumps({"ts": t, "provider": "p2", "state": "down"})))
    return out


def _timeline(segments) -> tuple[list[list[Msg]], list[int]]:
    """Bursts separated by gaps; the watermark moves that end each gap (as an idle bus would)."""
    batches, moves = [], []
    t = T0_MS
    for gap_ms, span_ms, bad, seed in segments:
        batches.append(_burst(t, span_ms, bad, seed))
        t += span_ms + gap_ms
        moves.append(t)
    return batches, moves


def _run(config, batches, moves, skipping: bool):
    engine = Engine(config)
    engine.skip_quiet_boundaries = skipping
    outs = []
    for batch, move in zip(batches, moves):
        outs.append(engine.ingest(batch))
        outs.append(engine.advance(move))
    return outs, engine.snapshot()


def _assert_same(config, segments):
    batches, moves = _timeline(segments)
    fast, fast_state = _run(config, batches, moves, skipping=True)
    slow, slow_state = _run(config, batches, moves, skipping=False)
    for got, want in zip(fast, slow):
        assert got.alerts == want.alerts
        assert got.actions == want.actions
        assert got.budgets == want.budgets
        assert got.slis == want.slis
    assert fast_state == slow_state


gaps = st.one_of(
    st.integers(0, 120_000),
    st.integers(2 * MIN, 90 * MIN),
    st.integers(1 * HOUR, 30 * HOUR),
)
segment = st.tuples(gaps, st.integers(30_000, 6 * MIN), st.sampled_from([0.0, 0.02, 0.3, 1.0]), st.integers(0, 99))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(segment, min_size=1, max_size=4))
def test_skipping_quiet_boundaries_equals_evaluating_every_boundary(config, segments):
    _assert_same(config, segments)


@pytest.mark.parametrize("gap_ms", [HOUR + 10_000, 13 * HOUR + 5_000, 26 * HOUR])
def test_a_long_silence_after_an_incident_fires_and_resolves_at_the_same_boundaries(config, gap_ms):
    _assert_same(config, [(gap_ms, 5 * MIN, 1.0, 3), (gap_ms, 3 * MIN, 0.0, 5), (HOUR, MIN, 0.3, 1)])


def test_the_platform_catalogue_across_hours_of_silence_equals_every_boundary():
    config = load_config("config/slo.yaml")
    events = run(T0 + 12 * MIN, seed=5, rate=2.0)
    msgs = [Msg(e.subject, orjson.dumps(e.payload)) for e in events]
    half = len(msgs) // 2
    later = [Msg(m.subject, _shifted(m.data, 3 * HOUR)) for m in msgs[half:]]
    batches = [msgs[:half], later]
    moves = [T0 + 6 * MIN + 3 * HOUR, T0 + 12 * MIN + 5 * HOUR]
    fast, fast_state = _run(config, batches, moves, skipping=True)
    slow, slow_state = _run(config, batches, moves, skipping=False)
    assert [o.alerts for o in fast] == [o.alerts for o in slow]
    assert [o.budgets for o in fast] == [o.budgets for o in slow]
    assert [o.actions for o in fast] == [o.actions for o in slow]
    assert [o.slis for o in fast] == [o.slis for o in slow]
    assert fast_state == slow_state


def _shifted(data: bytes, by_ms: int) -> bytes:
    payload = orjson.loads(data)
    for key in ("ts", "timestamp"):
        if isinstance(payload.get(key), int):
            payload[key] += by_ms
    return orjson.dumps(payload)


def test_a_thirty_day_jump_costs_what_can_change_not_the_boundaries_crossed(config):
    """259,200 boundaries; evaluated one by one they take minutes here."""
    engine = Engine(config)
    engine.ingest(_burst(T0_MS, 5 * MIN, 0.3, 1))
    started = time.process_time()
    out = engine.advance(T0_MS + 30 * 86_400_000)
    assert time.process_time() - started < 20
    # Reports for the last hour only: 60 minutes of budget reports per SLO.
    assert 0 < len(out.budgets) <= 61 * len(config.slos) + len(out.actions)
