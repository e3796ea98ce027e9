"""Load a YAML config file into the frozen :class:`~processor.spec.model.Spec`.

Three passes, each reporting every problem it finds rather than stopping at the first:

1. YAML -> plain data, recording the line of every key and list item (``yaml.compose`` keeps
   marks on the node tree; PyYAML's own constructor throws them away) and catching duplicate keys,
   which PyYAML would otherwise silently overwrite, losing an SLI.
2. Each section and each entry is validated on its own by a pydantic model with ``extra="forbid"``,
   so one broken alert does not hide the problems of the next. Pydantic's ``loc`` tuples are mapped
   back to line numbers through the table of pass 1.
3. Cross references: SLOs and alerts name existing SLIs; a stat fits its SLI's kind; durations are
   multiples of the resolution; alert templates name only placeholders the engine provides.

The file format is documented in ``docs/config.md``.
"""

from __future__ import annotations

import difflib
import functools
import re
import string
from pathlib import Path
from types import SimpleNamespace
from typing import Annotated, Any, Literal, TypeVar

import yaml
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, TypeAdapter, ValidationError

from processor.errors import ConfigError, ConfigProblem
from processor.spec.model import AlertSpec, Condition, Defaults, SliSpec, SloSpec, Spec, Stat
from processor.spec.parse import (
    LATENCY_UNITS_MS,
    check_subject_pattern,
    format_duration,
    parse_condition,
    parse_duration_ms,
    parse_fraction,
)
from processor.spec.predicate import Predicate, is_field_path, parse_predicate

__all__ = ["TEMPLATE_PLACEHOLDERS", "load_spec", "load_spec_text"]

Loc = tuple[str | int, ...]

# What the engine (processor.engine.rules) puts in the dict it hands to ``str.format_map`` for
# summary/description, besides one key per label of the alert (alertname, severity, static and series
# labels); ``labels`` is that label set as a dict, for ``{labels[route]}``.
TEMPLATE_PLACEHOLDERS = ("value", "threshold", "expr", "service", "sli", "slo", "window", "for", "labels")
# Labels the processor sets on every alert; static or series labels may not override them.
_ALERT_LABELS = ("alertname", "service", "sli", "slo", "severity")
_DEFAULTS = Defaults()
_DEFAULT_SLO_WINDOW_MS: int = SloSpec.model_fields["window_ms"].default

_TOKEN_NAME_RE = re.compile(r"[A-Za-z0-9_-]+")
_ALERT_NAME_RE = re.compile(r"[A-Za-z0-9_.:-]+")
_LABEL_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_BARE_TARGET_RE = re.compile(r"\s*[\d.]")

# Keys that people bring from Prometheus rules, Sloth and Pyrra, with where they go here.
_KEY_HINTS = {
    "annotations": "put summary: and description: directly on the alert",
    "target": "the target is objective:, e.g. objective: 99.9% or objective: p95 < 200ms",
    "condition": "the alert condition is expr:, e.g. expr: p95 > 150ms",
    "threshold": "the threshold is part of expr:, e.g. expr: p95 > 150ms",
    "value_field": "the latency field is value:",
    "filter": "select events with where:, e.g. where: order_type == \"market\"",
    "service": "service is set on each SLI",
    "name": "SLIs and SLOs are named by their key under slis: / slos:",
}

_PLAIN_COLLECTION_TAGS = ("tag:yaml.org,2002:map", "tag:yaml.org,2002:seq")
# Top-level keys starting with this are ignored, as in docker compose: a place for `&anchors`.
_EXTENSION_PREFIX = "x-"
_TOP_LEVEL_KEYS = ["version", "defaults", "slis", "slos", "alerts"]
_SECTION_SHAPES = {
    "defaults": "expected a mapping such as {resolution: 10s, rule_window: 1m}",
    "slis": "expected a mapping from SLI name to its definition (slis: {gateway_latency: {kind: latency, ...}})",
    "slos": "expected a mapping from SLO name to its definition (slos: {gateway_p95: {sli: ..., objective: ...}})",
    "alerts": "expected a list of alert rules (alerts: [{name: ..., sli: ..., expr: ...}])",
}


# --------------------------------------------------------------------------------------------
# Pass 1: YAML with line numbers


