"""The ``slis:`` section: each SLI with its labels, its kind's keys read by its kind (processor/kinds/)."""

from __future__ import annotations

from collections.abc import Generator, Iterator
from functools import cache
from typing import Any, Literal

from pydantic import create_model

from processor.config.bus_monitor import bus_subject_problem
from processor.config.fields import (
    SUBJECT_FIELD_MESSAGE,
    FieldPath,
    PositiveInt,
    PredicateText,
    RawModel,
    Subject,
    TokenName,
    check_label_name,
    is_token_name,
)
from processor.config.input_slis import input_labels_problem, input_subject_problem
from processor.config.kind_rules import foreign_key_problems
from processor.config.model import Defaults, SliConfig
from processor.config.predicate import is_field_path
from processor.config.problems import Declared, Issue, Problems
from processor.config.tree import Loc
from processor.kinds import KINDS, Kind
from processor.vocabulary import ALERT_LABELS, SUBJECT_FIELD, TEMPLATE_PLACEHOLDERS

__all__ = ["SliTable", "raw_sli_model", "read_slis"]

Labels = tuple[tuple[str, ...], tuple[str, ...]]  # (field paths, label names or () when they are the paths)


class RawSliCommon(RawModel):
    """The keys of every SLI; each kind adds its own (``Kind.yaml_fields``)."""

    service: TokenName
    subject: Subject
    where: PredicateText | None = None
    labels: Any = None  # a list of field paths or a mapping {label name: field path}, checked in read_labels
    max_series: PositiveInt | None = None
    description: str = ""
    event_time_field: FieldPath | None = None


def raw_sli_model() -> type[RawModel]:
    """An SLI as written: the common keys, ``kind`` (one of the registry's) and every kind's keys."""
    return _raw_sli_model(tuple(KINDS.items()))


@cache
def _raw_sli_model(kinds: tuple[tuple[str, Kind], ...]) -> type[RawModel]:
    own: dict[str, Any] = {}
    for _, kind in kinds:
        own.update(kind.yaml_fields)  # kinds that share a key (value: latency, gauge) share its type
    kind_names = tuple(name for name, _ in kinds)
    return create_model(  # type: ignore[call-overload, no-any-return]
        "RawSli", __base__=RawSliCommon, kind=(Literal[kind_names], ...), **own  # type: ignore[valid-type]
    )


class SliTable(Declared[SliConfig]):
    """The SLIs of a file, for the sections that refer to them."""

    what = "SLI"


def read_slis(entries: dict[str, Any], defaults: Defaults, has_bus_monitor: bool, problems: Problems) -> SliTable:
    table = SliTable(list(entries))
    for name, data in entries.items():
        sli = _read_sli(name, data, defaults, has_bus_monitor, problems)
        if sli is not None:
            table.valid[name] = sli
    return table


def _read_sli(name: str, data: Any, defaults: Defaults, has_bus_monitor: bool, problems: Problems) -> SliConfig | None:
    """The SLI, built by its kind; None if it has problems."""
    loc: Loc = ("slis", name)
    n = len(problems)
    if not is_token_name(name):
        problems.add(loc, f"{name!r} is not a valid SLI name: use letters, digits, '_' and '-'")
    entry, raw = problems.validate(raw_sli_model(), data, loc)
    given = data if isinstance(data, dict) else {}
    kind = KINDS.get(raw.kind) if raw.kind is not None else None
    if kind is not None:
        problems.add_all(kind.key_problems(raw, given, loc))
        problems.add_all(foreign_key_problems(kind, given, loc))
    if raw.subject is not None:
        problems.check(loc + ("subject",), bus_subject_problem(raw.subject, has_bus_monitor))
        problems.check(loc + ("subject",), input_subject_problem(raw.subject))
    problems.add_all(_subject_field_problems(raw, loc))
    labels = read_labels(given.get("labels"), loc + ("labels",), problems)
    if raw.subject is not None and labels is not None:
        problems.check(loc + ("labels",), input_labels_problem(raw.subject, labels[0]))
    if "max_series" in given and "labels" not in given:
        problems.add(
            loc + ("max_series",),
            "max_series caps the number of label sets, and this SLI has no labels: add labels: or remove it",
        )
    own_fields = kind.config_fields(raw, given, loc, problems) if kind is not None else None
    if entry is None or len(problems) > n or labels is None or own_fields is None or kind is None:
        return None
    fields, label_names = labels
    return kind.config_model(
        name=name,
        service=entry.service,
        subject=entry.subject,
        where=entry.where,
        labels=fields,
        label_names=label_names,
        max_series=entry.max_series or SliConfig.model_fields["max_series"].default,
        description=entry.description,
        event_time_field=entry.event_time_field or defaults.event_time_field,
        **own_fields,
    )


def _subject_field_problems(raw: Any, loc: Loc) -> Iterator[Issue]:
    keys = dict.fromkeys(key for kind in KINDS.values() for key in kind.field_keys)
    for key in keys:
        if getattr(raw, key, None) == SUBJECT_FIELD:
            yield loc + (key,), SUBJECT_FIELD_MESSAGE


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
            yield loc + (i,), SUBJECT_FIELD_MESSAGE
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
            yield loc + (label,), SUBJECT_FIELD_MESSAGE
        else:
            pairs.append((loc + (label,), label, field_path))
    return pairs


def _duplicate_label_fields(pairs: list[_LabelPair]) -> Iterator[Issue]:
    seen: set[str] = set()
    for where, _, field_path in pairs:
        if field_path in seen:
            yield where, f"duplicate label field {field_path!r}"
        seen.add(field_path)
