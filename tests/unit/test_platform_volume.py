"""Every SLO of config/slo.yaml can alert at its own volume (issue 9).

For each SLO: traffic of its SLI at the volume the config declares (``expected``, itself checked
against the simulator's nominal volume below), healthy for a while, then a total failure; the real
Engine over the SLI, the SLOs on it and the rules on it; at least one alert on that SLI must fire
within the bound the config gives:

- an SLO with burn-rate tiers: its fastest tier's short window plus one resolution step;
- an SLO without (budget: false, burn_alerts: none, the calendar-month SLA views): the fastest of the
  rules on its SLI (window, or the duration a ``since_last``/``bad_for`` rule waits, plus ``for``)
  and of the tiers of the other SLOs on the same SLI, plus one resolution step.

The bound is computed from the config, never read from the engine's output.

The traffic is generated from the config, kind by kind, with payloads taken from the simulator as
templates: "total failure" is every event bad for a ratio SLI (a payload the ``good`` predicate
rejects, found from the predicate's own fields and literals), every latency at twice the
objective's threshold, silence for an events SLI (heartbeats, snapshots), the bad state for a state
SLI, every value at twice the slice condition's line for a gauge, every correlation ending in its
``fail`` event (or late, for a duration). The failure starts with an event of the SLI (for one that
comes every 30 minutes, the first moment a failure can be seen at all).

The healthy period before it is an hour (or two of the SLI's periods, when longer): the state
begins there, so every SLI has been seen, the gates derived from the expected volume are met, and
the long windows hold a steady state that dilutes the failure, as in production. A p95 SLO alone
on its SLI (order acknowledgments, analytics queries, reports) would then reach its first tier
only after about 6 m 40 s: its rule on the objective over 5 minutes is what alerts in time.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from functools import cache

import orjson
import pytest

from processor.config.model import Config, SloConfig
from processor.config.parse import subject_pattern_matches
from processor.engine import Engine
from processor.simulate import Incident, Simulator
from processor.simulate.platform import DEFAULT_RATE
from tests import catalogue

M = 60_000
T0 = 1_767_225_600_000  # 2026-01-01T00:00Z: a whole hour, so slices and boundaries align
HEALTHY_MS = 60 * M
NOMINAL_MS = 20 * M  # the simulation's incident-free stretch, where the nominal volume is measured
TEMPLATES = 300  # payloads of an SLI taken as templates (its first ones)
# Built-in alerts about the processor's own view of an SLI, not about the SLO's failure.
BUILT_IN = {"ServiceNeverReported", "SliCardinalityOverflow"}

# The bus monitor's measurements (the processor publishes them; the simulator does not): the shapes
# of processor/bus/monitor.py, as tests/unit/test_catalogue.py sends them.
BUS_TEMPLATES = {
    "bus.publish.probe": [{"latency_ms": 2.0, "status": "ok", "stream": "SLO"}],
    "bus.probe.delivery": [{"probe_id": "p", "delivered": True, "delay_ms": 1.0}],
    "bus.consumer.lag": [{"stream": s, "consumer": f"slo_{s.lower()}", "pending": 3, "ack_pending": 0}
                         for s in ("MARKET", "TRADE", "AI", "ANALYTICS")],
    "bus.stream.status": [{"stream": s, "state": "up"} for s in ("MARKET", "TRADE", "AI", "ANALYTICS", "SLO")],
}


def spec() -> Config:
    return catalogue.spec()


@cache
def simulated() -> tuple:
    """Half an hour of the simulated platform at its nominal rate; from minute 20 (NOMINAL_MS), the
    incidents that produce what nominal traffic has none of (failovers, reconnections, fallbacks,
    failed sagas)."""
    incidents = [
        Incident("provider_down", T0 + NOMINAL_MS, 5 * M, "alpaca"),
        Incident("stream_disconnect", T0 + NOMINAL_MS, M),
        Incident("fallbacks", T0 + NOMINAL_MS, 10 * M, magnitude=1.0),
        Incident("saga_failures", T0 + NOMINAL_MS, 10 * M, "all"),
    ]
    return tuple(Simulator(T0, seed=5, rate=DEFAULT_RATE, incidents=incidents).records(T0 + NOMINAL_MS + 10 * M))


def _holds(predicate, payload: dict) -> bool:
    try:
        return bool(predicate.fn(payload))
    except Exception:  # a missing field or a type the predicate cannot compare: it does not hold
        return False


@cache
def by_subject() -> dict[str, list]:
    out: dict[str, list] = {}
    for e in simulated():
        out.setdefault(e.subject, []).append(e)
    return out


@cache
def _of_sli(sli) -> list:
    """The simulated events the SLI takes, in ts order."""
    return sorted((e for subject, es in by_subject().items() if subject_pattern_matches(sli.subject, subject)
                   for e in es if _accepted(sli, e.subject, e.payload)), key=lambda e: e.ts_ms)


def _accepted(sli, subject: str, payload: dict) -> bool:
    return subject_pattern_matches(sli.subject, subject) and (
        sli.where is None or _holds(sli.where, {**payload, "_subject": subject}))


def _nominal_per_min(sli) -> float:
    """Events the SLI takes per minute in the incident-free minutes of the simulation."""
    corr = getattr(sli, "correlation", None)
    n = sum(1 for e in _of_sli(sli) if e.ts_ms < T0 + NOMINAL_MS
            and (corr is None or _holds(corr.start, {**e.payload, "_subject": e.subject})))
    return n / (NOMINAL_MS / M)


# ------------------------------------------------------------------------------------------------
# Making a payload bad (or good) for a predicate, from the predicate's own fields and literals

_LITERAL_RE = re.compile(r'"((?:[^"\\]|\\.)*)"|\'((?:[^\'\\]|\\.)*)\'|(-?\d+(?:\.\d+)?)')


def _candidates(predicate) -> list:
    values: list = [False, True, None, "error", "__none__"]
    for m in _LITERAL_RE.finditer(predicate.text):
        if m[3] is not None:
            n = float(m[3]) if "." in m[3] else int(m[3])
            values += [n, n + 1, n - 1]
        else:
            values.append(m[1] if m[1] is not None else m[2])
    return values


def _make(predicate, want: bool, subject: str, payload: dict, keep=None) -> tuple[str, dict] | None:
    """A (subject, payload) that differs from the given one in one field the predicate reads (or the
    subject, for ``_subject``) and for which the predicate is ``want``; ``keep`` must still hold."""
    def ok(s: str, p: dict) -> bool:
        full = {**p, "_subject": s}
        return _holds(predicate, full) == want and (keep is None or _holds(keep, full))

    if ok(subject, payload):
        return subject, payload
    for field in predicate.fields:
        now = type(payload.get(field))
        # values of the field's own type first: a payload the SLI cannot read is rejected, not bad
        values = _candidates(predicate) + ([] if keep is None else _candidates(keep))
        for value in sorted(values, key=lambda v: type(v) is not now):
            if field == "_subject":
                if isinstance(value, str) and ok(value, payload):
                    return value, payload
            elif ok(subject, {**payload, field: value}):
                return subject, {**payload, field: value}
    return None


# ------------------------------------------------------------------------------------------------
# The traffic of one SLO: healthy, then a total failure


def _objective_line_ms(slo: SloConfig, sli) -> float:
    """The latency (ms) or gauge value that the SLO's good events or slices must stay under."""
    b = slo.budget
    condition = b.slice_condition if b is not None and b.method == "time_slices" else slo.objective
    return float(condition.threshold)


