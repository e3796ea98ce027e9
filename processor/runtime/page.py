"""The built-in SLO page, in the spirit of Pyrra: plain HTML with inline CSS and server-drawn SVG
(``runtime/charts.py``), no script and no external asset, so it works offline.

``/`` lists every SLO of the config (service, objective, window, the SLI now, remaining budget,
policy tier, burn rates, firing alerts), filtered by service and by "burning only" (an alert
about it fires, or its budget burns at 1x or more over its exhaustion window) through a plain
form (``?service=S&burning=1``). ``/slo/<name>`` draws the SLO's history kept by
``runtime/board.py`` (event time): its SLI (the worst series), burn rates with the tiers'
thresholds, remaining budget, and its alert history.
"""

from __future__ import annotations

__all__ = ["burning", "format_value", "render_index", "render_slo"]

from collections.abc import Sequence
from urllib.parse import quote

from processor.config.model import SloConfig, Stat
from processor.config.parse import format_duration
from processor.engine.outputs import AlertTransition, BudgetReport
from processor.runtime.board import SloBoard
from processor.runtime.charts import PALETTE, bands, esc, line_chart
from processor.runtime.render import policy_text, rfc3339_ms

_STYLE = """body{font-family:sans-serif;margin:20px;color:#222}table{border-collapse:collapse;margin:8px 0}
td,th{border:1px solid #ccc;padding:3px 8px;font-size:13px;text-align:left;vertical-align:top}th{background:#eee}
tr.burning td{background:#fdecea}.firing{color:#b00020;font-weight:bold}form{margin:8px 0}
svg{display:block;margin:6px 0}a{color:#1f4e9c}.muted{color:#777}"""
_FIRING_COLOR, _RESOLVED_COLOR = "#d62728", "#2ca02c"


def format_value(stat: Stat, value: float | None) -> str:
    """A stat's value for people: ms for durations, % for ratios, else the number."""
    if value is None:
        return "no data"
    if stat.kind in ("quantile", "since_last", "bad_for"):
        return f"{value:.4g} ms"
    if stat.kind in ("good_ratio", "bad_ratio"):
        return f"{value * 100:.4g}%"
    return f"{value:.4g}"


def burning(board: SloBoard, slo: SloConfig) -> bool:
    """An alert about the SLO fires, or its budget burns at 1x or more over its exhaustion window."""
    if board.firing_for(slo.name):
        return True
    report = board.budgets.get(slo.name)
    if report is None or slo.budget is None:
        return False
    rate = dict(report.burn_rates).get(slo.budget.exhaustion_window_ms)
    return rate is not None and rate >= 1.0


def _page(title: str, body: str) -> str:
    return (f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>{esc(title)}</title>'
            f'<style>{_STYLE}</style></head><body>{body}</body></html>')


def _alert_text(alert: AlertTransition) -> str:
    labels = alert.label_map
    tier = f" {labels['tier']}" if labels.get("tier") else ""
    return f"{labels['alertname']}{tier} ({labels['severity']})"


def _burn_text(board: SloBoard, slo: SloConfig) -> str:
    report = board.budgets.get(slo.name)
    if report is None:
        return ""
    return ", ".join(f"{format_duration(w)}: {'-' if b is None else f'{b:.3g}x'}" for w, b in report.burn_rates)


def _row(board: SloBoard, slo: SloConfig) -> str:
    track, report = board.tracks[slo.name], board.budgets.get(slo.name)
    firing = board.firing_for(slo.name)
    series = f' <span class="muted">(worst of {track.series})</span>' if track.series > 1 else ""
    cells = [
        esc(slo.service),
        f'<a href="/slo/{quote(slo.name)}">{esc(slo.name)}</a>',
        esc(slo.objective.text),
        esc(report.window if report is not None else format_duration(slo.window_ms)),
        esc(format_value(slo.objective.stat, track.sli_now)) + series,
        "-" if report is None else f"{report.remaining * 100:.2f}%",
        "-" if report is None else esc(_policy_text(report)),
        esc(_burn_text(board, slo)),
        '<span class="firing">' + esc(", ".join(_alert_text(a) for a in firing)) + "</span>" if firing else "",
    ]
    cls = ' class="burning"' if burning(board, slo) else ""
    return f'<tr data-slo="{esc(slo.name)}"{cls}>' + "".join(f"<td>{c}</td>" for c in cells) + "</tr>"


def render_index(board: SloBoard, service: str = "", burning_only: bool = False) -> str:
    """The list of SLOs, filtered."""
    slos = [s for s in board.slos.values()
            if (not service or s.service == service) and (not burning_only or burning(board, s))]
    services = sorted({s.service for s in board.slos.values()})
    options = "".join(f'<option value="{esc(s)}"{" selected" if s == service else ""}>{esc(s)}</option>'
                      for s in services)
    form = (f'<form method="get" action="/"><label>service <select name="service"><option value="">all</option>'
            f'{options}</select></label> <label><input type="checkbox" name="burning" value="1"'
            f'{" checked" if burning_only else ""}> burning only</label> <button type="submit">filter</button></form>')
    head = ("service", "SLO", "objective", "window", "SLI now", "budget left", "policy", "burn rates",
            "firing alerts")
    table = ('<table id="slos"><thead><tr>' + "".join(f"<th>{h}</th>" for h in head) + "</tr></thead><tbody>"
             + "".join(_row(board, s) for s in sorted(slos, key=lambda s: (s.service, s.name))) + "</tbody></table>")
    firing = len(board.firing())
    return _page("SLOs", f"<h1>SLOs</h1><p>{len(slos)} of {len(board.slos)} SLOs shown; {firing} alerts firing. "
                         f'<a href="/metrics">/metrics</a></p>{form}{table}')


