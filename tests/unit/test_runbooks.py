"""docs/runbooks.md has a section for every alert the shipped config and the engine can publish.

The names come from the loaded config, so an alert added to config/slo.yaml without its section
fails here: every alert's runbook_url points at that section (processor/runtime/render.py).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from processor.config.load import load_config
from processor.engine.budget import BURN_ALERT
from processor.engine.cardinality import CARDINALITY_ALERT
from processor.engine.never_seen import NEVER_SEEN_ALERT
from processor.runtime.render import runbook_anchor, runbook_url

ROOT = Path(__file__).resolve().parents[2]
RUNBOOKS = ROOT / "docs" / "runbooks.md"
CHECKS_HEADING = "First three things to check"
_ITEM = re.compile(r"^\d+\. \S")


def _shipped_alert_names() -> list[str]:
    config = load_config(ROOT / "config" / "slo.yaml")
    names = {alert.name for alert in config.alerts} | {CARDINALITY_ALERT, NEVER_SEEN_ALERT}
    if any(slo.budget is not None and slo.budget.burn_tiers for slo in config.slos):
        names.add(BURN_ALERT)
    return sorted(names)


def sections(markdown: str) -> dict[str, list[str]]:
    """``## Heading`` -> the lines under it, up to the next ``##`` heading."""
    found: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in markdown.splitlines():
        if line.startswith("## "):
            current = found.setdefault(line[3:].strip(), [])
        elif current is not None:
            current.append(line)
    return found


def checks(lines: list[str]) -> tuple[list[str], list[str]]:
    """(the text before the checks, the numbered items of "First three things to check")."""
    marks = [i for i, line in enumerate(lines) if CHECKS_HEADING in line]
    if not marks:
        return lines, []
    items = []
    for line in lines[marks[0] + 1:]:
        if _ITEM.match(line):
            items.append(line)
        elif items and not line.startswith("   "):  # an item's continuation lines are indented
            break
    return lines[: marks[0]], items


SECTIONS = sections(RUNBOOKS.read_text(encoding="utf-8"))


def test_the_shipped_names_include_every_built_in_alert():
    # Guards the test below: it must check the alerts no config line declares.
    assert {BURN_ALERT, CARDINALITY_ALERT, NEVER_SEEN_ALERT} <= set(_shipped_alert_names())


@pytest.mark.parametrize("name", _shipped_alert_names())
def test_every_alert_has_a_section_saying_what_it_means_and_three_checks(name):
    assert name in SECTIONS, f"docs/runbooks.md has no '## {name}' section; its alerts' runbook_url points nowhere"
    meaning, items = checks(SECTIONS[name])
    assert any(line.strip() for line in meaning), f"{name}: the section does not say what the alert means"
    assert 3 == len(items), f"{name}: '{CHECKS_HEADING}' must be a numbered list of exactly three checks"


def test_a_section_heading_is_what_the_alerts_anchor_points_at():
    # GitHub's anchor of "## GatewayLatencyP95High" is "gatewaylatencyp95high".
    for name in _shipped_alert_names():
        assert f"docs/runbooks.md#{name.lower()}" == runbook_url(name)
        assert runbook_anchor(name) in {runbook_anchor(h) for h in SECTIONS}


def test_the_section_parser_counts_items_and_stops_at_the_list_end():
    lines = ["Fires when x.", "", f"**{CHECKS_HEADING}**", "", "1. a", "   more of a", "2. b", "3. c", "", "Then y."]
    assert (["Fires when x.", ""], ["1. a", "2. b", "3. c"]) == checks(lines)
    assert 2 == len(checks([CHECKS_HEADING, "1. a", "2. b", "Not a check", "3. c"])[1])
    assert [] == checks(["no list here"])[1]
