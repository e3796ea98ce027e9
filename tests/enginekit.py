"""Builders for engine tests: specs written in code and messages shaped like nats-py's Msg."""

from __future__ import annotations

from dataclasses import dataclass

import orjson

from processor.spec.model import AlertSpec, Condition, Defaults, SliSpec, Spec, Stat

T0_MS = 1_700_000_000_000  # a multiple of 10 s, so boundaries fall at T0 + k * 10 s


@dataclass(frozen=True)
class Msg:
    subject: str
    data: bytes
    reply: str = ""


def event(subject: str, ts_ms: int, **fields) -> Msg:
    return Msg(subject, orjson.dumps({"ts": ts_ms, **fields}))


def latency_sli(name: str = "lat", subject: str = "svc.req", labels: tuple[str, ...] = ()) -> SliSpec:
    return SliSpec(
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
) -> AlertSpec:
    return AlertSpec(
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


def spec_of(slis, alerts, lateness_ms: int = 5_000, resolution_ms: int = 10_000) -> Spec:
    return Spec(
        defaults=Defaults(allowed_lateness_ms=lateness_ms, resolution_ms=resolution_ms),
        slis=tuple(slis),
        alerts=tuple(alerts),
    )
