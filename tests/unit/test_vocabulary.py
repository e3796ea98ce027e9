"""Every name shared by two layers is defined once (processor/vocabulary.py); these tests keep the
producers and consumers of each in step."""

from __future__ import annotations

import ast
import json
import typing
from pathlib import Path

import pytest

import processor
from processor import vocabulary
from processor.config.model import Stat
from processor.engine.outputs import AlertTransition
from processor.kinds import KINDS
from processor.runtime import render

ROOT = Path(processor.__file__).parent


def _string_literals(path: Path) -> set[str]:
    return {n.value for n in ast.walk(ast.parse(path.read_text())) if isinstance(n, ast.Constant) and isinstance(n.value, str)}


def test_alert_texts_offer_exactly_the_placeholders_the_config_language_accepts():
    alert = AlertTransition(
        status="firing", labels=(("alertname", "A"), ("service", "s"), ("severity", "warning"), ("sli", "x")),
        templates=(), fingerprint="f", active_at_ms=0, starts_at_ms=0, ends_at_ms=None, value=1.0,
        threshold=0.5, expr="p95 > 1ms", window_ms=60_000, for_ms=0, evaluated_at_ms=0, window="1m",
    )
    assert set(vocabulary.TEMPLATE_PLACEHOLDERS) == set(render.template_values(alert))


def test_the_bus_monitor_emits_exactly_the_subjects_slis_may_read():
    from processor.bus import monitor

    emitted = {getattr(monitor, n) for n in dir(monitor) if n.startswith("BUS_") and n != "BUS_MONITOR_SUBJECTS"}
    assert set(vocabulary.BUS_MONITOR_SUBJECTS) == emitted
    assert all(s.startswith(vocabulary.BUS_SUBJECT_PATTERN[:-1]) for s in emitted)
    # No subject written out a second time in the monitor itself.
    assert set() == {s for s in _string_literals(ROOT / "bus" / "monitor.py") if s.startswith("bus.")}


def test_stat_names_the_model_accepts_are_the_vocabularys_and_every_one_is_offered_by_a_kind():
    model_stats = set(typing.get_args(Stat.model_fields["kind"].annotation))
    assert set(vocabulary.STAT_NAMES) | {"quantile", "burn_rate"} == model_stats
    offered = set().union(*(kind.stats for kind in KINDS.values()))
    assert model_stats - {"burn_rate"} == offered


def test_every_reported_stat_is_one_its_kind_offers():
    for kind in KINDS.values():
        for name in kind.reported_stats:
            stat = "quantile" if name.startswith("p") and name[1:].isdigit() else name
            assert stat in kind.stats, (kind.name, name)


def test_the_engine_rejects_only_for_reasons_that_have_a_dead_letter_subject():
    raised = set()
    for path in [*ROOT.joinpath("engine").glob("*.py"), *ROOT.joinpath("kinds").glob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "Reject":
                raised.add(node.args[0].value)
    assert set(vocabulary.REJECTION_REASONS) == raised
    assert all(r.replace("_", "").isalnum() for r in vocabulary.REJECTION_REASONS)


def test_every_output_subject_lies_in_the_slo_stream_and_is_documented():
    slo_stream = json.loads((ROOT.parent / "streams" / "slo.json").read_text())
    assert ["slo.>"] == slo_stream["subjects"]
    readme = (ROOT.parent / "README.md").read_text()
    for prefix in vocabulary.OUTPUT_SUBJECT_PREFIXES.values():
        assert prefix.startswith("slo.")
        assert f"`{prefix}." in readme


@pytest.mark.parametrize("module", ["engine/series.py", "kinds/gauge.py", "config/parse.py"])
def test_gauge_stats_are_not_spelled_out_again(module):
    literals = _string_literals(ROOT / module)
    assert not set(vocabulary.GAUGE_STATS) <= literals


def test_the_config_language_accepts_exactly_the_registered_kinds():
    from processor.config.slis import raw_sli_model

    assert tuple(KINDS) == typing.get_args(raw_sli_model().model_fields["kind"].annotation)


def test_the_unknown_stat_message_lists_every_stat():
    from processor.config.parse import parse_stat

    with pytest.raises(ValueError) as err:
        parse_stat("zzz")
    listed = set(str(err.value).split(": use ")[1].replace(",", " ").replace(" or ", " ").split())
    assert set(vocabulary.STAT_NAMES) <= listed


def test_the_readme_counts_the_catalogue_as_slo_validate_does():
    """README's figures of the shipped catalogue are those `slo validate` prints, not hand-kept."""
    import re
    from pathlib import Path

    from processor.config.load import load_config

    root = Path(__file__).resolve().parents[2]
    config = load_config(root / "config" / "slo.yaml")
    readme = (root / "README.md").read_text()
    found = re.search(r"\((\d+) SLIs, (\d+) SLOs, (\d+) alert rules", readme)
    assert found is not None, "README no longer gives the catalogue's counts"
    assert (len(config.slis), len(config.slos), len(config.alerts)) == tuple(int(n) for n in found.groups())
