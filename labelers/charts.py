"""Small server-rendered SVG charts for the admin pages: no JavaScript, no inline styles (the
CSP forbids both); colours come from classes in static/labelers/labelers.css. Every label is
escaped: usernames are user input.

    {{ chart }}   where chart = bar_chart([("ann", 0.8), ("bob", 0.55)], title="Gold accuracy",
                                          threshold=0.6)
"""
from __future__ import annotations

from html import escape

from django.utils.safestring import SafeString, mark_safe

WIDTH = 640


def _fmt(value, fmt: str) -> str:
    return "–" if value is None else fmt.format(value)


def bar_chart(rows: list[tuple[str, float | None]], *, title: str, value_max: float | None = None,
              fmt: str = "{:.0%}", threshold: float | None = None, threshold_label: str = "") -> SafeString:
    """Horizontal bars, one per (label, value); None is drawn as "no data"."""
    label_w, row_h, top = 150, 24, 28
    plot_w = WIDTH - label_w - 70
    height = top + row_h * max(1, len(rows)) + 10
    vmax = value_max or max([v for _, v in rows if v is not None] + [1e-9])
    parts = [f'<svg class="chart" viewBox="0 0 {WIDTH} {height}" role="img" aria-label="{escape(title)}">',
             f"<title>{escape(title)}</title>",
             f'<text class="chart-title" x="0" y="16">{escape(title)}</text>']
    for i, (label, value) in enumerate(rows):
        y = top + i * row_h
        parts.append(f'<text class="chart-label" x="{label_w - 8}" y="{y + 16}" text-anchor="end">'
                     f"{escape(str(label))[:24]}</text>")
        if value is None:
            parts.append(f'<text class="chart-none" x="{label_w + 4}" y="{y + 16}">no data</text>')
            continue
        w = max(1.0, plot_w * min(1.0, value / vmax)) if vmax else 1.0
        below = threshold is not None and value < threshold
        parts.append(f'<rect class="bar{" bar-low" if below else ""}" x="{label_w}" y="{y + 3}" '
                     f'width="{w:.1f}" height="{row_h - 6}"><title>{escape(str(label))}: '
                     f"{escape(_fmt(value, fmt))}</title></rect>")
        parts.append(f'<text class="chart-value" x="{label_w + w + 6:.1f}" y="{y + 16}">{escape(_fmt(value, fmt))}</text>')
    if threshold is not None and vmax:
        x = label_w + plot_w * min(1.0, threshold / vmax)
        parts.append(f'<line class="threshold" x1="{x:.1f}" x2="{x:.1f}" y1="{top - 4}" y2="{height - 6}">'
                     f"<title>{escape(threshold_label or _fmt(threshold, fmt))}</title></line>")
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - every interpolated text is escaped above


def column_chart(points: list[tuple[str, float]], *, title: str, fmt: str = "{:g}",
                 every: int = 1) -> SafeString:
    """Vertical columns (a time series or a histogram); every n-th x label is printed."""
    height, left, bottom, top = 200, 40, 30, 28
    plot_w, plot_h = WIDTH - left - 10, height - top - bottom
    vmax = max([v for _, v in points] + [1e-9])
    n = max(1, len(points))
    col_w = plot_w / n
    parts = [f'<svg class="chart" viewBox="0 0 {WIDTH} {height}" role="img" aria-label="{escape(title)}">',
             f"<title>{escape(title)}</title>",
             f'<text class="chart-title" x="0" y="16">{escape(title)}</text>',
             f'<text class="chart-label" x="{left - 6}" y="{top + 10}" text-anchor="end">{escape(_fmt(vmax, fmt))}</text>',
             f'<text class="chart-label" x="{left - 6}" y="{top + plot_h}" text-anchor="end">0</text>',
             f'<line class="axis" x1="{left}" x2="{WIDTH - 10}" y1="{top + plot_h}" y2="{top + plot_h}"></line>']
    for i, (label, value) in enumerate(points):
        h = plot_h * (value / vmax) if vmax else 0
        x = left + i * col_w
        parts.append(f'<rect class="bar" x="{x + 1:.1f}" y="{top + plot_h - h:.1f}" width="{max(1.0, col_w - 2):.1f}" '
                     f'height="{h:.1f}"><title>{escape(str(label))}: {escape(_fmt(value, fmt))}</title></rect>')
        if i % every == 0:
            parts.append(f'<text class="chart-label" x="{x + col_w / 2:.1f}" y="{height - 10}" '
                         f'text-anchor="middle">{escape(str(label))}</text>')
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - every interpolated text is escaped above


def histogram(values: list[float], *, title: str, bins: int = 12, unit: str = "s") -> SafeString:
    if not values:
        return column_chart([], title=f"{title} (no data)")
    lo, hi = 0.0, max(values)
    step = (hi - lo) / bins or 1.0
    counts = [0] * bins
    for v in values:
        counts[min(bins - 1, int((v - lo) / step))] += 1
    points = [(f"{lo + i * step:.0f}{unit}", c) for i, c in enumerate(counts)]
    return column_chart(points, title=title, every=2)
