"""The ``alerts:`` section: alert rules on SLIs (or on an SLO's SLI), their windows, labels and
summary/description templates, and rules that Alertmanager could not tell apart."""

from __future__ import annotations

import re
import string
from collections.abc import Callable, Generator, Iterator
from typing import Any, Literal

from pydantic import Field

from processor.config.fields import (
    AlertName,
    ConditionText,
    DurationMs,
    LabelName,
    PositiveInt,
    RawModel,
    Text,
    TimeZone,
)
from processor.config.kind_rules import calendar_kind_problem, stat_kind_problem
from processor.config.model import AlertConfig, Defaults, Severity, SliConfig
from processor.config.problems import Issue, Problems
from processor.config.slis import SliTable
from processor.config.slos import SloTable
from processor.config.tree import Loc
from processor.config.windows import CALENDAR_NOMINAL_MS, multiple_problem, window_problem
from processor.vocabulary import GAUGE_STATS, TEMPLATE_PLACEHOLDERS

__all__ = ["RawAlert", "alert_identity_problems", "fires_on_event", "read_alerts", "template_problem"]

# Stats a calendar rule can accumulate from the start of the day or month: sums of counts and gauges.
_CALENDAR_STATS = ("count", "bad_count", "good_ratio", "bad_ratio", *GAUGE_STATS)

# Stats that only grow as events arrive in a window, by the SLI kinds that record them event by
# event into their series (correlations and state SLIs record elsewhere and keep the boundary).
_GROWING_STATS = {
    "count": ("events", "ratio", "gauge", "latency"),
    "bad_count": ("ratio",),
    "max": ("gauge",),
    "sum": ("gauge",),
}


def fires_on_event(alert: AlertConfig, sli: SliConfig) -> bool:
    """Whether a rule fires on the event that makes its condition hold instead of at the next
    boundary (processor/engine/instant.py): a stat that can only grow as events arrive in its
    window, compared with ``>`` or ``>=``, on a trailing window, with no ``for`` to wait out. Its
    result can then not change before the boundary except by growing; everything else (quantiles,
    ratios, since_last, min/avg/last, ``for``, calendar sums) is decided at boundaries. A ``sum``
    is taken to grow: a negative value that takes it back under resolves it at the boundary."""
    cond = alert.condition
    return (
        alert.for_ms == 0
        and alert.calendar is None
        and cond.op in (">", ">=")
        and sli.kind in _GROWING_STATS.get(cond.stat.kind, ())
    )


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


def read_alerts(
    entries: list[Any], slis: SliTable, slos: SloTable, defaults: Defaults, resolution_ms: int | None,
    problems: Problems,
) -> list[AlertConfig | None]:
    """Each rule, None where it has problems, so that ``alerts[i]`` is still entry i."""
    return [_read_alert(i, data, slis, slos, defaults, resolution_ms, problems) for i, data in enumerate(entries)]