def _episodes(alerts: Sequence[AlertTransition], end_ms: int) -> list[tuple[str, str, list[tuple[int, int, str]]]]:
    rows: dict[str, list[tuple[int, int, str]]] = {}
    for alert in alerts:
        key = _alert_text(alert)
        until = alert.ends_at_ms if alert.status == "resolved" and alert.ends_at_ms is not None else end_ms
        span = (alert.starts_at_ms, until, f"{key} {rfc3339_ms(alert.starts_at_ms)} .. "
                f"{'firing' if alert.status == 'firing' else rfc3339_ms(until)}")
        spans = rows.setdefault(key, [])
        if spans and spans[-1][0] == alert.starts_at_ms:
            spans[-1] = span  # the resolution of the episode its firing opened
        else:
            spans.append(span)
    return [(key, _FIRING_COLOR, spans) for key, spans in rows.items()]


def _charts(board: SloBoard, slo: SloConfig) -> str:
    track = board.tracks[slo.name]
    times = [t for t, _ in track.sli] + [t for t, _, _ in track.budget]
    if not times:
        return "<p>No report yet: the SLI is reported every minute of event time.</p>"
    x0, x1 = min(times), max(times)
    stat = str(slo.objective.stat)
    out = [line_chart(f"SLI {slo.sli}: {stat} (worst series)", x0, x1, [(stat, PALETTE[0], list(track.sli))],
                      [(f"objective {slo.objective.text}", "#000000", slo.objective.threshold)])]
    if track.budget:
        windows: dict[str, list[tuple[int, float | None]]] = {}
        for t, _, rates in track.budget:
            for w, rate in rates.items():
                windows.setdefault(w, []).append((t, rate))
        tiers = [(f"tier {t.tier} {t.burn:g}x", "#555555", t.burn) for t in (slo.budget.burn_tiers if slo.budget else ())]
        out.append(line_chart("burn rate per window", x0, x1,
                              [(f"burn {w}", PALETTE[i % len(PALETTE)], pts) for i, (w, pts) in enumerate(windows.items())],
                              tiers))
        out.append(line_chart("remaining error budget", x0, x1,
                              [("remaining", PALETTE[0], [(t, r) for t, r, _ in track.budget])], [("0", "#000000", 0.0)]))
    if track.alerts:
        out.append(bands("alerts", x0, x1, _episodes(track.alerts, x1)))
    return "".join(out)


def _history(alerts: Sequence[AlertTransition]) -> str:
    if not alerts:
        return "<p>No alert transition since the processor started.</p>"
    rows = []
    for a in reversed(alerts):
        labels = a.label_map
        cells = (rfc3339_ms(a.evaluated_at_ms), a.status, labels["alertname"], labels["severity"], labels.get("tier", ""),
                 rfc3339_ms(a.starts_at_ms), "" if a.ends_at_ms is None else rfc3339_ms(a.ends_at_ms),
                 "" if a.value is None else f"{a.value:.4g}")
        rows.append(f'<tr class="{a.status}">' + "".join(f"<td>{esc(c)}</td>" for c in cells) + "</tr>")
    head = ("at", "status", "alert", "severity", "tier", "starts", "ends", "value")
    return ('<table id="alerts"><thead><tr>' + "".join(f"<th>{h}</th>" for h in head) + "</tr></thead><tbody>"
            + "".join(rows) + "</tbody></table>")


def _exhaustion_text(tte_ms: int | None) -> str:
    if tte_ms is None:
        return "not burning"
    if tte_ms == 0:
        return "spent"
    return format_duration(tte_ms - tte_ms % 60_000) if tte_ms >= 60_000 else "under a minute"


def render_slo(board: SloBoard, name: str) -> str | None:
    """One SLO's page; None if the config has no SLO of that name."""
    slo = board.slos.get(name)
    if slo is None:
        return None
    report = board.budgets.get(name)
    facts = [("service", slo.service), ("SLI", slo.sli), ("objective", slo.objective.text),
             ("window", report.window if report else format_duration(slo.window_ms)),
             ("SLI now", format_value(slo.objective.stat, board.tracks[name].sli_now))]
    if report is not None:
        facts += [("budget left", f"{report.remaining * 100:.2f}%"), ("budget spent", f"{report.consumed * 100:.2f}%"),
                  ("good / total", f"{report.good} / {report.total}"), ("policy", _policy_text(report)),
                  ("burn rates", _burn_text(board, slo)),
                  ("time to exhaustion", _exhaustion_text(report.time_to_exhaustion_ms)),
                  ("as of", rfc3339_ms(report.evaluated_at_ms))]
    firing = board.firing_for(name)
    facts.append(("firing alerts", ", ".join(_alert_text(a) for a in firing) or "none"))
    table = '<table id="facts">' + "".join(f'<tr data-fact="{esc(k)}"><th>{esc(k)}</th><td>{esc(v)}</td></tr>'
                                          for k, v in facts) + "</table>"
    about = f"<p>{esc(slo.description)}</p>" if slo.description else ""
    return _page(f"SLO {name}", f'<p><a href="/">all SLOs</a></p><h1>{esc(slo.service)} / {esc(name)}</h1>{about}'
                                f"{table}<h2>Last hours</h2>{_charts(board, slo)}<h2>Alert history</h2>"
                                f"{_history(board.tracks[name].alerts)}")


def _policy_text(report: BudgetReport) -> str:
    return policy_text(report.policy, report.total, report.policy_min_events, report.method)
