"""A brute-force reference evaluator of alert rules, independent of the engine's machinery.

It recomputes every rule at every boundary from the raw events alone: no sub-window rings, no
incremental sums, no eviction, no snapshots. Quantiles come from the ``ddsketch`` library fed the
raw values (the engine's own stores are its reimplementation), ratios and gauges from plain
Python over the events in [t - window, t). Its state machine is the one docs/architecture.md ("Time") describes, written
out again as a loop. Tests compare the engine's alerts with this.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import orjson
from ddsketch import DDSketch

from processor.engine.budget import calendar_period_ms
from processor.config.parse import subject_pattern_matches
from processor.config.model import AlertConfig, SliConfig, Config
from processor.config.predicate import FieldTypeError, MissingField


@dataclass(frozen=True)
class Expected:
    alertname: str
    severity: str
    labels: tuple[tuple[str, str], ...]  # the SLI's label values
    status: str
    active_at_ms: int
    starts_at_ms: int
    ends_at_ms: int | None


def _get(payload: dict, field: str):
    value = payload
    for part in field.split("."):
        value = value[part]
    return value


def _selected(sli: SliConfig, subject: str, payload: dict) -> bool:
    if not subject_pattern_matches(sli.subject, subject):
        return False
    if sli.where is None:
        return True
    try:
        return bool(sli.where.fn({**payload, "_subject": subject}))
    except (MissingField, FieldTypeError):
        return False


def _labels(sli: SliConfig, payload: dict) -> tuple[str, ...]:
    out = []
    for field in sli.labels:
        try:
            v = _get(payload, field)
        except (KeyError, TypeError):
            v = ""
        out.append(v if isinstance(v, str) else str(v))
    return tuple(out)


class _SeriesData:
    def __init__(self) -> None:
        self.points: list[tuple[int, object]] = []  # (ts, observation)


def _observations(spec: Config, sli: SliConfig, events: list[tuple[str, dict]]) -> dict[tuple, _SeriesData]:
    series: dict[tuple, _SeriesData] = defaultdict(_SeriesData)
    for subject, payload in events:
        if not _selected(sli, subject, payload):
            continue
        ts = payload[spec.defaults.event_time_field]
        if sli.kind in ("latency", "gauge"):
            v = float(_get(payload, sli.value_field))
            if sli.value_minus_field:
                v -= float(_get(payload, sli.value_minus_field))
            obs = v * sli.unit_to_ms if sli.kind == "latency" else v
        elif sli.kind == "ratio":
            obs = bool(sli.good.fn({**payload, "_subject": subject}))
        elif sli.kind == "state":
            entity = str(_get(payload, sli.entity_field)) if sli.entity_field else ""
            obs = (entity, str(_get(payload, sli.state_field)) in sli.bad_states)
        else:
            obs = True
        series[_labels(sli, payload)].points.append((ts, obs))
    return series


def _stat(alert: AlertConfig, sli: SliConfig, points: list, t: int, origin: int, zone) -> float | None:
    stat = alert.condition.stat
    kind = stat.kind
    if kind == "since_last":
        i = bisect_left([ts for ts, _ in points], t)
        return float(t - points[i - 1][0]) if i else None  # never seen: unknown, not absent
    if kind in ("bad_for",) or (sli.kind == "state" and kind in ("good_ratio", "bad_ratio")):
        # Replay the entity states in arrival order into bad intervals, then read them as of t.
        entities: dict[str, bool] = dict.fromkeys(sli.entities, False)
        intervals: list[list] = []
        for ts, (entity, bad) in points:
            entities[entity] = bad
            series_bad = all(entities.values()) if sli.bad_when == "all" else any(entities.values())
            if series_bad and not (intervals and intervals[-1][1] is None):
                intervals.append([ts, None])
            elif not series_bad and intervals and intervals[-1][1] is None:
                intervals[-1][1] = max(ts, intervals[-1][0])
        if kind == "bad_for":
            for start, end in reversed(intervals):
                if start < t:
                    return float(t - start) if end is None or end > t else 0.0
            return 0.0
        lo = t - alert.window_ms
        bad = sum(max(0, min(t if e is None else e, t) - max(s, lo)) for s, e in intervals) / alert.window_ms
        return bad if kind == "bad_ratio" else 1 - bad
    if alert.calendar:
        start, _ = calendar_period_ms(t - 1, alert.calendar, zone)
        lo = start
    else:
        lo = t - alert.window_ms
    times = [ts for ts, _ in points]
    window = [obs for _, obs in points[bisect_left(times, lo) : bisect_left(times, t)]]
    if kind == "count":
        return float(len(window))
    if not window:
        return None
    if kind == "quantile":
        sketch = DDSketch(0.01)
        for v in window:
            sketch.add(v)
        return sketch.get_quantile_value(stat.q)
    if kind in ("good_ratio", "bad_ratio", "bad_count"):
        good = sum(1 for v in window if v)
        if kind == "bad_count":
            return float(len(window) - good)
        return good / len(window) if kind == "good_ratio" else (len(window) - good) / len(window)
    if kind == "last":
        return float(window[-1])  # points are in time order, later arrivals last among equals
    if kind == "min":
        return float(min(window))
    if kind == "max":
        return float(max(window))
    if kind == "avg":
        return sum(window) / len(window)
    if kind == "sum":
        return float(sum(window))
    raise AssertionError(f"reference has no {kind}")


def expected_alerts(
    spec: Config, alert: AlertConfig, events: list[tuple[str, dict]], boundaries: range, origin_ms: int
) -> list[Expected]:
    """Every transition of one rule at the given boundaries (of the SLI's time domain)."""
    sli = spec.sli(alert.sli)
    series = _observations(spec, sli, events)
    zone = ZoneInfo(alert.timezone)
    out: list[Expected] = []
    res = spec.defaults.resolution_ms
    for labels, data in sorted(series.items()):
        pts = sorted(data.points, key=lambda p: p[0]) if sli.kind != "state" else data.points
        state, active, starts, clear_since, count = "inactive", 0, 0, None, 0
        first_seen = min(ts for ts, _ in pts)
        times = [ts for ts, _ in pts]
        for t in boundaries:
            if t <= first_seen - spec.defaults.allowed_lateness_ms - res and alert.condition.stat.kind != "since_last":
                continue
            value = _stat(alert, sli, pts, t, origin_ms, zone)
            holds = value is not None and alert.condition.holds(value)
            new_events = bisect_left(times, t) - bisect_left(times, t - res)
            if state == "inactive" and holds:
                state, active, count = "pending", t, new_events
            elif state == "pending" and holds:
                count += new_events
            elif state == "pending":
                state = "inactive"
                continue
            if state == "pending":
                done = count >= alert.for_events if alert.for_events is not None else t - active >= alert.for_ms
                if done:
                    state, starts, clear_since = "firing", t, None
                    out.append(Expected(alert.name, alert.severity, labels, "firing", active, starts, None))
                continue
            if state == "firing":
                if holds:
                    clear_since = None
                    continue
                clear_since = t if clear_since is None else clear_since
                if t - clear_since >= alert.keep_firing_for_ms:
                    out.append(Expected(alert.name, alert.severity, labels, "resolved", active, starts, t))
                    state = "inactive"
    return out


def decode(events: list[tuple[str, bytes]]) -> list[tuple[str, dict]]:
    return [(subject, orjson.loads(data)) for subject, data in events]


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat()
