"""Scenarios on the shipped config/slo.yaml, the whole config in one engine, for the platform row
tests (tests/unit/test_platform_rows.py, test_platform_uptime.py).

Times: T is a whole minute (2026-01-05 14:00:00 UTC). The engine's clock starts at the first
boundary, (first event - 5 s lateness) floored to 10 s; with a first event in [T, T + 5 s) that is
T - 10 s, so one-minute slices from T on are counted and the slice before T is outside every window."""

from __future__ import annotations

from functools import cache

import orjson

from processor.config.load import load_config
from processor.engine.core import Engine
from tests.enginekit import Msg

T = 1_767_621_600_000
S = 1_000
MIN = 60_000


@cache
def shipped_config():
    return load_config("config/slo.yaml")


def msg(subject: str, ts_ms: int, **fields) -> Msg:
    return Msg(subject, orjson.dumps({"ts": ts_ms, **fields}))


def run(msgs: list[Msg], until_ms: int):
    """The events in time order, none rejected, then event time moved on to ``until_ms``."""
    engine = Engine(shipped_config())
    out = engine.ingest(sorted(msgs, key=lambda m: orjson.loads(m.data)["ts"]))
    assert [] == out.rejections
    out.extend(engine.advance(until_ms))
    return out


def last_report(out, slo: str):
    return [b for b in out.budgets if b.slo == slo and b.reason == "periodic"][-1]


def burns(out, slo: str) -> list[tuple[str, str, int]]:
    """(tier, status, seconds after T) of the SLO's ErrorBudgetBurn transitions."""
    return sorted(
        (a.label_map["tier"], a.status, (a.evaluated_at_ms - T) // S)
        for a in out.alerts
        if a.label_map["alertname"] == "ErrorBudgetBurn" and a.label_map["slo"] == slo
    )
