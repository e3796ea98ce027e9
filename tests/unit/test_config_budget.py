"""Error budgets, burn-rate catalogues and their validation (processor.config.load)."""

from __future__ import annotations

from pathlib import Path

import pytest

from processor.errors import ConfigError, ConfigProblem
from processor.config.load import load_config, load_config_text
from processor.config.model import BudgetConfig, BurnTier, Condition, Config, Stat

DAY_MS = 86_400_000

# Lines counted by hand; each tier is one line, so the line of a tier is easy to see.
CATALOGUES = """\
version: 1
catalogues:
  fast:
    description: two tiers
    tiers:
      page: {burn: 14.4, long: 1h, short: 5m, severity: page, min_events: {long: 50, short: 5}}
      ticket: {burn: 3, long: 1d, short: 2h, severity: ticket}
  slow:
    tiers:
      info: {burn: 1, long: 3d, short: 6h, severity: info, min_events: 7}
"""
PAGE = BurnTier(tier="page", burn=14.4, long_ms=3_600_000, short_ms=300_000, severity="page",
                min_events_long=50, min_events_short=5)
TICKET = BurnTier(tier="ticket", burn=3.0, long_ms=DAY_MS, short_ms=7_200_000, severity="ticket")
INFO = BurnTier(tier="info", burn=1.0, long_ms=3 * DAY_MS, short_ms=21_600_000, severity="info",
                min_events_long=7, min_events_short=7)

HEAD = """\
version: 1
burn_rate_catalogues: burn-rates.yaml
slis:
  req: {service: s, kind: ratio, subject: x, good: ok}
  lat: {service: s, kind: latency, subject: y, value: v}
  beat: {service: s, kind: events, subject: z}
slos:
"""  # the first SLO is on line 8


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    (tmp_path / "burn-rates.yaml").write_text(CATALOGUES, encoding="utf-8")
    return tmp_path


def _load(config_dir: Path, slos: str, head: str = HEAD) -> Config:
    return load_config_text(head + slos, str(config_dir / "slo.yaml"))


def _problems(config_dir: Path, slos: str, head: str = HEAD) -> list[ConfigProblem]:
    with pytest.raises(ConfigError) as info:
        _load(config_dir, slos, head)
    return info.value.problems


def test_every_budget_key_reaches_the_model(config_dir: Path) -> None:
    spec = _load(config_dir, """\
  a:
    sli: lat
    objective: good_ratio >= 99%
    budget:
      method: time_slices
      calendar: week
      timezone: Europe/London
      slice: 30s
      slice_condition: p95 < 200ms
      no_data: bad
      burn_alerts: fast
      disable_tiers: [ticket]
      min_events: {short: 2}
      policy: false
      hysteresis: 5%
      report_every: 30s
      exhaustion_window: 2h
""")

    [slo] = spec.slos
    expected = BudgetConfig(
        method="time_slices",
        window_ms=7 * DAY_MS,
        calendar="week",
        timezone="Europe/London",
        slice_ms=30_000,
        slice_condition=Condition(stat=Stat(kind="quantile", q=0.95), op="<", threshold=200.0, text="p95 < 200ms"),
        no_data="bad",
        burn_tiers=(PAGE.model_copy(update={"min_events_short": 2}),),
        catalogue="fast",
        policy=False,
        hysteresis=0.05,
        report_every_ms=30_000,
        exhaustion_window_ms=7_200_000,
    )
    assert expected == slo.budget
    assert (0.99, 7 * DAY_MS) == (slo.objective_ratio, slo.window_ms)


def test_a_budget_without_keys_takes_the_model_defaults(config_dir: Path) -> None:
    spec = _load(config_dir, "  a: {sli: req, objective: 99.9%, budget: {}}\n  b: {sli: req, objective: 99%}\n")

    a, b = spec.slos
    assert (BudgetConfig(), None) == (a.budget, b.budget)


OBJECTIVE_RATIOS = [
    ("a bare target is good_ratio >=", "req", "99.9%", "", 0.999),
    ("a bare fraction", "req", "0.999", "", 0.999),
    ("good_ratio >= is its threshold", "req", "good_ratio >= 99.9%", "", 0.999),
    ("good_ratio > is its threshold too", "req", "good_ratio > 99%", "", 0.99),
    ("bad_ratio < 0.1% is 0.999, exactly", "req", "bad_ratio < 0.1%", "", 0.999),
    ("bad_ratio <= 0.05% is 0.9995", "req", "bad_ratio <= 0.05%", "", 0.9995),
    ("p95 < T is 0.95: 95 % of events faster than T", "lat", "p95 < 200ms", "", 0.95),
    ("p99.9 <= T is 0.999", "lat", "p99.9 <= 1s", "", 0.999),
    ("p50 is 0.5", "lat", "p50 < 50ms", "", 0.5),
    ("time slices: the share of good slices", "beat", "99.95%",
     ", budget: {method: time_slices, slice_condition: count >= 1}", 0.9995),
    ("time slices on a latency SLI", "lat", "good_ratio >= 99%",
     ", budget: {method: time_slices, slice_condition: p99 < 1s}", 0.99),
]