def _with_value(sli, payload: dict, ts_ms: int, value: float) -> dict:
    """The payload with the SLI's value (value field, or value minus minus) set to ``value``."""
    unit = getattr(sli, "unit_to_ms", 1.0) if getattr(sli, "value_minus_field", None) is None else 1.0
    minus = getattr(sli, "value_minus_field", None)
    if minus is None:
        return {**payload, sli.value_field: value / unit}
    if sli.value_field == sli.event_time_field:
        return {**payload, minus: ts_ms - value}
    return {**payload, sli.value_field: payload[minus] + value}


def _at(payload: dict, time_field: str, ts_ms: int) -> dict:
    """The template moved to ``ts_ms``: its event time, and every other time in it (within a day of
    it: quote_ts, scheduled_ts, started_ts), by the same amount, so that differences stay."""
    t0 = payload.get(time_field, ts_ms)
    shift = ts_ms - t0
    moved = {k: (v + shift if type(v) is int and abs(v - t0) < 86_400_000 else v) for k, v in payload.items()}
    moved[time_field] = ts_ms
    return moved


class Traffic:
    """Templates of the SLI's events and how a healthy and a failing event is made of them."""

    def __init__(self, slo: SloConfig, sli, siblings: list[SloConfig]):
        self.slo, self.sli = slo, sli
        self.corr = getattr(sli, "correlation", None)
        self.templates = self._templates()
        self._bad: dict[int, tuple[str, dict]] = {}  # template index -> its failing (subject, payload)
        assert self.templates, f"no template event for SLI {sli.name}"
        # The line the failing values cross: the strictest of the SLOs on this SLI with one.
        self.line = None
        if sli.kind in ("latency", "gauge") or (self.corr is not None and self.corr.output == "duration"):
            self.line = max(_objective_line_ms(s, sli) for s in siblings)

    def _templates(self) -> list:
        sli = self.sli
        events = [(e.subject, e.payload) for e in _of_sli(sli)]
        if self.corr is None:
            events = events[:TEMPLATES]
        if not events:
            events = [(s, p) for s, ps in BUS_TEMPLATES.items() for p in ps if _accepted(sli, s, p)]
        if self.corr is None:
            good = getattr(sli, "good", None)
            if good is not None:
                events = [(s, p) for s, p in events if _holds(good, p)]
            if sli.kind == "state":
                events = [(s, p) for s, p in events if str(p.get(sli.state_field)) not in sli.bad_states]
            return events
        # A correlation: (start, end) pairs of one id that ended well, and the gap between them.
        starts, pairs = {}, []
        for s, p in events:
            full = {**p, "_subject": s}
            key = p.get(self.corr.id_field)
            if _holds(self.corr.start, full):
                starts[key] = (s, p)
            elif _holds(self.corr.end, full) and key in starts:
                pairs.append((starts.pop(key), (s, p)))
        return pairs

    def events(self, from_ms: int, fail_ms: int, until_ms: int) -> Iterator[tuple[int, str, dict]]:
        """(ts, subject, payload) in ts order; an event at ``fail_ms`` starts the failure."""
        period = 60_000 / self.slo.expected_per_min
        k0 = -math.floor((fail_ms - from_ms) / period)
        out = []
        k = k0
        while fail_ms + k * period < until_ms:
            ts = int(fail_ms + k * period)
            out += self._instance(k - k0, ts, failing=ts >= fail_ms)
            k += 1
        out.sort(key=lambda e: e[0])
        return iter(out)

    def _instance(self, i: int, ts: int, failing: bool) -> list[tuple[int, str, dict]]:
        sli, t = self.sli, self.templates[i % len(self.templates)]
        if self.corr is not None:
            return self._pair(i, ts, t, failing)
        subject, payload = t[0], _at(t[1], sli.event_time_field, ts)
        if getattr(sli, "good_count_field", None):  # healthy reports drop nothing
            payload = {**payload, sli.bad_count_field: 0}
        if not failing:
            return [(ts, subject, payload)]
        if sli.kind == "events":
            return []  # silence
        if sli.kind == "state":
            return [(ts, subject, {**payload, sli.state_field: sli.bad_states[0]})]
        if sli.kind in ("latency", "gauge"):
            return [(ts, subject, _with_value(sli, payload, ts, 2 * self.line + 1))]
        if sli.good is None:  # a ratio of reported counts: every occurrence bad
            n = payload[sli.good_count_field] + payload[sli.bad_count_field]
            return [(ts, subject, {**payload, sli.good_count_field: 0, sli.bad_count_field: n})]
        j = i % len(self.templates)
        if j not in self._bad:
            self._bad[j] = _make(sli.good, False, subject, payload, keep=sli.where)
        made = self._bad[j]
        assert made is not None, f"no bad payload for {sli.name} from {payload}"
        return [(ts, made[0], {**made[1], sli.event_time_field: ts})]

    def _pair(self, i: int, ts: int, pair, failing: bool) -> list[tuple[int, str, dict]]:
        (s1, p1), (s2, p2) = pair
        idf, tf = self.corr.id_field, self.sli.event_time_field
        key = f"vol-{i}"
        gap = max(1, min(p2[tf] - p1[tf], 5_000))
        start = (ts, s1, {**_at(p1, tf, ts), idf: key})
        if not failing:
            return [start, (ts + gap, s2, {**_at(p2, tf, ts + gap), idf: key})]
        if self.corr.output == "duration":
            late = ts + int(2 * self.line) + 1
            return [start, (late, s2, {**_at(p2, tf, late), idf: key})]
        if self.corr.fail is None:
            return [start]  # never ends: the timeout makes it bad
        made = _make(self.corr.fail, True, s2, p2)
        assert made is not None, f"no fail event for {self.sli.name} from {s2} {p2}"
        return [start, (ts + gap, made[0], {**_at(made[1], tf, ts + gap), idf: key})]


