"""A new SLI kind is one module: this test writes one (``peak``: the largest number seen, in a
bucket type of its own) and runs it through the loader, the engine and a snapshot, with nothing
else changed. docs/architecture.md, "How to add an SLI kind", is this file in prose."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

import pytest

from processor import kinds
from processor.config.fields import FieldPath
from processor.config.load import load_config_text
from processor.config.model import SliConfig
from processor.engine import Engine, run_all
from processor.errors import ConfigError
from processor.kinds.base import EVERY_KIND_STATS, Kind
from processor.kinds.payload import field_path, read_number
from tests.enginekit import event


# ---------------------------------------------------------------- the whole kind, in one place
class PeakSli(SliConfig):
    kind: Literal["peak"] = "peak"
    number_field: str


class Peak:
    """Bucket: how many numbers and the largest."""

    __slots__ = ("count", "max")

    def __init__(self, count: int = 0, max_value: float = float("-inf")) -> None:
        self.count = count
        self.max = max_value

    def merge(self, other: Peak) -> None:
        self.count += other.count
        self.max = max(self.max, other.max)

    def copy(self) -> Peak:
        return Peak(self.count, self.max)

    def stat_value(self, stat: Any) -> float | None:
        if stat.kind == "count":
            return float(self.count)
        return self.max if stat.kind == "max" and self.count else None

    def snapshot(self) -> list:
        return ["peak", self.count, self.max if self.count else None]


class PeakKind(Kind):
    name = "peak"
    stats = EVERY_KIND_STATS | {"max"}
    reported_stats = ("count", "max")
    config_model = PeakSli
    description = "a peak SLI"
    noun = "peak"
    stat_hint = "use max"
    nature = "a peak SLI reads the number in peak_of:"
    yaml_fields = {"peak_of": (FieldPath | None, None)}
    required_keys = {"peak_of": "a peak SLI needs peak_of: the payload field with the number"}
    field_keys = ("peak_of",)
    reads = "a number (`peak_of`)"
    example = "the largest order of a minute"

    def observer(self, sli: Any):
        path = field_path(sli.number_field)
        return lambda payload: float(read_number(payload, path, sli.number_field))

    def recorder(self, sli: Any, ctx: Any, state: Any):
        def record(series: Any, sub: int, t: int, value: float) -> None:
            bucket = series.subs.get(sub)
            if bucket is None:
                bucket = series.subs[sub] = Peak()
            bucket.merge(Peak(1, value))

        return record

    def restore_bucket(self, sli: Any, data: Any) -> Peak | None:
        if type(data) is list and len(data) == 3 and data[0] == "peak":
            return Peak(data[1], float("-inf") if data[2] is None else data[2])
        return None

    def config_fields(self, raw: Any, given: dict[str, Any], loc: Any, problems: Any) -> dict[str, Any]:
        return {"number_field": raw.peak_of}


# ---------------------------------------------------------------- the test
@pytest.fixture
def peak_kind():
    kinds.register(PeakKind())
    yield
    del kinds.KINDS["peak"]


CONFIG = """\
version: 1
slis:
  order_peak:
    service: trading
    kind: peak
    subject: trade.order.submitted
    peak_of: qty
alerts:
  - name: HugeOrder
    sli: order_peak
    expr: max > 1000
    window: 1m
    severity: warning