@pytest.mark.parametrize(
    ("sli", "objective", "extra", "expected"), [c[1:] for c in OBJECTIVE_RATIOS], ids=[c[0] for c in OBJECTIVE_RATIOS]
)
def test_objective_ratio(config_dir: Path, sli: str, objective: str, extra: str, expected: float) -> None:
    spec = _load(config_dir, f"  a: {{sli: {sli}, objective: '{objective}'{extra}}}\n")

    assert expected == spec.slos[0].objective_ratio


# ---------------------------------------------------------------------------- catalogues

TIER_CASES = [
    ("the whole catalogue, in file order", "burn_alerts: fast", (PAGE, TICKET)),
    ("a disabled tier is left out", "burn_alerts: fast, disable_tiers: [page]", (TICKET,)),
    ("every tier disabled leaves none", "burn_alerts: fast, disable_tiers: [page, ticket]", ()),
    ("one number overrides both gates of every tier", "burn_alerts: fast, min_events: 20",
     (PAGE.model_copy(update={"min_events_long": 20, "min_events_short": 20}),
      TICKET.model_copy(update={"min_events_long": 20, "min_events_short": 20}))),
    ("long and short override their own windows", "burn_alerts: fast, min_events: {long: 1000, short: 100}",
     (PAGE.model_copy(update={"min_events_long": 1000, "min_events_short": 100}),
      TICKET.model_copy(update={"min_events_long": 1000, "min_events_short": 100}))),
    ("a side left out keeps the catalogue's gate", "burn_alerts: fast, min_events: {long: 0}",
     (PAGE.model_copy(update={"min_events_long": 0}), TICKET)),
    ("a catalogue's single number gates both windows", "burn_alerts: slow", (INFO,)),
    ("none: no burn-rate alerts", "burn_alerts: none", ()),
    ("no burn_alerts: none either", "policy: true", ()),
]


@pytest.mark.parametrize(("budget", "expected"), [c[1:] for c in TIER_CASES], ids=[c[0] for c in TIER_CASES])
def test_the_chosen_catalogue_becomes_the_burn_tiers(config_dir: Path, budget: str, expected: tuple) -> None:
    spec = _load(config_dir, f"  a: {{sli: req, objective: 99.9%, budget: {{{budget}}}}}\n")

    assert expected == spec.slos[0].budget.burn_tiers  # type: ignore[union-attr]


HYSTERESES = [
    ("no hysteresis", "0%", 0.0),
    ("a percentage", "2%", 0.02),
    ("a fraction", "0.05", 0.05),
    ("just under 50%", "49.9%", 0.499),
]


@pytest.mark.parametrize(("text", "expected"), [c[1:] for c in HYSTERESES], ids=[c[0] for c in HYSTERESES])
def test_hysteresis(config_dir: Path, text: str, expected: float) -> None:
    spec = _load(config_dir, f"  a: {{sli: req, objective: 99%, budget: {{hysteresis: '{text}'}}}}\n")

    assert expected == spec.slos[0].budget.hysteresis  # type: ignore[union-attr]


def test_the_catalogue_name_is_kept_and_none_is_none(config_dir: Path) -> None:
    spec = _load(config_dir, "  a: {sli: req, objective: 99%, budget: {burn_alerts: slow}}\n"
                             "  b: {sli: req, objective: 99%, budget: {burn_alerts: none}}\n")

    assert ["slow", None] == [s.budget.catalogue for s in spec.slos]  # type: ignore[union-attr]


def test_the_catalogue_path_is_relative_to_the_config_file(tmp_path: Path) -> None:
    (tmp_path / "shared").mkdir()
    (tmp_path / "shared" / "tiers.yaml").write_text(CATALOGUES, encoding="utf-8")
    (tmp_path / "conf").mkdir()
    config = tmp_path / "conf" / "slo.yaml"
    config.write_text(
        HEAD.replace("burn-rates.yaml", "../shared/tiers.yaml") + "  a: {sli: req, objective: 99%, budget: "
        "{burn_alerts: slow}}\n",
        encoding="utf-8",
    )

    spec = load_config(config)

    assert (INFO,) == spec.slos[0].budget.burn_tiers  # type: ignore[union-attr]


# ---------------------------------------------------------------------------- defaults.budget

DEFAULTS_HEAD = HEAD.replace("slis:\n", """\
defaults:
  slo_window: 7d
  budget:
    window: 28d
    burn_alerts: fast
    disable_tiers: [ticket]
    hysteresis: 1%
slis:
""")

