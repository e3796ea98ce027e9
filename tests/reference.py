"""A brute-force reference evaluator of alert rules, independent of the engine's machinery.

It recomputes every rule at every boundary from the raw events alone: no sub-window rings, no
incremental sums, no eviction, no snapshots. Quantiles come from the ``ddsketch`` library fed the
raw values (the engine's own stores are its reimplementation), ratios and gauges from plain
Python over the events in [t - window, t). Its state machine is the one docs/architecture.md ("Time") describes, written
out again as a loop. Tests compare the engine's alerts with this. ``expected_burns`` does the same
for the burn-rate tiers of error budgets: window sums of good and total events (or of one-minute
slices) counted from the events, not from the engine's rings and running sums.
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
        self.positions: list[int] = []  # each point's place in the stream (not for correlations)


def _correlations(spec: Config, sli: SliConfig, events: list[tuple[str, dict]]) -> dict[tuple, _SeriesData]:
    """A correlation SLI's observations (docs/config.md, "Correlations"), in event-time order: an
    outcome (good when the end came within the timeout; bad at a fail, or at the deadline when the
    timeout passed first) or a duration (end - start), at the time of what decided it, in the
    series of the start's labels. An end or fail without an open start is not judged."""
    c = sli.correlation
    series: dict[tuple, _SeriesData] = defaultdict(_SeriesData)
    open_: dict[str, tuple[int, tuple, int | None]] = {}  # id -> (start, labels, deadline)

    def expire(before: int) -> None:
        for cid, (_, labels, deadline) in sorted(open_.items(), key=lambda kv: kv[1][2] or 0):
            if deadline is not None and deadline < before:
                series[labels].points.append((deadline, False))
                del open_[cid]

    ts_field = spec.defaults.event_time_field
    for subject, payload in sorted(events, key=lambda e: e[1][ts_field]):
        if not _selected(sli, subject, payload):
            continue
        p = {**payload, "_subject": subject}
        ts, cid = payload[ts_field], str(_get(payload, c.id_field))
        expire(ts)
        if c.start.fn(p):
            timeout = dict(c.timeouts_ms).get(str(payload.get(c.timeout_by_field)), c.timeout_ms) \
                if c.timeout_by_field else c.timeout_ms
            open_[cid] = (ts, _labels(sli, payload), None if timeout is None else ts + timeout)
        elif cid in open_ and (c.end.fn(p) or (c.fail is not None and c.fail.fn(p))):
            start, labels, deadline = open_.pop(cid)
            if c.output == "duration":
                series[labels].points.append((ts, float(ts - start)))
            else:
                series[labels].points.append((ts, bool(c.end.fn(p))))
    return series


def _observations(spec: Config, sli: SliConfig, events: list[tuple[str, dict]]) -> dict[tuple, _SeriesData]:
    if sli.kind == "correlation":
        return _correlations(spec, sli, events)
    series: dict[tuple, _SeriesData] = defaultdict(_SeriesData)
    for position, (subject, payload) in enumerate(events):
        if not _selected(sli, subject, payload):
            continue
        ts = payload[spec.defaults.event_time_field]
        if sli.kind in ("latency", "gauge"):
            v = float(_get(payload, sli.value_field))
            if sli.value_minus_field:
                v -= float(_get(payload, sli.value_minus_field))
            obs = v * sli.unit_to_ms if sli.kind == "latency" else v
        elif sli.kind == "ratio" and sli.good is None:
            # good and bad events counted in the payload (delivered / dropped)
            obs = (int(_get(payload, sli.good_count_field)), int(_get(payload, sli.bad_count_field)))
        elif sli.kind == "ratio":
            obs = bool(sli.good.fn({**payload, "_subject": subject}))
        elif sli.kind == "state":
            entity = str(_get(payload, sli.entity_field)) if sli.entity_field else ""
            obs = (entity, str(_get(payload, sli.state_field)) in sli.bad_states)
        else:
            obs = True
        data = series[_labels(sli, payload)]
        data.points.append((ts, obs))
        data.positions.append(position)
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
    spec: Config, alert: AlertConfig, events: list[tuple[str, dict]], boundaries: range, origin_ms: int,
    stream: list[tuple[str, dict]] | None = None,
) -> list[Expected]:
    """Every transition of one rule at the given boundaries (of the SLI's time domain).

    A rule that fires on the event (a growing stat, docs/architecture.md "Time") needs the order
    of the whole stream, whose events move the watermark: ``stream`` (default ``events``), every
    message of the lane in the order it was read, none of them late."""
    sli = spec.sli(alert.sli)
    if _grows_with_events(alert, sli):
        return _expected_on_events(spec, alert, stream if stream is not None else events, boundaries, origin_ms)
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


