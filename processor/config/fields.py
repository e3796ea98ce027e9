"""The values a config file writes, as pydantic types shared by the raw models of every section.

Each validator raises ``ValueError`` with a message meant for the person who wrote the config;
:meth:`~processor.config.problems.Problems.validate` reports it at the key's line.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from typing import Annotated, Any
from zoneinfo import available_timezones

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

from processor.config.parse import check_subject_pattern, parse_condition, parse_duration_ms, parse_fraction
from processor.config.predicate import Predicate, is_field_path, parse_predicate
from processor.config.problems import Issue, closest
from processor.config.tree import Loc
from processor.vocabulary import ALERT_LABELS, TEMPLATE_PLACEHOLDERS

__all__ = [
    "SUBJECT_FIELD_MESSAGE",
    "AlertName",
    "BurnRate",
    "ConditionText",
    "DurationMs",
    "FieldPath",
    "FractionText",
    "LabelName",
    "MinEvents",
    "PositiveInt",
    "PredicateText",
    "PublishSubject",
    "RawModel",
    "StateValue",
    "StreamName",
    "StrictBool",
    "Subject",
    "Text",
    "TimeZone",
    "TokenName",
    "check_label_name",
    "check_stream_name",
    "duplicate_problems",
    "is_token_name",
    "version_problem",
]

# TEMPLATE_PLACEHOLDERS: what runtime/render.py hands to ``str.format_map`` for summary and
# description, besides one key per label of the alert; ALERT_LABELS: labels the processor sets on
# every alert, which static or series labels may not override (both in processor/vocabulary.py).

# The payload pseudo-field SUBJECT_FIELD (vocabulary.py) names the subject for predicates only.
SUBJECT_FIELD_MESSAGE = (
    "_subject (the message subject) can be read by predicates (where:, good:, correlate:) only, not as a field"
)

_TOKEN_NAME_RE = re.compile(r"[A-Za-z0-9_-]+")
_ALERT_NAME_RE = re.compile(r"[A-Za-z0-9_.:-]+")
_LABEL_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def is_token_name(name: str) -> bool:
    """Letters, digits, '_' and '-': a name that can be a NATS subject token."""
    return _TOKEN_NAME_RE.fullmatch(name) is not None


def version_problem(document: dict[str, Any]) -> str | None:
    """The ``version:`` of a config or catalogue file."""
    if "version" not in document:
        return "required key is missing: start the file with version: 1"
    if document["version"] is True or document["version"] != 1:
        return f"unsupported version {document['version']!r}: this processor reads version: 1"
    return None


def duplicate_problems(values: list[str] | list[str | None] | None, loc: Loc, what: str) -> Iterator[Issue]:
    """Each repetition of a value in a list that must not repeat, at its index (None: an entry
    already reported as invalid, skipped)."""
    seen: set[str] = set()
    for i, value in enumerate(values or ()):
        if value is None:
            continue
        if value in seen:
            yield loc + (i,), f"duplicate {what} {value!r}"
        seen.add(value)


def _v_token_name(value: str) -> str:
    if not is_token_name(value):
        raise ValueError(
            f"{value!r} is not a valid name: use letters, digits, '_' and '-' (it becomes a NATS subject token)"
        )
    return value


def _v_field_path(value: str) -> str:
    if not is_field_path(value):
        raise ValueError(f"{value!r} is not a field path: use names joined by dots, like latency_ms or meta.region")
    return value


def _v_predicate(value: Any) -> Predicate:
    if not isinstance(value, str):
        raise ValueError(f'expected a predicate such as status_code < 500 or status == "ok", got {value!r}')
    try:
        return parse_predicate(value)
    except ValueError as exc:
        raise ValueError(f"{exc} in {value.strip()!r}") from None


def _v_alert_name(value: str) -> str:
    if not _ALERT_NAME_RE.fullmatch(value):
        raise ValueError(f"{value!r} is not a valid alert name: use letters, digits and _ . : - (no spaces)")
    return value


def check_label_name(value: str) -> str:
    """A label name an alert can carry: not one the processor sets, nor a template placeholder."""
    if not _LABEL_NAME_RE.fullmatch(value):
        raise ValueError(f"{value!r} is not a valid label name: use letters, digits and '_', not starting with a digit")
    if value in ALERT_LABELS:
        raise ValueError(f"label {value!r} is set by the processor and cannot be overridden")
    if value in TEMPLATE_PLACEHOLDERS:
        raise ValueError(f"label {value!r} would be hidden by the template placeholder {{{value}}}")
    return value


def _v_non_negative_int(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{what} is a whole number of at least 0, got {value!r}")
    return value


def _v_min_events(value: Any) -> tuple[int | None, int | None]:
    """``20`` -> (20, 20); ``{long: 100, short: 20}`` -> (100, 20); a missing side is None."""
    shape = "expected a number of events such as 20, or {long: 100, short: 20}"
    if isinstance(value, dict):
        unknown = [k for k in value if k not in ("long", "short")]
        if unknown:
            raise ValueError(f"unknown key {unknown[0]!r} in min_events: use long: and short:")
        if not value:
            raise ValueError(shape)
        return tuple(  # type: ignore[return-value]
            None if value.get(k) is None else _v_non_negative_int(value[k], f"min_events.{k}")
            for k in ("long", "short")
        )
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{shape}, got {value!r}")
    n = _v_non_negative_int(value, "min_events")
    return n, n


def _v_burn(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"expected a burn rate, a number such as 14.4 (times the budget rate), got {value!r}")
    if not value > 0:
        raise ValueError(f"a burn rate must be greater than 0, got {value!r}")
    return float(value)


@functools.cache
def _known_zones() -> frozenset[str]:
    # 'localtime' is whatever this machine is set to, and 'Factory' is a placeholder: neither is a
    # zone whose meaning survives moving the config to another machine.
    return frozenset(available_timezones() - {"localtime", "Factory"})


def _v_timezone(value: str) -> str:
    if value in _known_zones():
        return value
    if not _known_zones():
        raise ValueError(
            f"cannot check time zone {value!r}: this machine has no time zone database "
            "(no /usr/share/zoneinfo); install the tzdata package: pip install tzdata"
        )
    zones = sorted(_known_zones())
    by_lower = {z.lower(): z for z in zones}
    close = by_lower.get(value.lower()) or closest(value, zones)
    hint = f"did you mean {close!r}?" if close else "use an IANA name such as UTC, Europe/London or America/New_York"
    raise ValueError(f"unknown time zone {value!r}: {hint}")


def _v_state_value(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(
            f"a state is text, got {value!r}: quote words that YAML reads otherwise, such as 'off', 'no' or 'null'"
        )
    return value


def _v_positive_int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"expected a whole number of at least 1, got {value!r}")
    return value


def _v_text(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"expected a non-empty text, got {value!r}")
    if "\n" in value.strip():
        raise ValueError("expected one line of text")
    return value.strip()


def check_stream_name(value: str) -> str:
    if not is_token_name(value):
        raise ValueError(f"{value!r} is not a JetStream name: use letters, digits, '_' and '-'")
    return value


def _v_publish_subject(value: str) -> str:
    check_subject_pattern(value)
    if any(token in ("*", ">") for token in value.split(".")):
        raise ValueError(f"the probe is published, so its subject cannot have wildcards, got {value!r}")
    return value


TokenName = Annotated[str, AfterValidator(_v_token_name)]
FieldPath = Annotated[str, AfterValidator(_v_field_path)]
Subject = Annotated[str, AfterValidator(check_subject_pattern)]
DurationMs = Annotated[int, BeforeValidator(parse_duration_ms)]
PredicateText = Annotated[Any, BeforeValidator(_v_predicate)]
ConditionText = Annotated[Any, BeforeValidator(parse_condition)]
AlertName = Annotated[str, AfterValidator(_v_alert_name)]
LabelName = Annotated[str, AfterValidator(check_label_name)]
MinEvents = Annotated[Any, BeforeValidator(_v_min_events)]
BurnRate = Annotated[float, BeforeValidator(_v_burn)]
TimeZone = Annotated[str, AfterValidator(_v_timezone)]
FractionText = Annotated[float, BeforeValidator(parse_fraction)]
StrictBool = Annotated[bool, Field(strict=True)]
StateValue = Annotated[str, BeforeValidator(_v_state_value)]
PositiveInt = Annotated[int, BeforeValidator(_v_positive_int)]
Text = Annotated[str, BeforeValidator(_v_text)]
StreamName = Annotated[str, AfterValidator(check_stream_name)]
PublishSubject = Annotated[str, AfterValidator(_v_publish_subject)]


class RawModel(BaseModel):
    """An entry as written, before cross checks: unknown keys are problems, nothing is coerced
    by name."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=False)