class _Tree:
    """Builds plain data from a composed YAML node tree and remembers where each key was."""

    def __init__(self, loader: yaml.SafeLoader, source: str):
        self.loader = loader
        self.source = source
        self.lines: dict[Loc, int] = {}
        self.problems: list[ConfigProblem] = []
        self.data: Any = None
        self._flattened: set[int] = set()

    def problem(self, line: int, loc: Loc, message: str) -> None:
        self.problems.append(ConfigProblem(self.source, line, _dotted(loc), message))

    def build(self, node: yaml.Node, loc: Loc) -> Any:
        self.lines.setdefault(loc, node.start_mark.line + 1)
        if isinstance(node, (yaml.MappingNode, yaml.SequenceNode)) and node.tag not in _PLAIN_COLLECTION_TAGS:
            # Only scalars go through PyYAML's constructor, which would reject the tag there.
            self.problem(node.start_mark.line + 1, loc, f"unsupported YAML tag {node.tag!r}")
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, loc)
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, loc + (i,)) for i, item in enumerate(node.value)]
        try:
            return self.loader.construct_object(node, deep=True)
        except yaml.MarkedYAMLError as exc:
            self.problem(node.start_mark.line + 1, loc, str(exc.problem))
            return None

    def _mapping(self, node: yaml.MappingNode, loc: Loc) -> dict[str, Any]:
        if id(node) not in self._flattened:  # an alias revisits an already flattened node
            self._check_duplicates(node, loc)
            try:
                self.loader.flatten_mapping(node)  # resolves `<<: *anchor` merge keys
            except yaml.MarkedYAMLError as exc:
                self.problem(node.start_mark.line + 1, loc, str(exc.problem))
            self._flattened.add(id(node))
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            line = key_node.start_mark.line + 1
            if not isinstance(key_node, yaml.ScalarNode):
                self.problem(line, loc, "a key must be a plain name, not a list or mapping")
                continue
            # The raw text, so that `on:` or `1:` stay the strings the author typed.
            key = key_node.value
            self.lines[loc + (key,)] = line
            out[key] = self.build(value_node, loc + (key,))
        return out

    def _check_duplicates(self, node: yaml.MappingNode, loc: Loc) -> None:
        first_line: dict[str, int] = {}
        what = {("slis",): "SLI name", ("slos",): "SLO name"}.get(loc, "key")
        for key_node, _ in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == "tag:yaml.org,2002:merge":
                continue
            line = key_node.start_mark.line + 1
            if key_node.value in first_line:
                self.problem(
                    line,
                    loc + (key_node.value,),
                    f"duplicate {what} {key_node.value!r} (first defined on line {first_line[key_node.value]})",
                )
            else:
                first_line[key_node.value] = line


def _compose(text: str, source: str) -> _Tree | None:
    """Parse YAML; raise ConfigError on a syntax error. None means an empty document."""
    loader = yaml.SafeLoader(text)
    try:
        try:
            node = loader.get_single_node()
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            detail = exc.problem or ""
            if exc.context:
                detail = f"{detail} ({exc.context}" + (
                    f" on line {exc.context_mark.line + 1})" if exc.context_mark else ")"
                )
            line = mark.line + 1 if mark is not None else None
            raise ConfigError([ConfigProblem(source, line, "", f"YAML syntax error: {detail}")]) from exc
        except yaml.YAMLError as exc:  # reader errors: control characters, bad encoding
            raise ConfigError([ConfigProblem(source, None, "", f"YAML error: {exc}")]) from exc
        if node is None:
            return None
        tree = _Tree(loader, source)
        tree.data = tree.build(node, ())
        return tree
    finally:
        loader.dispose()


# --------------------------------------------------------------------------------------------
# Pass 2: one pydantic model per entry


def _v_token_name(value: str) -> str:
    if not _TOKEN_NAME_RE.fullmatch(value):
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


def _v_label_name(value: str) -> str:
    if not _LABEL_NAME_RE.fullmatch(value):
        raise ValueError(f"{value!r} is not a valid label name: use letters, digits and '_', not starting with a digit")
    if value in _ALERT_LABELS:
        raise ValueError(f"label {value!r} is set by the processor and cannot be overridden")
    if value in TEMPLATE_PLACEHOLDERS:
        raise ValueError(f"label {value!r} would be hidden by the template placeholder {{{value}}}")
    return value