INHERITANCE = [
    ("an SLO without budget: inherits defaults.budget whole", "  a: {sli: req, objective: 99%}\n",
     {"window_ms": 28 * DAY_MS, "burn_tiers": (PAGE,), "catalogue": "fast", "hysteresis": 0.01}),
    ("its own keys override the default's, one by one", "  a: {sli: req, objective: 99%, budget: {hysteresis: 3%}}\n",
     {"window_ms": 28 * DAY_MS, "burn_tiers": (PAGE,), "catalogue": "fast", "hysteresis": 0.03}),
    ("a list is replaced, not extended", "  a: {sli: req, objective: 99%, budget: {disable_tiers: []}}\n",
     {"window_ms": 28 * DAY_MS, "burn_tiers": (PAGE, TICKET), "catalogue": "fast", "hysteresis": 0.01}),
    ("the SLO's window: is the budget window", "  a: {sli: req, objective: 99%, window: 14d}\n",
     {"window_ms": 14 * DAY_MS, "burn_tiers": (PAGE,), "catalogue": "fast", "hysteresis": 0.01}),
    ("a calendar replaces the default's rolling window", "  a: {sli: req, objective: 99%, budget: {calendar: month}}\n",
     {"window_ms": 30 * DAY_MS, "calendar": "month", "burn_tiers": (PAGE,), "catalogue": "fast", "hysteresis": 0.01}),
    ("another catalogue takes the default's disabled tiers with it", "  a: {sli: req, objective: 99%, budget: "
     "{burn_alerts: fast, disable_tiers: [page]}}\n",
     {"window_ms": 28 * DAY_MS, "burn_tiers": (TICKET,), "catalogue": "fast", "hysteresis": 0.01}),
]


@pytest.mark.parametrize(("slos", "fields"), [c[1:] for c in INHERITANCE], ids=[c[0] for c in INHERITANCE])
def test_defaults_budget_is_merged_under_each_slo(config_dir: Path, slos: str, fields: dict) -> None:
    spec = _load(config_dir, slos, DEFAULTS_HEAD)

    [slo] = spec.slos
    assert BudgetConfig(**fields) == slo.budget
    assert fields["window_ms"] == slo.window_ms


def test_budget_false_opts_out_of_defaults_budget(config_dir: Path) -> None:
    spec = _load(config_dir, "  a: {sli: req, objective: 99%, budget: false}\n", DEFAULTS_HEAD)

    assert (None, 7 * DAY_MS) == (spec.slos[0].budget, spec.slos[0].window_ms)


CALENDARS = [
    ("a calendar month is nominally 30 days", "month", 30 * DAY_MS),
    ("a calendar week is 7 days", "week", 7 * DAY_MS),
    ("a calendar day is 1 day", "day", DAY_MS),
]


@pytest.mark.parametrize(("calendar", "window_ms"), [c[1:] for c in CALENDARS], ids=[c[0] for c in CALENDARS])
def test_a_calendar_window_has_a_nominal_length(config_dir: Path, calendar: str, window_ms: int) -> None:
    spec = _load(config_dir, f"  a: {{sli: req, objective: 99%, budget: {{calendar: {calendar}}}}}\n")

    [slo] = spec.slos
    assert (window_ms, window_ms, calendar, "UTC") == (
        slo.window_ms, slo.budget.window_ms, slo.budget.calendar, slo.budget.timezone  # type: ignore[union-attr]
    )


# ---------------------------------------------------------------------------- problems

def _slo(body: str) -> str:
    """An SLO named ``a`` on line 8; ``body`` is indented by 4 and starts on line 9."""
    return "  a:\n" + "".join(f"    {line}\n" for line in body.splitlines())


