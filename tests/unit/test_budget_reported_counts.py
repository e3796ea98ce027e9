"""Error budgets of a ratio SLI whose events report their own counts (good_count / bad_count, up
to 10**12 an event): a minute's bucket past 2^31 events, and window sums whose products with the
burn factors pass 2^63, are counted and compared exactly; a quiet stretch crossed at once
(engine/budget_stretch.py) decides as every boundary evaluated one by one."""

from __future__ import annotations

import numpy as np
import orjson

from processor.config.load import load_config
from processor.engine.budget import TIER1_BUCKET_MS, _Ring
from processor.engine.core import Engine
from tests.enginekit import T0_MS, Msg

MIN = 60_000
CATALOGUE = """
version: 1
catalogues:
  test:
    description: one fast tier
    tiers:
      fast: {burn: 10, long: 1h, short: 5m, severity: critical, min_events: {long: 10, short: 2}}
"""
CONFIG = """
version: 1
burn_rate_catalogues: tiers.yaml
defaults:
  slo_window: 1d
  budget: {method: occurrences, window: 1d, burn_alerts: test, policy: true, hysteresis: 2%,
           report_every: 1m, exhaustion_window: 1h}
slis:
  flow: {service: svc, kind: ratio, subject: svc.flow, good_count: ok, bad_count: failed}
slos:
  delivery: {sli: flow, objective: 99.99%}
"""


def test_a_minute_past_two_to_the_31_events_is_counted_exactly():
    ring = _Ring(TIER1_BUCKET_MS, 60 * MIN)
    for _ in range(3):
        ring.add(T0_MS, 10**9, 10**9)  # 3e9: past an int32, in steps that each fit one
    ring.add(T0_MS + MIN, 0, 10**12)
    assert (3 * 10**9, 3 * 10**9) == ring.get(T0_MS)
    assert (0, 10**12) == ring.get(T0_MS + MIN)
    assert (3 * 10**9, 3 * 10**9 + 10**12) == ring.sum_between(T0_MS - MIN, T0_MS + 2 * MIN)
    restored = _Ring(TIER1_BUCKET_MS, 60 * MIN)
    restored.restore(ring.snapshot())
    assert (3 * 10**9, 3 * 10**9) == restored.get(T0_MS) and (0, 10**12) == restored.get(T0_MS + MIN)
    many = _Ring(TIER1_BUCKET_MS, 60 * MIN)
    keys = np.array([T0_MS, T0_MS + 1, T0_MS + MIN], dtype=np.int64)
    many.add_many(keys, np.array([2**31 - 1, 2**31 - 1, 5]), np.array([2**31 - 1, 2**31 - 1, 5]))
    assert (2**32 - 2, 2**32 - 2) == many.get(T0_MS)


def _run(config, batches, moves, skipping: bool):
    engine = Engine(config)
    engine.skip_quiet_boundaries = skipping
    outs = []
    for batch, move in zip(batches, moves):
        outs.append(engine.ingest(batch))
        outs.append(engine.advance(move))
    return outs, engine.snapshot()


def test_a_burn_alert_in_a_quiet_stretch_is_found_however_large_the_window_sums(tmp_path):
    (tmp_path / "tiers.yaml").write_text(CATALOGUE)
    (tmp_path / "slo.yaml").write_text(CONFIG)
    config = load_config(tmp_path / "slo.yaml")

    def report(t_ms: int, ok: int, failed: int) -> Msg:
        return Msg("svc.flow", orjson.dumps({"ts": t_ms, "ok": ok, "failed": failed}))

    # 1e15 bad of 2e15 in the hour (burn 5000x at 99.99 %: bad * 10,000 passes 2^63), then a
    # short window of 1e6 good and 5 bad (0.05x) whose good leave it at 15 min: from the boundary
    # after, both windows burn and the fast tier fires, inside a quiet stretch.
    burst = [report(T0_MS + i * 10, 10**12, 10**12) for i in range(1000)]
    later = [report(T0_MS + 10 * MIN, 10**6, 0), report(T0_MS + 13 * MIN, 0, 5)]
    batches, moves = [burst, later], [T0_MS + 10 * MIN - 1, T0_MS + 180 * MIN]
    fast, fast_state = _run(config, batches, moves, skipping=True)
    slow, slow_state = _run(config, batches, moves, skipping=False)
    fired = [(a.status, a.starts_at_ms - T0_MS) for a in slow[3].alerts]
    assert ("firing", 15 * MIN + 10_000) in fired  # the hand-worked boundary: the reference fires
    for got, want in zip(fast, slow):
        assert got.alerts == want.alerts
        assert got.actions == want.actions
        assert got.budgets == want.budgets
    assert fast_state == slow_state
