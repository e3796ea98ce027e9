"""Loading and validating config files (processor.config.load)."""

from __future__ import annotations

from pathlib import Path

import pytest

from processor.errors import ConfigError, ConfigProblem
from processor.config.load import load_config, load_config_text
from processor.config.model import Condition, Defaults, Stat

VALID = """\
version: 1
defaults:
  event_time_field: event_ts
  allowed_lateness: 2s
  resolution: 5s
  rule_window: 30s
x-latency: &latency
  service: checkout
  kind: latency
  value: timing.total
slis:
  checkout_latency:
    <<: *latency
    subject: checkout.done
    unit: s
    labels: [route]
    where: region == "eu"
  checkout_requests:
    service: checkout
    kind: ratio
    subject: checkout.>
    good: status == "ok"
    event_time_field: ts
slos:
  checkout_p95:
    sli: checkout_latency
    objective: p95 < 200ms
  checkout_availability:
    sli: checkout_requests
    objective: 99.9%
    window: 7d
alerts:
  - name: CheckoutSlow
    slo: checkout_p95
    expr: p95 > 150ms
    for: 5m
    severity: warning
    summary: "p95 {value:.0f}ms > {threshold:.0f}ms on {route} for {for} ({window})"
    labels: {team: payments, area: checkout}
  - name: CheckoutErrors
    sli: checkout_requests
    expr: bad_ratio > 0.5%
    window: 1m
    keep_firing_for: 10s
    severity: critical
"""


def _problems(text: str) -> list[ConfigProblem]:
    with pytest.raises(ConfigError) as info:
        load_config_text(text, "t.yaml")
    return info.value.problems


def test_a_valid_file_loads_into_the_frozen_model() -> None:
    spec = load_config_text(VALID, "t.yaml")

    assert "t.yaml" == spec.source
    assert Defaults(event_time_field="event_ts", allowed_lateness_ms=2_000, resolution_ms=5_000,
                    rule_window_ms=30_000) == spec.defaults
    latency, requests = spec.slis
    assert ("checkout_latency", "checkout", "latency", "checkout.done") == (
        latency.name, latency.service, latency.kind, latency.subject
    )
    assert ("timing.total", 1000.0, ("route",), "event_ts") == (
        latency.value_field, latency.unit_to_ms, latency.labels, latency.event_time_field
    )
    assert True is latency.where.fn({"region": "eu"})  # type: ignore[union-attr]
    assert requests.good is not None
    assert ("ratio", "ts", 'status == "ok"') == (requests.kind, requests.event_time_field, requests.good.text)

    p95, availability = spec.slos
    assert Condition(stat=Stat(kind="quantile", q=0.95), op="<", threshold=200.0, text="p95 < 200ms") == p95.objective
    assert ("checkout", 30 * 86_400_000) == (p95.service, p95.window_ms)
    assert Condition(stat=Stat(kind="good_ratio"), op=">=", threshold=0.999, text="99.9%") == availability.objective
    assert 7 * 86_400_000 == availability.window_ms

    slow, errors = spec.alerts
    assert ("checkout_latency", "checkout_p95", "checkout") == (slow.sli, slow.slo, slow.service)
    assert (30_000, 300_000, 0) == (slow.window_ms, slow.for_ms, slow.keep_firing_for_ms)
    assert (("area", "checkout"), ("team", "payments")) == slow.labels
    assert ("checkout_requests", None, 60_000, 10_000) == (
        errors.sli, errors.slo, errors.window_ms, errors.keep_firing_for_ms
    )
    assert 0.005 == errors.condition.threshold