PROBLEMS: list[tuple[str, str, list[tuple[int, str, str]]]] = [
    (
        "an unknown method",
        _slo("sli: req\nobjective: 99%\nbudget:\n  method: ratio"),
        [(12, "slos.a.budget.method", "expected 'occurrences' or 'time_slices', got 'ratio'")],
    ),
    (
        "window and calendar together",
        _slo("sli: req\nobjective: 99%\nbudget:\n  window: 30d\n  calendar: month"),
        [(13, "slos.a.budget.calendar", "window and calendar are mutually exclusive")],
    ),
    (
        "a budget window off the resolution grid",
        _slo("sli: req\nobjective: 99%\nbudget:\n  window: 30d5s"),
        [(12, "slos.a.budget.window", "30d5s is not a multiple of the resolution (10s): the engine evaluates rules "
                                      "only at resolution boundaries; use 30d or 30d10s")],
    ),
    (
        "a zero budget window",
        _slo("sli: req\nobjective: 99%\nbudget:\n  window: 0s"),
        [(12, "slos.a.budget.window", "must be greater than 0")],
    ),
    (
        "the window both on the SLO and in its budget",
        _slo("sli: req\nobjective: 99%\nwindow: 7d\nbudget:\n  window: 30d"),
        [(11, "slos.a.window", "the budget window is set twice, here and in budget.window: keep budget.window")],
    ),
    (
        "an SLO window with a calendar budget",
        _slo("sli: req\nobjective: 99%\nwindow: 7d\nbudget:\n  calendar: week"),
        [(11, "slos.a.window", "set twice, here and in budget.calendar")],
    ),
    (
        "an unknown time zone, with a suggestion",
        _slo("sli: req\nobjective: 99%\nbudget:\n  calendar: month\n  timezone: Europe/Lndon"),
        [(13, "slos.a.budget.timezone", "unknown time zone 'Europe/Lndon': did you mean 'Europe/London'?")],
    ),
    (
        "time zone names are case sensitive",
        _slo("sli: req\nobjective: 99%\nbudget:\n  calendar: month\n  timezone: utc"),
        [(13, "slos.a.budget.timezone", "unknown time zone 'utc': did you mean 'UTC'?")],
    ),
    (
        "localtime is this machine's zone, not a name",
        _slo("sli: req\nobjective: 99%\nbudget:\n  calendar: month\n  timezone: localtime"),
        [(13, "slos.a.budget.timezone", "unknown time zone 'localtime'")],
    ),
    (
        "a time zone without a calendar",
        _slo("sli: req\nobjective: 99%\nbudget:\n  window: 30d\n  timezone: UTC"),
        [(13, "slos.a.budget.timezone", "timezone applies to calendar budget windows only")],
    ),
    (
        "an unknown calendar",
        _slo("sli: req\nobjective: 99%\nbudget:\n  calendar: quarter"),
        [(12, "slos.a.budget.calendar", "expected 'month', 'week' or 'day', got 'quarter'")],
    ),
    (
        "time slices without a slice condition",
        _slo("sli: req\nobjective: 99%\nbudget:\n  method: time_slices"),
        [(11, "slos.a.budget", "budget.method: time_slices needs slice_condition")],
    ),
    (
        "a slice off the resolution grid",
        _slo("sli: req\nobjective: 99%\nbudget:\n  method: time_slices\n  slice: 45s\n"
             "  slice_condition: good_ratio >= 99%"),
        [(13, "slos.a.budget.slice", "45s is not a multiple of the resolution (10s)")],
    ),
    (
        "a window that is not a whole number of slices",
        _slo("sli: req\nobjective: 99%\nbudget:\n  method: time_slices\n  window: 1h30s\n  slice: 1m\n"
             "  slice_condition: good_ratio >= 99%\n  exhaustion_window: 30m"),
        [(13, "slos.a.budget.window", "the budget window (1h30s) is not a whole number of 1m slices")],
    ),
    (
        "a calendar slice that does not divide a day",
        _slo("sli: req\nobjective: 99%\nbudget:\n  method: time_slices\n  calendar: day\n  slice: 7m\n"
             "  slice_condition: good_ratio >= 99%\n  exhaustion_window: 7m"),
        [(14, "slos.a.budget.slice", "a calendar day starts at midnight, so a slice must divide a day; 7m does not")],
    ),
    (
        "a slice that straddles midnight in a half-hour time zone",
        _slo("sli: req\nobjective: 99%\nbudget:\n  method: time_slices\n  calendar: month\n"
             "  timezone: Asia/Kolkata\n  slice: 1h\n  slice_condition: good_ratio >= 99%"),
        [(15, "slos.a.budget.slice", "midnight in Asia/Kolkata is at UTC+5h30m, inside a 1h slice (slices are "
                                     "aligned to UTC): use a slice that divides 30m")],
    ),
    (
        "a slice condition that does not fit the SLI kind",
        _slo("sli: req\nobjective: 99%\nbudget:\n  method: time_slices\n  slice_condition: p95 < 200ms"),
        [(13, "slos.a.budget.slice_condition", "p95 needs a latency or duration correlation SLI, but 'req' is a ratio SLI")],
    ),
    (
        "an events SLI only has count slice conditions",
        _slo("sli: beat\nobjective: 99%\nbudget:\n  method: time_slices\n  slice_condition: good_ratio >= 99%"),
        [(13, "slos.a.budget.slice_condition", "good_ratio needs a ratio, state or outcome correlation SLI, but "
                                               "'beat' is an events SLI: an events SLI only counts events: use "
                                               "count or since_last")],
    ),
    (
        "a slice condition written like an alert",
        _slo("sli: lat\nobjective: 99%\nbudget:\n  method: time_slices\n  slice_condition: p95 > 200ms"),
        [(13, "slos.a.budget.slice_condition", "a slice condition says what good looks like: write p95 < ..., not >")],
    ),
    (
        "no_data under a count condition",
        _slo("sli: beat\nobjective: 99%\nbudget:\n  method: time_slices\n  slice_condition: count >= 1\n"
             "  no_data: good"),
        [(14, "slos.a.budget.no_data", "no_data does not apply to a count condition: a slice without events has "
                                       "count 0, which the condition judges itself (count >= 1)")],
    ),
    (
        "slice keys under occurrences",
        _slo("sli: req\nobjective: 99%\nbudget:\n  slice: 1m\n  slice_condition: good_ratio >= 99%\n"
             "  no_data: bad"),
        [
            (12, "slos.a.budget.slice", "slice applies to budget.method: time_slices only"),
            (13, "slos.a.budget.slice_condition", "slice_condition applies to budget.method: time_slices only"),
            (14, "slos.a.budget.no_data", "no_data applies to budget.method: time_slices only"),
        ],
    ),
    (
        "a time-slice objective written as a quantile",
        _slo("sli: lat\nobjective: p95 < 200ms\nbudget:\n  method: time_slices\n  slice_condition: p95 < 200ms"),
        [(10, "slos.a.objective", "with budget.method: time_slices the objective is the share of good slices, "
                                  "such as 99.95%; what makes a slice good (p95 < 200ms) goes in "
                                  "budget.slice_condition")],
    ),
    (
        "an events SLI counted by occurrences",
        _slo("sli: beat\nobjective: 99.95%\nbudget:\n  method: occurrences"),
        [(10, "slos.a.objective", "'beat' is an events SLI, which only counts events: its objective is a share of "
                                  "good time slices")],
    ),
    (
        "an events SLI without a budget",
        _slo("sli: beat\nobjective: 99.95%"),
        [(10, "slos.a.objective", "'beat' is an events SLI")],
    ),
    (
        "a 100% objective has no budget",
        _slo("sli: req\nobjective: 100%\nbudget: {}"),
        [(10, "slos.a.objective", "an objective of 100% leaves no error budget")],
    ),
    (
        "a budget that is not a mapping",
        _slo("sli: req\nobjective: 99%\nbudget: 30d"),
        [(11, "slos.a.budget", "expected a mapping of budget keys (method:, window:, burn_alerts:, ...), or false")],
    ),
    (
        "an unknown budget key",
        _slo("sli: req\nobjective: 99%\nbudget:\n  time_window: 30d"),
        [(12, "slos.a.budget.time_window", "unknown key 'time_window': the budget window is budget.window")],
    ),
    (
        "an unknown catalogue, with a suggestion",
        _slo("sli: req\nobjective: 99%\nbudget:\n  burn_alerts: fats"),
        [(12, "slos.a.budget.burn_alerts", "unknown burn-rate catalogue 'fats': did you mean 'fast'?")],
    ),
    (
        "an unknown catalogue lists the file's",
        _slo("sli: req\nobjective: 99%\nbudget:\n  burn_alerts: sre"),
        [(12, "slos.a.budget.burn_alerts", f"unknown burn-rate catalogue 'sre': {{dir}}{'/'}burn-rates.yaml has: "
                                           "fast, slow (or none)")],
    ),
    (
        "a disabled tier that the catalogue does not have",
        _slo("sli: req\nobjective: 99%\nbudget:\n  burn_alerts: fast\n  disable_tiers:\n    - ticket\n"
             "    - pgae"),
        [(15, "slos.a.budget.disable_tiers[1]", "catalogue 'fast' has no tier 'pgae': did you mean 'page'?")],
    ),
    (
        "disable_tiers and min_events without burn alerts",
        _slo("sli: req\nobjective: 99%\nbudget:\n  burn_alerts: none\n  disable_tiers: [page]\n  min_events: 5"),
        [
            (13, "slos.a.budget.disable_tiers", "disable_tiers adjusts burn-rate alerts, but this budget has none"),
            (14, "slos.a.budget.min_events", "min_events adjusts burn-rate alerts, but this budget has none"),
        ],
    ),
    (
        "min_events that is not a count",
        _slo("sli: req\nobjective: 99%\nbudget:\n  burn_alerts: fast\n  min_events: {long: -1}"),
        [(13, "slos.a.budget.min_events", "min_events.long is a whole number of at least 0, got -1")],
    ),
    (
        "min_events with an unknown window",
        _slo("sli: req\nobjective: 99%\nbudget:\n  burn_alerts: fast\n  min_events: {medium: 3}"),
        [(13, "slos.a.budget.min_events", "unknown key 'medium' in min_events: use long: and short:")],
    ),
    (
        "a hysteresis that would keep the policy from ever returning to normal",
        _slo("sli: req\nobjective: 99%\nbudget:\n  hysteresis: 50%"),
        [(12, "slos.a.budget.hysteresis", "must be less than 50%")],
    ),
    (
        "policy is a bool",
        _slo("sli: req\nobjective: 99%\nbudget:\n  policy: 'yes'"),
        [(12, "slos.a.budget.policy", "input should be a valid boolean")],
    ),
    (
        "report_every and exhaustion_window off the grid, and too long an exhaustion window",
        _slo("sli: req\nobjective: 99%\nbudget:\n  window: 1d\n  report_every: 15s\n  exhaustion_window: 2d"),
        [
            (13, "slos.a.budget.report_every", "15s is not a multiple of the resolution (10s)"),
            (14, "slos.a.budget.exhaustion_window", "the exhaustion window, 2d, is longer than the budget window (1d)"),
        ],
    ),
    (
        "tiers that could never fire for a p50 objective",
        _slo("sli: lat\nobjective: p50 < 50ms\nbudget:\n  burn_alerts: fast"),
        [(12, "slos.a.budget.burn_alerts", "tiers 'page' and 'ticket' of 'fast' can never fire: the error budget is "
                                           "50% of the events (objective p50 < 50ms), so no burn rate exceeds 2x "
                                           "(every one bad); disable them: disable_tiers: [page, ticket]")],
    ),
    (
        "a tier that looks back further than a calendar day",
        _slo("sli: req\nobjective: 99.9%\nbudget:\n  calendar: day\n  burn_alerts: slow"),
        [(13, "slos.a.budget.burn_alerts", "tier 'info' of 'slow' looks back further than the budget window (1d, "
                                           "the nominal length of a calendar day): disable it")],
    ),
    (
        "tier windows that are not whole numbers of slices",
        _slo("sli: req\nobjective: 99.9%\nbudget:\n  method: time_slices\n  window: 28d\n  slice: 7m\n"
             "  slice_condition: good_ratio >= 99%\n  burn_alerts: fast\n  exhaustion_window: 7m"),
        [(16, "slos.a.budget.burn_alerts", "the windows of tiers 'page' and 'ticket' of 'fast' are not whole numbers "
                                           "of 7m slices")],
    ),
    (
        "a gate larger than the slices a window holds",
        _slo("sli: beat\nobjective: 99.9%\nbudget:\n  method: time_slices\n  slice_condition: count >= 1\n"
             "  burn_alerts: fast\n  min_events: {short: 6}"),
        [(15, "slos.a.budget.min_events", "tier 'page' of 'fast' can never fire: a time-slice window holds at most "
                                          "one count per 1m slice (5 in the 5m short window of 'page'), fewer than "
                                          "min_events {long: 50, short: 6}; lower min_events")],
    ),
]