TokenName = Annotated[str, AfterValidator(_v_token_name)]
FieldPath = Annotated[str, AfterValidator(_v_field_path)]
Subject = Annotated[str, AfterValidator(check_subject_pattern)]
DurationMs = Annotated[int, BeforeValidator(parse_duration_ms)]
PredicateText = Annotated[Any, BeforeValidator(_v_predicate)]
ConditionText = Annotated[Any, BeforeValidator(parse_condition)]
AlertName = Annotated[str, AfterValidator(_v_alert_name)]
LabelName = Annotated[str, AfterValidator(_v_label_name)]


class _Raw(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=False)


class RawDefaults(_Raw):
    event_time_field: FieldPath = _DEFAULTS.event_time_field
    allowed_lateness: DurationMs = _DEFAULTS.allowed_lateness_ms
    resolution: DurationMs = _DEFAULTS.resolution_ms
    rule_window: DurationMs = _DEFAULTS.rule_window_ms
    slo_window: DurationMs = _DEFAULT_SLO_WINDOW_MS


class RawSli(_Raw):
    service: TokenName
    kind: Literal["latency", "ratio"]
    subject: Subject
    value: FieldPath | None = None
    unit: Literal["ms", "s", "us", "ns"] | None = None
    where: PredicateText | None = None
    good: PredicateText | None = None
    labels: list[FieldPath] = []
    description: str = ""
    event_time_field: FieldPath | None = None


class RawSlo(_Raw):
    sli: str
    objective: str | float
    description: str = ""
    window: DurationMs | None = None


class RawAlert(_Raw):
    name: AlertName
    sli: str | None = None
    slo: str | None = None
    expr: ConditionText
    for_: DurationMs = Field(0, alias="for")
    window: DurationMs | None = None
    keep_firing_for: DurationMs = 0
    severity: Literal["info", "warning", "critical"]
    summary: str = ""
    description: str = ""
    labels: dict[LabelName, str] = {}


# --------------------------------------------------------------------------------------------
# Problems


_M = TypeVar("_M", bound=BaseModel)


@functools.cache
def _field_adapter(model: type[BaseModel], name: str) -> TypeAdapter[Any]:
    info = model.model_fields[name]
    if not info.metadata:
        return TypeAdapter(info.annotation)
    return TypeAdapter(Annotated[(info.annotation, *info.metadata)])  # type: ignore[misc]


def _dotted(loc: Loc) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _closest(word: str, choices: list[str]) -> str | None:
    match = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return match[0] if match else None


def _choices_hint(name: str, choices: list[str], what: str) -> str:
    """``did you mean 'x'?`` for a near miss, else the whole list, introduced by ``what``."""
    close = _closest(name, choices)
    return f"did you mean {close!r}?" if close else f"{what}: {', '.join(choices) or 'none'}"


def _known_keys(model: type[BaseModel]) -> list[str]:
    return [f.alias or name for name, f in model.model_fields.items()]


def _unknown_key_message(key: str, allowed: list[str]) -> str:
    hint = _KEY_HINTS.get(key) or _choices_hint(key, allowed, "allowed keys")
    return f"unknown key {key!r}: {hint}"


def _pydantic_message(err: Any, model: type[BaseModel]) -> str:
    kind = err["type"]
    if kind == "missing":
        return "required key is missing"
    if kind == "extra_forbidden":
        return _unknown_key_message(str(err["loc"][-1]), _known_keys(model))
    if kind == "literal_error":
        return f"expected {err['ctx']['expected']}, got {err['input']!r}"
    if kind == "value_error":
        return str(err["ctx"]["error"])
    msg = err["msg"]
    return f"{msg[0].lower()}{msg[1:]}, got {err['input']!r}"


