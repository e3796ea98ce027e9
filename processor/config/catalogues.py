"""Burn-rate catalogues: the file that ``burn_rate_catalogues:`` names, read and checked like the
config itself, with its own name and lines in problems.

A catalogue is a named set of multi-window burn-rate tiers; an SLO's budget picks one with
``burn_alerts:`` (see :mod:`processor.config.budgets`). A catalogue with problems is not used.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from processor.config.fields import BurnRate, DurationMs, MinEvents, RawModel, is_token_name, version_problem
from processor.config.model import BurnTier, Severity
from processor.config.parse import format_duration
from processor.config.problems import Problems, closest, unknown_key_message
from processor.config.tree import EXTENSION_PREFIX, Loc, compose
from processor.config.windows import window_problem
from processor.errors import ConfigError

__all__ = ["Catalogues", "RawCatalogue", "RawTier", "load_catalogues"]

_FILE_SHAPE = "expected version: 1 and catalogues: {<name>: {tiers: {<tier>: {burn:, long:, short:, severity:}}}}"


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


@dataclass
class Catalogues:
    """The catalogues of the file ``burn_rate_catalogues:`` names."""

    file: str | None = None  # the file as problems name it; None when the config names none
    valid: dict[str, tuple[BurnTier, ...]] = field(default_factory=dict)  # the catalogues without problems
    names: list[str] = field(default_factory=list)  # every declared catalogue, valid or not
    unreadable: bool = False  # the file could not be read: no name can be checked against it

    def reference_problem(self, name: str) -> str | None:
        """An SLO names a catalogue that does not exist (nothing to say if the file was unreadable)."""
        if name in self.names or self.unreadable:
            return None
        if self.file is None:
            return (
                f"unknown burn-rate catalogue {name!r}: no catalogues are loaded; name their "
                "file at the top level, e.g. burn_rate_catalogues: burn-rates.yaml"
            )
        close = closest(name, self.names)
        hint = f"did you mean {close!r}?" if close else f"{self.file} has: {', '.join(self.names)} (or none)"
        return f"unknown burn-rate catalogue {name!r}: {hint}"


def load_catalogues(value: Any, base_dir: Path, resolution_ms: int | None, problems: Problems) -> Catalogues:
    """Read the file that ``burn_rate_catalogues:`` (``value``) names, relative to ``base_dir``;
    its problems carry its own name and follow those of ``problems``' file."""
    if value is None:
        return Catalogues()
    loc: Loc = ("burn_rate_catalogues",)
    if not isinstance(value, str) or not value.strip():
        problems.add(loc, "expected the path of a catalogue file, relative to this one, e.g. burn-rates.yaml")
        return Catalogues(unreadable=True)
    path = base_dir / value.strip()
    shown = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        problems.add(loc, f"burn-rate catalogue file {shown} not found (the path is relative to this file)")
        return Catalogues(unreadable=True)
    except UnicodeDecodeError as exc:
        problems.add(loc, f"burn-rate catalogue file {shown} is not UTF-8 text ({exc.reason})")
        return Catalogues(unreadable=True)
    except OSError as exc:
        problems.add(loc, f"cannot read burn-rate catalogue file {shown}: {exc.strerror}")
        return Catalogues(unreadable=True)
    try:
        tree = compose(text, shown)
    except ConfigError as exc:
        problems.extend(exc.problems)
        return Catalogues(unreadable=True)
    file_problems = Problems(shown, tree.lines if tree else {})
    if tree is not None:
        file_problems.extend(tree.problems)
    catalogues = _read_file(tree.data if tree else None, shown, resolution_ms, file_problems)
    problems.extend(file_problems.items)
    return catalogues


def _read_file(data: Any, shown: str, resolution_ms: int | None, problems: Problems) -> Catalogues:
    catalogues = Catalogues(file=shown)
    if data is None or not isinstance(data, dict):
        problems.add((), f"the file is empty: {_FILE_SHAPE}" if data is None else f"{_FILE_SHAPE}, got {data!r}")
        catalogues.unreadable = True  # no names to check SLOs against
        return catalogues
    for key in data:
        if key not in ("version", "catalogues") and not key.startswith(EXTENSION_PREFIX):
            problems.add((key,), unknown_key_message(key, ["version", "catalogues"]))
    problems.check(("version",), version_problem(data))
    entries = data.get("catalogues")
    if not isinstance(entries, dict) or not entries:
        problems.add(("catalogues",), "expected a mapping from catalogue name to its tiers, with at least one")
        catalogues.unreadable = True
        return catalogues
    for name, raw in entries.items():
        catalogues.names.append(name)
        tiers = _read_catalogue(name, raw, resolution_ms, problems)
        if tiers is not None:
            catalogues.valid[name] = tiers
    return catalogues


def _read_catalogue(
    name: str, data: Any, resolution_ms: int | None, problems: Problems
) -> tuple[BurnTier, ...] | None:
    """One catalogue's tiers; None if it has problems."""
    loc: Loc = ("catalogues", name)
    n = len(problems)
    if not is_token_name(name) or name == "none":
        problems.add(loc, f"{name!r} is not a valid catalogue name: use letters, digits, '_' and '-' (not 'none')")
    entry, raw = problems.validate(RawCatalogue, data, loc)
    if entry is not None and not entry.tiers:
        problems.add(loc + ("tiers",), "a catalogue needs at least one tier")
    tiers = []
    for tier_name, tier_data in (raw.tiers or {}).items():
        tier = _read_tier(tier_name, tier_data, loc + ("tiers", tier_name), resolution_ms, problems)
        if tier is not None:
            tiers.append(tier)
    return tuple(tiers) if len(problems) == n else None


def _read_tier(name: str, data: Any, loc: Loc, resolution_ms: int | None, problems: Problems) -> BurnTier | None:
    if not is_token_name(name):
        problems.add(
            loc,
            f"{name!r} is not a valid tier name: use letters, digits, '_' and '-' (it becomes the alert's tier label)",
        )
    tier, t = problems.validate(RawTier, data, loc)
    ok = [
        problems.check(loc + (key,), window_problem(t_ms, resolution_ms)) if t_ms is not None else False
        for key, t_ms in (("long", t.long), ("short", t.short))
    ]
    if all(ok) and t.long <= t.short:
        problems.add(
            loc + ("short",),
            f"the short window ({format_duration(t.short)}) must be shorter than the long window "
            f"({format_duration(t.long)}): it confirms that the burn is still going on",
        )
    if tier is None:
        return None
    min_long, min_short = tier.min_events or (None, None)
    return BurnTier(
        tier=name,
        burn=tier.burn,
        long_ms=tier.long,
        short_ms=tier.short,
        severity=tier.severity,
        min_events_long=min_long or 0,
        min_events_short=min_short or 0,
    )
