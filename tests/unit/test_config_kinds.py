"""Loading the catalogue's SLI kinds (gauge, state, correlation), the stats that go with them, the
rule fields for_events, calendar and action, and the bus monitor (processor.config.load)."""

from __future__ import annotations

import pytest

from processor.errors import ConfigError, ConfigProblem
from processor.config.load import load_config_text
from processor.config.model import BusMonitorConfig
from processor.kinds.correlation import CorrelationConfig

VALID = """\
version: 1
bus_monitor:
  interval: 10s
  probe_subject: slo.probe
  delivery_timeout: 3s
  streams: [MARKET, TRADE]
  consumers:
    - {stream: MARKET, durable: slo_market}
    - {stream: TRADE, durable: slo_trade}
  discover_consumers: [TRADE]
  max_consumers: 20
  count_messages: [MARKET, TRADE]
slis:
  drift:
    service: orchestrator
    kind: gauge
    subject: trade.cycle.completed
    value: started_ts
    minus: scheduled_ts
    absolute: true
    unit: ms
    labels: [cycle_type]
    max_series: 5
  cost:
    service: ai
    kind: gauge
    subject: ai.decision.generated
    value: cost_usd
  cpu:
    service: platform
    kind: gauge
    subject: analytics.capacity
    value: cpu_pct
    labels: {target_service: service}
  freshness:
    service: market
    kind: latency
    subject: market.quote.>
    value: ts
    minus: quote_ts
  providers:
    service: ai
    kind: state
    subject: ai.provider.status
    entity: provider
    entities: [openai, groq]
    state: state
    bad_states: [down, 'off']
    bad_when: all
  database:
    service: analytics
    kind: state
    subject: analytics.db.status
    state: state
    bad_states: [down]
  sagas:
    service: orchestrator
    kind: correlation
    subject: trade.saga.>
    labels: [saga_type]
    correlate:
      id: saga_id
      start: _subject == "trade.saga.started"
      end: _subject == "trade.saga.completed"
      fail: _subject == "trade.saga.failed"
      timeout: 2m
      timeout_by: {field: saga_type, timeouts: {order_execution: 60s, portfolio_rebalance: 5m}}
      max_open: 500
  reconnection:
    service: market
    kind: correlation
    subject: market.stream.status
    correlate:
      id: stream
      start: state == "disconnected"
      end: state == "connected"
      output: duration
  lag:
    service: event-bus
    kind: gauge
    subject: bus.consumer.lag
    value: pending
    labels: [stream, consumer]
slos:
  provider_uptime:
    sli: providers
    objective: 99%
    budget: {method: time_slices, slice_condition: good_ratio >= 50%}
  drift_ok:
    sli: drift
    objective: 99.9%
    budget: {method: time_slices, slice_condition: max < 5s}
  saga_success:
    sli: sagas
    objective: 99.5%
  reconnect_p99:
    sli: reconnection
    objective: p99 < 5s
alerts:
  - name: DailyCost
    sli: cost
    expr: sum > 50
    calendar: day
    timezone: Europe/London
    severity: warning
    action: switch to cheaper model
  - name: AllProvidersDown
    sli: providers
    expr: bad_for > 1m
    severity: emergency
  - name: SlowCycles
    sli: drift
    expr: max > 10s
    for_events: 3
    severity: page
    summary: "{cycle_type} started {value:.0f}ms late"
  - name: Cpu
    sli: cpu
    expr: avg > 70
    window: 5m
    for: 5m
    severity: ticket
    action: add replica
    summary: "{target_service} at {value:.0f}%"
  - name: SagaFailed
    sli: sagas
    expr: bad_count > 0
    window: 10s
    keep_firing_for: 5m
    severity: critical
  - name: NoQuotes
    sli: freshness
    expr: since_last > 30s
    severity: critical
"""


def _problems(text: str) -> list[ConfigProblem]:
    with pytest.raises(ConfigError) as info:
        load_config_text(text, "t.yaml")
    return info.value.problems


