"""The ``slis:`` section: each SLI with its labels and, for a correlation SLI, its ``correlate:``."""

from __future__ import annotations

from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

from processor.config.bus_monitor import bus_subject_problem
from processor.config.fields import (
    ALERT_LABELS,
    TEMPLATE_PLACEHOLDERS,
    DurationMs,
    FieldPath,
    PositiveInt,
    PredicateText,
    RawModel,
    StateValue,
    Subject,
    TokenName,
    check_label_name,
    is_token_name,
)
from processor.config.kind_rules import sli_key_problems
from processor.config.model import CorrelationConfig, Defaults, SliConfig
from processor.config.parse import LATENCY_UNITS_MS
from processor.config.predicate import is_field_path
from processor.config.problems import Issue, Problems, choices_hint
from processor.config.tree import Loc

__all__ = ["SUBJECT_FIELD", "RawCorrelate", "RawSli", "RawTimeoutBy", "SliTable", "read_slis"]

# The payload pseudo-field holding the message subject, which the engine provides to predicates.
SUBJECT_FIELD = "_subject"
_SUBJECT_FIELD_MESSAGE = (
    "_subject (the message subject) can be read by predicates (where:, good:, correlate:) only, not as a field"
)

SliKind = Literal["latency", "ratio", "events", "gauge", "state", "correlation"]
TimeUnit = Literal["ms", "s", "us", "ns"]
Labels = tuple[tuple[str, ...], tuple[str, ...]]  # (field paths, label names or () when they are the paths)


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
    labels: Any = None  # a list of field paths or a mapping {label name: field path}, checked in read_labels
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


@dataclass
class SliTable:
    """The SLIs of a file, for the sections that refer to them."""

    names: list[str]  # every declared SLI, valid or not
    valid: dict[str, SliConfig] = field(default_factory=dict)
    gauge_units: dict[str, str | None] = field(default_factory=dict)  # gauge SLI -> its time unit, None: plain

    def reference_problem(self, name: str) -> str | None:
        """A reference to an SLI that is not declared; an invalid one has its problems already."""
        if name in self.names:
            return None
        return f"unknown SLI {name!r}: {choices_hint(name, self.names, 'defined SLIs')}"


def read_slis(entries: dict[str, Any], defaults: Defaults, has_bus_monitor: bool, problems: Problems) -> SliTable:
    table = SliTable(names=list(entries))
    for name, data in entries.items():
        read = _read_sli(name, data, defaults, has_bus_monitor, problems)
        if read is not None:
            sli, unit = read
            table.valid[name] = sli
            if sli.kind == "gauge":
                table.gauge_units[name] = unit
    return table


def _read_sli(
    name: str, data: Any, defaults: Defaults, has_bus_monitor: bool, problems: Problems
) -> tuple[SliConfig, str | None] | None:
    """The SLI and the unit of its values; None if it has problems."""
    loc: Loc = ("slis", name)
    n = len(problems)
    if not is_token_name(name):
        problems.add(loc, f"{name!r} is not a valid SLI name: use letters, digits, '_' and '-'")
    entry, raw = problems.validate(RawSli, data, loc)
    given = data if isinstance(data, dict) else {}
    problems.add_all(sli_key_problems(raw, given, loc))
    if raw.subject is not None:
        problems.check(loc + ("subject",), bus_subject_problem(raw.subject, has_bus_monitor))
    problems.add_all(_subject_field_problems(raw, loc))
    labels = read_labels(given.get("labels"), loc + ("labels",), problems)
    if "max_series" in given and "labels" not in given:
        problems.add(
            loc + ("max_series",),
            "max_series caps the number of label sets, and this SLI has no labels: add labels: or remove it",
        )
    correlation = None
    if raw.kind == "correlation" and "correlate" in given:
        correlation = read_correlation(given["correlate"], loc + ("correlate",), problems)
    if entry is None or len(problems) > n or labels is None:
        return None
    return _sli_config(name, entry, labels, correlation, defaults), entry.unit


def _subject_field_problems(raw: RawSli, loc: Loc) -> Iterator[Issue]:
    for key in ("value", "minus", "entity", "state"):
        if getattr(raw, key) == SUBJECT_FIELD:
            yield loc + (key,), _SUBJECT_FIELD_MESSAGE


def _sli_config(
    name: str, entry: RawSli, labels: Labels, correlation: CorrelationConfig | None, defaults: Defaults
) -> SliConfig:
    fields, label_names = labels
    return SliConfig(
        name=name,
        service=entry.service,
        kind=entry.kind,
        subject=entry.subject,
        where=entry.where,
        labels=fields,
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
        event_time_field=entry.event_time_field or defaults.event_time_field,
    )


# --------------------------------------------------------------------------------------------
# Labels