"""


def test_a_kind_defined_in_one_place_loads_evaluates_and_snapshots(peak_kind):
    config = load_config_text(CONFIG, "peak.yaml")
    assert isinstance(config.slis[0], PeakSli)
    assert "qty" == config.slis[0].number_field

    engine = Engine(config)
    t0 = 1_700_000_000_000
    small = [event("trade.order.submitted", t0 + i * 1_000, qty=10) for i in range(30)]
    out = run_all(engine, [small, [event("trade.order.submitted", t0 + 31_000, qty=5_000)]])
    assert [] == out.alerts  # the big order's sub-window is still open

    # A copy restored from the snapshot must go on exactly like the original.
    twin = Engine(config)
    assert [] == twin.restore(engine.snapshot())
    later = [event("trade.order.submitted", t0 + 60_000 + i * 1_000, qty=10) for i in range(30)]
    first, second = run_all(engine, [later]), run_all(twin, [later])
    assert [("HugeOrder", "firing", 5_000.0)] == [(a.label_map["alertname"], a.status, a.value) for a in first.alerts]
    assert [(a.transition_id, a.value) for a in first.alerts] == [(a.transition_id, a.value) for a in second.alerts]
    assert engine.snapshot() == twin.snapshot()
    report = next(r for r in run_all(engine, [], t0 + 125_000).slis if r.sli == "order_peak")
    assert ("count", "max") == tuple(name for name, _ in report.values)


def _problems(text: str) -> list[tuple[int | None, str, str]]:
    with pytest.raises(ConfigError) as err:
        load_config_text(text, "peak.yaml")
    return [(p.line, p.field, p.message) for p in err.value.problems]


def test_the_loader_checks_a_new_kinds_keys_and_stats(peak_kind):
    assert [
        (3, "slis.order_peak.peak_of", "a peak SLI needs peak_of: the payload field with the number"),
        (7, "slis.order_peak.good", "good: applies to ratio SLIs only; a peak SLI reads the number in peak_of:"),
    ] == _problems(CONFIG.replace("    peak_of: qty\n", "    good: 'qty > 0'\n"))
    assert [
        (11, "alerts[0].expr", "p95 needs a latency or duration correlation SLI, but 'order_peak' is a peak SLI: use max"),
    ] == _problems(CONFIG.replace("max > 1000", "p95 > 10ms"))


def test_without_the_kind_registered_the_loader_names_the_known_kinds():
    with pytest.raises(ConfigError) as err:
        load_config_text(CONFIG, "peak.yaml")
    assert "expected 'latency', 'ratio', 'events', 'gauge', 'state' or 'correlation', got 'peak'" in str(err.value)


# ---------------------------------------------------------------- the docs' kind table
def _kind_table(doc: str = "docs/config.md", header: str = "| kind | reads from each event |") -> dict[str, list[str]]:
    text = (Path(__file__).parents[2] / doc).read_text()
    start = text.index(header)
    rows = {}
    for line in text[start:].splitlines()[2:]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip("|").split("|")]
        rows[re.search(r"`(\w+)`", cells[0]).group(1)] = cells[1:]
    return rows


def _stats_named(cell: str) -> set[str]:
    return {"quantile" if w == "pNN" else w for w in re.findall(r"`(\w+)`", cell)}


def test_the_docs_kind_table_is_the_registry():
    rows = _kind_table()
    assert list(kinds.KINDS) == list(rows)
    for name, kind in kinds.KINDS.items():
        reads, stats, example = rows[name]
        assert (kind.reads, kind.example) == (reads, example)
        behaviours = kind.behaviours()
        if behaviours == (kind,):
            assert set(kind.stats - EVERY_KIND_STATS) == _stats_named(stats)
        else:  # "as `ratio` (outcome) or `latency` (duration)": kinds whose stats it takes on
            assert {b.stats for b in behaviours} == {kinds.KINDS[k].stats for k in _stats_named(stats)}


def test_the_docs_list_what_each_kind_reports():
    text = " ".join((Path(__file__).parents[2] / "docs" / "config.md").read_text().split())
    for kind in kinds.KINDS.values():
        if kind.behaviours() == (kind,):
            assert f"{kind.name} `{', '.join(kind.reported_stats)}`" in text


def test_the_readmes_kind_table_names_every_kind_and_only_stats_it_offers():
    rows = _kind_table("README.md", "| kind | reads from each event | stats for objectives and rules |")
    assert list(kinds.KINDS) == list(rows)
    for name, kind in kinds.KINDS.items():
        named = {"quantile" if re.fullmatch(r"p[\d.]+", w) else w for w in re.findall(r"`([\w.]+)`", rows[name][1])}
        offered = set().union(*(b.stats for b in kind.behaviours())) | set(kinds.KINDS)
        assert named <= offered, name