def test_the_new_kinds_load_into_the_model() -> None:
    spec = load_config_text(VALID, "t.yaml")

    drift, cost, cpu, freshness, providers, database, sagas, reconnection, _ = spec.slis
    assert ("gauge", "started_ts", "scheduled_ts", True, 1.0, ("cycle_type",), 5) == (
        drift.kind, drift.value_field, drift.value_minus_field, drift.value_absolute, drift.unit_to_ms, drift.labels,
        drift.max_series,
    )
    assert ("cost_usd", None, 1.0, 1000) == (cost.value_field, cost.value_minus_field, cost.unit_to_ms, cost.max_series)
    assert (("service",), ("target_service",), ("target_service",)) == (
        cpu.labels, cpu.label_names, cpu.series_label_names()
    )
    assert ("latency", "ts", "quote_ts") == (freshness.kind, freshness.value_field, freshness.value_minus_field)
    assert ("provider", ("openai", "groq"), "state", ("down", "off"), "all") == (
        providers.entity_field, providers.entities, providers.state_field, providers.bad_states, providers.bad_when
    )
    assert (None, (), ("down",), "any") == (
        database.entity_field, database.entities, database.bad_states, database.bad_when
    )
    assert sagas.correlation is not None
    assert CorrelationConfig(
        id_field="saga_id",
        start=sagas.correlation.start,
        end=sagas.correlation.end,
        fail=sagas.correlation.fail,
        output="outcome",
        timeout_ms=120_000,
        timeout_by_field="saga_type",
        timeouts_ms=(("order_execution", 60_000), ("portfolio_rebalance", 300_000)),
        max_open=500,
    ) == sagas.correlation
    assert (True, False) == (
        sagas.correlation.start.fn({"_subject": "trade.saga.started"}),
        sagas.correlation.end.fn({"_subject": "trade.saga.started"}),
    )
    assert reconnection.correlation is not None
    assert ("duration", None, None, 10_000) == (
        reconnection.correlation.output, reconnection.correlation.fail, reconnection.correlation.timeout_ms,
        reconnection.correlation.max_open,
    )
    assert BusMonitorConfig(
        interval_ms=10_000,
        probe_subject="slo.probe",
        delivery_timeout_ms=3_000,
        streams=("MARKET", "TRADE"),
        consumers=(("MARKET", "slo_market"), ("TRADE", "slo_trade")),
        discover_consumers=("TRADE",),
        max_consumers=20,
        count_messages=("MARKET", "TRADE"),
    ) == spec.bus_monitor


def test_a_bus_monitor_without_the_discovery_keys_discovers_and_counts_nothing() -> None:
    spec = load_config_text("version: 1\nbus_monitor: {}\n", "t.yaml")

    assert ((), 100, ()) == (spec.bus_monitor.discover_consumers, spec.bus_monitor.max_consumers,
                             spec.bus_monitor.count_messages)


def test_the_new_rule_fields_load_into_the_model() -> None:
    spec = load_config_text(VALID, "t.yaml")

    assert [
        ("DailyCost", "sum", 50.0, 86_400_000, "day", "Europe/London", None, "warning", "switch to cheaper model"),
        ("AllProvidersDown", "bad_for", 60_000.0, 60_000, None, "UTC", None, "emergency", None),
        ("SlowCycles", "max", 10_000.0, 60_000, None, "UTC", 3, "page", None),
        ("Cpu", "avg", 70.0, 300_000, None, "UTC", None, "ticket", "add replica"),
        ("SagaFailed", "bad_count", 0.0, 10_000, None, "UTC", None, "critical", None),
        ("NoQuotes", "since_last", 30_000.0, 60_000, None, "UTC", None, "critical", None),
    ] == [
        (a.name, a.condition.stat.kind, a.condition.threshold, a.window_ms, a.calendar, a.timezone, a.for_events,
         a.severity, a.action)
        for a in spec.alerts
    ]