def read_labels(value: Any, loc: Loc, problems: Problems) -> Labels | None:
    """``labels:`` as (field paths, label names or () when they are the paths); None if invalid.

    A list names payload fields that become labels of the same name; a mapping renames them,
    ``{target_service: service}``, for a field whose name the processor uses itself."""
    if value is None:
        return (), ()
    n = len(problems)
    if isinstance(value, list):
        pairs = problems.collect(_listed_labels(value, loc))
    elif isinstance(value, dict):
        pairs = problems.collect(_renamed_labels(value, loc))
    else:
        problems.add(loc, "expected a list of payload fields, [route], or a mapping {label name: field}")
        return None
    problems.add_all(_duplicate_label_fields(pairs))
    if len(problems) > n:
        return None
    fields = tuple(field for _, _, field in pairs)
    return fields, tuple(label for _, label, _ in pairs) if isinstance(value, dict) else ()


_LabelPair = tuple[Loc, str, str]  # (where, label name, field path)


def _listed_labels(value: list[Any], loc: Loc) -> Generator[Issue, None, list[_LabelPair]]:
    pairs = []
    for i, field_path in enumerate(value):
        if not isinstance(field_path, str) or not is_field_path(field_path):
            yield (
                loc + (i,),
                f"{field_path!r} is not a field path: use names joined by dots, like route or meta.region",
            )
        elif field_path == SUBJECT_FIELD:
            yield loc + (i,), _SUBJECT_FIELD_MESSAGE
        elif field_path in ALERT_LABELS or field_path in TEMPLATE_PLACEHOLDERS:
            yield (
                loc + (i,),
                f"label {field_path!r} clashes with a name the processor sets: name the label yourself, "
                f"e.g. labels: {{target_{field_path}: {field_path}}}",
            )
        else:
            pairs.append((loc + (i,), field_path, field_path))
    return pairs


def _renamed_labels(value: dict[str, Any], loc: Loc) -> Generator[Issue, None, list[_LabelPair]]:
    pairs = []
    for label, field_path in value.items():
        try:
            check_label_name(label)
        except ValueError as exc:
            yield loc + (label,), str(exc)
            continue
        if not isinstance(field_path, str) or not is_field_path(field_path):
            yield loc + (label,), f"{field_path!r} is not a field path: use names joined by dots, like service"
        elif field_path == SUBJECT_FIELD:
            yield loc + (label,), _SUBJECT_FIELD_MESSAGE
        else:
            pairs.append((loc + (label,), label, field_path))
    return pairs


def _duplicate_label_fields(pairs: list[_LabelPair]) -> Iterator[Issue]:
    seen: set[str] = set()
    for where, _, field_path in pairs:
        if field_path in seen:
            yield where, f"duplicate label field {field_path!r}"
        seen.add(field_path)


# --------------------------------------------------------------------------------------------
# Correlations


def read_correlation(data: Any, loc: Loc, problems: Problems) -> CorrelationConfig | None:
    """A correlation SLI's ``correlate:``; None if it has problems."""
    n = len(problems)
    if not isinstance(data, dict):
        problems.add(
            loc,
            f"expected a mapping such as {{id: saga_id, start: '...', end: '...', timeout: 60s}}, got {data!r}",
        )
        return None
    entry, raw = problems.validate(RawCorrelate, data, loc)
    if raw.id == SUBJECT_FIELD:
        problems.add(loc + ("id",), _SUBJECT_FIELD_MESSAGE)
    if raw.timeout is not None and raw.timeout <= 0:
        problems.add(loc + ("timeout",), "must be greater than 0")
    by_field, timeouts = None, ()
    if data.get("timeout_by") is not None:
        by_field, timeouts = _read_timeout_by(data["timeout_by"], loc + ("timeout_by",), problems)
    given = {key for key, value in data.items() if value is not None}  # `timeout_by: null` undoes a merge
    problems.add_all(_output_problems(raw.output or "outcome", given, loc))
    if entry is None or len(problems) > n:
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


def _read_timeout_by(data: Any, loc: Loc, problems: Problems) -> tuple[str | None, tuple[tuple[str, int], ...]]:
    """``timeout_by: {field: ..., timeouts: {...}}`` as (field, timeouts); (None, ()) if invalid."""
    by, by_raw = problems.validate(RawTimeoutBy, data, loc)
    if by_raw.field == SUBJECT_FIELD:
        problems.add(loc + ("field",), _SUBJECT_FIELD_MESSAGE)
    if by_raw.timeouts is not None and not by_raw.timeouts:
        problems.add(loc + ("timeouts",), "expected at least one value and its timeout, e.g. {order: 60s}")
    for value, timeout_ms in (by_raw.timeouts or {}).items():
        if timeout_ms <= 0:
            problems.add(loc + ("timeouts", value), "must be greater than 0")
    if by is None:
        return None, ()
    return by.field, tuple(by.timeouts.items())


def _output_problems(output: str, given: set[str], loc: Loc) -> Iterator[Issue]:
    """The keys an outcome correlation needs, and those a duration correlation cannot use."""
    if output == "outcome" and not given & {"timeout", "timeout_by"}:
        yield (
            loc + ("timeout",),
            "an outcome correlation needs timeout: (or timeout_by:): a start without an end counts as "
            "failed once its timeout has passed; without one it would never count",
        )
    if output == "duration":
        for key in ("timeout", "timeout_by", "fail"):
            if key in given:
                yield (
                    loc + (key,),
                    f"{key} applies to output: outcome; a duration correlation measures start to end, and a "
                    "start that never ends is only bounded by max_open",
                )