def _read_alert(
    index: int, data: Any, slis: SliTable, slos: SloTable, defaults: Defaults, resolution_ms: int | None,
    problems: Problems,
) -> AlertConfig | None:
    loc: Loc = ("alerts", index)
    n = len(problems)
    entry, raw = problems.validate(RawAlert, data, loc)
    given = data if isinstance(data, dict) else {}
    sli_name = problems.collect(_watched_sli(raw, data, slos, loc))
    sli = None
    if sli_name is not None:
        problems.check(loc + ("sli",), slis.reference_problem(sli_name))
        sli = slis.valid.get(sli_name)
    stat = raw.expr.stat.kind if raw.expr is not None else None
    if sli is not None and raw.expr is not None:
        problems.check(loc + ("expr",), stat_kind_problem(raw.expr, sli))
    problems.add_all(_timing_problems(raw, given, stat, resolution_ms, loc))
    problems.add_all(_calendar_problems(raw, given, stat, sli, loc))
    if sli is not None:
        problems.add_all(_label_problems(raw, sli, loc))
    if entry is None or len(problems) > n or sli is None:
        return None
    return AlertConfig(
        name=entry.name,
        sli=sli.name,
        service=sli.service,
        slo=entry.slo,
        condition=entry.expr,
        window_ms=(
            CALENDAR_NOMINAL_MS[entry.calendar] if entry.calendar
            else defaults.rule_window_ms if entry.window is None
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


def _watched_sli(raw: RawAlert, data: Any, slos: SloTable, loc: Loc) -> Generator[Issue, None, str | None]:
    """The SLI the rule watches: its sli:, or its slo:'s SLI; the two must agree."""
    sli_name = raw.sli
    if raw.slo is not None:
        slo = slos.valid.get(raw.slo)
        if slo is not None:
            if sli_name is None:
                sli_name = slo.sli
            elif sli_name != slo.sli:
                yield loc + ("sli",), f"SLO {raw.slo!r} is on SLI {slo.sli!r}, not {sli_name!r}"
        elif problem := slos.reference_problem(raw.slo):
            yield loc + ("slo",), problem
    if isinstance(data, dict) and "sli" not in data and "slo" not in data:
        yield loc + ("sli",), "an alert needs sli: (or slo:, whose SLI it then watches)"
    return sli_name


def _timing_problems(
    raw: RawAlert, given: dict[str, Any], stat: str | None, resolution_ms: int | None, loc: Loc
) -> Iterator[Issue]:
    """The rule window, for, keep_firing_for and for_events."""
    if raw.window is not None:
        if problem := window_problem(raw.window, resolution_ms):
            yield loc + ("window",), problem
        if stat in ("since_last", "bad_for"):
            yield loc + ("window",), f"{stat} is measured at each boundary, not over a window: remove window:"
    for key, duration_ms in (("for", raw.for_), ("keep_firing_for", raw.keep_firing_for)):
        if problem := multiple_problem(duration_ms, resolution_ms):
            yield loc + (key,), problem
    if "for_events" in given:
        if "for" in given:
            yield (
                loc + ("for_events",),
                "for and for_events are two ways to say how long the condition must hold: keep one",
            )
        if stat == "since_last":
            yield (
                loc + ("for_events",),
                "for_events counts the events that arrive while the condition holds, and since_last holds "
                "only while none arrive: use for:",
            )


def _calendar_problems(
    raw: RawAlert, given: dict[str, Any], stat: str | None, sli: SliConfig | None, loc: Loc
) -> Iterator[Issue]:
    """A calendar rule (the day or month so far) instead of a trailing window."""
    if "calendar" in given:
        if "window" in given:
            yield (
                loc + ("calendar",),
                "window and calendar are mutually exclusive: a rule looks at a trailing window (window: 5m) "
                "or at the calendar day or month so far (calendar: day)",
            )
        if stat is not None and stat not in _CALENDAR_STATS:
            yield (
                loc + ("calendar",),
                f"{raw.expr.stat} cannot be accumulated over a calendar {raw.calendar or 'period'}: use "
                + ", ".join(_CALENDAR_STATS),
            )
        elif sli is not None and (problem := calendar_kind_problem(sli)):
            yield loc + ("calendar",), problem
    elif "timezone" in given:
        yield loc + ("timezone",), "timezone applies to calendar rules only: add calendar: day or month"


def _label_problems(raw: RawAlert, sli: SliConfig, loc: Loc) -> Iterator[Issue]:
    """Static labels against the SLI's series labels, and the templates against all labels."""
    series_labels = sli.series_label_names()
    for label in series_labels:
        if label in (raw.labels or {}):
            yield loc + ("labels", label), f"label {label!r} is already a series label of SLI {sli.name!r}"
    label_names = ["alertname", "service", "sli", "severity", *(["slo"] if raw.slo else [])]
    label_names += [*series_labels, *(raw.labels or {})]
    for key in ("summary", "description"):
        template = getattr(raw, key)
        problem = template_problem(template, label_names) if template is not None else None
        if problem:
            yield loc + (key,), problem


def template_problem(template: str, label_names: list[str]) -> str | None:
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


def alert_identity_problems(alerts: list[AlertConfig | None], line_of: Callable[[Loc], int | None]) -> Iterator[Issue]:
    """Alertmanager tells alerts apart by their label set; two rules with the same labels would
    overwrite each other's state downstream."""
    first: dict[tuple[Any, ...], int] = {}
    for i, alert in enumerate(alerts):
        if alert is None:
            continue
        identity = (alert.name, alert.service, alert.sli, alert.slo, alert.severity, alert.labels)
        if identity in first:
            j = first[identity]
            yield (
                ("alerts", i, "name"),
                f"duplicate alert: alerts[{j}] (line {line_of(('alerts', j))}) has the same "
                "name, SLI, SLO, severity and labels, so their alerts could not be told apart",
            )
        else:
            first[identity] = i