def test_the_new_objectives_and_slice_conditions_load() -> None:
    spec = load_config_text(VALID, "t.yaml")

    assert [
        ("provider_uptime", "time_slices", "good_ratio >= 50%", 0.99),
        ("drift_ok", "time_slices", "max < 5s", 0.999),
        ("saga_success", "occurrences", None, 0.995),
        ("reconnect_p99", "occurrences", None, 0.99),
    ] == [
        (s.name, s.budget.method if s.budget else "occurrences",
         s.budget.slice_condition.text if s.budget and s.budget.slice_condition else None, s.objective_ratio)
        for s in spec.slos
    ]


def test_a_file_without_bus_monitor_has_none() -> None:
    spec = load_config_text("version: 1\n", "t.yaml")

    assert None is spec.bus_monitor


# Lines counted by hand; every problem of the file is reported in one pass.
BROKEN = """\
version: 1
slis:
  drift:
    service: orchestrator
    kind: gauge
    subject: trade.cycle.completed
    minus: scheduled_ts
    good: status == "ok"
  providers:
    service: ai
    kind: state
    subject: ai.provider.status
    state: state
    bad_states: [down, no]
    bad_when: all
  sagas:
    service: orchestrator
    kind: correlation
    subject: trade.saga.>
    correlate:
      id: saga_id
      start: _subject == "trade.saga.started"
      end: _subject ==
  waits:
    service: orchestrator
    kind: correlation
    subject: trade.saga.>
    correlate: {id: saga_id, start: ok, end: done}
  lag:
    service: event-bus
    kind: gauge
    subject: bus.consumer.lag
    value: pending
  cpu:
    service: platform
    kind: gauge
    subject: analytics.capacity
    value: cpu_pct
    labels: [service]
    max_series: 0
  cost:
    service: ai
    kind: gauge
    subject: ai.decision.generated
    value: cost_usd
alerts:
  - name: CostHigh
    sli: cost
    expr: sum > $50
    calendar: week
    severity: warning
  - name: CostP95
    sli: cost
    expr: p95 > 1s
    for_events: 0
    severity: warning
  - name: Daily
    sli: cost
    expr: sum > 50
    window: 1d
    calendar: day
    severity: warning
    action: ""
  - name: Slow
    sli: cost
    expr: max > 10s
    timezone: UTC
    severity: sev1
"""

BROKEN_EXPECTED = [
    (3, "slis.drift.value", "a gauge SLI needs value: the payload field with the number"),
    (8, "slis.drift.good", "good: applies to ratio SLIs only; a gauge SLI reads a number from value:"),
    (14, "slis.providers.bad_states[1]", "a state is text, got False: quote words that YAML reads otherwise"),
    (15, "slis.providers.bad_when", "bad_when needs entity: the payload field that names each entity"),
    (23, "slis.sagas.correlate.end", "column 12: expected a literal"),
    (20, "slis.sagas.correlate.timeout", "an outcome correlation needs timeout: (or timeout_by:)"),
    (28, "slis.waits.correlate.timeout", "an outcome correlation needs timeout: (or timeout_by:)"),
    (32, "slis.lag.subject", "bus.consumer.lag carries the bus monitor's measurements, and this file has no "
                             "bus_monitor: section"),
    (40, "slis.cpu.max_series", "expected a whole number of at least 1, got 0"),
    (39, "slis.cpu.labels[0]", "label 'service' clashes with a name the processor sets: name the label yourself, "
                               "e.g. labels: {target_service: service}"),
    (49, "alerts[0].expr", "write the plain number 50, not '$50'"),
    (50, "alerts[0].calendar", "expected 'day' or 'month', got 'week'"),
    (54, "alerts[1].expr", "p95 needs a latency or duration correlation SLI, but 'cost' is a gauge SLI: "
                           "use last, min, max, avg or sum"),
    (55, "alerts[1].for_events", "expected a whole number of at least 1, got 0"),
    (63, "alerts[2].action", "expected a non-empty text"),
    (61, "alerts[2].calendar", "window and calendar are mutually exclusive"),
    (68, "alerts[3].severity", "expected 'info', 'warning', 'critical', 'emergency', 'page' or 'ticket', got 'sev1'"),
    (66, "alerts[3].expr", "'cost' is a gauge of plain numbers: write the threshold without a unit"),
    (67, "alerts[3].timezone", "timezone applies to calendar rules only"),
]


