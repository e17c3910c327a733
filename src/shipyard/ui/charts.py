"""Charts as inline SVG, rendered on the server.

No chart library is shipped to the browser: the dashboard works offline and pages can be tested by
reading their HTML. Every point carries a `<title>` so hovering shows its value.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime
from html import escape

from markupsafe import Markup

PALETTE = ["#2563eb", "#dc2626", "#16a34a", "#d97706", "#7c3aed", "#0891b2", "#db2777", "#4b5563"]
W, H = 640, 240
PAD_L, PAD_R, PAD_T, PAD_B = 56, 16, 16, 36


def _nice(lo: float, hi: float, n: int = 5) -> list[float]:
    if hi <= lo:
        hi = lo + 1
    step = 10 ** math.floor(math.log10((hi - lo) / n))
    for mult in (1, 2, 5, 10):
        if (hi - lo) / (step * mult) <= n:
            step *= mult
            break
    start = math.floor(lo / step) * step
    ticks = []
    v = start
    while v <= hi + step * 1e-9 or not ticks or ticks[-1] < hi:  # the top tick covers the largest value
        ticks.append(round(v, 10))
        v += step
    return ticks


def _label(v: float) -> str:
    if abs(v) >= 1000:
        return f"{v / 1000:g}k"
    return f"{v:g}"


def _x_label(v: float, is_time: bool) -> str:
    return datetime.fromtimestamp(v).strftime("%m-%d %H:%M") if is_time else _label(v)


def _frame(x_ticks: list[tuple[float, str]], y_ticks: list[float], sy: object, title: str, y_label: str) -> list[str]:
    parts = [f'<svg class="chart" viewBox="0 0 {W} {H}" role="img" aria-label="{escape(title)}" '
             f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>']
    for t in y_ticks:
        y = sy(t)  # type: ignore[operator]
        parts.append(f'<line x1="{PAD_L}" x2="{W - PAD_R}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>'
                     f'<text x="{PAD_L - 6}" y="{y + 4:.1f}" text-anchor="end" class="tick">{_label(t)}</text>')
    for x, label in x_ticks:
        parts.append(f'<text x="{x:.1f}" y="{H - PAD_B + 16}" text-anchor="middle" class="tick">{escape(label)}</text>')
    if y_label:
        parts.append(f'<text x="12" y="{PAD_T + (H - PAD_T - PAD_B) / 2}" class="axis" '
                     f'transform="rotate(-90 12 {PAD_T + (H - PAD_T - PAD_B) / 2})" text-anchor="middle">'
                     f'{escape(y_label)}</text>')
    return parts


def _legend(names: Sequence[str]) -> str:
    items = "".join(f'<span class="legend-item"><i style="background:{PALETTE[i % len(PALETTE)]}"></i>'
                    f"{escape(str(n))}</span>" for i, n in enumerate(names))
    return f'<div class="legend">{items}</div>' if len(names) > 1 else ""


def line_chart(series: dict[str, Sequence[tuple[float | datetime, float | None]]], *, title: str = "",
               y_label: str = "", y_min: float | None = 0.0) -> Markup:
    """Lines over x (numbers or datetimes); None values break a line."""
    is_time = any(isinstance(x, datetime) for pts in series.values() for x, _ in pts)

    def xv(x: float | datetime) -> float:
        return x.timestamp() if isinstance(x, datetime) else float(x)

    points = [(xv(x), y) for pts in series.values() for x, y in pts if y is not None]
    if not points:
        return Markup(f'<div class="chart-empty">{escape(title)}: no data yet</div>')
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    x0, x1 = min(xs), max(xs) if max(xs) > min(xs) else min(xs) + 1
    lo = min(ys) if y_min is None else min(y_min, min(ys))
    y_ticks = _nice(lo, max(ys))
    y0, y1 = y_ticks[0], y_ticks[-1] if y_ticks[-1] > y_ticks[0] else y_ticks[0] + 1

    def sx(x: float) -> float:
        return PAD_L + (x - x0) / (x1 - x0) * (W - PAD_L - PAD_R)

    def sy(y: float) -> float:
        return H - PAD_B - (y - y0) / (y1 - y0) * (H - PAD_T - PAD_B)

    x_ticks = [(sx(x0 + (x1 - x0) * i / 4), _x_label(x0 + (x1 - x0) * i / 4, is_time)) for i in range(5)]
    parts = _frame(x_ticks, y_ticks, sy, title, y_label)
    for i, (name, pts) in enumerate(series.items()):
        color = PALETTE[i % len(PALETTE)]
        segment: list[str] = []
        segments = [segment]
        for x, y in pts:
            if y is None:
                segment = []
                segments.append(segment)
                continue
            segment.append(f"{sx(xv(x)):.1f},{sy(y):.1f}")
        for seg in segments:
            if len(seg) > 1:
                parts.append(f'<polyline fill="none" stroke="{color}" stroke-width="2" points="{" ".join(seg)}"/>')
        for x, y in pts:
            if y is not None:
                label = f"{escape(str(name))} {_x_label(xv(x), is_time)}: {y:,.3g}"
                parts.append(f'<circle cx="{sx(xv(x)):.1f}" cy="{sy(y):.1f}" r="2.5" fill="{color}">'
                             f"<title>{label}</title></circle>")
    parts.append("</svg>")
    return Markup(f'<figure class="chart-box"><figcaption>{escape(title)}</figcaption>{"".join(parts)}'
                  f"{_legend(list(series))}</figure>")


def bar_chart(labels: Sequence[str], values: Sequence[float], *, title: str = "", y_label: str = "") -> Markup:
    if not values:
        return Markup(f'<div class="chart-empty">{escape(title)}: no data yet</div>')
    y_ticks = _nice(min(0.0, min(values)), max(values))
    y0, y1 = y_ticks[0], y_ticks[-1] if y_ticks[-1] > y_ticks[0] else y_ticks[0] + 1

    def sy(y: float) -> float:
        return H - PAD_B - (y - y0) / (y1 - y0) * (H - PAD_T - PAD_B)

    slot = (W - PAD_L - PAD_R) / len(values)
    x_ticks = [(PAD_L + slot * (i + 0.5), str(label)[:14]) for i, label in enumerate(labels)]
    parts = _frame(x_ticks if len(labels) <= 12 else [], y_ticks, sy, title, y_label)
    for i, (label, v) in enumerate(zip(labels, values, strict=True)):
        top, base = sy(max(v, 0)), sy(min(v, 0))
        parts.append(f'<rect x="{PAD_L + slot * i + slot * 0.15:.1f}" y="{top:.1f}" width="{slot * 0.7:.1f}" '
                     f'height="{max(base - top, 0.5):.1f}" fill="{PALETTE[0]}"><title>{escape(str(label))}: '
                     f"{v:,.3g}</title></rect>")
    parts.append("</svg>")
    return Markup(f'<figure class="chart-box"><figcaption>{escape(title)}</figcaption>{"".join(parts)}</figure>')


def histogram(values: Sequence[float], *, bins: int = 20, title: str = "", x_label: str = "") -> Markup:
    if not values:
        return Markup(f'<div class="chart-empty">{escape(title)}: no data yet</div>')
    lo, hi = min(values), max(values)
    width = (hi - lo) / bins or 1.0
    counts = [0] * bins
    for v in values:
        counts[min(int((v - lo) / width), bins - 1)] += 1
    labels = [f"{lo + width * i:.3g}" for i in range(bins)]
    return bar_chart(labels, counts, title=title, y_label=x_label or "count")


def scatter_chart(points: Sequence[tuple[float, float, str]], *, title: str = "",
                  groups: Sequence[str] | None = None) -> Markup:
    """Points (x, y, label); `groups[i]` colours point i (e.g. its cluster)."""
    if not points:
        return Markup(f'<div class="chart-empty">{escape(title)}: no data yet</div>')
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    x_ticks_v, y_ticks = _nice(min(xs), max(xs)), _nice(min(ys), max(ys))
    x0, x1 = x_ticks_v[0], x_ticks_v[-1] if x_ticks_v[-1] > x_ticks_v[0] else x_ticks_v[0] + 1
    y0, y1 = y_ticks[0], y_ticks[-1] if y_ticks[-1] > y_ticks[0] else y_ticks[0] + 1

    def sx(x: float) -> float:
        return PAD_L + (x - x0) / (x1 - x0) * (W - PAD_L - PAD_R)

    def sy(y: float) -> float:
        return H - PAD_B - (y - y0) / (y1 - y0) * (H - PAD_T - PAD_B)

    names = sorted(set(groups)) if groups else []
    parts = _frame([(sx(t), _label(t)) for t in x_ticks_v], y_ticks, sy, title, "")
    for i, (x, y, label) in enumerate(points):
        color = PALETTE[names.index(groups[i]) % len(PALETTE)] if groups else PALETTE[0]
        parts.append(f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="3.5" fill="{color}" fill-opacity="0.75">'
                     f"<title>{escape(label)}</title></circle>")
    parts.append("</svg>")
    return Markup(f'<figure class="chart-box"><figcaption>{escape(title)}</figcaption>{"".join(parts)}'
                  f"{_legend(names)}</figure>")
