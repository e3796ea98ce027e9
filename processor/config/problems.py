"""Problems of a config file: the collector that gives each one its file, line and field, pass 2
(one pydantic model per entry, every error mapped back to its line), and near-miss hints.

A cross-check is a small function that yields :data:`Issue` pairs, ``(where, message)``; the
collector turns them into :class:`~processor.errors.ConfigProblem` with the line of ``where``.
"""

from __future__ import annotations

import difflib
import functools
from collections.abc import Generator, Iterable
from typing import Annotated, Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel, TypeAdapter, ValidationError

from processor.config.tree import Loc, dotted
from processor.errors import ConfigProblem

__all__ = ["Declared", "Issue", "Problems", "choices_hint", "closest", "unknown_key_message"]

# A problem found by a cross-check, before it has a file and a line: where, and what is wrong.
Issue = tuple[Loc, str]

M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")

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
    "burn_rate_catalogue": "the key is burn_rate_catalogues: (plural), e.g. burn_rate_catalogues: burn-rates.yaml",
    "burn_rates": "SLOs choose a catalogue with budget: {burn_alerts: <catalogue>}; the catalogues are in the "
    "file that burn_rate_catalogues: names",
    "error_budget": "the key is budget:",
    "time_window": "the budget window is budget.window (rolling) or budget.calendar",
    "minus_field": "the field to subtract is minus:, e.g. value: ts, minus: quote_ts",
    "value_minus_field": "the field to subtract is minus:, e.g. value: ts, minus: quote_ts",
    "entity_field": "the key is entity:",
    "state_field": "the key is state:",
    "bad_state": "the key is bad_states: (a list, e.g. [down])",
    "correlation": "a correlation SLI's settings go under correlate:",
    "for_cycles": "count events with for_events:, e.g. for_events: 3",
    "actions": "the key is action: (one text, published on slo.actions.<service>)",
    "id_field": "the key is id:",
    "timeouts": "a timeout per value of a field goes under timeout_by: {field: ..., timeouts: {...}}",
}


def closest(word: str, choices: list[str]) -> str | None:
    match = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return match[0] if match else None


def choices_hint(name: str, choices: list[str], what: str) -> str:
    """``did you mean 'x'?`` for a near miss, else the whole list, introduced by ``what``."""
    close = closest(name, choices)
    return f"did you mean {close!r}?" if close else f"{what}: {', '.join(choices) or 'none'}"


def _known_keys(model: type[BaseModel]) -> list[str]:
    return [f.alias or name for name, f in model.model_fields.items()]


def unknown_key_message(key: str, allowed: list[str]) -> str:
    hint = _KEY_HINTS.get(key) or choices_hint(key, allowed, "allowed keys")
    return f"unknown key {key!r}: {hint}"


def _pydantic_message(err: Any, model: type[BaseModel]) -> str:
    kind = err["type"]
    if kind == "missing":
        return "required key is missing"
    if kind == "extra_forbidden":
        return unknown_key_message(str(err["loc"][-1]), _known_keys(model))
    if kind == "literal_error":
        return f"expected {err['ctx']['expected']}, got {err['input']!r}"
    if kind == "value_error":
        return str(err["ctx"]["error"])
    msg = err["msg"]
    return f"{msg[0].lower()}{msg[1:]}, got {err['input']!r}"


@functools.cache
def _field_adapter(model: type[BaseModel], name: str) -> TypeAdapter[Any]:
    info = model.model_fields[name]
    if not info.metadata:
        return TypeAdapter(info.annotation)
    return TypeAdapter(Annotated[(info.annotation, *info.metadata)])  # type: ignore[misc]


class Problems:
    """The problems of one file, each located by the line table of its YAML tree."""

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
        problem = ConfigProblem(self.source, self.line_of(loc), dotted(loc), message)
        # A problem in defaults.budget is found again for every SLO that inherits it: say it once.
        if problem not in self.items:
            self.items.append(problem)

    def check(self, loc: Loc, message: str | None) -> bool:
        """Record ``message`` at ``loc`` unless it is None; True when there was nothing to record."""
        if message is None:
            return True
        self.add(loc, message)
        return False

    def add_all(self, issues: Iterable[Issue]) -> None:
        for loc, message in issues:
            self.add(loc, message)

    def collect(self, check: Generator[Issue, None, T]) -> T:
        """Record every issue ``check`` yields, as it yields it; return what ``check`` returns."""
        while True:
            try:
                loc, message = next(check)
            except StopIteration as stop:
                return stop.value  # type: ignore[no-any-return]
            self.add(loc, message)

    def extend(self, problems: Iterable[ConfigProblem]) -> None:
        """Problems located elsewhere (YAML syntax, another file), taken as they are."""
        self.items.extend(problems)

    def validate(self, model: type[M], data: Any, loc: Loc) -> tuple[M | None, M]:
        """Validate one entry; record every error under ``loc``.

        Returns ``(entry, fields)``: ``entry`` is the model, or None if anything failed; ``fields``
        is the same model built without validation (``model_construct``), each field holding its
        validated value, its default, or None where the field itself failed, so that cross checks
        can still run on the valid part of a broken entry and report its other problems in the
        same pass.
        """
        if data is None:
            data = {}
        if not isinstance(data, dict):
            self.add(loc, f"expected a mapping of keys ({', '.join(_known_keys(model))}), got {data!r}")
            return None, model.model_construct(**{name: None for name in model.model_fields})
        try:
            entry = model.model_validate(data)
            return entry, entry
        except ValidationError as exc:
            for err in exc.errors():
                # pydantic reports a bad dict key at (..., key, "[key]")
                err_loc = tuple(p for p in err["loc"] if p != "[key]")
                self.add(loc + err_loc, _pydantic_message(err, model))
        return None, model.model_construct(**_valid_fields(model, data))


def _valid_fields(model: type[BaseModel], data: dict[str, Any]) -> dict[str, Any]:
    """Each field of ``model`` validated on its own: its value, its default if absent, None if invalid."""
    fields: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        key = info.alias or name
        if key not in data:
            fields[name] = None if info.is_required() else info.get_default(call_default_factory=True)
            continue
        try:
            fields[name] = _field_adapter(model, name).validate_python(data[key])
        except ValidationError:
            fields[name] = None
    return fields


class Declared(Generic[T]):
    """The names a section declares (valid or not) and the entries that are valid, for the sections
    that refer to them; a subclass names what they are (``what = "SLI"``)."""

    what: ClassVar[str]

    def __init__(self, names: list[str]) -> None:
        self.names = names  # every declared name, valid or not
        self.valid: dict[str, T] = {}

    def reference_problem(self, name: str) -> str | None:
        """A reference to a name that is not declared; an invalid entry has its problems already."""
        if name in self.names:
            return None
        return f"unknown {self.what} {name!r}: {choices_hint(name, self.names, f'defined {self.what}s')}"