def test_an_invalid_file_reports_every_problem_with_its_line_and_field() -> None:
    problems = _problems(BROKEN)

    assert sorted((line, field) for line, field, _ in BROKEN_EXPECTED) == [(p.line, p.field) for p in problems]
    by_field = {p.field: p.message for p in problems}
    for _, field, fragment in BROKEN_EXPECTED:
        assert (field, True) == (field, fragment in by_field[field]), by_field[field]


HEAD = "version: 1\nslis:\n"
RATIO = "  r: {service: s, kind: ratio, subject: x, good: ok}\n"
GAUGE = "  g: {service: s, kind: gauge, subject: x, value: v}\n"
STATE = "  st: {service: s, kind: state, subject: x, state: state, bad_states: [down]}\n"
EVENTS = "  e: {service: s, kind: events, subject: x}\n"
OUTCOME = "  o: {service: s, kind: correlation, subject: x, correlate: {id: i, start: a, end: b, timeout: 1m}}\n"
DURATION = "  d: {service: s, kind: correlation, subject: x, correlate: {id: i, start: a, end: b, output: duration}}\n"


def _alert(sli: str, expr: str, extra: str = "") -> str:
    return f"alerts:\n  - name: A\n    sli: {sli}\n    expr: {expr}\n    severity: warning\n{extra}"


