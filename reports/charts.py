"""Charts drawn on the server as inline SVG: no JavaScript, no CDN, nothing to install.

Why SVG from the server rather than Chart.js or Vega-Lite: the page works the same with scripts
off, under the app's strict CSP, and in the PDF; the chart is an image with a title and a
description (`role="img"`), and the exact figures are in the data table beside it, where screen
readers and keyboard users read them and every number is a link. Lines differ by dash pattern as
well as by colour, and each line is named in the legend.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from html import escape

from django.utils.safestring import SafeString, mark_safe

WIDTH, HEIGHT = 720, 260
LEFT, RIGHT, TOP, BOTTOM = 56, 16, 16, 36
# Colours with ≥ 3:1 contrast on white (WCAG 1.4.11), each with its own dash pattern.
STYLES = [
    ("#1a4480", ""),
    ("#b50909", "8 4"),
    ("#2e6276", "2 3"),
    ("#5c4f00", "10 3 2 3"),
    ("#6b3fa0", "4 4"),
    ("#3d4551", "12 2"),
    ("#8b3d00", "1 2"),
]


@dataclass(frozen=True)
class Line:
    label: str
    values: list[int]


def _nice_max(value: int) -> int:
    """The top of the axis: four equal whole steps (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8 × 10^k)."""
    need = max(1.0, value / 4)
    magnitude = 1
    while magnitude * 10 <= need:
        magnitude *= 10
    for factor in (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10):
        step = factor * magnitude
        if step >= need and step == int(step):
            return int(step) * 4
    return magnitude * 40


def line_chart(
    *, chart_id: str, title: str, description: str, days: list[date], lines: list[Line]
) -> SafeString:
    """An SVG line chart of `lines` over `days`, with axes, gridlines and a legend."""
    n = len(days)
    peak = _nice_max(max((v for line in lines for v in line.values), default=0))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(i: int) -> float:
        return LEFT + (plot_w * i / (n - 1) if n > 1 else plot_w / 2)

    def y(v: int) -> float:
        return TOP + plot_h - plot_h * v / peak

    parts = [
        f'<svg class="fl-chart" id="{chart_id}" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-labelledby="{chart_id}-title {chart_id}-desc" xmlns="http://www.w3.org/2000/svg">',
        f'<title id="{chart_id}-title">{escape(title)}</title>',
        f'<desc id="{chart_id}-desc">{escape(description)}</desc>',
    ]
    for k in range(5):
        value = round(peak * k / 4)
        parts.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(value):.1f}" y2="{y(value):.1f}" '
            'stroke="#dfe1e2"/>'
            f'<text x="{LEFT - 6}" y="{y(value) + 4:.1f}" text-anchor="end" font-size="12" fill="#1b1b1b">'
            f"{value:,}</text>"
        )
    if n:
        ticks = sorted({0, n - 1, *range(0, n, max(1, n // 6))})
        for i in ticks:
            if i != n - 1 and n - 1 - i < n // 12:
                continue
            anchor = "end" if i == n - 1 and n > 1 else ("start" if i == 0 and n > 1 else "middle")
            parts.append(
                f'<text x="{x(i):.1f}" y="{HEIGHT - 12}" text-anchor="{anchor}" font-size="12" '
                f'fill="#1b1b1b">{days[i].isoformat()}</text>'
            )
    parts.append(
        f'<line x1="{LEFT}" x2="{LEFT}" y1="{TOP}" y2="{TOP + plot_h}" stroke="#565c65"/>'
        f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{TOP + plot_h}" y2="{TOP + plot_h}" stroke="#565c65"/>'
    )
    for index, line in enumerate(lines):
        colour, dash = STYLES[index % len(STYLES)]
        points = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in enumerate(line.values))
        dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
        if n == 1:
            parts.append(f'<circle cx="{x(0):.1f}" cy="{y(line.values[0]):.1f}" r="4" fill="{colour}"/>')
        else:
            parts.append(
                f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="2.5"{dash_attr}/>'
            )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - every text inside is escaped above


def legend(lines: list[Line]) -> list[dict[str, str]]:
    """Legend entries (label, colour, dash) in the chart's order, for the template."""
    return [
        {"label": line.label, "colour": STYLES[i % len(STYLES)][0], "dash": STYLES[i % len(STYLES)][1]}
        for i, line in enumerate(lines)
    ]


def bar_chart(*, chart_id: str, title: str, description: str, bars: list[tuple[str, int]]) -> SafeString:
    """Horizontal bars, one per (label, value)."""
    peak = _nice_max(max((v for _, v in bars), default=0))
    row_h, label_w, width = 28, 220, WIDTH
    height = row_h * len(bars) + 24
    parts = [
        f'<svg class="fl-chart" id="{chart_id}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-labelledby="{chart_id}-title {chart_id}-desc" xmlns="http://www.w3.org/2000/svg">',
        f'<title id="{chart_id}-title">{escape(title)}</title>',
        f'<desc id="{chart_id}-desc">{escape(description)}</desc>',
    ]
    plot_w = width - label_w - 70
    for i, (label, value) in enumerate(bars):
        colour = STYLES[i % len(STYLES)][0]
        y = 8 + i * row_h
        w = plot_w * value / peak if peak else 0
        parts.append(
            f'<text x="{label_w - 8}" y="{y + 16}" text-anchor="end" font-size="13" fill="#1b1b1b">'
            f"{escape(label)}</text>"
            f'<rect x="{label_w}" y="{y + 2}" width="{w:.1f}" height="{row_h - 8}" fill="{colour}"/>'
            f'<text x="{label_w + w + 6:.1f}" y="{y + 16}" font-size="13" fill="#1b1b1b">{value:,}</text>'
        )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - every text inside is escaped above