@pytest.mark.parametrize(("slos", "expected"), [c[1:] for c in PROBLEMS], ids=[c[0] for c in PROBLEMS])
def test_budget_problems(config_dir: Path, slos: str, expected: list[tuple[int, str, str]]) -> None:
    problems = _problems(config_dir, slos)

    assert [(line, field) for line, field, _ in expected] == [(p.line, p.field) for p in problems]
    for (_, _, fragment), problem in zip(expected, problems, strict=True):
        fragment = fragment.replace("{dir}", str(config_dir))
        assert (fragment, True) == (fragment, fragment in problem.message), problem.message


def test_a_problem_in_defaults_budget_is_reported_once_at_its_line(config_dir: Path) -> None:
    head = HEAD.replace("slis:\n", "defaults:\n  budget:\n    window: 30d5s\n    burn_alerts: fats\nslis:\n")

    problems = _problems(config_dir, "  a: {sli: req, objective: 99%}\n  b: {sli: req, objective: 99%}\n", head)

    assert [
        (5, "defaults.budget.window", "30d5s is not a multiple of the resolution (10s): the engine evaluates rules "
                                      "only at resolution boundaries; use 30d or 30d10s"),
        (6, "defaults.budget.burn_alerts", "unknown burn-rate catalogue 'fats': did you mean 'fast'?"),
    ] == [(p.line, p.field, p.message) for p in problems]


