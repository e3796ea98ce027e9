"""Alert timelines: the firing episodes of a replay's alert transitions, and the diff of two
timelines (baseline and candidate) rule by rule and series by series (docs/backtest.md).

An episode is one firing of one series: from ``startsAt`` to ``endsAt`` (``None`` while it still
fires at the end of the range). A *rule* is an ``alertname`` with its burn-rate ``tier`` label
(the tiers share one name) or else its severity; a *series* is one set of labels (a fingerprint).
"""

from __future__ import annotations

__all__ = ["Episode", "PAGE_SEVERITIES", "SeriesDiff", "diff_timelines", "episodes", "ms_of", "rule_of", "series_key"]

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

PAGE_SEVERITIES = frozenset({"critical", "page", "emergency"})


def rule_of(labels: dict[str, str]) -> str:
    """``GatewayLatencyP95High[warning]``: the alert name and the burn-rate tier, else the severity
    (rules of one name and severity on several SLIs count as one rule)."""
    return f"{labels.get('alertname', '?')}[{labels.get('tier') or labels.get('severity', '')}]"


def series_key(labels: dict[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(labels.items()))


def ms_of(text: str) -> int:
    """Epoch ms of an output's RFC 3339 time (``evaluatedAt``, ``startsAt``: runtime/render.rfc3339_ms)."""
    return int(datetime.fromisoformat(text).timestamp() * 1000)


@dataclass
class Episode:
    rule: str
    labels: dict[str, str]
    fingerprint: str
    start_ms: int
    end_ms: int | None = None  # None: still firing at the end of the range

    @property
    def severity(self) -> str:
        return self.labels.get("severity", "")

    @property
    def pages(self) -> bool:
        return self.severity in PAGE_SEVERITIES

    def until(self, range_end_ms: int) -> int:
        return self.end_ms if self.end_ms is not None else max(range_end_ms, self.start_ms)

    def overlaps(self, start_ms: int, end_ms: int, range_end_ms: int) -> bool:
        """Whether it fired at some moment of ``[start_ms, end_ms]``."""
        return self.start_ms <= end_ms and self.until(range_end_ms) >= start_ms


def episodes(alerts: Iterable[dict]) -> list[Episode]:
    """The episodes of alert transitions (bodies of ``slo.alerts.*`` messages), by start time."""
    found: dict[tuple[str, str], Episode] = {}
    for body in alerts:
        key = (body["fingerprint"], body["startsAt"])
        episode = found.get(key)
        if episode is None:
            labels = dict(body["labels"])
            episode = found[key] = Episode(rule_of(labels), labels, body["fingerprint"], ms_of(body["startsAt"]))
        if body["status"] == "resolved" and body.get("endsAt"):
            episode.end_ms = ms_of(body["endsAt"])
    return sorted(found.values(), key=lambda e: (e.start_ms, e.rule, e.fingerprint))


@dataclass
class SeriesDiff:
    """One series' episodes compared: pairs of overlapping episodes (``moved`` or ``same``), and the
    episodes only one side has (``disappears``: baseline only, ``appears``: candidate only)."""

    rule: str
    labels: dict[str, str]
    changes: list[dict] = field(default_factory=list)
    baseline_firing_ms: int = 0
    candidate_firing_ms: int = 0


def _pair(base: Sequence[Episode], cand: Sequence[Episode], range_end_ms: int) -> list[tuple[Episode | None, Episode | None]]:
    """Each baseline episode with the first candidate episode it overlaps that no earlier one took."""
    pairs: list[tuple[Episode | None, Episode | None]] = []
    taken: set[int] = set()
    for b in base:
        match = next((i for i, c in enumerate(cand) if i not in taken
                      and c.overlaps(b.start_ms, b.until(range_end_ms), range_end_ms)), None)
        if match is None:
            pairs.append((b, None))
        else:
            taken.add(match)
            pairs.append((b, cand[match]))
    pairs.extend((None, c) for i, c in enumerate(cand) if i not in taken)
    return sorted(pairs, key=lambda p: min(e.start_ms for e in p if e is not None))


def _change(b: Episode | None, c: Episode | None, range_end_ms: int) -> dict:
    if c is None:
        assert b is not None
        return {"change": "disappears", "baseline": _span(b, range_end_ms), "candidate": None}
    if b is None:
        return {"change": "appears", "baseline": None, "candidate": _span(c, range_end_ms)}
    fire_s = (c.start_ms - b.start_ms) / 1000
    resolve_s = None if b.end_ms is None or c.end_ms is None else (c.end_ms - b.end_ms) / 1000
    same = fire_s == 0 and b.end_ms == c.end_ms
    return {"change": "same" if same else "moves", "baseline": _span(b, range_end_ms),
            "candidate": _span(c, range_end_ms), "fires_later_s": fire_s, "resolves_later_s": resolve_s}


def _span(e: Episode, range_end_ms: int) -> dict:
    return {"start_ms": e.start_ms, "end_ms": e.end_ms, "severity": e.severity, "fingerprint": e.fingerprint,
            "firing_s": (e.until(range_end_ms) - e.start_ms) / 1000}


def diff_timelines(baseline: Sequence[Episode], candidate: Sequence[Episode], range_end_ms: int) -> list[SeriesDiff]:
    """Every series that fired on either side, its episodes paired (``range_end_ms`` ends the
    episodes still firing, for their firing time)."""
    by_series: dict[tuple, tuple[list[Episode], list[Episode]]] = {}
    for side, eps in ((0, baseline), (1, candidate)):
        for e in eps:
            by_series.setdefault((e.rule, series_key(e.labels)), ([], []))[side].append(e)
    diffs = []
    for (rule, key), (base, cand) in sorted(by_series.items()):
        diff = SeriesDiff(rule, dict(key))
        diff.baseline_firing_ms = sum(e.until(range_end_ms) - e.start_ms for e in base)
        diff.candidate_firing_ms = sum(e.until(range_end_ms) - e.start_ms for e in cand)
        diff.changes = [_change(b, c, range_end_ms) for b, c in _pair(base, cand, range_end_ms)]
        diffs.append(diff)
    return diffs
