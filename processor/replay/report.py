"""``slo backtest --report``: one self-contained HTML file (inline styles, static inline SVG drawn
here; no script, no network) with, per SLO, the SLI over time with its thresholds, the burn rates
of each window with the tiers' thresholds, the remaining budget, and the alert bands of baseline
and candidate (and the incidents); then the score table and the alert diff.

The series come from the engines' outputs: ``slo.sli`` reports, ``slo.budget`` reports
(``burnRates``, ``remaining``) and alert transitions (``replay/backtest.Side``).
"""

from __future__ import annotations

__all__ = ["BASELINE_COLOR", "CANDIDATE_COLOR", "INCIDENT_COLOR", "render_report"]

from collections.abc import Sequence
from typing import Any

from processor.config.model import Config, SloConfig
from processor.replay.timeline import ms_of
from processor.replay.tables import SCORE_COLUMNS, format_s, score_rows, series_text
from processor.runtime.charts import PALETTE, Point, bands, esc, line_chart
from processor.runtime.render import rfc3339_ms

BASELINE_COLOR = "#1f77b4"
CANDIDATE_COLOR = "#ff7f0e"
INCIDENT_COLOR = "#d62728"
_MAX_LABEL_SERIES = 4


def _about(slo: SloConfig, labels: dict[str, str]) -> bool:
    return labels.get("slo") == slo.name or (labels.get("sli") == slo.sli and labels.get("service") == slo.service)


def _sli_lines(slo: SloConfig, reports: Sequence[dict]) -> list[tuple[str, str, list[Point]]]:
    stat = str(slo.objective.stat)
    series: dict[str, list[Point]] = {}
    for r in reports:
        if r["sli"] == slo.sli and stat in r["values"]:
            series.setdefault(series_text(r["labels"]), []).append((ms_of(r["evaluatedAt"]), r["values"][stat]))
    busiest = sorted(series.items(), key=lambda kv: -sum(v is not None for _, v in kv[1]))[:_MAX_LABEL_SERIES]
    return [(f"{stat} {name}", PALETTE[i % len(PALETTE)], pts) for i, (name, pts) in enumerate(busiest)]


def _both(lines: Sequence[tuple[str, str, float]]) -> list[tuple[str, str, float]]:
    """Lines (``side text``, color, value) both sides draw alike become one ``both text`` line."""
    texts: dict[tuple[str, float], list[str]] = {}
    for label, _, value in lines:
        side, _, text = label.partition(" ")
        texts.setdefault((text, value), []).append(side)
    out = []
    for label, color, value in lines:
        side, _, text = label.partition(" ")
        sides = texts[(text, value)]
        if len(sides) > 1:
            if side == sides[0]:
                out.append((f"both {text}", "#555555", value))
        else:
            out.append((label, color, value))
    return out


def _thresholds(slo: SloConfig, configs: Sequence[tuple[str, str, Config]]) -> list[tuple[str, str, float]]:
    lines = []
    for side, color, config in configs:
        for alert in config.alerts:
            if alert.sli == slo.sli and str(alert.condition.stat) == str(slo.objective.stat):
                for_text = f" for {format_s(alert.for_ms / 1000)}" if alert.for_ms else ""
                lines.append((f"{side} {alert.condition.text}{for_text} ({alert.severity})", color, alert.condition.threshold))
    return [(f"objective {slo.objective.text}", "#000000", slo.objective.threshold), *_both(lines)]


def _burn(slo_name: str, budgets: Sequence[dict]) -> tuple[list[tuple[str, str, list[Point]]], list[Point]]:
    windows: dict[str, list[Point]] = {}
    remaining: list[Point] = []
    for b in budgets:
        if b["slo"] != slo_name:
            continue
        t = ms_of(b["evaluatedAt"])
        for window, rate in b["burnRates"].items():
            windows.setdefault(window, []).append((t, rate))
        remaining.append((t, b["remaining"]))
    lines = [(f"burn {w}", PALETTE[i % len(PALETTE)], pts) for i, (w, pts) in enumerate(windows.items())]
    return lines, remaining


def _tier_lines(slo_name: str, configs: Sequence[tuple[str, str, Config]]) -> list[tuple[str, str, float]]:
    out = []
    for side, color, config in configs:
        slo = next((s for s in config.slos if s.name == slo_name), None)
        for tier in (slo.budget.burn_tiers if slo is not None and slo.budget else ()):
            out.append((f"{side} tier {tier.tier} {tier.burn:g}x", color, tier.burn))
    return _both(out)


def _episode_rows(result: Any, slo: SloConfig) -> list[tuple[str, str, list[tuple[int, int, str]]]]:
    """One row per rule about the SLO and side: its episodes."""
    end_ms = result.range_ms[1]
    rules = sorted({e.rule for e in result.baseline + result.candidate if _about(slo, e.labels)})
    rows = []
    for rule in rules:
        for side, color, eps in (("baseline", BASELINE_COLOR, result.baseline), ("candidate", CANDIDATE_COLOR, result.candidate)):
            spans = [(e.start_ms, e.until(end_ms), f"{side} {rule} {rfc3339_ms(e.start_ms)} .. "
                      f"{'still firing' if e.end_ms is None else rfc3339_ms(e.end_ms)}")
                     for e in eps if e.rule == rule and _about(slo, e.labels)]
            rows.append((f"{side} {rule}", color, spans))
    return rows