def _grows_with_events(alert: AlertConfig, sli: SliConfig) -> bool:
    """docs/architecture.md: count, bad_count, max, sum compared with > or >=, no for, no calendar,
    on an SLI that records each event into its series (not a correlation or a state)."""
    stat = alert.condition.stat.kind
    kinds = {"count": ("events", "ratio", "gauge", "latency"), "bad_count": ("ratio",), "max": ("gauge",),
             "sum": ("gauge",)}
    return (alert.for_ms == 0 and alert.calendar is None and alert.condition.op in (">", ">=")
            and sli.kind in kinds.get(stat, ()))


@dataclass
class _Rule:
    """One series' rule state as the stream walk sees it."""

    state: str = "inactive"
    active: int = 0
    starts: int = 0
    clear_since: int | None = None
    count: int = 0
    hold: int | None = None  # boundaries before it leave the state alone
    refire: list | None = None  # (boundary, event time) of events that held while firing


def _expected_on_events(spec: Config, alert: AlertConfig, stream: list[tuple[str, dict]], boundaries: range,
                        origin_ms: int) -> list[Expected]:
    """The stream in order: before each event, the boundaries its time closes (watermark = highest
    event time - lateness), evaluated over every point as _stat does; then, if the event is one of
    the rule's SLI, its own window [b - window, b), b the end of its sub-window, over the points
    read so far, counted by brute force."""
    sli = spec.sli(alert.sli)
    res, lateness = spec.defaults.resolution_ms, spec.defaults.allowed_lateness_ms
    ts_field = spec.defaults.event_time_field
    series = _observations(spec, sli, stream)
    at_position = {pos: (labels, i) for labels, d in series.items() for i, pos in enumerate(d.positions)}
    sorted_points = {labels: sorted(d.points, key=lambda p: p[0]) for labels, d in series.items()}
    first_seen = {labels: min(ts for ts, _ in d.points) for labels, d in series.items()}
    point_times = {labels: [ts for ts, _ in pts] for labels, pts in sorted_points.items()}
    keys_so_far: dict[tuple, list] = defaultdict(list)  # time-sorted (ts, position) of the points read so far
    obs_so_far: dict[tuple, list] = defaultdict(list)  # their observations, in the same order
    states: dict[tuple, _Rule] = {}
    out: list[Expected] = []
    last_b = boundaries[-1] if len(boundaries) else origin_ms
    closed = None
    max_ts = None

    def close(b: int) -> None:
        for labels in sorted(series):
            if b <= first_seen[labels] - lateness - res:
                continue
            value = _stat(alert, sli, sorted_points[labels], b, origin_ms, None)
            times = point_times[labels]
            new_events = bisect_left(times, b) - bisect_left(times, b - res)
            _boundary(alert, labels, states, value, b, new_events, out)

    for position, (_, payload) in enumerate(stream):
        ts = payload[ts_field]
        if max_ts is None or ts > max_ts:
            max_ts = ts
            wm = max_ts - lateness
            target = min(wm - wm % res, last_b)
            if closed is None:
                closed = origin_ms
            while closed + res <= target:
                closed += res
                close(closed)
        if position not in at_position:
            continue
        labels, i = at_position[position]
        obs = series[labels].points[i][1]
        keys, values = keys_so_far[labels], obs_so_far[labels]
        at = bisect_left(keys, (ts, position))
        keys.insert(at, (ts, position))
        values.insert(at, obs)
        b_e = ts - ts % res + res
        window = values[bisect_left(keys, (b_e - alert.window_ms, -1)) : bisect_left(keys, (b_e, -1))]
        value = _grown(alert.condition.stat.kind, sli, window)
        _event(alert, labels, states, value, ts, b_e, out)
    while closed is not None and closed + res <= last_b:
        closed += res
        close(closed)
    return out