class _Problems:
    def __init__(self, source: str, lines: dict[Loc, int]):
        self.source = source
        self.lines = lines
        self.items: list[ConfigProblem] = []

    def __len__(self) -> int:
        return len(self.items)

    def line_of(self, loc: Loc) -> int | None:
        # A missing key has no line of its own: point at the closest enclosing entry.
        while loc not in self.lines and loc:
            loc = loc[:-1]
        return self.lines.get(loc)

    def add(self, loc: Loc, message: str) -> None:
        self.items.append(ConfigProblem(self.source, self.line_of(loc), _dotted(loc), message))

    def validate(self, model: type[_M], data: Any, loc: Loc) -> tuple[_M | None, Any]:
        """Validate one entry; record every error under ``loc``.

        Returns ``(entry, fields)``: ``entry`` is the model, or None if anything failed; ``fields``
        has an attribute per field even then (the validated value, the default, or None where the
        field itself failed), so that cross checks can still run on the valid part of a broken
        entry and report its other problems in the same pass.
        """
        if data is None:
            data = {}
        if not isinstance(data, dict):
            self.add(loc, f"expected a mapping of keys ({', '.join(_known_keys(model))}), got {data!r}")
            return None, SimpleNamespace(**{name: None for name in model.model_fields})
        try:
            entry = model.model_validate(data)
            return entry, entry
        except ValidationError as exc:
            for err in exc.errors():
                # pydantic reports a bad dict key at (..., key, "[key]")
                err_loc = tuple(p for p in err["loc"] if p != "[key]")
                self.add(loc + err_loc, _pydantic_message(err, model))
        fields = {}
        for name, info in model.model_fields.items():
            key = info.alias or name
            if key not in data:
                fields[name] = None if info.is_required() else info.get_default(call_default_factory=True)
                continue
            try:
                fields[name] = _field_adapter(model, name).validate_python(data[key])
            except ValidationError:
                fields[name] = None
        return None, SimpleNamespace(**fields)


# --------------------------------------------------------------------------------------------
# Pass 3: build the frozen model, checking cross references


def _multiple_problem(duration_ms: int, resolution_ms: int) -> str | None:
    if duration_ms % resolution_ms == 0:
        return None
    lower = duration_ms // resolution_ms * resolution_ms
    options = [format_duration(x) for x in (lower, lower + resolution_ms) if x > 0]
    return (
        f"{format_duration(duration_ms)} is not a multiple of the resolution "
        f"({format_duration(resolution_ms)}): the engine evaluates rules only at resolution "
        f"boundaries; use {' or '.join(options)}"
    )


def _stat_kind_problem(condition: Condition, sli_name: str, sli_kind: str) -> str | None:
    kind = condition.stat.kind
    if kind == "quantile" and sli_kind != "latency":
        return f"{condition.stat} needs a latency SLI, but {sli_name!r} is a ratio SLI: use good_ratio or bad_ratio"
    if kind in ("good_ratio", "bad_ratio") and sli_kind != "ratio":
        return f"{kind} needs a ratio SLI, but {sli_name!r} is a latency SLI: use a quantile such as p95"
    return None


def _objective_direction_problem(condition: Condition) -> str | None:
    """An objective states what *good* looks like; the inverse is almost always a copy of an alert."""
    kind = condition.stat.kind
    if kind == "count":
        return "count is for alert rules (e.g. count < 1: no traffic); an objective needs a quantile or a ratio"
    wants_upper_bound = kind in ("quantile", "bad_ratio")
    if wants_upper_bound and condition.op in (">", ">="):
        return f"an objective says what good looks like: write {condition.stat} < ..., not {condition.op}"
    if not wants_upper_bound and condition.op in ("<", "<="):
        return f"an objective says what good looks like: write {condition.stat} >= ..., not {condition.op}"
    return None


def _parse_objective(raw: str | float) -> Condition:
    """``p95 < 200ms``, ``good_ratio >= 99.9%``, or a bare target ``99.9%`` (Sloth/Pyrra style) that
    means ``good_ratio >= 99.9%``."""
    if isinstance(raw, (int, float)) or _BARE_TARGET_RE.match(raw):
        threshold = parse_fraction(raw)
        return Condition(stat=Stat(kind="good_ratio"), op=">=", threshold=threshold, text=str(raw).strip())
    return parse_condition(raw)


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


