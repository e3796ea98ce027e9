"""Never seen is unknown, not down: an SLI burns no budget and trips no absence rule before its
first event, time before the state began is outside every window, and a service that never
reports raises ServiceNeverReported after the grace period. Expected times are worked by hand."""

from __future__ import annotations

import orjson

from processor.config.load import load_config, load_config_text
from processor.engine.core import Engine
from tests.enginekit import T0_MS, Msg

MIN = 60_000

CONFIG = """
version: 1
defaults: {never_seen_grace: 5m}
slis:
  beat: {service: engine, kind: events, subject: svc.beat}
  req: {service: engine, kind: ratio, subject: svc.req, good: status == "ok"}
slos:
  uptime:
    sli: beat
    objective: 99%
    budget: {method: time_slices, slice: 1m, slice_condition: count >= 1, window: 1h,
             report_every: 1m}
alerts:
  - {name: NoBeat, sli: beat, expr: since_last > 2m, severity: critical}
"""


def _msg(subject: str, ts_ms: int, **fields) -> Msg:
    return Msg(subject, orjson.dumps({"ts": ts_ms, **fields}))


def _alerts(out) -> list[tuple[str, str, int]]:
    return [(a.label_map["alertname"], a.status, (a.evaluated_at_ms - T0_MS) // 1000) for a in out.alerts]


def _last_report(out, slo: str):
    return [b for b in out.budgets if b.slo == slo and b.reason == "periodic"][-1]


def test_a_service_never_heard_from_burns_nothing_and_is_reported_after_the_grace_period():
    engine = Engine(load_config_text(CONFIG))
    # Requests every 10 s from T0 + 1 s; no heartbeat for 8 minutes, then one at T0 + 8m 5s, then silence.
    out = engine.ingest([_msg("svc.req", T0_MS + 1_000 + i * 10_000, status="ok") for i in range(48)])
    out.extend(engine.ingest([_msg("svc.beat", T0_MS + 8 * MIN + 5_000)]))
    out.extend(engine.advance(T0_MS + 14 * MIN))
    # The clock's origin is the first boundary, T0 - 10 s (watermark T0 + 1 s - 5 s). The grace of
    # 5 m runs out at T0 + 4m 50s. The heartbeat's sub-window [8m, 8m 10s) closes at 8m 10s: resolved
    # there. Seen, then silent: since_last > 2m from 8m 5s holds first at the boundary 10m 10s.
    assert [
        ("ServiceNeverReported", "firing", 290),
        ("ServiceNeverReported", "resolved", 490),
        ("NoBeat", "firing", 610),
    ] == _alerts(out)
    firing = out.alerts[0]
    assert ("critical", "engine", "beat") == (
        firing.label_map["severity"], firing.label_map["service"], firing.label_map["sli"]
    )
    # Slices: none before the first heartbeat's minute. The minute [8m, 9m) has it (good); [9m, 10m)
    # ... [13m, 14m) are bad: 1 good of 6 by the report at 14m.
    report = _last_report(out, "uptime")
    assert (report.good, report.total) == (1, 6)


def test_time_before_the_state_began_is_outside_every_slice():
    # The backlog: the first heartbeat at 14:00:03, then one every 10 s. The slice
    # [13:59, 14:00) ends at the first closed boundary; it lies before the state began.
    config = load_config("config/slo.yaml")
    engine = Engine(config)
    start_ms = 1_767_621_600_000 + 3_000
    beats = [_msg("trade.heartbeat", start_ms + i * 10_000, service="trading-engine") for i in range(60)]
    out = engine.ingest(beats)
    out.extend(engine.advance(start_ms + 10 * MIN))
    burns = [a for a in out.alerts if a.label_map.get("slo") == "trading_availability"]
    assert [] == burns
    report = _last_report(out, "trading_availability")
    assert report.good == report.total > 0


def test_an_absence_rule_says_nothing_about_a_series_never_seen():
    engine = Engine(load_config_text(CONFIG.replace("never_seen_grace: 5m", "never_seen_grace: 1h")))
    out = engine.ingest([_msg("svc.req", T0_MS + i * 10_000, status="ok") for i in range(100)])
    out.extend(engine.advance(T0_MS + 30 * MIN))
    assert [] == _alerts(out)