CASES: list[tuple[str, str, list[tuple[int | None, str, str]]]] = [
    (
        "a state SLI needs its state field and bad states",
        HEAD + "  st:\n    service: s\n    kind: state\n    subject: x\n",
        [(3, "slis.st.bad_states", "a state SLI needs bad_states: the states that count as bad, e.g. [down]"),
         (3, "slis.st.state", "a state SLI needs state: the payload field with the entity's state")],
    ),
    (
        "an empty list of bad states",
        HEAD + "  st: {service: s, kind: state, subject: x, state: state, bad_states: []}\n",
        [(3, "slis.st.bad_states", "a state SLI needs at least one bad state")],
    ),
    (
        "a duplicate bad state and a duplicate entity",
        HEAD + "  st:\n    service: s\n    kind: state\n    subject: x\n    state: state\n    entity: p\n"
        "    entities: [a, a]\n    bad_states: [down, down]\n",
        [(9, "slis.st.entities[1]", "duplicate entity 'a'"),
         (10, "slis.st.bad_states[1]", "duplicate bad state 'down'")],
    ),
    (
        "entities without entity",
        HEAD + "  st:\n    service: s\n    kind: state\n    subject: x\n    state: state\n    bad_states: [down]\n"
        "    entities: [a, b]\n",
        [(9, "slis.st.entities", "entities needs entity: the payload field that names each entity")],
    ),
    (
        "state keys on a ratio SLI",
        HEAD + "  r:\n    service: s\n    kind: ratio\n    subject: x\n    good: ok\n    bad_states: [down]\n",
        [(8, "slis.r.bad_states", "bad_states: applies to state SLIs only; a ratio SLI counts good events")],
    ),
    (
        "minus on an events SLI",
        HEAD + "  e:\n    service: s\n    kind: events\n    subject: x\n    minus: t\n",
        [(7, "slis.e.minus", "minus: applies to latency and gauge SLIs only; an events SLI only counts its events")],
    ),
    (
        "correlate on a latency SLI",
        HEAD + "  l:\n    service: s\n    kind: latency\n    subject: x\n    value: v\n    correlate: {}\n",
        [(8, "slis.l.correlate", "correlate: applies to correlation SLIs only; a latency SLI reads value:")],
    ),
    (
        "a correlation SLI without correlate",
        HEAD + "  c: {service: s, kind: correlation, subject: x}\n",
        [(3, "slis.c.correlate", "a correlation SLI needs correlate: {id: ..., start: ..., end: ..., timeout: ...}")],
    ),
    (
        "correlate that is not a mapping",
        HEAD + "  c:\n    service: s\n    kind: correlation\n    subject: x\n    correlate: saga_id\n",
        [(7, "slis.c.correlate", "expected a mapping such as {id: saga_id, start: '...', end: '...', timeout: 60s}")],
    ),
    (
        "a correlation without an id, and an unknown key",
        HEAD + "  c:\n    service: s\n    kind: correlation\n    subject: x\n    correlate:\n      start: a\n"
        "      end: b\n      timeout: 1m\n      timout_by: {}\n",
        [(7, "slis.c.correlate.id", "required key is missing"),
         (11, "slis.c.correlate.timout_by", "did you mean 'timeout_by'?")],
    ),
    (
        "a duration correlation has no timeout or fail",
        HEAD + "  d:\n    service: s\n    kind: correlation\n    subject: x\n    correlate:\n      id: i\n"
        "      start: a\n      end: b\n      fail: c\n      output: duration\n      timeout: 1m\n",
        [(11, "slis.d.correlate.fail", "fail applies to output: outcome"),
         (13, "slis.d.correlate.timeout", "timeout applies to output: outcome")],
    ),
    (
        "per-value timeouts need a field and at least one positive timeout",
        HEAD + "  c:\n    service: s\n    kind: correlation\n    subject: x\n    correlate:\n      id: i\n"
        "      start: a\n      end: b\n      timeout_by:\n        timeouts: {x: 0s}\n",
        [(11, "slis.c.correlate.timeout_by.field", "required key is missing"),
         (12, "slis.c.correlate.timeout_by.timeouts.x", "must be greater than 0")],
    ),
    (
        "a zero timeout and a zero max_open",
        HEAD + "  c:\n    service: s\n    kind: correlation\n    subject: x\n    correlate:\n      id: i\n"
        "      start: a\n      end: b\n      timeout: 0s\n      max_open: 0\n",
        [(11, "slis.c.correlate.timeout", "must be greater than 0"),
         (12, "slis.c.correlate.max_open", "expected a whole number of at least 1, got 0")],
    ),
    (
        "_subject is for predicates, not fields",
        HEAD + "  g:\n    service: s\n    kind: gauge\n    subject: x\n    value: _subject\n    labels: [_subject]\n",
        [(7, "slis.g.value", "_subject (the message subject) can be read by predicates"),
         (8, "slis.g.labels[0]", "_subject (the message subject) can be read by predicates")],
    ),
    (
        "a correlation id cannot be the subject",
        HEAD + "  c:\n    service: s\n    kind: correlation\n    subject: x\n    correlate:\n      id: _subject\n"
        "      start: a\n      end: b\n      timeout: 1m\n",
        [(8, "slis.c.correlate.id", "_subject (the message subject) can be read by predicates")],
    ),
    (
        "max_series without labels",
        HEAD + "  g:\n    service: s\n    kind: gauge\n    subject: x\n    value: v\n    max_series: 10\n",
        [(8, "slis.g.max_series", "max_series caps the number of label sets, and this SLI has no labels")],
    ),
    (
        "renamed labels must be valid label names over field paths, each field once",
        HEAD + "  g:\n    service: s\n    kind: gauge\n    subject: x\n    value: v\n"
        "    labels: {service: svc, a: x-y, b: host, c: host}\n",
        [(8, "slis.g.labels.service", "label 'service' is set by the processor and cannot be overridden"),
         (8, "slis.g.labels.a", "'x-y' is not a field path"),
         (8, "slis.g.labels.c", "duplicate label field 'host'")],
    ),
    (
        "labels that are neither a list nor a mapping",
        HEAD + "  g:\n    service: s\n    kind: gauge\n    subject: x\n    value: v\n    labels: route\n",
        [(8, "slis.g.labels", "expected a list of payload fields, [route], or a mapping {label name: field}")],
    ),
    (
        "a bus subject the monitor does not publish",
        "version: 1\nbus_monitor: {}\nslis:\n  b: {service: s, kind: events, subject: bus.probe.sent}\n",
        [(4, "slis.b.subject", "no bus monitor measurement has subject 'bus.probe.sent': the bus monitor publishes "
                               "bus.publish.probe, bus.probe.delivery, bus.consumer.lag, bus.stream.status")],
    ),
    (
        "bus monitor settings are checked",
        "version: 1\nbus_monitor:\n  interval: 0s\n  probe_subject: slo.*\n  delivery_timeout: 5\n"
        "  streams: [MARKET, MARKET, my.stream]\n  consumers:\n    - {stream: MARKET}\n"
        "    - {stream: TRADE, durable: slo_trade}\n",
        [(3, "bus_monitor.interval", "must be greater than 0"),
         (4, "bus_monitor.probe_subject", "the probe is published, so its subject cannot have wildcards"),
         (5, "bus_monitor.delivery_timeout", "missing unit in '5'"),
         (6, "bus_monitor.streams[2]", "'my.stream' is not a JetStream name"),
         (6, "bus_monitor.streams[1]", "duplicate stream 'MARKET'"),
         (8, "bus_monitor.consumers[0].durable", "required key is missing"),
         (9, "bus_monitor.consumers[1].stream", "stream 'TRADE' is not in bus_monitor.streams")],
    ),
    (
        "the streams whose consumers are found and whose messages are counted are monitored ones",
        "version: 1\nbus_monitor:\n  streams: [MARKET, SLO]\n  discover_consumers: [MARKET, TRADE, MARKET, a b]\n"
        "  count_messages: [AI]\n  max_consumers: 0\n",
        [(4, "bus_monitor.discover_consumers[3]", "'a b' is not a JetStream name"),
         (4, "bus_monitor.discover_consumers[2]", "duplicate stream 'MARKET'"),
         (4, "bus_monitor.discover_consumers[1]", "stream 'TRADE' is not in bus_monitor.streams: the monitored "
                                                  "streams are: MARKET, SLO"),
         (5, "bus_monitor.count_messages[0]", "stream 'AI' is not in bus_monitor.streams"),
         (6, "bus_monitor.max_consumers", "must be greater than 0")],
    ),
    (
        "a duplicate stream after an invalid one keeps its own index",
        "version: 1\nbus_monitor:\n  streams:\n    - MARKET\n    - my.stream\n    - MARKET\n",
        [(5, "bus_monitor.streams[1]", "'my.stream' is not a JetStream name"),
         (6, "bus_monitor.streams[2]", "duplicate stream 'MARKET'")],
    ),
    (
        "a duplicate consumer",
        "version: 1\nbus_monitor:\n  consumers:\n    - {stream: A, durable: d}\n    - {stream: A, durable: d}\n",
        [(5, "bus_monitor.consumers[1]", "duplicate consumer 'd' of stream 'A'")],
    ),
    (
        "a bus monitor that is not a mapping",
        "version: 1\nbus_monitor: [5s]\n",
        [(2, "bus_monitor", "expected a mapping such as {interval: 5s, consumers: [{stream: MARKET, "
                            "durable: slo_market}]}")],
    ),
    (
        "an SLI that would count the probes",
        "version: 1\nbus_monitor: {probe_subject: slo.probe}\nslis:\n"
        "  all: {service: s, kind: events, subject: slo.>}\n",
        [(2, "bus_monitor.probe_subject", "SLI 'all' (subject slo.>) would count the probes published to slo.probe")],
    ),
    (
        "a gauge stat on a ratio SLI",
        HEAD + RATIO + _alert("r", "last > 5"),
        [(7, "alerts[0].expr", "last needs a gauge SLI, but 'r' is a ratio SLI: use good_ratio, bad_ratio or "
                               "bad_count")],
    ),
    (
        "bad_for on a gauge",
        HEAD + GAUGE + _alert("g", "bad_for > 1m"),
        [(7, "alerts[0].expr", "bad_for needs a state SLI, but 'g' is a gauge SLI: use last, min, max, avg or sum")],
    ),
    (
        "bad_count on a state SLI",
        HEAD + STATE + _alert("st", "bad_count > 0"),
        [(7, "alerts[0].expr", "bad_count needs a ratio or outcome correlation SLI, but 'st' is a state SLI: use "
                               "bad_for, or good_ratio and bad_ratio")],
    ),
    (
        "a quantile of an outcome correlation",
        HEAD + OUTCOME + _alert("o", "p95 > 1s"),
        [(7, "alerts[0].expr", "but 'o' is an outcome correlation SLI: an outcome correlation counts good and bad "
                               "outcomes")],
    ),
    (
        "a ratio of a duration correlation",
        HEAD + DURATION + _alert("d", "bad_ratio > 1%"),
        [(7, "alerts[0].expr", "but 'd' is a duration correlation SLI: a duration correlation is a distribution")],
    ),
    (
        "an events SLI has count and since_last only",
        HEAD + EVENTS + _alert("e", "sum > 1"),
        [(7, "alerts[0].expr", "an events SLI only counts events: use count or since_last")],
    ),
    (
        "since_last and bad_for look at no window",
        HEAD + STATE + _alert("st", "bad_for > 1m", "    window: 5m\n"),
        [(9, "alerts[0].window", "bad_for is measured at each boundary, not over a window: remove window:")],
    ),
    (
        "for_events cannot wait for events that since_last says are missing",
        HEAD + EVENTS + _alert("e", "since_last > 1m", "    for_events: 2\n"),
        [(9, "alerts[0].for_events", "since_last holds only while none arrive: use for:")],
    ),
    (
        "a calendar rule accumulates sums and counts only",
        HEAD + STATE + _alert("st", "bad_for > 1m", "    calendar: day\n"),
        [(9, "alerts[0].calendar", "bad_for cannot be accumulated over a calendar day: use count, bad_count, "
                                   "good_ratio, bad_ratio, last, min, max, avg, sum")],
    ),
    (
        "a calendar rule on a state SLI",
        HEAD + STATE + _alert("st", "bad_ratio > 1%", "    calendar: month\n"),
        [(9, "alerts[0].calendar", "'st' is a state SLI, whose ratios are shares of a trailing window's time")],
    ),
    (
        "a calendar rule in an unknown time zone",
        HEAD + GAUGE + _alert("g", "sum > 1", "    calendar: day\n    timezone: Europe/Londn\n"),
        [(10, "alerts[0].timezone", "unknown time zone 'Europe/Londn': did you mean 'Europe/London'?")],
    ),
    (
        "an action spanning lines",
        HEAD + GAUGE + _alert("g", "sum > 1", "    action: |\n      add\n      replica\n"),
        [(9, "alerts[0].action", "expected one line of text")],
    ),
    (
        "a template naming a renamed label by its field",
        HEAD + "  g: {service: s, kind: gauge, subject: x, value: v, labels: {target_service: service}}\n"
        + _alert("g", "sum > 1", "    summary: '{service} {target_service} {host}'\n"),
        [(9, "alerts[0].summary", "unknown placeholder {host}")],
    ),
    (
        "an objective on a gauge needs time slices",
        HEAD + GAUGE + "slos:\n  o: {sli: g, objective: 99%}\n",
        [(5, "slos.o.objective", "'g' is a gauge SLI, a number per event rather than good or bad events: its "
                                 "objective is a share of good time slices, e.g. objective: 99.95% with budget: "
                                 "{method: time_slices, slice_condition: max < 100}")],
    ),
    (
        "an objective on a state SLI needs time slices",
        HEAD + STATE + "slos:\n  o: {sli: st, objective: 99%}\n",
        [(5, "slos.o.objective", "'st' is a state SLI, whose state changes are not good or bad events")],
    ),
    (
        "a gauge stat is not an objective",
        HEAD + GAUGE + "slos:\n  o: {sli: g, objective: max < 100}\n",
        [(5, "slos.o.objective", "max is for alert rules and slice conditions; an objective needs a quantile or a "
                                 "ratio")],
    ),
    (
        "since_last as an objective points to time slices",
        HEAD + EVENTS + "slos:\n  o: {sli: e, objective: since_last <= 70s}\n",
        [(5, "slos.o.objective", "slice_condition: since_last <= 70s")],
    ),
    (
        "a slice condition on a gauge of durations needs a unit",
        HEAD + "  g: {service: s, kind: gauge, subject: x, value: v, unit: ms}\n"
        "slos:\n  o:\n    sli: g\n    objective: 99%\n    budget: {method: time_slices, slice_condition: max < 5}\n",
        [(8, "slos.o.budget.slice_condition", "'g' is a gauge of durations (unit: ms): write the threshold with a "
                                              "unit, such as max < 10s")],
    ),
    (
        "a state slice condition written like an alert",
        HEAD + STATE + "slos:\n  o:\n    sli: st\n    objective: 99%\n"
        "    budget: {method: time_slices, slice_condition: bad_for > 10s}\n",
        [(8, "slos.o.budget.slice_condition", "a slice condition says what good looks like: write bad_for < ..., "
                                              "not >")],
    ),
    (
        "an input subject the engine does not feed",
        HEAD + "  i: {service: s, kind: ratio, subject: slo.input.messages, good_count: accepted, "
        "bad_count: rejected, labels: [stream]}\n",
        [(3, "slis.i.subject", "no account of the input has subject 'slo.input.messages': the processor feeds "
                               "slo.input.stream (stream, accepted, rejected")],
    ),
    (
        "an input SLI without the stream label would mix the streams' engines in one series",
        HEAD + "  i: {service: s, kind: ratio, subject: slo.input.sli, good_count: accepted, "
        "bad_count: rejected, labels: {target_sli: sli}}\n",
        [(3, "slis.i.labels", "slo.input.sli is measured by each stream's engine on its own: add stream to labels")],
    ),
    (
        "an SLO on an input SLI",
        HEAD + "  i: {service: s, kind: ratio, subject: slo.input.stream, good_count: accepted, "
        "bad_count: rejected, labels: [stream]}\nslos:\n  o: {sli: i, objective: 99%}\n",
        [(5, "slos.o.sli", "an SLO's budget covers its whole SLI, and slo.input.stream is measured by each "
                           "stream's engine on its own: watch it with an alert rule instead")],
    ),
    (
        "no_data does not apply to since_last",
        HEAD + EVENTS + "slos:\n  o:\n    sli: e\n    objective: 99%\n"
        "    budget: {method: time_slices, slice_condition: since_last <= 70s, no_data: bad}\n",
        [(8, "slos.o.budget.no_data", "no_data does not apply to a since_last condition")],
    ),
]


