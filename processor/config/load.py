"""Load a YAML config file into the frozen :class:`~processor.config.model.Config`.

Three passes, each reporting every problem it finds rather than stopping at the first:

1. YAML -> plain data, recording the line of every key and list item, and catching duplicate
   keys (processor.config.tree).
2. Each section and each entry is validated on its own by a pydantic model with ``extra="forbid"``,
   so one broken alert does not hide the problems of the next. Pydantic's ``loc`` tuples are mapped
   back to line numbers through the table of pass 1 (processor.config.problems).
3. Cross references: SLOs and alerts name existing SLIs; a stat fits its SLI's kind (and a gauge
   threshold its unit); durations are multiples of the resolution; alert templates name only
   placeholders the engine provides; error budgets (``budget:`` merged over ``defaults.budget``)
   name a burn-rate catalogue of the file that ``burn_rate_catalogues:`` points at, which is read
   and checked the same way, with its own name and lines in problems; SLIs on ``bus.`` subjects
   need the ``bus_monitor:`` section, whose consumers name its streams.

The file format is documented in ``docs/config.md``.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from processor.errors import ConfigError, ConfigProblem
from processor.config.fields import (
    ALERT_LABELS,
    TEMPLATE_PLACEHOLDERS,
    AlertName,
    BurnRate,
    ConditionText,
    DurationMs,
    FieldPath,
    FractionText,
    LabelName,
    MinEvents,
    PositiveInt,
    PredicateText,
    PublishSubject,
    RawModel,
    StateValue,
    StreamName,
    StrictBool,
    Subject,
    Text,
    TimeZone,
    TokenName,
    check_label_name,
    check_stream_name,
    is_token_name,
)
from processor.config.kind_rules import (
    calendar_kind_problem,
    sli_key_problems,
    slice_only_problem,
    stat_kind_problem,
)
from processor.config.model import (
    BUS_MONITOR_SUBJECTS,
    AlertConfig,
    BudgetConfig,
    BurnTier,
    BusMonitorConfig,
    Condition,
    CorrelationConfig,
    Defaults,
    Severity,
    SliConfig,
    SloConfig,
    Config,
)
from processor.config.objectives import objective_direction_problem, objective_ratio, parse_objective
from processor.config.parse import (
    GAUGE_STATS,
    LATENCY_UNITS_MS,
    format_duration,
    subject_pattern_matches,
)
from processor.config.predicate import is_field_path
from processor.config.problems import Problems, choices_hint, closest, unknown_key_message
from processor.config.tree import EXTENSION_PREFIX, Loc, compose
from processor.config.windows import CALENDAR_NOMINAL_MS, calendar_slice_problem, multiple_problem

__all__ = ["CALENDAR_NOMINAL_MS", "TEMPLATE_PLACEHOLDERS", "load_config", "load_config_text", "objective_ratio"]

_DEFAULTS = Defaults()
_DEFAULT_SLO_WINDOW_MS: int = SloConfig.model_fields["window_ms"].default
_BUDGET_DEFAULTS = BudgetConfig()
# The policy recovery margin must stay below 50 %: leaving "prioritize reliability" for "normal"
# needs more than 50 % + hysteresis of the budget left, and no budget has more than 100 %.
_MAX_HYSTERESIS = Decimal("0.5")

_TOP_LEVEL_KEYS = ["version", "burn_rate_catalogues", "defaults", "slis", "slos", "alerts", "bus_monitor"]
_SECTION_SHAPES = {
    "bus_monitor": "expected a mapping such as {interval: 5s, consumers: [{stream: MARKET, durable: slo_market}]}",
    "defaults": "expected a mapping such as {resolution: 10s, rule_window: 1m}",
    "slis": "expected a mapping from SLI name to its definition (slis: {gateway_latency: {kind: latency, ...}})",
    "slos": "expected a mapping from SLO name to its definition (slos: {gateway_p95: {sli: ..., objective: ...}})",
    "alerts": "expected a list of alert rules (alerts: [{name: ..., sli: ..., expr: ...}])",
}


# --------------------------------------------------------------------------------------------
# Pass 2: one pydantic model per entry


class RawDefaults(RawModel):
    event_time_field: FieldPath = _DEFAULTS.event_time_field
    allowed_lateness: DurationMs = _DEFAULTS.allowed_lateness_ms
    resolution: DurationMs = _DEFAULTS.resolution_ms
    rule_window: DurationMs = _DEFAULTS.rule_window_ms
    slo_window: DurationMs = _DEFAULT_SLO_WINDOW_MS
    budget: Any = None  # a RawBudget, validated on its own so that its problems have their lines


SliKind = Literal["latency", "ratio", "events", "gauge", "state", "correlation"]
TimeUnit = Literal["ms", "s", "us", "ns"]


class RawSli(RawModel):
    service: TokenName
    kind: SliKind
    subject: Subject
    value: FieldPath | None = None
    minus: FieldPath | None = None
    unit: TimeUnit | None = None
    where: PredicateText | None = None
    good: PredicateText | None = None
    good_count: FieldPath | None = None  # ratio from counts in the payload: good events ...
    bad_count: FieldPath | None = None  # ... and bad events, e.g. delivered / dropped
    labels: Any = None  # a list of field paths or a mapping {label name: field path}, checked in _sli
    max_series: PositiveInt | None = None
    description: str = ""
    event_time_field: FieldPath | None = None
    entity: FieldPath | None = None
    entities: list[StateValue] | None = None
    state: FieldPath | None = None
    bad_states: list[StateValue] | None = None
    bad_when: Literal["any", "all"] | None = None
    correlate: Any = None  # a RawCorrelate, validated on its own so that its problems have their lines


class RawCorrelate(RawModel):
    id: FieldPath
    start: PredicateText
    end: PredicateText
    fail: PredicateText | None = None
    output: Literal["outcome", "duration"] = "outcome"
    timeout: DurationMs | None = None
    timeout_by: Any = None  # a RawTimeoutBy
    max_open: PositiveInt = CorrelationConfig.model_fields["max_open"].default


class RawTimeoutBy(RawModel):
    field: FieldPath
    timeouts: dict[str, DurationMs]


class RawConsumer(RawModel):
    stream: StreamName
    durable: StreamName


_BUS_DEFAULTS = BusMonitorConfig()


class RawBusMonitor(RawModel):
    interval: DurationMs = _BUS_DEFAULTS.interval_ms
    probe_subject: PublishSubject = _BUS_DEFAULTS.probe_subject
    delivery_timeout: DurationMs = _BUS_DEFAULTS.delivery_timeout_ms
    streams: list[Any] = []  # stream names, checked one by one (see consumers)
    consumers: list[Any] = []  # RawConsumer each, validated one by one so that one broken entry hides no other


class RawSlo(RawModel):
    sli: str
    objective: str | float
    description: str = ""
    window: DurationMs | None = None
    budget: Any = None  # a RawBudget, or false to opt out of defaults.budget


class RawBudget(RawModel):
    """``budget:`` of an SLO or of ``defaults``. Every key is optional: None means "not given here",
    so that an SLO's budget can be merged over ``defaults.budget`` key by key."""

    method: Literal["occurrences", "time_slices"] | None = None
    window: DurationMs | None = None
    calendar: Literal["month", "week", "day"] | None = None
    timezone: TimeZone | None = None
    slice: DurationMs | None = None
    slice_condition: ConditionText | None = None
    no_data: Literal["good", "bad", "ignore"] | None = None
    burn_alerts: TokenName | None = None  # a catalogue name, or "none"
    disable_tiers: list[TokenName] | None = None
    min_events: MinEvents | None = None
    policy: StrictBool | None = None
    hysteresis: FractionText | None = None
    policy_min_events: PositiveInt | None = None
    report_every: DurationMs | None = None
    exhaustion_window: DurationMs | None = None