def test_an_inherited_key_that_does_not_fit_one_slo_is_reported_at_that_slo(config_dir: Path) -> None:
    head = HEAD.replace("slis:\n", "defaults:\n  budget:\n    method: time_slices\n"
                                   "    slice_condition: good_ratio >= 99%\nslis:\n")

    problems = _problems(config_dir, "  a: {sli: req, objective: 99%}\n  b: {sli: lat, objective: 99%}\n", head)

    assert [
        (13, "slos.b.budget", "good_ratio needs a ratio, state or outcome correlation SLI, but 'lat' is a latency SLI: "
                       "use a quantile such as p95 "
                       "(budget.slice_condition comes from defaults.budget, line 6)"),
    ] == [(p.line, p.field, p.message) for p in problems]


def test_keys_that_do_not_apply_are_ignored_when_inherited(config_dir: Path) -> None:
    head = HEAD.replace("slis:\n", "defaults:\n  budget:\n    slice: 5m\n    no_data: bad\n"
                                   "    timezone: Europe/London\n    disable_tiers: [page]\nslis:\n")

    spec = _load(config_dir, "  a: {sli: req, objective: 99%}\n", head)

    budget = spec.slos[0].budget
    assert budget is not None
    assert ("occurrences", None, ()) == (budget.method, budget.calendar, budget.burn_tiers)


# Lines counted by hand; the comment at the end of a line is its number.
BROKEN_CATALOGUES = """\
catalogues:
  fast:
    tiers:
      page:
        burn: 0
        long: 1h
        short: 1h
        severity: sev1
      ticket: {burn: 3, long: 1d5s, short: 0s, severity: ticket, min_events: {long: many}}
  none:
    tiers: {}
  slow:
    tier: {}
x-free: {}
extra: 1
"""

