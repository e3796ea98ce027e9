"""Labelled incidents, the ground truth a backtest scores alerts against (docs/backtest.md).

An incidents file is a YAML list; each item names a ``service`` or an ``slo`` (or both), its
``start`` and ``end`` (RFC 3339 with a zone, or epoch milliseconds) and optionally a
``severity`` and a ``description``::

    - service: api-gateway
      start: 2026-01-05T14:02:00Z
      end: 2026-01-05T14:07:00Z
      severity: critical

Every problem is reported at once, as ``file:line: field: message`` (``config.tree``).
"""

from __future__ import annotations

__all__ = ["Incident", "incidents_yaml", "load_incidents", "parse_incidents"]

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from processor.config.problems import choices_hint
from processor.config.tree import compose
from processor.errors import ConfigError, ConfigProblem
from processor.runtime.render import rfc3339_ms

_KEYS = ("service", "slo", "start", "end", "severity", "description")


@dataclass(frozen=True)
class Incident:
    """A real problem on ``[start_ms, end_ms]`` of event time, of a service or of one SLO."""

    start_ms: int
    end_ms: int
    service: str | None = None
    slo: str | None = None
    severity: str | None = None
    description: str = ""

    @property
    def name(self) -> str:
        severity = f" ({self.severity})" if self.severity else ""
        text = f": {self.description}" if self.description else ""
        return f"{self.slo or self.service}{severity} {rfc3339_ms(self.start_ms)} .. {rfc3339_ms(self.end_ms)}{text}"

    def concerns(self, labels: dict[str, str]) -> bool:
        """Whether an alert with these labels is about this incident's service or SLO."""
        return (self.service is not None and labels.get("service") == self.service) or (
            self.slo is not None and labels.get("slo") == self.slo)


def _moment(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError
    if isinstance(value, int):
        return value
    if isinstance(value, datetime):  # YAML reads an unquoted timestamp as a datetime
        moment = value
    else:
        moment = datetime.fromisoformat(str(value).strip())
    if moment.tzinfo is None:
        raise ValueError
    return int(moment.timestamp() * 1000)


def _item(item: Any, index: int, lines: dict, source: str, problems: list[ConfigProblem]) -> Incident | None:
    before = len(problems)

    def problem(field: str, message: str) -> None:
        line = lines.get((index, field), lines.get((index,)))
        problems.append(ConfigProblem(source, line, f"[{index}].{field}" if field else f"[{index}]", message))

    if not isinstance(item, dict):
        problem("", "an incident is a mapping with service or slo, start and end")
        return None
    for key in item:
        if key not in _KEYS:
            problem(str(key), f"unknown key; an incident has {', '.join(_KEYS)}")
    if not item.get("service") and not item.get("slo"):
        problem("", "name the service or the slo the incident affected")
    times = {}
    for key in ("start", "end"):
        if key not in item:
            problem(key, "missing; give an RFC 3339 time with a zone, such as 2026-01-05T14:00:00Z")
            continue
        try:
            times[key] = _moment(item[key])
        except (ValueError, TypeError):
            problem(key, f"expected an RFC 3339 time with a zone (2026-01-05T14:00:00Z) or epoch ms, got {item[key]!r}")
    if len(times) == 2 and times["end"] <= times["start"]:
        problem("end", "is not after start")
    if len(problems) > before:
        return None
    return Incident(times["start"], times["end"], _text(item, "service"), _text(item, "slo"),
                    _text(item, "severity"), str(item.get("description") or ""))


def _text(item: dict, key: str) -> str | None:
    value = item.get(key)
    return None if value in (None, "") else str(value)


def parse_incidents(text: str, source: str, services: Collection[str] | None = None,
                    slos: Collection[str] | None = None) -> list[Incident]:
    """The incidents of a file's text; ConfigError lists every problem with its line. With
    ``services`` / ``slos`` (those of the configs scored), a name that is not among them is a
    problem too: a misspelt service would otherwise match no alert and score as a missed incident."""
    tree = compose(text, source)
    if tree is None:
        return []
    if tree.problems:
        raise ConfigError(tree.problems)
    if not isinstance(tree.data, list):
        raise ConfigError([ConfigProblem(source, 1, "", "an incidents file is a YAML list of incidents "
                                         "(- service: ..., start: ..., end: ...)")])
    problems: list[ConfigProblem] = []
    incidents = []
    for index, item in enumerate(tree.data):
        incident = _item(item, index, tree.lines, source, problems)
        if incident is not None:
            incidents.append(incident)
            _check_names(incident, index, tree.lines, source, {"service": services, "slo": slos}, problems)
    if problems:
        raise ConfigError(problems)
    return sorted(incidents, key=lambda i: (i.start_ms, i.end_ms))


def _check_names(incident: Incident, index: int, lines: dict, source: str,
                 known: dict[str, Collection[str] | None], problems: list[ConfigProblem]) -> None:
    for field, names in known.items():
        name = getattr(incident, field)
        if name is None or names is None or name in names:
            continue
        line = lines.get((index, field), lines.get((index,)))
        hint = choices_hint(name, sorted(names), "the configs have")
        problems.append(ConfigProblem(source, line, f"[{index}].{field}", f"no {field} {name!r} in the configs: {hint}"))


def load_incidents(path: Path | str, services: Collection[str] | None = None,
                   slos: Collection[str] | None = None) -> list[Incident]:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([ConfigProblem(str(path), None, "", f"cannot read the incidents file: {exc.strerror or exc}")]) from exc
    return parse_incidents(text, str(path), services, slos)


def incidents_yaml(incidents: Sequence[Incident]) -> str:
    """An incidents file (the format ``load_incidents`` reads)."""
    items = []
    for inc in incidents:
        item: dict[str, Any] = {}
        if inc.service:
            item["service"] = inc.service
        if inc.slo:
            item["slo"] = inc.slo
        item["start"] = rfc3339_ms(inc.start_ms)
        item["end"] = rfc3339_ms(inc.end_ms)
        if inc.severity:
            item["severity"] = inc.severity
        if inc.description:
            item["description"] = inc.description
        items.append(item)
    return yaml.safe_dump(items, sort_keys=False)