class RawTier(RawModel):
    burn: BurnRate
    long: DurationMs
    short: DurationMs
    severity: Severity
    min_events: MinEvents | None = None
    description: str = ""


class RawCatalogue(RawModel):
    tiers: dict[str, Any]
    description: str = ""


class RawAlert(RawModel):
    name: AlertName
    sli: str | None = None
    slo: str | None = None
    expr: ConditionText
    for_: DurationMs = Field(0, alias="for")
    for_events: PositiveInt | None = None
    window: DurationMs | None = None
    calendar: Literal["day", "month"] | None = None
    timezone: TimeZone | None = None
    keep_firing_for: DurationMs = 0
    severity: Severity
    summary: str = ""
    description: str = ""
    labels: dict[LabelName, str] = {}
    action: Text | None = None


# --------------------------------------------------------------------------------------------
# Pass 3: build the frozen model, checking cross references


# Stats a calendar rule can accumulate from the start of the day or month: sums of counts and gauges.
_CALENDAR_STATS = ("count", "bad_count", "good_ratio", "bad_ratio", *GAUGE_STATS)


def _template_problem(template: str, label_names: list[str]) -> str | None:
    """What is wrong with a summary/description template, tried on sample values of the types the
    engine provides; None if nothing is."""
    keys = [*TEMPLATE_PLACEHOLDERS, *(k for k in label_names if k not in TEMPLATE_PLACEHOLDERS)]
    sample: dict[str, Any] = {k: "x" for k in keys}
    sample.update(value=1.0, threshold=1.0, labels={k: "x" for k in label_names})
    try:
        for _, field_name, _, _ in string.Formatter().parse(template):
            if field_name is None:
                continue
            root = re.match(r"[^.\[]*", field_name).group()  # type: ignore[union-attr]
            if not root:
                return "'{}' needs a name, such as {value} or {threshold}"
            if root not in sample:
                return f"unknown placeholder {{{root}}}: available are " + ", ".join(f"{{{k}}}" for k in keys)
        template.format_map(sample)
    except KeyError as exc:  # only {labels[...]} can get here: roots were checked above
        return f"no label {exc.args[0]!r} in {{labels[...]}}: the alert's labels are " + ", ".join(label_names)
    except ValueError as exc:
        return f"invalid template ({exc}); write a literal brace as {{{{ or }}}}"
    except (IndexError, AttributeError, TypeError) as exc:
        return f"invalid template ({exc})"
    return None


# The payload pseudo-field holding the message subject, which the engine provides to predicates.
SUBJECT_FIELD = "_subject"
_SUBJECT_FIELD_MESSAGE = (
    "_subject (the message subject) can be read by predicates (where:, good:, correlate:) only, not as a field"
)
@dataclass(frozen=True)
class _Val:
    """One key of a budget: its value (None if it was given but invalid, already reported), where it
    was written, and whether the SLO inherited it from ``defaults.budget``."""

    value: Any
    loc: Loc
    inherited: bool


def _tier_list(names: list[str]) -> str:
    quoted = [repr(n) for n in names]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " and " + quoted[-1]