BROKEN_CATALOGUES_EXPECTED = [
    (1, "version", "required key is missing: start the file with version: 1"),
    (5, "catalogues.fast.tiers.page.burn", "a burn rate must be greater than 0, got 0"),
    (7, "catalogues.fast.tiers.page.short", "the short window (1h) must be shorter than the long window (1h)"),
    (8, "catalogues.fast.tiers.page.severity",
     "expected 'info', 'warning', 'critical', 'emergency', 'page' or 'ticket', got 'sev1'"),
    (9, "catalogues.fast.tiers.ticket.min_events", "min_events.long is a whole number of at least 0, got 'many'"),
    (9, "catalogues.fast.tiers.ticket.long", "1d5s is not a multiple of the resolution (10s)"),
    (9, "catalogues.fast.tiers.ticket.short", "must be greater than 0"),
    (10, "catalogues.none", "'none' is not a valid catalogue name"),
    (11, "catalogues.none.tiers", "a catalogue needs at least one tier"),
    (12, "catalogues.slow.tiers", "required key is missing"),
    (13, "catalogues.slow.tier", "unknown key 'tier': did you mean 'tiers'?"),
    (15, "extra", "unknown key 'extra'"),
]


def test_problems_in_the_catalogue_file_carry_its_name_and_lines(config_dir: Path) -> None:
    catalogue_file = config_dir / "burn-rates.yaml"
    catalogue_file.write_text(BROKEN_CATALOGUES, encoding="utf-8")

    # SLOs may name a declared catalogue even when it is broken: its problems are reported once, there.
    problems = _problems(config_dir, "  a: {sli: req, objective: 99%, budget: {burn_alerts: fast}}\n"
                                     "  b: {sli: req, objective: 99%, budget: {burn_alerts: nope}}\n")

    assert (9, "slos.b.budget.burn_alerts", str(config_dir / "slo.yaml")) == (
        problems[0].line, problems[0].field, problems[0].file
    )
    assert "unknown burn-rate catalogue 'nope'" in problems[0].message
    catalogue_problems = problems[1:]
    assert {str(catalogue_file)} == {p.file for p in catalogue_problems}
    assert [(line, field) for line, field, _ in BROKEN_CATALOGUES_EXPECTED] == [
        (p.line, p.field) for p in catalogue_problems
    ]
    messages = {p.field: p.message for p in catalogue_problems}
    for _, field, fragment in BROKEN_CATALOGUES_EXPECTED:
        assert (field, True) == (field, fragment in messages[field]), messages[field]


CATALOGUE_FILE_CASES = [
    (
        "a catalogue file that does not exist is reported at the key that names it",
        None,
        "burn_rate_catalogues: missing.yaml\n",
        [("slo.yaml", 2, "burn_rate_catalogues", "burn-rate catalogue file {dir}/missing.yaml not found (the path is "
                                                 "relative to this file)")],
    ),
    (
        "a YAML syntax error in the catalogue file is reported in that file",
        "version: 1\ncatalogues:\n  fast: {tiers: [\n",
        "burn_rate_catalogues: burn-rates.yaml\n",
        [("burn-rates.yaml", 4, "", "YAML syntax error")],
    ),
    (
        "an empty catalogue file",
        "# nothing\n",
        "burn_rate_catalogues: burn-rates.yaml\n",
        [("burn-rates.yaml", None, "", "the file is empty")],
    ),
    (
        "a tier window off the resolution, the file's first problem, is the file's, and the catalogue is not used",
        "version: 1\ncatalogues:\n  fast:\n    tiers:\n      page: {burn: 200, long: 1h, short: 5m5s, severity: page}\n",
        "burn_rate_catalogues: burn-rates.yaml\n",
        [("burn-rates.yaml", 5, "catalogues.fast.tiers.page.short", "5m5s is not a multiple of the resolution (10s)")],
    ),
    (
        "the key takes a path, not the catalogues themselves",
        None,
        "burn_rate_catalogues: {fast: {}}\n",
        [("slo.yaml", 2, "burn_rate_catalogues", "expected the path of a catalogue file")],
    ),
    (
        "without catalogues, a catalogue name says where they come from",
        None,
        "",
        [("slo.yaml", 8, "slos.a.budget.burn_alerts", "unknown burn-rate catalogue 'fast': no catalogues are "
                                                      "loaded; name their file at the top level, e.g. "
                                                      "burn_rate_catalogues: burn-rates.yaml")],
    ),
]


@pytest.mark.parametrize(
    ("catalogue_text", "key", "expected"),
    [c[1:] for c in CATALOGUE_FILE_CASES],
    ids=[c[0] for c in CATALOGUE_FILE_CASES],
)
def test_catalogue_file_problems(
    config_dir: Path, catalogue_text: str | None, key: str, expected: list[tuple[str, int | None, str, str]]
) -> None:
    if catalogue_text is not None:
        (config_dir / "burn-rates.yaml").write_text(catalogue_text, encoding="utf-8")
    head = HEAD.replace("burn_rate_catalogues: burn-rates.yaml\n", key)
    if not key:
        head = head.replace("version: 1\n", "version: 1\n\n")  # keep the SLO on line 8

    # Unreadable catalogues hide nothing else, and add no "unknown catalogue" for names they might hold.
    problems = _problems(config_dir, "  a: {sli: req, objective: 99%, budget: {burn_alerts: fast}}\n", head)

    assert [(str(config_dir / f), line, field) for f, line, field, _ in expected] == [
        (p.file, p.line, p.field) for p in problems
    ]
    for (*_, fragment), problem in zip(expected, problems, strict=True):
        fragment = fragment.replace("{dir}", str(config_dir))
        assert (fragment, True) == (fragment, fragment in problem.message), problem.message