# Lines counted by hand; the comment at the end of a line is its number.
BROKEN = """\
version: 1
defaults:
  resolution: 10s
slis:
  api_latency:
    service: api
    kind: latency
    subject: api.request
    value: latency_ms
    unit: sec
  api_requests:
    service: api
    kind: ratio
    subject: api.>.request
    good: status_code <
  search_latency:
    service: search
    kind: latency
    subject: search.done
  checkout_latency:
    service: checkout
    kind: latency
    subject: checkout.done
    value: latency_ms
  checkout_requests:
    service: checkout
    kind: ratio
    subject: checkout.done
    good: status == "ok"
slos:
  api_p95:
    sli: api_latncy
    objective: p95 < 200ms
  checkout_availability:
    sli: checkout_latency
    objective: 99.9%
alerts:
  - name: ApiLatencyHigh
    sli: api_latency
    expr: p95 > 150ms
    for: 5m
    window: 45s
    severity: warning
  - name: ApiErrorsHigh
    sli: api_requests
    expr: bad_ratio > 0.5%
    severity: pager
    annotations:
      summary: errors
  - sli: checkout_latency
    expr: p95 > 1s
    severity: critical
  - name: CheckoutFailing
    sli: checkout_requests
    expr: p95 > 1s
    severity: critical
  - name: CheckoutSlow
    sli: checkout_latency
    expr: p95 > 1s
    severity: warning
  - name: CheckoutSlow
    sli: checkout_latency
    expr: p95 > 2s
    severity: warning
"""

BROKEN_EXPECTED = [
    (10, "slis.api_latency.unit", "expected 'ms', 's', 'us' or 'ns', got 'sec'"),
    (14, "slis.api_requests.subject", "'>' matches the rest of the subject and must be the last token"),
    (15, "slis.api_requests.good", "column 14: expected a literal"),
    (16, "slis.search_latency.value", "a latency SLI needs value"),
    (32, "slos.api_p95.sli", "unknown SLI 'api_latncy': did you mean 'api_latency'?"),
    (36, "slos.checkout_availability.objective",
     "good_ratio needs a ratio, state or outcome correlation SLI, but 'checkout_latency' is a latency SLI"),
    (42, "alerts[0].window", "45s is not a multiple of the resolution (10s): the engine evaluates rules only at "
                             "resolution boundaries; use 40s or 50s"),
    (47, "alerts[1].severity", "expected 'info', 'warning', 'critical', 'emergency', 'page' or 'ticket', got 'pager'"),
    (48, "alerts[1].annotations", "unknown key 'annotations': put summary: and description: directly on the alert"),
    (50, "alerts[2].name", "required key is missing"),
    (55, "alerts[3].expr", "p95 needs a latency or duration correlation SLI, but 'checkout_requests' is a ratio SLI"),
    (61, "alerts[5].name", "duplicate alert: alerts[4] (line 57)"),
]


def test_an_invalid_file_reports_every_problem_with_its_line_and_field() -> None:
    problems = _problems(BROKEN)

    assert [(line, field) for line, field, _ in BROKEN_EXPECTED] == [(p.line, p.field) for p in problems]
    for (_, field, fragment), problem in zip(BROKEN_EXPECTED, problems, strict=True):
        assert (field, True) == (field, fragment in problem.message), problem.message
    assert {"t.yaml"} == {p.file for p in problems}


