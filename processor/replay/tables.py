"""The text tables ``slo backtest`` prints: the alert diff and the scores."""

from __future__ import annotations

__all__ = ["SCORE_COLUMNS", "diff_table", "format_s", "format_share", "score_rows", "scores_table", "series_text"]

from collections.abc import Sequence
from typing import Any

from processor.replay.incidents import Incident
from processor.runtime.render import rfc3339_ms

_HIDDEN_LABELS = ("alertname", "tier", "severity", "sli")


def format_s(seconds: float | None, signed: bool = False) -> str:
    """``150`` -> ``2m30s``; ``None`` -> ``-``; signed: ``+2m30s`` / ``-10s``."""
    if seconds is None:
        return "-"
    sign = ("+" if seconds > 0 else "-" if seconds < 0 else "±") if signed else ("-" if seconds < 0 else "")
    left = round(abs(seconds))
    parts = []
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60)):
        if left >= size:
            parts.append(f"{left // size}{unit}")
            left %= size
    if left or not parts:
        parts.append(f"{left}s")
    return sign + "".join(parts)


def format_share(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


def series_text(labels: dict[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()) if k not in _HIDDEN_LABELS) or "-"


def _at(ms: int | None) -> str:
    return "firing" if ms is None else rfc3339_ms(ms)[11:19]


def _grid(rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows)


def diff_table(result: Any, args: Any, messages: int) -> str:
    start_ms, end_ms = result.range_ms
    head = [f"backtest {rfc3339_ms(start_ms)} .. {rfc3339_ms(end_ms)} ({format_s((end_ms - start_ms) / 1000)}), "
            f"{messages:,} messages",
            f"  baseline  {args.baseline}: {len(result.baseline)} alert episodes, "
            f"{sum(e.pages for e in result.baseline)} pages",
            f"  candidate {args.candidate}: {len(result.candidate)} alert episodes, "
            f"{sum(e.pages for e in result.candidate)} pages", ""]
    rows = [("rule", "series", "change", "baseline", "candidate", "fires", "resolves", "firing")]
    unchanged = 0
    for d in result.diffs:
        for c in d.changes:
            if c["change"] == "same":
                unchanged += 1
                continue
            b, k = c["baseline"], c["candidate"]
            rows.append((d.rule, series_text(d.labels), c["change"],
                         "-" if b is None else f"{_at(b['start_ms'])}..{_at(b['end_ms'])}",
                         "-" if k is None else f"{_at(k['start_ms'])}..{_at(k['end_ms'])}",
                         format_s(c.get("fires_later_s"), signed=True) if "fires_later_s" in c else "-",
                         format_s(c.get("resolves_later_s"), signed=True) if "resolves_later_s" in c else "-",
                         f"{format_s(None if b is None else b['firing_s'])} -> "
                         f"{format_s(None if k is None else k['firing_s'])}"))
    if len(rows) == 1:
        body = "no alert differs between baseline and candidate"
    else:
        body = "alert diff (fires/resolves: how much later the candidate does; firing: time spent firing)\n" + _grid(rows)
    return "\n".join(head) + "\n" + body + f"\n{unchanged} episode(s) the same on both sides"


SCORE_COLUMNS = ("rule", "side", "alerts", "precision", "recall", "detected", "detection", "reset", "pages/week",
                 "page precision")


def score_rows(scores: dict) -> list[tuple[str, ...]]:
    """The cells of the score table (SCORE_COLUMNS): the rule sets, then every rule that fired on
    either side, each with a row per side."""
    rows = []
    rules = sorted({r for side in scores.values() for r, s in side["rules"].items() if s["episodes"]})
    for rule in ["(all rules)", *rules]:
        for side, data in scores.items():
            s = data["set"] if rule == "(all rules)" else data["rules"].get(rule)
            if s is not None:
                rows.append((rule, side, str(s["episodes"]), format_share(s["precision"]), format_share(s["recall"]),
                             f"{s['detected']}/{s['incidents']}", format_s(s["detection_s"]), format_s(s["reset_s"]),
                             f"{s['pages_per_week']:.1f}", format_share(s["page_precision"])))
    return rows


def scores_table(scores: dict, incidents: Sequence[Incident]) -> str:
    rows = [SCORE_COLUMNS, *score_rows(scores)]
    return f"\nscores against {len(incidents)} incident(s) (docs/backtest.md)\n" + _grid(rows)