# ------------------------------------------------------------------------------------------------
# The bound, from the config


def _rule_wait_ms(rule) -> int:
    """How long a rule needs, once its SLI is failing, before it can fire (without the step)."""
    stat = rule.condition.stat.kind
    waited = int(rule.condition.threshold) if stat in ("since_last", "bad_for") else rule.window_ms
    return waited + rule.for_ms


def bound_ms(slo: SloConfig) -> tuple[int, str]:
    res = spec().defaults.resolution_ms
    if slo.budget is not None and slo.budget.burn_tiers:
        fastest = min(slo.budget.burn_tiers, key=lambda t: t.short_ms)
        return fastest.short_ms + res, f"its fastest tier ({fastest.tier}) short window + one step"
    means = [(_rule_wait_ms(r), f"rule {r.name} ({r.condition.text})") for r in spec().alerts if r.sli == slo.sli]
    means += [(t.short_ms, f"tier {t.tier} of SLO {s.name}") for s in spec().slos if s.sli == slo.sli
              and s.budget is not None for t in s.budget.burn_tiers]
    assert means, f"SLO {slo.name} has no way to alert: no burn-rate tier, no rule on SLI {slo.sli}"
    wait, what = min(means)
    return wait + res, f"{what} + one step"


def _part(slo: SloConfig) -> Config:
    s = spec()
    return s.model_copy(update={
        "slis": (s.sli(slo.sli),),
        "slos": tuple(o for o in s.slos if o.sli == slo.sli),
        "alerts": tuple(r for r in s.alerts if r.sli == slo.sli),
        "bus_monitor": None,
    })