def _grown(stat: str, sli: SliConfig, window: list) -> float:
    if stat == "max":
        return max(window)
    if stat == "sum":
        return float(sum(window))
    reported = sli.kind == "ratio" and sli.good is None  # (good, bad) counted in the payload
    if stat == "count":
        return float(sum(g + b for g, b in window) if reported else len(window))
    return float(sum(b for _, b in window) if reported else sum(1 for good in window if not good))


def _fire(alert, labels, st: _Rule, t: int, out: list) -> None:
    st.state, st.starts, st.clear_since = "firing", t, None
    out.append(Expected(alert.name, alert.severity, labels, "firing", st.active, st.starts, None))


def _event(alert, labels, states: dict, value: float, t: int, b: int, out: list) -> None:
    holds = alert.condition.holds(value)
    st = states.get(labels)
    if st is not None and st.state == "firing":
        if alert.for_events is not None:
            return  # a for_events rule that an earlier boundary resolves counts anew
        kept = (st.hold is not None and b <= st.hold) or any(e[0] == b for e in st.refire or ())
        if holds and not kept:
            st.refire = (st.refire or []) + [(b, t)]
        return
    if not holds:
        return
    if st is None:
        st = states[labels] = _Rule()
    if st.state == "inactive":
        st.state, st.active, st.count = "pending", t, 0
    st.count += 1
    st.hold = b if st.hold is None else max(st.hold, b)
    if alert.for_events is None or st.count >= alert.for_events:
        _fire(alert, labels, st, t, out)


def _boundary(alert, labels, states: dict, value, b: int, new_events: int, out: list) -> None:
    holds = value is not None and alert.condition.holds(value)
    st = states.get(labels)
    if st is None:
        if not holds:
            return
        st = states[labels] = _Rule()
    if st.hold is not None:
        if b < st.hold:
            return
        st.hold = None
    if st.state == "inactive":
        st.state, st.active, st.count = "pending", b, new_events
        if alert.for_events is None or st.count >= alert.for_events:
            _fire(alert, labels, st, b, out)
        return
    if st.state == "pending":
        if not holds:
            del states[labels]
        elif alert.for_events is None or st.count >= alert.for_events:
            _fire(alert, labels, st, b, out)
        return
    st.refire = [e for e in st.refire or () if e[0] > b] or None
    if holds:
        st.clear_since = None
        return
    st.clear_since = b if st.clear_since is None else st.clear_since
    if b - st.clear_since >= alert.keep_firing_for_ms:
        out.append(Expected(alert.name, alert.severity, labels, "resolved", st.active, st.starts, b))
        refire = st.refire
        del states[labels]
        if refire:
            (hold, t), rest = refire[0], refire[1:]
            again = states[labels] = _Rule(state="pending", active=t, hold=hold, refire=list(rest) or None)
            _fire(alert, labels, again, t, out)


def decode(events: list[tuple[str, bytes]]) -> list[tuple[str, dict]]:
    return [(subject, orjson.loads(data)) for subject, data in events]


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat()


# ---------------------------------------------------------------- error budgets' burn-rate tiers

@dataclass(frozen=True)
class _Window:
    """What a window of a stat over time needs from an alert: the stat and the window length."""

    condition: object
    window_ms: int
    calendar: None = None


def _slice_value(sli: SliConfig, ordered: dict[tuple, list], merged: list, merged_times: list[int], condition,
                 slice_ms: int, t: int, zone) -> float | None:
    """The slice condition's stat over [t - slice, t), of the SLI's series seen before t: a state's
    time shares and absence per series (the SLI as bad as its worst series), anything else over
    every series' events of the slice together (``merged``: all of them in time order)."""
    window = _Window(condition, slice_ms)
    stat = condition.stat.kind
    if stat in ("since_last", "bad_for") or sli.kind == "state":
        seen = [pts for pts in ordered.values() if pts[0][0] < t] if sli.kind != "state" else [
            pts for pts in ordered.values() if min(ts for ts, _ in pts) < t]
        values = [v for pts in seen if (v := _stat(window, sli, pts, t, 0, zone)) is not None]  # type: ignore[arg-type]
        if not values:
            return None
        return min(values) if stat == "good_ratio" else max(values)
    in_slice = merged[bisect_left(merged_times, t - slice_ms) : bisect_left(merged_times, t)]
    return _stat(window, sli, in_slice, t, 0, zone)  # type: ignore[arg-type]