# An SLO of 48 sagas a day on the platform tiers: `expected` is on line 10.
_REBALANCE_48_A_DAY = """
version: 1
burn_rate_catalogues: burn-rates.yaml
slis:
  sagas: {service: o, kind: ratio, subject: s, good: ok == true}
slos:
  rebalance:
    sli: sagas
    objective: 99%
    expected: 48/1d
    budget: {burn_alerts: platform}
"""


def test_an_slo_whose_tiers_cannot_fire_at_its_expected_volume_is_refused_with_the_arithmetic():
    from processor.errors import ConfigError

    text = _REBALANCE_48_A_DAY
    # The platform tiers gate at 100 events in the long window and 10 in the short: at 48 a day the
    # emergency tier's 1 h window holds 2 events, its 5 m window 0.167.
    with pytest.raises(ConfigError) as err:
        load_config_text(text, "slo.yaml", base_dir=_CONFIG_DIR)
    text_of = str(err.value)
    assert "slos.rebalance.expected: at 48/1d the emergency burn-rate tier cannot fire: its long window (1h) holds about 2 events, under its min_events of 100" in text_of
    fitted = text.replace("budget: {burn_alerts: platform}", "budget: {burn_alerts: platform, min_events: {long: 1, short: 0}}")
    assert load_config_text(fitted, "slo.yaml", base_dir=_CONFIG_DIR).slos[0].name == "rebalance"


def test_the_volume_check_names_file_line_field_every_tier_and_what_to_write_instead(tmp_path):
    (tmp_path / "burn-rates.yaml").write_text((_CONFIG_DIR / "burn-rates.yaml").read_text())
    (tmp_path / "slo.yaml").write_text(
        _REBALANCE_48_A_DAY.replace("budget: {burn_alerts: platform}", "budget: {burn_alerts: platform, disable_tiers: []}")
    )
    with pytest.raises(ConfigError) as err:
        load_config(tmp_path / "slo.yaml")
    text_of = str(err.value)
    # 48 a day: the 1x tier's 3 d window holds 144 and its 6 h window 12, over the gates 100 and 10;
    # every other tier is refused, window by window.
    assert "the normal burn-rate tier" not in text_of
    for tier, which in [("warning", "long"), ("warning", "short"), ("critical", "long"), ("critical", "short"),
                        ("emergency", "long"), ("emergency", "short")]:
        assert f"the {tier} burn-rate tier cannot fire: its {which} window" in text_of
    where = f"{tmp_path / 'slo.yaml'}:10: slos.rebalance.expected: "
    assert (where + "at 48/1d the emergency burn-rate tier cannot fire: its long window (1h) holds about 2 events, "
            "under its min_events of 100; write budget.min_events: {long: 1} (a third of what the window holds) "
            "or lower, or disable the tier") in text_of
    # a window that cannot hold one event: no gate fits, only a rule
    assert (where + "at 48/1d the emergency burn-rate tier cannot fire: its short window (5m) holds about 0.167 "
            "events, under its min_events of 10; disable the tier (budget.disable_tiers: [emergency], or "
            "burn_alerts: none) and alert on each bad event with a rule (expr: bad_count > 0") in text_of


def test_a_time_slice_budget_whose_minutes_are_mostly_empty_cannot_gate_above_them():
    from processor.errors import ConfigError

    text = """
version: 1
burn_rate_catalogues: burn-rates.yaml
slis:
  drift: {service: o, kind: gauge, subject: d, value: v}
slos:
  drift_minutes:
    sli: drift
    objective: 99%
    expected: 2/1h
    budget: {burn_alerts: platform, method: time_slices, slice: 1m, slice_condition: max < 5, min_events: 3}
"""
    # At 2 an hour, 1 - exp(-2/60) of the minutes hold a value: the 5 m window about 0.16 such slices
    # (no_data: ignore leaves the others out), under a gate of 3.
    with pytest.raises(ConfigError) as err:
        load_config_text(text, "slo.yaml", base_dir=_CONFIG_DIR)
    assert "slos.drift_minutes.expected: at 2/1h the emergency burn-rate tier cannot fire: its short window (5m) holds about 0.164 slices with events, under its min_events of 3" in str(err.value)
    # Empty minutes judged bad (no_data: bad) count: 5 slices in the 5 m window, 60 in the hour.
    judged = text.replace("min_events: 3}", "min_events: 3, no_data: bad}")
    assert load_config_text(judged, "slo.yaml", base_dir=_CONFIG_DIR).slos[0].expected_per_min == pytest.approx(2 / 60)


_CONFIG_DIR = Path(__file__).resolve().parents[2] / "config"