class _Msg:
    __slots__ = ("subject", "data", "reply")

    def __init__(self, subject: str, data: bytes):
        self.subject, self.data, self.reply = subject, data, ""


def _sli_alerts(alerts, sli: str) -> list:
    return [a for a in alerts if a.label_map.get("sli") == sli and a.label_map["alertname"] not in BUILT_IN]


def run_total_failure(slo: SloConfig) -> tuple[int, int, list, list]:
    """(failure start, bound, alerts before the failure, firing alerts by the bound)."""
    fail_ms, before, fired = _failure_of_sli(slo.sli)
    bound, _ = bound_ms(slo)
    return fail_ms, bound, before, [a for a in fired if a.status == "firing" and a.starts_at_ms <= fail_ms + bound]


@cache
def _failure_of_sli(sli_name: str) -> tuple[int, list, list]:
    """One run per SLI: the SLOs on an SLI share its traffic and its alerts (every alert counted is
    on the SLI), so they share the run, up to the widest of their bounds or the first alert.
    (failure start, alerts before it, alerts from it on)."""
    sli = spec().sli(sli_name)
    siblings = [s for s in spec().slos if s.sli == sli_name]
    slo = min(siblings, key=lambda s: s.expected_per_min)  # the least traffic of those declared
    traffic = Traffic(slo, sli, siblings)
    period = 60_000 / slo.expected_per_min
    healthy = max(HEALTHY_MS, math.ceil(2 * period / M) * M)
    fail_ms = T0 + healthy
    bound = max(bound_ms(s)[0] for s in siblings)
    until = fail_ms + bound + spec().defaults.allowed_lateness_ms
    engine = Engine(_part(slo))
    before: list = []
    fired: list = []

    def take(out) -> None:
        assert [] == out.rejections, (sli_name, out.rejections[:3])
        for a in _sli_alerts(out.alerts, sli_name):
            (before if a.starts_at_ms < fail_ms else fired).append(a)

    batch: list = []
    batch_end = T0 + M
    for ts, subject, payload in traffic.events(T0, fail_ms, until):
        if ts >= batch_end:
            take(engine.ingest(batch))
            if fired:
                break
            batch, batch_end = [], ts - ts % M + M
        batch.append(_Msg(subject, orjson.dumps(payload)))
    else:
        take(engine.ingest(batch))
        take(engine.advance(fail_ms + bound))
    return fail_ms, before, fired