def _good_total(slo, sli: SliConfig, obs) -> tuple[int, int]:
    """(good, total) of an event of an occurrences budget: a ratio's good (or the good and bad
    counts it carries), a latency under the objective's threshold."""
    if isinstance(obs, bool):  # a ratio's good, or an outcome correlation's
        return int(obs), 1
    if sli.kind == "ratio":
        return obs[0], obs[0] + obs[1]
    if sli.kind in ("latency", "correlation"):  # a latency, or a duration correlation's
        op, threshold = slo.objective.op, slo.objective.threshold
        return int(obs <= threshold if op == "<=" else obs < threshold), 1
    raise AssertionError(f"reference counts no occurrences of a {sli.kind} SLI")


def expected_burns(spec: Config, slo, events: list[tuple[str, dict]], boundaries: range,
                   origin_ms: int) -> list[tuple[str, str, str, int]]:
    """Every (slo, tier, status, boundary) of an SLO's burn-rate tiers (docs/config.md, "Error
    budgets"), from the raw events: at each boundary b the good and total events of each window,
    events whose time is in [b - W, b) (a window over 6 h starts at the minute that holds b - W:
    the budget keeps those in minutes), or for time slices the slices ending in that span, each
    judged by the slice condition over its own events once the SLI has been seen (no_data where it
    has none; slices starting before the state began are not counted). A tier fires while the
    burn rate, bad / total / (1 - objective), is at least its burn in decimal over both windows,
    each holding at least its gate of events (slices) and at least one; it resolves at the first
    boundary where it does not."""
    budget = slo.budget
    sli = spec.sli(slo.sli)
    series = _observations(spec, sli, events)
    res = spec.defaults.resolution_ms
    zone = ZoneInfo("UTC")
    # (sub-window start, good, total) records, as the budget keys them
    records: dict[int, tuple[int, int]] = {}
    if budget.method == "time_slices":
        seen_from = min((ts for d in series.values() for ts, _ in d.points), default=None)
        # A state's points stay in arrival order (its replay); everything else in time order.
        ordered = {k: d.points if sli.kind == "state" else sorted(d.points, key=lambda p: p[0])
                   for k, d in series.items()}
        merged = sorted((p for d in series.values() for p in d.points), key=lambda p: p[0])
        merged_times = [ts for ts, _ in merged]
        for t in boundaries:
            if t % budget.slice_ms or t - budget.slice_ms < origin_ms or seen_from is None or seen_from >= t:
                continue
            value = _slice_value(sli, ordered, merged, merged_times, budget.slice_condition, budget.slice_ms, t, zone)
            if value is None:
                if budget.no_data == "ignore":
                    continue
                good = budget.no_data == "good"
            else:
                good = budget.slice_condition.holds(value)
            records[t - res] = (int(good), 1)
    else:
        for data in series.values():
            for ts, obs in data.points:
                key = ts - ts % res
                g, n = records.get(key, (0, 0))
                dg, dn = _good_total(slo, sli, obs)
                records[key] = (g + dg, n + dn)
    keys = sorted(records)
    sums = [(0, 0)]  # sums[i]: (good, total) of the first i records
    for k in keys:
        sums.append((sums[-1][0] + records[k][0], sums[-1][1] + records[k][1]))

    def window(b: int, w: int) -> tuple[int, int]:
        lo = b - w if w <= 6 * 3_600_000 else b - b % 60_000 - w
        i, j = bisect_left(keys, lo), bisect_left(keys, b)
        return sums[j][0] - sums[i][0], sums[j][1] - sums[i][1]

    from fractions import Fraction

    allowed = 1 - Fraction(repr(slo.objective_ratio))
    out = []
    for tier in budget.burn_tiers:
        firing = False
        for b in boundaries:
            holds = True
            for w, gate in ((tier.long_ms, tier.min_events_long), (tier.short_ms, tier.min_events_short)):
                good, total = window(b, w)
                if total == 0 or total < gate or Fraction(total - good, total) < Fraction(repr(tier.burn)) * allowed:
                    holds = False
                    break
            if holds != firing:
                firing = holds
                out.append((slo.name, tier.tier, "firing" if holds else "resolved", b))
    return out