CASES: list[tuple[str, str, list[tuple[int | None, str, str]]]] = [
    (
        "a YAML syntax error gives the line it was found on",
        "version: 1\nslis:\n  a: [1, 2\nslos: {}\n",
        [(4, "", "YAML syntax error: expected ',' or ']'")],
    ),
    (
        "a quote never closed is reported where it opens, not at the end of the file",
        'version: 1\nslis:\n  a:\n    subject: "x.y\n    kind: ratio\nslos: {}\n',
        [(4, "", "YAML syntax error: a quoted scalar that starts on this line is never closed: it runs to the end "
                 "of the file")],
    ),
    (
        "an empty file asks for a version",
        "# nothing here\n",
        [(None, "", "the file is empty")],
    ),
    (
        "a missing version is reported at the top",
        "slis: {}\n",
        [(1, "version", "required key is missing")],
    ),
    (
        "another version is not read",
        "version: 2\n",
        [(1, "version", "unsupported version 2")],
    ),
    (
        "a duplicate SLI name points at the second and names the first",
        "version: 1\nslis:\n  a: {service: s, kind: latency, subject: x, value: v}\n"
        "  a: {service: s, kind: latency, subject: y, value: v}\n",
        [(4, "slis.a", "duplicate SLI name 'a' (first defined on line 3)")],
    ),
    (
        "a duplicate SLO name",
        "version: 1\nslis:\n  a: {service: s, kind: ratio, subject: x, good: ok}\n"
        "slos:\n  o: {sli: a, objective: 99%}\n  o: {sli: a, objective: 98%}\n",
        [(6, "slos.o", "duplicate SLO name 'o' (first defined on line 5)")],
    ),
    (
        "Sloth-style lists of SLOs are explained",
        "version: 1\nslos:\n  - name: x\n",
        [(2, "slos", "expected a mapping from SLO name to its definition")],
    ),
    (
        "a misspelt key gets a suggestion",
        "version: 1\nslis:\n  a:\n    service: s\n    kind: latency\n    subjet: x\n    value: v\n",
        [(3, "slis.a.subject", "required key is missing"), (6, "slis.a.subjet", "did you mean 'subject'?")],
    ),
    (
        "a ratio SLI without good and with a unit",
        "version: 1\nslis:\n  r:\n    service: s\n    kind: ratio\n    subject: x\n    unit: ms\n",
        [(3, "slis.r.good", "a ratio SLI needs good:"), (7, "slis.r.unit", "unit: applies to latency and gauge SLIs only; a ratio SLI counts good events")],
    ),
    (
        "a latency SLI with a good predicate",
        "version: 1\nslis:\n  l:\n    service: s\n    kind: latency\n    subject: x\n    value: v\n    good: ok\n",
        [(8, "slis.l.good", "good: applies to ratio SLIs")],
    ),
    (
        "a name that cannot be a subject token",
        "version: 1\nslis:\n  a.b: {service: my svc, kind: latency, subject: x, value: v}\n",
        [(3, "slis.a.b", "'a.b' is not a valid SLI name"), (3, "slis.a.b.service", "'my svc' is not a valid name")],
    ),
    (
        "a value that is not a field path",
        "version: 1\nslis:\n  a: {service: s, kind: latency, subject: x, value: latency-ms}\n",
        [(3, "slis.a.value", "'latency-ms' is not a field path")],
    ),
    (
        "an objective written like an alert",
        "version: 1\nslis:\n  a: {service: s, kind: latency, subject: x, value: v}\n"
        "slos:\n  o:\n    sli: a\n    objective: p95 > 200ms\n",
        [(7, "slos.o.objective", "an objective says what good looks like: write p95 < ..., not >")],
    ),
    (
        "an objective on count",
        "version: 1\nslis:\n  a: {service: s, kind: latency, subject: x, value: v}\n"
        "slos:\n  o:\n    sli: a\n    objective: count >= 1\n",
        [(7, "slos.o.objective", "count is for alert rules")],
    ),
    (
        "a Sloth-style percentage number",
        "version: 1\nslis:\n  a: {service: s, kind: ratio, subject: x, good: ok}\n"
        "slos:\n  o:\n    sli: a\n    objective: 99.9\n",
        [(7, "slos.o.objective", "for a percentage write 99.9%")],
    ),
    (
        "an alert without sli or slo",
        "version: 1\nalerts:\n  - name: A\n    expr: count < 1\n    severity: info\n",
        [(3, "alerts[0].sli", "an alert needs sli:")],
    ),
    (
        "an alert whose sli disagrees with its slo",
        "version: 1\nslis:\n  a: {service: s, kind: ratio, subject: x, good: ok}\n"
        "  b: {service: s, kind: ratio, subject: y, good: ok}\n"
        "slos:\n  o: {sli: a, objective: 99%}\n"
        "alerts:\n  - name: A\n    slo: o\n    sli: b\n    expr: count < 1\n    severity: info\n",
        [(10, "alerts[0].sli", "SLO 'o' is on SLI 'a', not 'b'")],
    ),
    (
        "an alert on an unknown SLO",
        "version: 1\nalerts:\n  - name: A\n    slo: nope\n    expr: count < 1\n    severity: info\n",
        [(4, "alerts[0].slo", "unknown SLO 'nope': defined SLOs: none")],
    ),
    (
        "for and keep_firing_for off the resolution grid, and a zero window",
        "version: 1\nslis:\n  a: {service: s, kind: ratio, subject: x, good: ok}\n"
        "alerts:\n  - name: A\n    sli: a\n    expr: count < 1\n    severity: info\n"
        "    for: 15s\n    keep_firing_for: 1s\n    window: 0s\n",
        [
            (9, "alerts[0].for", "15s is not a multiple of the resolution (10s)"),
            (10, "alerts[0].keep_firing_for", "1s is not a multiple of the resolution (10s)"),
            (11, "alerts[0].window", "must be greater than 0"),
        ],
    ),
    (
        "a default rule window off the resolution grid",
        "version: 1\ndefaults:\n  resolution: 15s\n  rule_window: 1m10s\n",
        [(4, "defaults.rule_window", "1m10s is not a multiple of the resolution (15s): the engine evaluates")],
    ),
    (
        "an invalid resolution is reported once, not against every window",
        "version: 1\ndefaults:\n  resolution: ten seconds\n"
        "slis:\n  a: {service: s, kind: ratio, subject: x, good: ok}\n"
        "alerts:\n  - name: A\n    sli: a\n    expr: count < 1\n    severity: info\n    for: 15s\n",
        [(3, "defaults.resolution", "expected a duration")],
    ),
    (
        "template placeholders are checked against what the engine provides",
        "version: 1\nslis:\n  a: {service: s, kind: ratio, subject: x, good: ok, labels: [route]}\n"
        "alerts:\n  - name: A\n    sli: a\n    expr: count < 1\n    severity: info\n"
        "    summary: '{value:.1%} {threshold:.0f} {expr} {service} {sli} {slo} {window} {for} {route} {severity}'\n"
        "    description: '{labels[route]} {labels[alertname]} {team}'\n"
        "    labels: {team: t}\n"
        "  - name: B\n    sli: a\n    expr: count < 1\n    severity: info\n"
        "    summary: '{bogus}'\n    description: '{labels[slo]}'\n",
        [
            (16, "alerts[1].summary", "unknown placeholder {bogus}: available are {value}, {threshold}, {expr}"),
            (17, "alerts[1].description", "no label 'slo' in {labels[...]}: the alert's labels are alertname, "
                                          "service, sli, severity, route"),
        ],
    ),
    (
        "a malformed format string",
        "version: 1\nslis:\n  a: {service: s, kind: ratio, subject: x, good: ok}\n"
        "alerts:\n  - name: A\n    sli: a\n    expr: count < 1\n    severity: info\n    summary: 'x {'\n",
        [(9, "alerts[0].summary", "invalid template")],
    ),
    (
        "labels that the processor sets or that are series labels",
        "version: 1\nslis:\n  a: {service: s, kind: ratio, subject: x, good: ok, labels: [route]}\n"
        "alerts:\n  - name: A\n    sli: a\n    expr: count < 1\n    severity: info\n"
        "    labels: {severity: page}\n"
        "  - name: B\n    sli: a\n    expr: count < 1\n    severity: info\n    labels: {route: x}\n",
        [
            (9, "alerts[0].labels.severity", "set by the processor"),
            (14, "alerts[1].labels.route", "already a series label of SLI 'a'"),
        ],
    ),
    (
        "an unknown top-level key, while x- keys are free",
        "version: 1\nx-anchors: {}\nservice: gateway\n",
        [(3, "service", "unknown key 'service': service is set on each SLI")],
    ),
]