class _Builder:
    def __init__(self, source: str, problems: Problems, base_dir: Path):
        self.source = source
        self.p = problems
        self.base_dir = base_dir
        self.catalogue_file: str | None = None
        self.catalogues: dict[str, tuple[BurnTier, ...]] = {}  # the valid ones
        self.catalogue_names: list[str] = []  # declared, valid or not
        self.catalogues_unreadable = False  # the file could not be read: no name can be checked
        self.defaults_budget: dict[str, _Val] | None = None
        self.defaults = _DEFAULTS
        self.slo_window_ms = _DEFAULT_SLO_WINDOW_MS
        self.resolution_ms: int | None = _DEFAULTS.resolution_ms  # None: invalid, skip multiples
        self.slis: dict[str, SliConfig] = {}
        self.slos: dict[str, SloConfig] = {}
        self.sli_names: list[str] = []  # declared, valid or not
        self.slo_names: list[str] = []
        self.gauge_units: dict[str, str | None] = {}  # gauge SLI -> its time unit, None for plain numbers
        self.has_bus_monitor = False

    def build(self, data: Any) -> Config | None:
        if data is None:
            self.p.add((), "the file is empty: it needs at least version: 1")
            return None
        if not isinstance(data, dict):
            self.p.add((), f"expected a mapping with version:, defaults:, slis:, slos: and alerts:, got {data!r}")
            return None
        for key in data:
            if key not in _TOP_LEVEL_KEYS and not key.startswith(EXTENSION_PREFIX):
                self.p.add((key,), unknown_key_message(key, _TOP_LEVEL_KEYS))
        self._version(data)
        defaults = self._section(data, "defaults", dict)
        self._defaults(defaults)
        self._load_catalogues(data)
        if isinstance(defaults, dict) and "budget" in defaults:
            self._defaults_budget(defaults["budget"])
        bus_monitor = self._bus_monitor(data) if data.get("bus_monitor") is not None else None
        slis = self._section(data, "slis", dict)
        slos = self._section(data, "slos", dict)
        alert_list = self._section(data, "alerts", list)
        self.sli_names = list(slis)
        self.slo_names = list(slos)
        for name, raw in slis.items():
            self._sli(name, raw)
        for name, raw in slos.items():
            self._slo(name, raw)
        alerts = [self._alert(i, raw) for i, raw in enumerate(alert_list)]
        self._check_alert_identities(alerts)
        if bus_monitor is not None:
            self._check_probe_subject(bus_monitor.probe_subject)
        if len(self.p):
            return None
        return Config(
            version=1,
            source=self.source,
            defaults=self.defaults,
            slis=tuple(self.slis.values()),
            slos=tuple(self.slos.values()),
            alerts=tuple(a for a in alerts if a is not None),
            bus_monitor=bus_monitor,
        )

    def _section(self, data: dict[str, Any], key: str, shape: type) -> Any:
        value = data.get(key)
        if value is None:  # absent, or present and empty (`alerts:` with nothing under it)
            return shape()
        if not isinstance(value, shape):
            self.p.add((key,), _SECTION_SHAPES[key])
            return shape()
        return value

    def _bus_monitor(self, data: dict[str, Any]) -> BusMonitorConfig | None:
        loc: Loc = ("bus_monitor",)
        value = data["bus_monitor"]
        self.has_bus_monitor = True  # even when broken: its SLIs are not also "without a monitor"
        if not isinstance(value, dict):
            self.p.add(loc, _SECTION_SHAPES["bus_monitor"])
            return None
        n = len(self.p)
        entry, raw = self.p.validate(RawBusMonitor, value, loc)
        for key in ("interval", "delivery_timeout"):
            if getattr(raw, key) is not None and getattr(raw, key) <= 0:
                self.p.add(loc + (key,), "must be greater than 0")
        streams: list[str] = []
        for i, name in enumerate(raw.streams or ()):
            if not isinstance(name, str):
                self.p.add(loc + ("streams", i), f"expected a stream name such as MARKET, got {name!r}")
                continue
            try:
                streams.append(check_stream_name(name))
            except ValueError as exc:
                self.p.add(loc + ("streams", i), str(exc))
        self._check_unique(streams, loc + ("streams",), "stream")
        seen: set[tuple[str, str]] = set()
        consumers: list[tuple[str, str]] = []
        for i, item in enumerate(raw.consumers or ()):
            consumer_loc = loc + ("consumers", i)
            consumer, c = self.p.validate(RawConsumer, item, consumer_loc)
            if c.stream is not None and streams and c.stream not in streams:
                hint = choices_hint(c.stream, streams, "the monitored streams are")
                self.p.add(consumer_loc + ("stream",), f"stream {c.stream!r} is not in bus_monitor.streams: {hint}")
            if consumer is None:
                continue
            pair = (consumer.stream, consumer.durable)
            if pair in seen:
                self.p.add(consumer_loc, f"duplicate consumer {consumer.durable!r} of stream {consumer.stream!r}")
            seen.add(pair)
            consumers.append(pair)
        if entry is None or len(self.p) > n:
            return None
        return BusMonitorConfig(
            interval_ms=entry.interval,
            probe_subject=entry.probe_subject,
            delivery_timeout_ms=entry.delivery_timeout,
            streams=tuple(streams),
            consumers=tuple(consumers),
        )

    def _check_probe_subject(self, spec_probe: str | None) -> None:
        """An SLI whose subject matches the probe's would count every probe as one of its events."""
        if spec_probe is None:
            return
        for sli in self.slis.values():
            if subject_pattern_matches(sli.subject, spec_probe):
                self.p.add(
                    ("bus_monitor", "probe_subject"),
                    f"SLI {sli.name!r} (subject {sli.subject}) would count the probes published to {spec_probe}: "
                    "choose a probe subject no SLI reads",
                )

    def _version(self, data: dict[str, Any]) -> None:
        if "version" not in data:
            self.p.add(("version",), "required key is missing: start the file with version: 1")
        elif data["version"] is True or data["version"] != 1:
            self.p.add(("version",), f"unsupported version {data['version']!r}: this processor reads version: 1")

    def _defaults(self, data: Any) -> None:
        loc: Loc = ("defaults",)
        n = len(self.p)
        _, raw = self.p.validate(RawDefaults, data, loc)
        resolution_ms = raw.resolution
        if resolution_ms is not None and resolution_ms <= 0:
            self.p.add(loc + ("resolution",), "must be greater than 0")
            resolution_ms = None
        elif resolution_ms is not None and 60_000 % resolution_ms != 0:
            # Budget windows past 6 h are kept in one-minute buckets that sub-windows must tile.
            self.p.add(
                loc + ("resolution",),
                f"{format_duration(resolution_ms)} does not divide a minute; use e.g. 10s, 15s, 20s, 30s or 1m",
            )
            resolution_ms = None
        # None leaves the multiple-of-resolution checks out rather than reporting them against a
        # resolution the author did not mean.
        self.resolution_ms = resolution_ms
        for key in ("rule_window", "slo_window"):
            if getattr(raw, key) is not None:
                self._check_window(getattr(raw, key), loc + (key,))
        if len(self.p) == n:
            self.defaults = Defaults(
                event_time_field=raw.event_time_field,
                allowed_lateness_ms=raw.allowed_lateness,
                resolution_ms=raw.resolution,
                rule_window_ms=raw.rule_window,
            )
            self.slo_window_ms = raw.slo_window

    # ------------------------------------------------------------------- burn-rate catalogues

    def _load_catalogues(self, data: dict[str, Any]) -> None:
        """Read the file that ``burn_rate_catalogues:`` names; its problems carry its own name."""
        value = data.get("burn_rate_catalogues")
        if value is None:
            return
        loc: Loc = ("burn_rate_catalogues",)
        self.catalogues_unreadable = True  # until it has been read
        if not isinstance(value, str) or not value.strip():
            self.p.add(loc, "expected the path of a catalogue file, relative to this one, e.g. burn-rates.yaml")
            return
        path = self.base_dir / value.strip()
        shown = str(path)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            self.p.add(loc, f"burn-rate catalogue file {shown} not found (the path is relative to this file)")
            return
        except UnicodeDecodeError as exc:
            self.p.add(loc, f"burn-rate catalogue file {shown} is not UTF-8 text ({exc.reason})")
            return
        except OSError as exc:
            self.p.add(loc, f"cannot read burn-rate catalogue file {shown}: {exc.strerror}")
            return
        try:
            tree = compose(text, shown)
        except ConfigError as exc:
            self.p.items.extend(exc.problems)
            return
        self.catalogues_unreadable = False
        self.catalogue_file = shown
        problems = Problems(shown, tree.lines if tree else {})
        if tree is not None:
            problems.items.extend(tree.problems)
        self._catalogue_file(tree.data if tree else None, problems)
        self.p.items.extend(problems.items)

    def _catalogue_file(self, data: Any, problems: Problems) -> None:
        shape = "expected version: 1 and catalogues: {<name>: {tiers: {<tier>: {burn:, long:, short:, severity:}}}}"
        if data is None or not isinstance(data, dict):
            problems.add((), f"the file is empty: {shape}" if data is None else f"{shape}, got {data!r}")
            self.catalogues_unreadable = True  # no names to check SLOs against
            return
        for key in data:
            if key not in ("version", "catalogues") and not key.startswith(EXTENSION_PREFIX):
                problems.add((key,), unknown_key_message(key, ["version", "catalogues"]))
        if "version" not in data:
            problems.add(("version",), "required key is missing: start the file with version: 1")
        elif data["version"] is True or data["version"] != 1:
            problems.add(("version",), f"unsupported version {data['version']!r}: this processor reads version: 1")
        catalogues = data.get("catalogues")
        if not isinstance(catalogues, dict) or not catalogues:
            problems.add(("catalogues",), "expected a mapping from catalogue name to its tiers, with at least one")
            self.catalogues_unreadable = True
            return
        for name, raw in catalogues.items():
            self._catalogue(name, raw, problems)

    def _catalogue(self, name: str, data: Any, problems: Problems) -> None:
        loc: Loc = ("catalogues", name)
        n = len(problems)
        self.catalogue_names.append(name)
        if not is_token_name(name) or name == "none":
            problems.add(loc, f"{name!r} is not a valid catalogue name: use letters, digits, '_' and '-' (not 'none')")
        entry, raw = problems.validate(RawCatalogue, data, loc)
        if entry is not None and not entry.tiers:
            problems.add(loc + ("tiers",), "a catalogue needs at least one tier")
        tiers = []
        for tier_name, tier_data in (raw.tiers or {}).items():
            tier_loc = loc + ("tiers", tier_name)
            if not is_token_name(tier_name):
                problems.add(tier_loc, f"{tier_name!r} is not a valid tier name: use letters, digits, '_' and '-' "
                             "(it becomes the alert's tier label)")
            tier, t = problems.validate(RawTier, tier_data, tier_loc)
            ok = [
                self._check_window(t.long, tier_loc + ("long",), problems) if t.long is not None else False,
                self._check_window(t.short, tier_loc + ("short",), problems) if t.short is not None else False,
            ]
            if all(ok) and t.long <= t.short:
                problems.add(
                    tier_loc + ("short",),
                    f"the short window ({format_duration(t.short)}) must be shorter than the long window "
                    f"({format_duration(t.long)}): it confirms that the burn is still going on",
                )
            if tier is not None:
                min_long, min_short = tier.min_events or (None, None)
                tiers.append(
                    BurnTier(
                        tier=tier_name,
                        burn=tier.burn,
                        long_ms=tier.long,
                        short_ms=tier.short,
                        severity=tier.severity,
                        min_events_long=min_long or 0,
                        min_events_short=min_short or 0,
                    )
                )
        if len(problems) == n:
            self.catalogues[name] = tuple(tiers)

    # ------------------------------------------------------------------- windows

    def _check_window(self, duration_ms: int, loc: Loc, problems: Problems | None = None) -> bool:
        """Report a window that is not > 0 or not on the resolution grid; True if it is fine."""
        problems = problems or self.p
        if duration_ms <= 0:
            problems.add(loc, "must be greater than 0")
            return False
        return self._check_multiple(duration_ms, loc, problems)

    def _check_multiple(self, duration_ms: int | None, loc: Loc, problems: Problems | None = None) -> bool:
        if self.resolution_ms is not None and duration_ms is not None:
            problem = multiple_problem(duration_ms, self.resolution_ms)
            if problem:
                (problems or self.p).add(loc, problem)
                return False
        return True

    # ------------------------------------------------------------------- SLIs

    def _sli(self, name: str, data: Any) -> None:
        loc: Loc = ("slis", name)
        n = len(self.p)
        if not is_token_name(name):
            self.p.add(loc, f"{name!r} is not a valid SLI name: use letters, digits, '_' and '-'")
        entry, raw = self.p.validate(RawSli, data, loc)
        given = data if isinstance(data, dict) else {}
        kind = raw.kind
        for key_loc, message in sli_key_problems(raw, given, loc):
            self.p.add(key_loc, message)
        if raw.subject is not None:
            self._check_bus_subject(raw.subject, loc + ("subject",))
        for key in ("value", "minus", "entity", "state"):
            if getattr(raw, key) == SUBJECT_FIELD:
                self.p.add(loc + (key,), _SUBJECT_FIELD_MESSAGE)
        labels, label_names = self._labels(given.get("labels"), loc + ("labels",))
        if "max_series" in given and not labels and "labels" not in given:
            self.p.add(
                loc + ("max_series",),
                "max_series caps the number of label sets, and this SLI has no labels: add labels: or remove it",
            )
        correlation = None
        if kind == "correlation" and "correlate" in given:
            correlation = self._correlation(given["correlate"], loc + ("correlate",))
        if entry is None or len(self.p) > n or labels is None:
            return
        if kind == "gauge":
            self.gauge_units[name] = entry.unit
        self.slis[name] = SliConfig(
            name=name,
            service=entry.service,
            kind=entry.kind,
            subject=entry.subject,
            where=entry.where,
            labels=labels,
            label_names=label_names,
            max_series=entry.max_series or SliConfig.model_fields["max_series"].default,
            description=entry.description,
            value_field=entry.value,
            value_minus_field=entry.minus,
            unit_to_ms=float(LATENCY_UNITS_MS[entry.unit or "ms"]),
            good=entry.good,
            good_count_field=entry.good_count,
            bad_count_field=entry.bad_count,
            entity_field=entry.entity,
            state_field=entry.state,
            bad_states=tuple(entry.bad_states or ()),
            bad_when=entry.bad_when or "any",
            entities=tuple(entry.entities or ()),
            correlation=correlation,
            event_time_field=entry.event_time_field or self.defaults.event_time_field,
        )

    def _check_unique(self, values: list[str] | None, loc: Loc, what: str) -> None:
        seen: set[str] = set()
        for i, value in enumerate(values or ()):
            if value in seen:
                self.p.add(loc + (i,), f"duplicate {what} {value!r}")
            seen.add(value)

    def _labels(self, value: Any, loc: Loc) -> tuple[tuple[str, ...] | None, tuple[str, ...]]:
        """``labels:`` as (field paths, label names or () when they are the paths); None if invalid.

        A list names payload fields that become labels of the same name; a mapping renames them,
        ``{target_service: service}``, for a field whose name the processor uses itself."""
        if value is None:
            return (), ()
        n = len(self.p)
        pairs: list[tuple[Loc, str, str]] = []  # (where, label name, field path)
        if isinstance(value, list):
            for i, field in enumerate(value):
                if not isinstance(field, str) or not is_field_path(field):
                    self.p.add(
                        loc + (i,),
                        f"{field!r} is not a field path: use names joined by dots, like route or meta.region",
                    )
                elif field == SUBJECT_FIELD:
                    self.p.add(loc + (i,), _SUBJECT_FIELD_MESSAGE)
                elif field in ALERT_LABELS or field in TEMPLATE_PLACEHOLDERS:
                    self.p.add(
                        loc + (i,),
                        f"label {field!r} clashes with a name the processor sets: name the label yourself, "
                        f"e.g. labels: {{target_{field}: {field}}}",
                    )
                else:
                    pairs.append((loc + (i,), field, field))
            renamed = False
        elif isinstance(value, dict):
            for label, field in value.items():
                try:
                    check_label_name(label)
                except ValueError as exc:
                    self.p.add(loc + (label,), str(exc))
                    continue
                if not isinstance(field, str) or not is_field_path(field):
                    self.p.add(loc + (label,), f"{field!r} is not a field path: use names joined by dots, like service")
                elif field == SUBJECT_FIELD:
                    self.p.add(loc + (label,), _SUBJECT_FIELD_MESSAGE)
                else:
                    pairs.append((loc + (label,), label, field))
            renamed = True
        else:
            self.p.add(loc, "expected a list of payload fields, [route], or a mapping {label name: field}")
            return None, ()
        seen: set[str] = set()
        for where, label, field in pairs:
            if field in seen:
                self.p.add(where, f"duplicate label field {field!r}")
            seen.add(field)
        if len(self.p) > n:
            return None, ()
        fields = tuple(field for _, _, field in pairs)
        return fields, tuple(label for _, label, _ in pairs) if renamed else ()

    def _check_bus_subject(self, subject: str, loc: Loc) -> None:
        """``bus.`` subjects carry the bus monitor's measurements: only those it publishes, and only
        when it runs."""
        if subject.split(".")[0] != "bus":
            return
        if not any(subject_pattern_matches(subject, s) for s in BUS_MONITOR_SUBJECTS):
            self.p.add(
                loc,
                f"no bus monitor measurement has subject {subject!r}: the bus monitor publishes "
                + ", ".join(BUS_MONITOR_SUBJECTS),
            )
        elif not self.has_bus_monitor:
            self.p.add(
                loc,
                f"{subject} carries the bus monitor's measurements, and this file has no bus_monitor: section "
                "to enable it",
            )

    def _correlation(self, data: Any, loc: Loc) -> CorrelationConfig | None:
        n = len(self.p)
        if not isinstance(data, dict):
            self.p.add(
                loc,
                "expected a mapping such as {id: saga_id, start: '...', end: '...', timeout: 60s}, "
                f"got {data!r}",
            )
            return None
        entry, raw = self.p.validate(RawCorrelate, data, loc)
        if raw.id == SUBJECT_FIELD:
            self.p.add(loc + ("id",), _SUBJECT_FIELD_MESSAGE)
        if raw.timeout is not None and raw.timeout <= 0:
            self.p.add(loc + ("timeout",), "must be greater than 0")
        by_field, timeouts = None, ()
        if data.get("timeout_by") is not None:
            by_loc = loc + ("timeout_by",)
            by, by_raw = self.p.validate(RawTimeoutBy, data["timeout_by"], by_loc)
            if by_raw.field == SUBJECT_FIELD:
                self.p.add(by_loc + ("field",), _SUBJECT_FIELD_MESSAGE)
            if by_raw.timeouts is not None and not by_raw.timeouts:
                self.p.add(by_loc + ("timeouts",), "expected at least one value and its timeout, e.g. {order: 60s}")
            for value, timeout_ms in (by_raw.timeouts or {}).items():
                if timeout_ms <= 0:
                    self.p.add(by_loc + ("timeouts", value), "must be greater than 0")
            if by is not None:
                by_field, timeouts = by.field, tuple(by.timeouts.items())
        output = raw.output or "outcome"
        given = {key for key, value in data.items() if value is not None}  # `timeout_by: null` undoes a merge
        if output == "outcome" and not given & {"timeout", "timeout_by"}:
            self.p.add(
                loc + ("timeout",),
                "an outcome correlation needs timeout: (or timeout_by:): a start without an end counts as "
                "failed once its timeout has passed; without one it would never count",
            )
        if output == "duration":
            for key in ("timeout", "timeout_by", "fail"):
                if key in given:
                    self.p.add(
                        loc + (key,),
                        f"{key} applies to output: outcome; a duration correlation measures start to end, and a "
                        "start that never ends is only bounded by max_open",
                    )
        if entry is None or len(self.p) > n:
            return None
        return CorrelationConfig(
            id_field=entry.id,
            start=entry.start,
            end=entry.end,
            fail=entry.fail,
            output=entry.output,
            timeout_ms=entry.timeout,
            timeout_by_field=by_field,
            timeouts_ms=timeouts,
            max_open=entry.max_open,
        )

    def _sli_ref(self, name: str, loc: Loc) -> SliConfig | None:
        """The SLI called ``name``; records a problem if there is none. None without a problem when
        the SLI exists but is itself invalid (its problems are already reported)."""
        if name in self.slis:
            return self.slis[name]
        if name not in self.sli_names:
            self.p.add(loc, f"unknown SLI {name!r}: {choices_hint(name, self.sli_names, 'defined SLIs')}")
        return None

    def _slo(self, name: str, data: Any) -> None:
        loc: Loc = ("slos", name)
        n = len(self.p)
        if not is_token_name(name):
            self.p.add(loc, f"{name!r} is not a valid SLO name: use letters, digits, '_' and '-'")
        entry, raw = self.p.validate(RawSlo, data, loc)
        given = data if isinstance(data, dict) else {}
        sli = self._sli_ref(raw.sli, loc + ("sli",)) if raw.sli is not None else None
        if raw.window is not None:
            self._check_window(raw.window, loc + ("window",))
        budget_vals = self._slo_budget_vals(given, raw.window, loc)
        given_method = budget_vals["method"].value if budget_vals and "method" in budget_vals else None
        method = given_method or _BUDGET_DEFAULTS.method
        objective: Condition | None = None
        if raw.objective is not None:
            try:
                objective = parse_objective(raw.objective)
            except ValueError as exc:
                self.p.add(loc + ("objective",), str(exc))
        ratio: float | None = None
        if objective is not None:
            problem = objective_direction_problem(objective)
            if problem is None and budget_vals is not None and method == "time_slices":
                if objective.stat.kind not in ("good_ratio", "bad_ratio"):
                    problem = (
                        "with budget.method: time_slices the objective is the share of good slices, such as "
                        f"99.95%; what makes a slice good ({objective.text}) goes in budget.slice_condition"
                    )
            elif problem is None and sli is not None:
                problem = slice_only_problem(sli) or stat_kind_problem(objective, sli)
            if problem is None:
                ratio = objective_ratio(objective)
                if ratio >= 1 and budget_vals is not None:
                    inherited = "budget" not in given
                    problem = (
                        f"an objective of 100% leaves no error budget (burn rates divide by 1 - objective): "
                        "lower it, or remove the budget"
                        + (" with budget: false (it comes from defaults.budget)" if inherited else "")
                    )
            if problem:
                self.p.add(loc + ("objective",), problem)
                ratio = None
        budget: BudgetConfig | None = None
        if budget_vals is not None:
            budget = self._budget(name, loc, budget_vals, sli, objective if ratio is not None else None, ratio)
        if entry is None or len(self.p) > n or sli is None or objective is None or ratio is None:
            return
        if budget_vals is not None and budget is None:
            return
        self.slos[name] = SloConfig(
            name=name,
            sli=sli.name,
            service=sli.service,
            objective=objective,
            objective_ratio=ratio,
            description=entry.description,
            window_ms=budget.window_ms if budget is not None else (
                self.slo_window_ms if entry.window is None else entry.window
            ),
            budget=budget,
        )

    # ---------------------------------------------------------------------------- budgets

    def _raw_budget(self, data: dict[str, Any], loc: Loc, inherited: bool) -> dict[str, _Val]:
        """The keys given in one ``budget:`` mapping (a value of None: given, but invalid)."""
        _, fields = self.p.validate(RawBudget, data, loc)
        return {
            key: _Val(getattr(fields, key), loc + (key,), inherited)
            for key in RawBudget.model_fields
            if data.get(key) is not None
        }

    def _defaults_budget(self, data: Any) -> None:
        loc: Loc = ("defaults", "budget")
        if data is None:
            data = {}
        if not isinstance(data, dict):
            self.p.add(
                loc, "expected a mapping of budget keys (method:, window:, burn_alerts:, ...) that every SLO inherits"
            )
            return
        self.defaults_budget = self._raw_budget(data, loc, inherited=True)
        # On their own too, so that their problems show even where every SLO overrides them.
        self._budget(None, loc, self.defaults_budget, None, None, None)

    def _slo_budget_vals(self, given: dict[str, Any], slo_window: int | None, loc: Loc) -> dict[str, _Val] | None:
        """The SLO's budget keys merged over ``defaults.budget``; None when the SLO has no budget."""
        if "budget" in given:
            own_data = given["budget"]
            if own_data is False:
                return None
            if own_data is None:
                own_data = {}
            if not isinstance(own_data, dict):
                self.p.add(
                    loc + ("budget",),
                    "expected a mapping of budget keys (method:, window:, burn_alerts:, ...), or false for no "
                    f"budget, got {own_data!r}",
                )
                return None
            own = self._raw_budget(own_data, loc + ("budget",), inherited=False)
        elif self.defaults_budget is not None:
            own = {}
        else:
            return None
        merged = dict(self.defaults_budget or {})
        # window and calendar are one setting: the SLO's own choice replaces the inherited one.
        sets_window = "window" in own or "calendar" in own
        if sets_window or given.get("window") is not None:
            merged.pop("window", None)
            merged.pop("calendar", None)
        merged.update(own)
        if given.get("window") is not None:
            if sets_window:
                key = "window" if "window" in own else "calendar"
                self.p.add(
                    loc + ("window",),
                    f"the budget window is set twice, here and in budget.{key}: keep budget.{key}",
                )
            else:
                merged["window"] = _Val(slo_window, loc + ("window",), False)
        return merged

    def _budget(
        self,
        name: str | None,
        loc: Loc,
        vals: dict[str, _Val],
        sli: SliConfig | None,
        objective: Condition | None,
        ratio: float | None,
    ) -> BudgetConfig | None:
        """Check and build one SLO's budget (``name`` None: check ``defaults.budget`` on its own).

        A problem about a key the SLO inherited is reported where the key is written, in
        ``defaults.budget``, if it does not depend on the SLO (once: problems are deduplicated);
        if it does (the SLI kind, the objective, the SLO's own window), at the SLO, saying so.
        """
        n = len(self.p)
        budget_loc = loc + ("budget",) if name is not None else loc

        def val(key: str) -> Any:
            v = vals.get(key)
            return None if v is None else v.value

        def broken(key: str) -> bool:
            return key in vals and vals[key].value is None

        def own(key: str) -> bool:
            return key in vals and not vals[key].inherited

        def report(key: str, message: str, slo_dependent: bool = False, sub: Loc = ()) -> None:
            v = vals.get(key)
            if v is None:
                self.p.add(budget_loc, message)
            elif v.inherited and slo_dependent and name is not None:
                line = self.p.line_of(v.loc + sub)
                self.p.add(budget_loc, f"{message} (budget.{key} comes from defaults.budget, line {line})")
            else:
                self.p.add(v.loc + sub, message)

        # -- the budget window
        method = val("method") or _BUDGET_DEFAULTS.method
        calendar = val("calendar")
        window_ms: int | None
        if "window" in vals and "calendar" in vals:
            report(
                "calendar",
                "window and calendar are mutually exclusive: a budget window is either rolling "
                "(window: 30d) or a calendar period (calendar: month)",
            )
        if calendar is not None:
            window_ms = CALENDAR_NOMINAL_MS[calendar]
        elif "window" in vals:
            window_ms = val("window")
            if window_ms is not None and not self._check_window(window_ms, vals["window"].loc):
                window_ms = None
        elif broken("calendar"):
            window_ms = None
        else:
            window_ms = self.slo_window_ms
        timezone = val("timezone") or _BUDGET_DEFAULTS.timezone
        if own("timezone") and calendar is None and not broken("calendar"):
            report("timezone", "timezone applies to calendar budget windows only: add calendar: month, week or day")

        # -- time slices
        slice_ms: int | None = _BUDGET_DEFAULTS.slice_ms if val("slice") is None else val("slice")
        if broken("slice"):
            slice_ms = None
        condition: Condition | None = val("slice_condition")
        if method == "time_slices":
            if slice_ms is not None and "slice" in vals and not self._check_window(slice_ms, vals["slice"].loc):
                slice_ms = None
            if slice_ms is not None and calendar is not None and not broken("timezone"):
                problem = calendar_slice_problem(slice_ms, calendar, timezone)
                if problem:
                    report("slice", problem, slo_dependent=True)
            elif slice_ms is not None and window_ms is not None and window_ms % slice_ms:
                report(
                    "window" if own("window") else "slice",
                    f"the budget window ({format_duration(window_ms)}) is not a whole number of "
                    f"{format_duration(slice_ms)} slices",
                    slo_dependent=True,
                )
            if name is not None and "slice_condition" not in vals:
                self.p.add(
                    budget_loc,
                    "budget.method: time_slices needs slice_condition: what makes a slice good, e.g. "
                    "p95 < 200ms, good_ratio >= 99% or count >= 1",
                )
            elif name is not None and condition is not None and sli is not None:
                problem = stat_kind_problem(condition, sli, self.gauge_units.get(sli.name))
                if problem is None:
                    problem = objective_direction_problem(condition, "a slice condition")
                if problem:
                    report("slice_condition", problem, slo_dependent=True)
            if condition is not None and condition.stat.kind in ("count", "since_last") and own("no_data"):
                what = "count 0" if condition.stat.kind == "count" else "a since_last that keeps growing"
                report(
                    "no_data",
                    f"no_data does not apply to a {condition.stat.kind} condition: a slice without events has {what}, "
                    f"which the condition judges itself ({condition.text})",
                )
        else:
            for key in ("slice", "slice_condition", "no_data"):
                if own(key):
                    report(
                        key, f"{key} applies to budget.method: time_slices only; with occurrences every event counts"
                    )

        # -- burn-rate alerts
        catalogue_name = val("burn_alerts")
        tiers: tuple[BurnTier, ...] = ()
        if catalogue_name is None or catalogue_name == "none":
            if not broken("burn_alerts"):
                for key in ("disable_tiers", "min_events"):
                    if own(key):
                        report(
                            key,
                            f"{key} adjusts burn-rate alerts, but this budget has none: set burn_alerts: <catalogue>",
                        )
            catalogue_name = None
        else:
            tiers = self._tiers(name, catalogue_name, vals, report)
        if tiers and name is not None:
            self._check_tiers(
                tiers, catalogue_name, vals, report, window_ms, calendar, method, slice_ms, objective, ratio
            )

        # -- policy and reports
        hysteresis = val("hysteresis")
        if hysteresis is not None and not Decimal(repr(hysteresis)) < _MAX_HYSTERESIS:
            report(
                "hysteresis",
                "must be less than 50%: leaving 'prioritize reliability' for 'normal' needs more than "
                "50% + hysteresis of the budget left, and no budget has more than 100%",
            )
        if val("report_every") is not None:
            self._check_window(val("report_every"), vals["report_every"].loc)
        exhaustion_ms = val("exhaustion_window")
        if exhaustion_ms is not None and not self._check_window(exhaustion_ms, vals["exhaustion_window"].loc):
            exhaustion_ms = None
        elif exhaustion_ms is None and not broken("exhaustion_window"):
            exhaustion_ms = _BUDGET_DEFAULTS.exhaustion_window_ms
        if exhaustion_ms is not None and name is not None:
            default = "" if "exhaustion_window" in vals else " (the default)"
            if window_ms is not None and exhaustion_ms > window_ms:
                report(
                    "exhaustion_window",
                    f"the exhaustion window{default}, {format_duration(exhaustion_ms)}, is longer than the "
                    f"budget window ({format_duration(window_ms)})",
                    slo_dependent=True,
                )
            if method == "time_slices" and slice_ms is not None and exhaustion_ms % slice_ms:
                report(
                    "exhaustion_window",
                    f"the exhaustion window{default}, {format_duration(exhaustion_ms)}, is not a whole number of "
                    f"{format_duration(slice_ms)} slices",
                    slo_dependent=True,
                )

        if name is None or len(self.p) > n or window_ms is None or slice_ms is None or exhaustion_ms is None:
            return None
        return BudgetConfig(
            method=method,
            window_ms=window_ms,
            calendar=calendar,
            timezone=timezone,
            slice_ms=slice_ms,
            slice_condition=condition if method == "time_slices" else None,
            no_data=val("no_data") or _BUDGET_DEFAULTS.no_data,
            burn_tiers=tiers,
            catalogue=catalogue_name,
            policy=_BUDGET_DEFAULTS.policy if val("policy") is None else val("policy"),
            hysteresis=_BUDGET_DEFAULTS.hysteresis if hysteresis is None else hysteresis,
            policy_min_events=_BUDGET_DEFAULTS.policy_min_events
            if val("policy_min_events") is None
            else val("policy_min_events"),
            report_every_ms=val("report_every") or _BUDGET_DEFAULTS.report_every_ms,
            exhaustion_window_ms=exhaustion_ms,
        )

    def _tiers(self, name: str | None, catalogue_name: str, vals: dict[str, _Val], report: Any) -> tuple[BurnTier, ...]:
        """The tiers of the chosen catalogue, minus the disabled ones, with min_events overrides."""
        catalogue = self.catalogues.get(catalogue_name)
        if catalogue is None:
            if catalogue_name not in self.catalogue_names and not self.catalogues_unreadable:
                if self.catalogue_file is None:
                    message = (
                        f"unknown burn-rate catalogue {catalogue_name!r}: no catalogues are loaded; name their "
                        "file at the top level, e.g. burn_rate_catalogues: burn-rates.yaml"
                    )
                else:
                    close = closest(catalogue_name, self.catalogue_names)
                    hint = (
                        f"did you mean {close!r}?" if close
                        else f"{self.catalogue_file} has: {', '.join(self.catalogue_names)} (or none)"
                    )
                    message = f"unknown burn-rate catalogue {catalogue_name!r}: {hint}"
                report("burn_alerts", message)
            return ()
        names = [t.tier for t in catalogue]
        disabled = (vals["disable_tiers"].value or []) if "disable_tiers" in vals else []
        # Which tiers exist depends on the catalogue: a disable_tiers inherited from defaults is the
        # SLO's problem only when the SLO chose another catalogue.
        dependent = vals["disable_tiers"].inherited and not vals["burn_alerts"].inherited if disabled else False
        for i, tier in enumerate(disabled):
            if tier not in names:
                hint = choices_hint(tier, names, "its tiers are")
                report("disable_tiers", f"catalogue {catalogue_name!r} has no tier {tier!r}: {hint}", dependent, (i,))
        overrides = vals["min_events"].value if "min_events" in vals else None
        min_long, min_short = overrides or (None, None)
        tiers = []
        for tier in catalogue:
            if tier.tier in disabled:
                continue
            update = {}
            if min_long is not None:
                update["min_events_long"] = min_long
            if min_short is not None:
                update["min_events_short"] = min_short
            tiers.append(tier.model_copy(update=update))
        return tuple(tiers)

    def _check_tiers(
        self,
        tiers: tuple[BurnTier, ...],
        catalogue_name: str,
        vals: dict[str, _Val],
        report: Any,
        window_ms: int | None,
        calendar: str | None,
        method: str,
        slice_ms: int | None,
        objective: Condition | None,
        ratio: float | None,
    ) -> None:
        """What makes a tier of the catalogue wrong for this SLO: its objective or its window."""
        disabled = list(vals["disable_tiers"].value or []) if "disable_tiers" in vals else []

        def fix(bad: list[BurnTier]) -> str:
            them = "it" if len(bad) == 1 else "them"
            return f"disable {them}: disable_tiers: [{', '.join(disabled + [t.tier for t in bad])}]"

        def tier_names(bad: list[BurnTier]) -> str:
            return f"tier{'s' if len(bad) > 1 else ''} {_tier_list([t.tier for t in bad])} of {catalogue_name!r}"

        if window_ms is not None:
            too_long = [t for t in tiers if t.long_ms > window_ms]
            if too_long:
                nominal = f", the nominal length of a calendar {calendar}" if calendar else ""
                report(
                    "burn_alerts",
                    f"{tier_names(too_long)} look{'s' if len(too_long) == 1 else ''} back further than the budget "
                    f"window ({format_duration(window_ms)}{nominal}): {fix(too_long)}",
                    slo_dependent=True,
                )
        if ratio is not None and objective is not None:
            budget = 1 - Decimal(repr(ratio))
            impossible = [t for t in tiers if Decimal(repr(t.burn)) * budget > 1]
            if impossible:
                what = "slices" if method == "time_slices" else "events"
                report(
                    "burn_alerts",
                    f"{tier_names(impossible)} can never fire: the error budget is {float(budget * 100):g}% of the "
                    f"{what} (objective {objective.text}), so no burn rate exceeds {float(1 / budget):g}x "
                    f"(every one bad); {fix(impossible)}",
                    slo_dependent=True,
                )
        if method == "time_slices" and slice_ms is not None:
            off_grid = [t for t in tiers if t.long_ms % slice_ms or t.short_ms % slice_ms]
            if off_grid:
                report(
                    "burn_alerts",
                    f"the windows of {tier_names(off_grid)} are not whole numbers of {format_duration(slice_ms)} "
                    f"slices: {fix(off_grid)}",
                    slo_dependent=True,
                )
            # A time-slice window never holds more than window / slice slices: a larger gate never opens.
            gated = [
                t for t in tiers
                if t not in off_grid
                and (t.min_events_long > t.long_ms // slice_ms or t.min_events_short > t.short_ms // slice_ms)
            ]
            if gated:
                t = gated[0]
                report(
                    "min_events" if "min_events" in vals else "burn_alerts",
                    f"{tier_names(gated)} can never fire: a time-slice window holds at most one count per "
                    f"{format_duration(slice_ms)} slice ({t.short_ms // slice_ms} in the {format_duration(t.short_ms)} "
                    f"short window of {t.tier!r}), fewer than min_events {{long: {t.min_events_long}, "
                    f"short: {t.min_events_short}}}; lower min_events",
                    slo_dependent=True,
                )

    def _alert(self, index: int, data: Any) -> AlertConfig | None:
        loc: Loc = ("alerts", index)
        n = len(self.p)
        entry, raw = self.p.validate(RawAlert, data, loc)
        given = data if isinstance(data, dict) else {}
        sli_name = raw.sli
        if raw.slo is not None:
            slo = self.slos.get(raw.slo)
            if slo is not None:
                if sli_name is None:
                    sli_name = slo.sli
                elif sli_name != slo.sli:
                    self.p.add(loc + ("sli",), f"SLO {raw.slo!r} is on SLI {slo.sli!r}, not {sli_name!r}")
            elif raw.slo not in self.slo_names:
                hint = choices_hint(raw.slo, self.slo_names, "defined SLOs")
                self.p.add(loc + ("slo",), f"unknown SLO {raw.slo!r}: {hint}")
        if "sli" not in given and "slo" not in given and isinstance(data, dict):
            self.p.add(loc + ("sli",), "an alert needs sli: (or slo:, whose SLI it then watches)")
        sli = self._sli_ref(sli_name, loc + ("sli",)) if sli_name is not None else None
        stat = raw.expr.stat.kind if raw.expr is not None else None
        if sli is not None and raw.expr is not None:
            problem = stat_kind_problem(raw.expr, sli, self.gauge_units.get(sli.name))
            if problem:
                self.p.add(loc + ("expr",), problem)
        if raw.window is not None:
            self._check_window(raw.window, loc + ("window",))
            if stat in ("since_last", "bad_for"):
                self.p.add(
                    loc + ("window",),
                    f"{stat} is measured at each boundary, not over a window: remove window:",
                )
        self._check_multiple(raw.for_, loc + ("for",))
        self._check_multiple(raw.keep_firing_for, loc + ("keep_firing_for",))
        if "for_events" in given:
            if "for" in given:
                self.p.add(
                    loc + ("for_events",),
                    "for and for_events are two ways to say how long the condition must hold: keep one",
                )
            if stat == "since_last":
                self.p.add(
                    loc + ("for_events",),
                    "for_events counts the events that arrive while the condition holds, and since_last holds "
                    "only while none arrive: use for:",
                )
        if "calendar" in given:
            if "window" in given:
                self.p.add(
                    loc + ("calendar",),
                    "window and calendar are mutually exclusive: a rule looks at a trailing window (window: 5m) "
                    "or at the calendar day or month so far (calendar: day)",
                )
            if stat is not None and stat not in _CALENDAR_STATS:
                self.p.add(
                    loc + ("calendar",),
                    f"{raw.expr.stat} cannot be accumulated over a calendar {raw.calendar or 'period'}: use "
                    + ", ".join(_CALENDAR_STATS),
                )
            elif sli is not None and (problem := calendar_kind_problem(sli)):
                self.p.add(loc + ("calendar",), problem)
        elif "timezone" in given:
            self.p.add(loc + ("timezone",), "timezone applies to calendar rules only: add calendar: day or month")
        if sli is not None:
            series_labels = sli.series_label_names()
            for label in series_labels:
                if label in (raw.labels or {}):
                    message = f"label {label!r} is already a series label of SLI {sli.name!r}"
                    self.p.add(loc + ("labels", label), message)
            label_names = ["alertname", "service", "sli", "severity", *(["slo"] if raw.slo else [])]
            label_names += [*series_labels, *(raw.labels or {})]
            for key in ("summary", "description"):
                template = getattr(raw, key)
                problem = _template_problem(template, label_names) if template is not None else None
                if problem:
                    self.p.add(loc + (key,), problem)
        if entry is None or len(self.p) > n or sli is None:
            return None
        return AlertConfig(
            name=entry.name,
            sli=sli.name,
            service=sli.service,
            slo=entry.slo,
            condition=entry.expr,
            window_ms=(
                CALENDAR_NOMINAL_MS[entry.calendar] if entry.calendar
                else self.defaults.rule_window_ms if entry.window is None
                else entry.window
            ),
            for_ms=entry.for_,
            keep_firing_for_ms=entry.keep_firing_for,
            severity=entry.severity,
            summary=entry.summary,
            description=entry.description,
            labels=tuple(sorted(entry.labels.items())),
            for_events=entry.for_events,
            calendar=entry.calendar,
            timezone=entry.timezone or "UTC",
            action=entry.action,
        )

    def _check_alert_identities(self, alerts: list[AlertConfig | None]) -> None:
        # Alertmanager tells alerts apart by their label set; two rules with the same labels would
        # overwrite each other's state downstream.
        first: dict[tuple[Any, ...], int] = {}
        for i, alert in enumerate(alerts):
            if alert is None:
                continue
            identity = (alert.name, alert.service, alert.sli, alert.slo, alert.severity, alert.labels)
            if identity in first:
                j = first[identity]
                self.p.add(
                    ("alerts", i, "name"),
                    f"duplicate alert: alerts[{j}] (line {self.p.line_of(('alerts', j))}) has the same "
                    "name, SLI, SLO, severity and labels, so their alerts could not be told apart",
                )
            else:
                first[identity] = i


# --------------------------------------------------------------------------------------------
# Entry points


def load_config_text(text: str, source: str = "<memory>", base_dir: str | Path | None = None) -> Config:
    """Parse and validate config ``text``; ``source`` names it in problems (usually the path).

    ``burn_rate_catalogues:`` is a path relative to ``base_dir``, by default the directory of
    ``source`` (the current directory for ``<memory>``). Raises ConfigError listing every problem
    found.
    """
    tree = compose(text, source)
    problems = Problems(source, tree.lines if tree else {})
    if tree is not None:
        problems.items.extend(tree.problems)
    base = Path(source).parent if base_dir is None else Path(base_dir)
    spec = _Builder(source, problems, base).build(tree.data if tree else None)
    if len(problems) or spec is None:
        # This file's problems first, then those of the catalogue file, each in line order.
        raise ConfigError(sorted(problems.items, key=lambda p: (p.file != source, p.line or 0)))
    return spec


def load_config(path: str | Path) -> Config:
    """Read and validate the config file at ``path``; raises ConfigError (also for a missing or
    unreadable file)."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([ConfigProblem(source, None, "", "config file not found")]) from None
    except UnicodeDecodeError as exc:
        raise ConfigError([ConfigProblem(source, None, "", f"not UTF-8 text ({exc.reason})")]) from exc
    except OSError as exc:
        raise ConfigError([ConfigProblem(source, None, "", f"cannot read: {exc.strerror}")]) from exc
    return load_config_text(text, source)