@pytest.mark.parametrize(("text", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_loader_reports(text: str, expected: list[tuple[int | None, str, str]]) -> None:
    problems = _problems(text)

    assert sorted((line, field) for line, field, _ in expected) == sorted((p.line, p.field) for p in problems)
    by_field = {p.field: p.message for p in problems}
    for _, field, fragment in expected:
        assert (field, True) == (field, fragment in by_field[field]), by_field[field]


def test_the_catalogue_examples_in_docs_config_md_are_valid() -> None:
    from pathlib import Path

    import yaml

    docs = (Path(__file__).resolve().parents[2] / "docs" / "config.md").read_text(encoding="utf-8")
    blocks = [yaml.safe_load(b.split("```", 1)[0]) for b in docs.split("```yaml\n")[1:]]
    config: dict = {"version": 1, "slis": {}, "alerts": []}
    # SLIs that the alert examples name without defining them in the same block.
    config["slis"]["trading_position_sync"] = {
        "service": "trading-engine", "kind": "ratio", "subject": "trade.positions.reconciled",
        "good": "discrepancies == 0",
    }
    config["slis"]["capacity_cpu"] = {
        "service": "platform", "kind": "gauge", "subject": "analytics.capacity", "value": "cpu_pct",
        "labels": {"target_service": "service"},
    }
    examples = [b for b in blocks if isinstance(b, dict) and set(b) <= {"slis", "alerts", "bus_monitor"}]
    for block in examples:
        config["slis"].update(block.get("slis") or {})
        config["alerts"] += block.get("alerts") or []
        if "bus_monitor" in block:
            config["bus_monitor"] = block["bus_monitor"]

    spec = load_config_text(yaml.safe_dump(config, sort_keys=False), "docs/config.md")

    assert (9, 12, 5) == (len(examples), len(spec.slis), len(spec.alerts))