class _Builder:
    def __init__(self, source: str, problems: _Problems):
        self.source = source
        self.p = problems
        self.defaults = _DEFAULTS
        self.slo_window_ms = _DEFAULT_SLO_WINDOW_MS
        self.resolution_ms: int | None = _DEFAULTS.resolution_ms  # None: invalid, skip multiples
        self.slis: dict[str, SliSpec] = {}
        self.slos: dict[str, SloSpec] = {}
        self.sli_names: list[str] = []  # declared, valid or not
        self.slo_names: list[str] = []

    def build(self, data: Any) -> Spec | None:
        if data is None:
            self.p.add((), "the file is empty: it needs at least version: 1")
            return None
        if not isinstance(data, dict):
            self.p.add((), f"expected a mapping with version:, defaults:, slis:, slos: and alerts:, got {data!r}")
            return None
        for key in data:
            if key not in _TOP_LEVEL_KEYS and not key.startswith(_EXTENSION_PREFIX):
                self.p.add((key,), _unknown_key_message(key, _TOP_LEVEL_KEYS))
        self._version(data)
        defaults = self._section(data, "defaults", dict)
        slis = self._section(data, "slis", dict)
        slos = self._section(data, "slos", dict)
        alert_list = self._section(data, "alerts", list)
        self._defaults(defaults)
        self.sli_names = list(slis)
        self.slo_names = list(slos)
        for name, raw in slis.items():
            self._sli(name, raw)
        for name, raw in slos.items():
            self._slo(name, raw)
        alerts = [self._alert(i, raw) for i, raw in enumerate(alert_list)]
        self._check_alert_identities(alerts)
        if len(self.p):
            return None
        return Spec(
            version=1,
            source=self.source,
            defaults=self.defaults,
            slis=tuple(self.slis.values()),
            slos=tuple(self.slos.values()),
            alerts=tuple(a for a in alerts if a is not None),
        )

    def _section(self, data: dict[str, Any], key: str, shape: type) -> Any:
        value = data.get(key)
        if value is None:  # absent, or present and empty (`alerts:` with nothing under it)
            return shape()
        if not isinstance(value, shape):
            self.p.add((key,), _SECTION_SHAPES[key])
            return shape()
        return value

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

    def _check_window(self, duration_ms: int, loc: Loc) -> None:
        if duration_ms <= 0:
            self.p.add(loc, "must be greater than 0")
        else:
            self._check_multiple(duration_ms, loc)

    def _check_multiple(self, duration_ms: int | None, loc: Loc) -> None:
        if self.resolution_ms is not None and duration_ms is not None:
            problem = _multiple_problem(duration_ms, self.resolution_ms)
            if problem:
                self.p.add(loc, problem)

    def _sli(self, name: str, data: Any) -> None:
        loc: Loc = ("slis", name)
        n = len(self.p)
        if not _TOKEN_NAME_RE.fullmatch(name):
            self.p.add(loc, f"{name!r} is not a valid SLI name: use letters, digits, '_' and '-'")
        entry, raw = self.p.validate(RawSli, data, loc)
        given = data if isinstance(data, dict) else {}
        if raw.kind == "latency":
            if "value" not in given:
                self.p.add(loc + ("value",), "a latency SLI needs value: the payload field with the latency")
            if "good" in given:
                self.p.add(loc + ("good",), "good: applies to ratio SLIs; a latency SLI is judged by quantiles")
        elif raw.kind == "ratio":
            if "good" not in given:
                self.p.add(loc + ("good",), "a ratio SLI needs good: a predicate such as status_code < 500")
            for key in ("value", "unit"):
                if key in given:
                    self.p.add(loc + (key,), f"only latency SLIs have a {key}; a ratio SLI counts good events")
        seen: set[str] = set()
        for i, label in enumerate(raw.labels or ()):
            if label in seen:
                self.p.add(loc + ("labels", i), f"duplicate label {label!r}")
            elif label in _ALERT_LABELS or label in TEMPLATE_PLACEHOLDERS:
                self.p.add(loc + ("labels", i), f"label {label!r} clashes with a name the processor sets")
            seen.add(label)
        if entry is None or len(self.p) > n:
            return
        self.slis[name] = SliSpec(
            name=name,
            service=entry.service,
            kind=entry.kind,
            subject=entry.subject,
            where=entry.where,
            labels=tuple(entry.labels),
            description=entry.description,
            value_field=entry.value,
            unit_to_ms=float(LATENCY_UNITS_MS[entry.unit or "ms"]),
            good=entry.good,
            event_time_field=entry.event_time_field or self.defaults.event_time_field,
        )

    def _sli_ref(self, name: str, loc: Loc) -> SliSpec | None:
        """The SLI called ``name``; records a problem if there is none. None without a problem when
        the SLI exists but is itself invalid (its problems are already reported)."""
        if name in self.slis:
            return self.slis[name]
        if name not in self.sli_names:
            self.p.add(loc, f"unknown SLI {name!r}: {_choices_hint(name, self.sli_names, 'defined SLIs')}")
        return None

    def _slo(self, name: str, data: Any) -> None:
        loc: Loc = ("slos", name)
        n = len(self.p)
        if not _TOKEN_NAME_RE.fullmatch(name):
            self.p.add(loc, f"{name!r} is not a valid SLO name: use letters, digits, '_' and '-'")
        entry, raw = self.p.validate(RawSlo, data, loc)
        sli = self._sli_ref(raw.sli, loc + ("sli",)) if raw.sli is not None else None
        objective: Condition | None = None
        if raw.objective is not None:
            try:
                objective = _parse_objective(raw.objective)
            except ValueError as exc:
                self.p.add(loc + ("objective",), str(exc))
        if objective is not None:
            problem = _objective_direction_problem(objective)
            if problem is None and sli is not None:
                problem = _stat_kind_problem(objective, sli.name, sli.kind)
            if problem:
                self.p.add(loc + ("objective",), problem)
        if raw.window is not None:
            self._check_window(raw.window, loc + ("window",))
        if entry is None or len(self.p) > n or sli is None or objective is None:
            return
        self.slos[name] = SloSpec(
            name=name,
            sli=sli.name,
            service=sli.service,
            objective=objective,
            description=entry.description,
            window_ms=self.slo_window_ms if entry.window is None else entry.window,
        )

    def _alert(self, index: int, data: Any) -> AlertSpec | None:
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
                hint = _choices_hint(raw.slo, self.slo_names, "defined SLOs")
                self.p.add(loc + ("slo",), f"unknown SLO {raw.slo!r}: {hint}")
        if "sli" not in given and "slo" not in given and isinstance(data, dict):
            self.p.add(loc + ("sli",), "an alert needs sli: (or slo:, whose SLI it then watches)")
        sli = self._sli_ref(sli_name, loc + ("sli",)) if sli_name is not None else None
        if sli is not None and raw.expr is not None:
            problem = _stat_kind_problem(raw.expr, sli.name, sli.kind)
            if problem:
                self.p.add(loc + ("expr",), problem)
        if raw.window is not None:
            self._check_window(raw.window, loc + ("window",))
        self._check_multiple(raw.for_, loc + ("for",))
        self._check_multiple(raw.keep_firing_for, loc + ("keep_firing_for",))
        if sli is not None:
            for label in sli.labels:
                if label in (raw.labels or {}):
                    message = f"label {label!r} is already a series label of SLI {sli.name!r}"
                    self.p.add(loc + ("labels", label), message)
            label_names = ["alertname", "service", "sli", "severity", *(["slo"] if raw.slo else [])]
            label_names += [*sli.labels, *(raw.labels or {})]
            for key in ("summary", "description"):
                template = getattr(raw, key)
                problem = _template_problem(template, label_names) if template is not None else None
                if problem:
                    self.p.add(loc + (key,), problem)
        if entry is None or len(self.p) > n or sli is None:
            return None
        return AlertSpec(
            name=entry.name,
            sli=sli.name,
            service=sli.service,
            slo=entry.slo,
            condition=entry.expr,
            window_ms=self.defaults.rule_window_ms if entry.window is None else entry.window,
            for_ms=entry.for_,
            keep_firing_for_ms=entry.keep_firing_for,
            severity=entry.severity,
            summary=entry.summary,
            description=entry.description,
            labels=tuple(sorted(entry.labels.items())),
        )

    def _check_alert_identities(self, alerts: list[AlertSpec | None]) -> None:
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


def load_spec_text(text: str, source: str = "<memory>") -> Spec:
    """Parse and validate config ``text``; ``source`` names it in problems (usually the path).

    Raises ConfigError listing every problem found.
    """
    tree = _compose(text, source)
    problems = _Problems(source, tree.lines if tree else {})
    if tree is not None:
        problems.items.extend(tree.problems)
    spec = _Builder(source, problems).build(tree.data if tree else None)
    if len(problems) or spec is None:
        raise ConfigError(sorted(problems.items, key=lambda p: p.line or 0))
    return spec


def load_spec(path: str | Path) -> Spec:
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
    return load_spec_text(text, source)
