"""Builders for engine tests: specs written in code and messages shaped like nats-py's Msg."""

from __future__ import annotations

from dataclasses import dataclass

import orjson
import pytest

from processor.engine import Engine
from processor.kinds import sli_config
from processor.config.model import AlertConfig, Condition, Defaults, SliConfig, Config, Stat

T0_MS = 1_700_000_000_000  # a multiple of 10 s, so boundaries fall at T0 + k * 10 s


@dataclass(frozen=True)
class Msg:
    subject: str
    data: bytes
    reply: str = ""


def event(subject: str, ts_ms: int, **fields) -> Msg:
    return Msg(subject, orjson.dumps({"ts": ts_ms, **fields}))


def latency_sli(name: str = "lat", subject: str = "svc.req", labels: tuple[str, ...] = ()) -> SliConfig:
    return sli_config(
        name=name,
        service="svc",
        kind="latency",
        subject=subject,
        value_field="latency_ms",
        labels=labels,
        event_time_field="ts",
    )


def quantile_alert(
    q: float,
    op: str,
    threshold_ms: float,
    *,
    name: str = "LatencyHigh",
    sli: str = "lat",
    for_ms: int = 0,
    window_ms: int = 60_000,
    keep_firing_for_ms: int = 0,
    severity: str = "warning",
) -> AlertConfig:
    return AlertConfig(
        name=name,
        sli=sli,
        service="svc",
        condition=Condition(
            stat=Stat(kind="quantile", q=q), op=op, threshold=threshold_ms, text=f"p{q * 100:g} {op} {threshold_ms}ms"
        ),
        window_ms=window_ms,
        for_ms=for_ms,
        keep_firing_for_ms=keep_firing_for_ms,
        severity=severity,
        summary="p{q} is {value:.1f}ms",
    )


def spec_of(slis, alerts, lateness_ms: int = 5_000, resolution_ms: int = 10_000, slos=()) -> Config:
    return Config(
        defaults=Defaults(allowed_lateness_ms=lateness_ms, resolution_ms=resolution_ms),
        slis=tuple(slis),
        slos=tuple(slos),
        alerts=tuple(alerts),
    )


def ratio_sli(name: str = "req", subject: str = "svc.req", good: str = 'status == "ok"') -> SliConfig:
    from processor.config.predicate import parse_predicate

    return sli_config(
        name=name,
        service="svc",
        kind="ratio",
        subject=subject,
        good=parse_predicate(good),
        event_time_field="ts",
    )


DAY_MS = 86_400_000
H_MS = 3_600_000
M_MS = 60_000

SRE_TIERS = (
    ("page-fast", 14.4, H_MS, 5 * M_MS, "page"),
    ("page-slow", 6.0, 6 * H_MS, 30 * M_MS, "page"),
    ("ticket-fast", 3.0, DAY_MS, 2 * H_MS, "ticket"),
    ("ticket-slow", 1.0, 3 * DAY_MS, 6 * H_MS, "ticket"),
)


def budget_slo(
    sli: str = "req",
    objective: float = 0.999,
    *,
    name: str = "avail",
    tiers=SRE_TIERS,
    min_events: tuple[int, int] = (0, 0),
    **budget,
):
    from processor.config.model import BudgetConfig, BurnTier, SloConfig

    burn_tiers = tuple(
        BurnTier(tier=t, burn=b, long_ms=lo, short_ms=sh, severity=sev, min_events_long=min_events[0],
                 min_events_short=min_events[1])
        for t, b, lo, sh, sev in tiers
    )
    return SloConfig(
        name=name,
        sli=sli,
        service="svc",
        objective=Condition(stat=Stat(kind="good_ratio"), op=">=", threshold=objective, text=f"good_ratio >= {objective}"),
        objective_ratio=objective,
        budget=BudgetConfig(burn_tiers=burn_tiers, **budget),
    )


def sli(name: str, kind: str, subject: str, **fields) -> SliConfig:
    """Any SLI; predicate fields (where, good, start, end, fail) may be given as text."""
    from processor.kinds.correlation import CorrelationConfig
    from processor.config.predicate import parse_predicate

    for key in ("where", "good"):
        if isinstance(fields.get(key), str):
            fields[key] = parse_predicate(fields[key])
    corr = fields.pop("correlation", None)
    if corr is not None:
        corr = dict(corr)
        for key in ("start", "end", "fail"):
            if isinstance(corr.get(key), str):
                corr[key] = parse_predicate(corr[key])
        fields["correlation"] = CorrelationConfig(**corr)
    return sli_config(name=name, service="svc", kind=kind, subject=subject, event_time_field="ts", **fields)


def rule(name: str, sli_name: str, stat: str, op: str, threshold: float, *, q: float | None = None, **fields) -> AlertConfig:
    fields.setdefault("window_ms", 10_000)
    fields.setdefault("severity", "critical")
    return AlertConfig(
        name=name,
        sli=sli_name,
        service="svc",
        condition=Condition(stat=Stat(kind=stat, q=q), op=op, threshold=threshold, text=f"{stat} {op} {threshold}"),
        **fields,
    )


@pytest.fixture(scope="module", params=["batched", "per_event"])
def both_paths(request):
    """Runs a whole test module on the batched engine path and on the per-event reference
    (``Engine.batched``); a module uses it with ``pytestmark = pytest.mark.usefixtures("both_paths")``
    after importing it. The batched path plans every batch (``Engine.per_event_when_cheaper``
    off), so that the planning is what the module checks."""
    saved = Engine.batched, Engine.per_event_when_cheaper
    Engine.batched = request.param == "batched"
    Engine.per_event_when_cheaper = False
    yield request.param
    Engine.batched, Engine.per_event_when_cheaper = saved


def alert_key(a) -> tuple:
    """What two runs must agree on for an alert transition."""
    return (a.status, a.labels, a.active_at_ms, a.starts_at_ms, a.ends_at_ms, a.value)


def cut(messages: list, cuts: list[int]) -> list[list]:
    """``messages`` cut into batches at the positions in ``cuts`` (those past the end ignored)."""
    bounds = sorted({0, len(messages), *(c for c in cuts if c < len(messages))})
    return [messages[a:b] for a, b in zip(bounds, bounds[1:])]


def feed(e: Engine, batches: list[list]) -> tuple:
    """Everything the engine said, batch after batch: alerts, SLI reports, budgets, actions,
    rejections (by their index in the whole stream), accepted and ignored counts."""
    alerts, reports, budgets, actions, rejections = [], [], [], [], []
    offset = accepted = ignored = 0
    for batch in batches:
        out = e.ingest(batch)
        alerts += out.alerts
        reports += out.slis
        budgets += out.budgets
        actions += out.actions
        rejections += [(offset + r.index, r.reason, r.detail, r.slis, r.applied) for r in out.rejections]
        accepted, ignored = accepted + out.accepted, ignored + out.ignored
        offset += len(batch)
    return alerts, reports, budgets, actions, rejections, accepted, ignored


def state_of(e: Engine) -> tuple:
    """What two engines that saw the same events must agree on."""
    return e.snapshot_bytes(), e.rejected, e.rejected_by_sli, e.accepted, e.ignored, e.health()