def _slo_section(slo: SloConfig, run: Any, result: Any, incidents: Sequence[Any]) -> str | None:
    base, cand = run.sides
    x0, x1 = result.range_ms
    configs = [("baseline", "#555555", base.config), ("candidate", CANDIDATE_COLOR, cand.config)]
    side = base if any(s.name == slo.name for s in base.config.slos) else cand
    sli_lines = _sli_lines(slo, side.slis)
    burn_lines, remaining = _burn(slo.name, side.budgets)
    rows = _episode_rows(result, slo)
    firing = bool(rows)
    if incidents:
        rows.append(("incidents", INCIDENT_COLOR, [(i.start_ms, i.end_ms, i.name) for i in incidents
                                                   if i.slo == slo.name or i.service == slo.service]))
    has_values = any(v is not None for _, _, pts in sli_lines for _, v in pts)
    if not has_values and not firing:
        return None
    charts = [bands("alerts (baseline, candidate) and incidents", x0, x1, rows or [("no alerts", "#ffffff", [])]),
              line_chart(f"SLI {slo.sli}: {slo.objective.stat}", x0, x1, sli_lines, _thresholds(slo, configs))]
    if burn_lines:
        charts.append(line_chart("burn rate per window", x0, x1, burn_lines, _tier_lines(slo.name, configs)))
        charts.append(line_chart("remaining error budget", x0, x1, [("remaining", "#2ca02c", remaining)], []))
    return (f'<section class="slo" id="slo-{esc(slo.name)}"><h2>{esc(slo.service)} / {esc(slo.name)}</h2>'
            f'<p>{esc(slo.objective.text)} over {format_s(slo.window_ms / 1000)}</p>{"".join(charts)}</section>')


def _scores_html(scores: dict | None) -> str:
    if scores is None:
        return "<p>No incidents given (--incidents): no scores.</p>"
    rows = [f'<tr data-rule="{esc(cells[0])}" data-side="{cells[1]}">' + "".join(f"<td>{esc(c)}</td>" for c in cells)
            + "</tr>" for cells in score_rows(scores)]
    return ('<table id="scores"><thead><tr>' + "".join(f"<th>{h}</th>" for h in SCORE_COLUMNS) + "</tr></thead><tbody>"
            + "".join(rows) + "</tbody></table>")


def _diff_html(result: Any) -> str:
    rows = []
    for d in result.diffs:
        for c in d.changes:
            if c["change"] == "same":
                continue
            b, k = c["baseline"], c["candidate"]
            cells = (d.rule, series_text(d.labels), c["change"],
                     "-" if b is None else rfc3339_ms(b["start_ms"]), "-" if k is None else rfc3339_ms(k["start_ms"]),
                     format_s(c.get("fires_later_s"), signed=True), format_s(c.get("resolves_later_s"), signed=True),
                     f"{format_s(None if b is None else b['firing_s'])} → {format_s(None if k is None else k['firing_s'])}")
            rows.append("<tr>" + "".join(f"<td>{esc(x)}</td>" for x in cells) + "</tr>")
    if not rows:
        return "<p>No alert differs between baseline and candidate.</p>"
    head = ("rule", "series", "change", "baseline fires", "candidate fires", "fires later", "resolves later", "firing")
    return ('<table id="diff"><thead><tr>' + "".join(f"<th>{h}</th>" for h in head) + "</tr></thead><tbody>"
            + "".join(rows) + "</tbody></table>")


_STYLE = """body{font-family:sans-serif;margin:20px;color:#222}table{border-collapse:collapse;margin:8px 0}
td,th{border:1px solid #ccc;padding:3px 8px;font-size:13px;text-align:left}th{background:#eee}
section.slo{margin:18px 0;border-top:2px solid #ddd}svg{display:block;margin:4px 0}
.key span{display:inline-block;width:14px;height:10px;margin:0 4px 0 12px}"""


def render_report(run: Any, result: Any, incidents: Sequence[Any] = ()) -> str:
    """The report page: ``run`` a finished ``Backtest``, ``result`` its ``BacktestResult``."""
    base, cand = run.sides
    slos = {s.name: s for s in base.config.slos} | {s.name: s for s in cand.config.slos if s.name not in
                                                    {b.name for b in base.config.slos}}
    touched = {e.labels.get("slo") for e in result.baseline + result.candidate}
    changed = {d.labels.get("slo") for d in result.diffs if any(c["change"] != "same" for c in d.changes)}
    order = sorted(slos.values(), key=lambda s: (s.name not in changed, s.name not in touched, s.service, s.name))
    sections = [x for x in (_slo_section(s, run, result, incidents) for s in order) if x]
    x0, x1 = result.range_ms
    key = (f'<p class="key"><span style="background:{BASELINE_COLOR}"></span>baseline'
           f'<span style="background:{CANDIDATE_COLOR}"></span>candidate'
           f'<span style="background:{INCIDENT_COLOR}"></span>incident</p>')
    return (f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>slo backtest</title><style>{_STYLE}</style>'
            f'</head><body><h1>slo backtest</h1><p>{rfc3339_ms(x0)} .. {rfc3339_ms(x1)}, {run.messages:,} messages; '
            f'baseline {len(result.baseline)} alert episodes, candidate {len(result.candidate)}.</p>{key}'
            f'<h2>Scores</h2>{_scores_html(result.scores)}<h2>Alert diff</h2>{_diff_html(result)}'
            f'<h2>SLOs</h2>{"".join(sections)}</body></html>')