@pytest.mark.parametrize(("text", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_loader_reports(text: str, expected: list[tuple[int | None, str, str]]) -> None:
    problems = _problems(text)

    assert [(line, field) for line, field, _ in expected] == [(p.line, p.field) for p in problems]
    for (_, _, fragment), problem in zip(expected, problems, strict=True):
        assert fragment in problem.message, problem.message


def test_problems_print_as_file_line_field_message() -> None:
    problems = _problems("version: 1\ndefaults:\n  resolution: 0s\n")

    assert ["t.yaml:3: defaults.resolution: must be greater than 0"] == [str(p) for p in problems]


def test_load_spec_reads_a_file_and_names_it_in_problems(tmp_path: Path) -> None:
    path = tmp_path / "slo.yaml"
    path.write_text("version: 1\nslis:\n  a: {service: s, kind: latency, subject: x}\n", encoding="utf-8")

    with pytest.raises(ConfigError) as info:
        load_config(path)

    assert [f"{path}:3: slis.a.value: a latency SLI needs value: the payload field with the latency"] == [
        str(p) for p in info.value.problems
    ]


def test_a_missing_file_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "missing.yaml"

    with pytest.raises(ConfigError) as info:
        load_config(path)

    assert [ConfigProblem(str(path), None, "", "config file not found")] == info.value.problems


def test_the_example_in_docs_config_md_is_valid() -> None:
    docs = (Path(__file__).resolve().parents[2] / "docs" / "config.md").read_text(encoding="utf-8")
    example = docs.split("```yaml\n", 1)[1].split("```", 1)[0]

    spec = load_config_text(example, "docs/config.md")

    assert (2, 2, 2) == (len(spec.slis), len(spec.slos), len(spec.alerts))


def _docs_blocks() -> list[str]:
    docs = (Path(__file__).resolve().parents[2] / "docs" / "config.md").read_text(encoding="utf-8")
    return [block.split("```", 1)[0] for block in docs.split("```yaml\n")[1:]]


def test_the_budget_example_in_docs_config_md_is_valid() -> None:
    [example] = [b for b in _docs_blocks() if b.startswith("burn_rate_catalogues:")]
    slis = (
        "version: 1\nslis:\n"
        "  gateway_requests: {service: api-gateway, kind: ratio, subject: analytics.gateway.request, good: ok}\n"
        "  trading_heartbeat: {service: trading-engine, kind: events, subject: trade.heartbeat}\n"
    )
    config_dir = Path(__file__).resolve().parents[2] / "config"

    spec = load_config_text(slis + example, "docs/config.md", base_dir=config_dir)

    assert [("occurrences", 3), ("time_slices", 0)] == [
        (s.budget.method, len(s.budget.burn_tiers)) for s in spec.slos  # type: ignore[union-attr]
    ]


def test_the_catalogue_example_in_docs_config_md_is_valid(tmp_path: Path) -> None:
    [example] = [b for b in _docs_blocks() if b.startswith("version: 1\ncatalogues:")]
    (tmp_path / "burn-rates.yaml").write_text(example, encoding="utf-8")
    config = (
        "version: 1\nburn_rate_catalogues: burn-rates.yaml\n"
        "slis:\n  r: {service: s, kind: ratio, subject: x, good: ok}\n"
        "slos:\n  o: {sli: r, objective: 99.9%, budget: {burn_alerts: platform}}\n"
    )

    spec = load_config_text(config, str(tmp_path / "slo.yaml"))

    assert [("emergency", 10.0, 100, 10)] == [
        (t.tier, t.burn, t.min_events_long, t.min_events_short) for t in spec.slos[0].budget.burn_tiers  # type: ignore[union-attr]
    ]


def test_a_resolution_that_does_not_divide_a_minute_is_rejected_with_its_line() -> None:
    from processor.errors import ConfigError
    from processor.config.load import load_config_text

    text = "version: 1\ndefaults:\n  resolution: 40s\n"
    with pytest.raises(ConfigError) as caught:
        load_config_text(text, "cfg.yaml")
    [problem] = caught.value.problems
    assert (3, "defaults.resolution") == (problem.line, problem.field)
    assert "does not divide a minute" in problem.message


def test_policy_min_events_reaches_the_budget() -> None:
    from processor.config.load import load_config_text

    text = """version: 1
slis:
  req: {service: s, kind: ratio, subject: a.b, good: 'ok'}
slos:
  avail: {sli: req, objective: 99%, budget: {policy_min_events: 7}}
"""
    assert 7 == load_config_text(text, "cfg.yaml").slos[0].budget.policy_min_events


def test_max_future_skew_is_a_duration_of_the_defaults_one_minute_unless_set() -> None:
    assert 60_000 == load_config_text("version: 1\n", "t.yaml").defaults.max_future_skew_ms
    assert 150_000 == load_config_text("version: 1\ndefaults:\n  max_future_skew: 2m30s\n", "t.yaml").defaults.max_future_skew_ms
    assert 0 == load_config_text("version: 1\ndefaults:\n  max_future_skew: 0\n", "t.yaml").defaults.max_future_skew_ms
    for written, fragment in [("-1m", "a duration cannot be negative"), ("90", "missing unit in '90'")]:
        (problem,) = _problems(f"version: 1\ndefaults:\n  max_future_skew: {written}\n")
        assert ("defaults.max_future_skew", True) == (problem.field, fragment in problem.message), problem.message