SLOS = [s.name for s in spec().slos]


@pytest.mark.parametrize("name", SLOS)
def test_a_total_failure_at_the_nominal_volume_alerts_within_the_bound(name: str) -> None:
    slo = next(s for s in spec().slos if s.name == name)
    fail_ms, bound, before, firing = run_total_failure(slo)
    assert [] == [(a.label_map["alertname"], a.label_map.get("tier"), a.status) for a in before]
    what = bound_ms(slo)[1]
    assert firing, f"{name}: no alert on SLI {slo.sli} within {bound // 1000}s of a total failure ({what})"


def test_every_slo_declares_its_expected_volume() -> None:
    assert [] == [s.name for s in spec().slos if s.expected_per_min is None]


# SLIs whose nominal traffic the simulator does not produce: events of incidents only (failovers,
# reconnections, fallbacks) or of the processor's bus monitor (every 5 s; bus.consumer.lag for each
# of the four consumers). Their expected volumes are the config's estimates, said in its comments.
NOT_SIMULATED = {"market_provider_failover", "market_failover_route", "market_stream_reconnection",
                 "ai_fallback_success", "bus_publish", "bus_publish_latency", "bus_probe_delivery",
                 "bus_consumer_lag"}


@pytest.mark.parametrize("name", SLOS)
def test_the_expected_volume_is_the_simulators_nominal_volume(name: str) -> None:
    slo = next(s for s in spec().slos if s.name == name)
    sli = spec().sli(slo.sli)
    if sli.name in NOT_SIMULATED:
        pytest.skip("not in the simulator's nominal traffic")
    nominal = _nominal_per_min(sli)
    if getattr(sli, "good_count_field", None):  # a ratio of reported counts: occurrences, not reports
        nominal *= sum(p[sli.good_count_field] + p[sli.bad_count_field] for s, p in Traffic(slo, sli, [slo]).templates) / len(Traffic(slo, sli, [slo]).templates)
    # within a quarter, or one event of the minutes measured for the rarest (one every 30 minutes)
    off = abs(slo.expected_per_min - nominal)
    assert (name, True) == (name, off <= 0.25 * nominal or off * NOMINAL_MS / M <= 1), (nominal, slo.expected_per_min)
