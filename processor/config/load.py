"""Load a YAML config file into the frozen :class:`~processor.config.model.Config`.

Three passes, each reporting every problem it finds rather than stopping at the first:

1. YAML -> plain data, recording the line of every key and list item, and catching duplicate
   keys (:mod:`~processor.config.tree`).
2. Each section and each entry is validated on its own by a pydantic model with ``extra="forbid"``,
   so one broken alert does not hide the problems of the next; pydantic's ``loc`` tuples are mapped
   back to line numbers (:mod:`~processor.config.problems`, the value types in
   :mod:`~processor.config.fields`).
3. Cross references, one module per section: :mod:`~processor.config.defaults`,
   :mod:`~processor.config.catalogues` (the file that ``burn_rate_catalogues:`` points at, read and
   checked the same way, with its own name and lines in problems), :mod:`~processor.config.bus_monitor`, :mod:`~processor.config.alertmanager`,
   :mod:`~processor.config.slis`, :mod:`~processor.config.slos` with
   :mod:`~processor.config.budgets`, :mod:`~processor.config.alerts`. What depends on the SLI kind
   is in :mod:`~processor.config.kind_rules`.

The file format is documented in ``docs/config.md``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from processor.config.alertmanager import read_alertmanager
from processor.config.alerts import alert_identity_problems, read_alerts
from processor.config.budgets import BudgetContext, read_defaults_budget
from processor.config.bus_monitor import probe_subject_problems, read_bus_monitor
from processor.config.kafka import read_kafka
from processor.config.catalogues import load_catalogues
from processor.config.defaults import read_defaults
from processor.config.fields import version_problem
from processor.config.model import Config
from processor.config.objectives import objective_ratio
from processor.config.problems import Problems, unknown_key_message
from processor.config.slis import read_slis
from processor.config.slos import read_slos
from processor.config.tree import EXTENSION_PREFIX, compose
from processor.config.windows import CALENDAR_NOMINAL_MS
from processor.errors import ConfigError, ConfigProblem

__all__ = ["CALENDAR_NOMINAL_MS", "load_config", "load_config_text", "objective_ratio"]

_TOP_LEVEL_KEYS = ["version", "burn_rate_catalogues", "defaults", "slis", "slos", "alerts", "bus_monitor", "alertmanager",
                   "kafka"]
_SECTION_SHAPES = {
    "defaults": "expected a mapping such as {resolution: 10s, rule_window: 1m}",
    "slis": "expected a mapping from SLI name to its definition (slis: {gateway_latency: {kind: latency, ...}})",
    "slos": "expected a mapping from SLO name to its definition (slos: {gateway_p95: {sli: ..., objective: ...}})",
    "alerts": "expected a list of alert rules (alerts: [{name: ..., sli: ..., expr: ...}])",
}


def load_config_text(text: str, source: str = "<memory>", base_dir: str | Path | None = None) -> Config:
    """Parse and validate config ``text``; ``source`` names it in problems (usually the path).

    ``burn_rate_catalogues:`` is a path relative to ``base_dir``, by default the directory of
    ``source`` (the current directory for ``<memory>``). Raises ConfigError listing every problem
    found.
    """
    tree = compose(text, source)
    problems = Problems(source, tree.lines if tree else {})
    if tree is not None:
        problems.extend(tree.problems)
    base = Path(source).parent if base_dir is None else Path(base_dir)
    config = _build(tree.data if tree else None, source, base, problems)
    if len(problems) or config is None:
        # This file's problems first, then those of the catalogue file, each in line order.
        raise ConfigError(sorted(problems.items, key=lambda p: (p.file != source, p.line or 0)))
    return config


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


def _build(data: Any, source: str, base_dir: Path, problems: Problems) -> Config | None:
    """The whole file, section by section, in the order each needs the ones before it."""
    if data is None:
        problems.add((), "the file is empty: it needs at least version: 1")
        return None
    if not isinstance(data, dict):
        problems.add((), f"expected a mapping with version:, defaults:, slis:, slos: and alerts:, got {data!r}")
        return None
    for key in data:
        if key not in _TOP_LEVEL_KEYS and not key.startswith(EXTENSION_PREFIX):
            problems.add((key,), unknown_key_message(key, _TOP_LEVEL_KEYS))
    problems.check(("version",), version_problem(data))
    defaults_data = _section(data, "defaults", dict, problems)
    defaults = read_defaults(defaults_data, problems)
    catalogues = load_catalogues(data.get("burn_rate_catalogues"), base_dir, defaults.resolution_ms, problems)
    budgets = BudgetContext(catalogues, defaults.slo_window_ms, defaults.resolution_ms)
    if "budget" in defaults_data:
        budgets = read_defaults_budget(defaults_data["budget"], budgets, problems)
    # Even a broken section counts: its SLIs on bus. subjects are not also "without a monitor".
    has_bus_monitor = data.get("bus_monitor") is not None
    bus_monitor = read_bus_monitor(data["bus_monitor"], problems) if has_bus_monitor else None
    alertmanager = read_alertmanager(data["alertmanager"], problems) if data.get("alertmanager") is not None else None
    kafka = read_kafka(data["kafka"], problems) if data.get("kafka") is not None else None
    sli_entries = _section(data, "slis", dict, problems)
    slo_entries = _section(data, "slos", dict, problems)
    alert_entries = _section(data, "alerts", list, problems)
    slis = read_slis(sli_entries, defaults.defaults, has_bus_monitor, problems)
    slos = read_slos(slo_entries, slis, budgets, problems)
    alerts = read_alerts(alert_entries, slis, slos, defaults.defaults, defaults.resolution_ms, problems)
    problems.add_all(alert_identity_problems(alerts, problems.line_of))
    if bus_monitor is not None:
        problems.add_all(probe_subject_problems(slis.valid.values(), bus_monitor.probe_subject))
    if len(problems):
        return None
    return Config(
        version=1,
        source=source,
        defaults=defaults.defaults,
        slis=tuple(slis.valid.values()),
        slos=tuple(slos.valid.values()),
        alerts=tuple(a for a in alerts if a is not None),
        bus_monitor=bus_monitor,
        alertmanager=alertmanager,
        kafka=kafka,
    )


def _section(data: dict[str, Any], key: str, shape: type, problems: Problems) -> Any:
    value = data.get(key)
    if value is None:  # absent, or present and empty (`alerts:` with nothing under it)
        return shape()
    if not isinstance(value, shape):
        problems.add((key,), _SECTION_SHAPES[key])
        return shape()
    return value
