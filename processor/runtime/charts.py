"""Self-contained SVG charts drawn server-side (no script, no external asset): a line chart of
time series with horizontal threshold lines, and a chart of bands (alert episodes). Shared by the
backtest's HTML report (``replay/report.py``) and the built-in SLO page (``runtime/page.py``).
Times are event time, epoch ms; the axis shows them as UTC clock times.
"""

from __future__ import annotations

__all__ = ["PALETTE", "Frame", "Point", "bands", "esc", "line_chart", "thinned"]

import html
from collections.abc import Sequence
from typing import Any

from processor.runtime.render import rfc3339_ms

PALETTE = ("#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#7f7f7f", "#bcbd22")
_W, _H, _LEFT, _RIGHT, _TOP, _BOTTOM = 1180, 170, 240, 260, 18, 22

Point = tuple[int, float | None]


def esc(text: Any) -> str:
    return html.escape(str(text), quote=True)


class Frame:
    """Maps event time and values to the chart's pixels."""

    def __init__(self, x0: int, x1: int, values: Sequence[float], height: int = _H) -> None:
        self.x0, self.x1 = x0, max(x1, x0 + 1)
        lo, hi = (min(values), max(values)) if values else (0.0, 1.0)
        if hi == lo:
            lo, hi = lo - (abs(lo) * 0.1 or 1.0), hi + (abs(hi) * 0.1 or 1.0)
        pad = (hi - lo) * 0.08
        self.lo, self.hi = lo - pad, hi + pad
        self.height = height

    def x(self, t_ms: int) -> float:
        return _LEFT + (t_ms - self.x0) / (self.x1 - self.x0) * (_W - _LEFT - _RIGHT)

    def y(self, v: float) -> float:
        return _TOP + (self.hi - v) / (self.hi - self.lo) * (self.height - _TOP - _BOTTOM)


def thinned(points: Sequence[Point], most: int) -> Sequence[Point]:
    """At most about ``most`` points: each stretch's lowest and highest values kept, so a spike
    survives (a week of one-minute reports is 10,080 points for some 700 pixels)."""
    if len(points) <= most:
        return points
    step = -(-len(points) // (most // 2))
    out: list[Point] = []
    for i in range(0, len(points), step):
        chunk = [p for p in points[i:i + step] if p[1] is not None]
        if not chunk:
            out.append((points[i][0], None))
            continue
        lo, hi = min(chunk, key=lambda p: p[1]), max(chunk, key=lambda p: p[1])  # type: ignore[arg-type,return-value]
        out.extend(sorted({lo, hi}))
    return out


def _path(frame: Frame, points: Sequence[Point]) -> str:
    parts, pen_down = [], False
    for t, v in thinned(points, 2 * (_W - _LEFT - _RIGHT)):
        if v is None:
            pen_down = False
            continue
        parts.append(f"{'L' if pen_down else 'M'}{frame.x(t):.1f},{frame.y(v):.1f}")
        pen_down = True
    return " ".join(parts)


def _axes(frame: Frame, title: str) -> list[str]:
    bottom = frame.height - _BOTTOM
    out = [f'<rect x="{_LEFT}" y="{_TOP}" width="{_W - _LEFT - _RIGHT}" height="{bottom - _TOP}" fill="#fafafa" stroke="#ccc"/>',
           f'<text x="{_LEFT}" y="12" font-size="12" font-weight="bold">{esc(title)}</text>']
    for v in (frame.lo, frame.hi):
        out.append(f'<text x="{_LEFT - 4}" y="{frame.y(v) + 4:.1f}" font-size="10" text-anchor="end">{v:.4g}</text>')
    for t in (frame.x0, (frame.x0 + frame.x1) // 2, frame.x1):
        out.append(f'<text x="{frame.x(t):.1f}" y="{frame.height - 6}" font-size="10" text-anchor="middle">'
                   f'{rfc3339_ms(t)[11:19]}</text>')
    return out


def line_chart(title: str, x0: int, x1: int, lines: Sequence[tuple[str, str, Sequence[Point]]],
                hlines: Sequence[tuple[str, str, float]]) -> str:
    values = [v for _, _, pts in lines for _, v in pts if v is not None] + [v for _, _, v in hlines]
    frame = Frame(x0, x1, values)
    out = _axes(frame, title)
    legend_y = _TOP + 10
    for label, color, value in hlines:
        y = frame.y(value)
        out.append(f'<line x1="{_LEFT}" x2="{_W - _RIGHT}" y1="{y:.1f}" y2="{y:.1f}" stroke="{color}" stroke-dasharray="6,3"/>')
        out.append(f'<text x="{_W - _RIGHT + 4}" y="{legend_y}" font-size="10" fill="{color}">- - {esc(label)}</text>')
        legend_y += 12
    for label, color, points in lines:
        out.append(f'<path d="{_path(frame, points)}" fill="none" stroke="{color}" stroke-width="2"/>')
        out.append(f'<text x="{_W - _RIGHT + 4}" y="{legend_y}" font-size="10" fill="{color}">&#x2014; {esc(label)}</text>')
        legend_y += 12
    return f'<svg xmlns="http://www.w3.org/2000/svg" width="{_W}" height="{_H}">{"".join(out)}</svg>'


def bands(title: str, x0: int, x1: int, rows: Sequence[tuple[str, str, Sequence[tuple[int, int, str]]]]) -> str:
    height = _TOP + 22 * len(rows) + _BOTTOM
    frame = Frame(x0, x1, [0.0, 1.0], height)
    out = _axes(frame, title)[:2] + _axes(frame, title)[4:]
    for i, (label, color, spans) in enumerate(rows):
        y = _TOP + 4 + 22 * i
        out.append(f'<text x="{_LEFT - 4}" y="{y + 12}" font-size="10" text-anchor="end">{esc(label)}</text>')
        for start, end, tip in spans:
            left, right = frame.x(max(start, x0)), frame.x(min(end, x1))
            out.append(f'<rect x="{left:.1f}" y="{y}" width="{max(right - left, 2):.1f}" height="16" fill="{color}">'
                       f'<title>{esc(tip)}</title></rect>')
    return f'<svg xmlns="http://www.w3.org/2000/svg" width="{_W}" height="{height}">{"".join(out)}</svg>'
