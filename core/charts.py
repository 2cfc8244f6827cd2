"""Small server-rendered SVG charts: no JavaScript, nothing inline that the CSP forbids
(presentation attributes, not style attributes), every label escaped.

    line_chart({"loss": [(0, 0.69), (10, 0.52)]}, title="Training loss")
    bar_chart([("L1", 0.8), ("L2", 0.6)], title="Win rate", y_max=1)
    hbar_chart([("ann", 0.8), ("bob", None)], title="Gold accuracy", value_max=1, threshold=0.6)
    histogram([12.5, 30.1, 8.0], title="Active time per task", x_label="seconds")
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

PALETTE = ["#2455c3", "#d1495b", "#2a9d8f", "#e9a23b", "#6a4c93", "#5b6570", "#8ac926", "#ff6f59"]
PAD_L, PAD_R, PAD_T, PAD_B = 48, 12, 28, 34


def _fmt(v: float) -> str:
    if v == 0:
        return "0"
    if abs(v) >= 1000 or abs(v) < 0.01:
        return f"{v:.2g}"
    return f"{v:.3g}"


def _ticks(lo: float, hi: float, n: int = 4) -> list[float]:
    if hi <= lo:
        return [lo]
    step = (hi - lo) / n
    return [lo + i * step for i in range(n + 1)]


def _frame(width, height, title, x_lo, x_hi, y_lo, y_hi, x_label="", y_label="", top: int = PAD_T) -> list[str]:
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" class="chart" role="img" '
           f'aria-label="{escape(title)}">', f"<title>{escape(title)}</title>"]
    if title:
        out.append(f'<text x="{PAD_L}" y="16" font-size="13" font-weight="600" fill="#1d232a">{escape(title)}</text>')
    pw, ph = width - PAD_L - PAD_R, height - top - PAD_B
    out.append(f'<rect x="{PAD_L}" y="{top}" width="{pw}" height="{ph}" fill="none" stroke="#d9dde3"/>')
    for t in _ticks(y_lo, y_hi):
        y = top + ph - (t - y_lo) / ((y_hi - y_lo) or 1) * ph
        out.append(f'<line x1="{PAD_L}" x2="{PAD_L + pw}" y1="{y:.1f}" y2="{y:.1f}" stroke="#eef0f3"/>')
        out.append(f'<text x="{PAD_L - 4}" y="{y + 4:.1f}" font-size="10" text-anchor="end" fill="#5b6570">{_fmt(t)}</text>')
    if x_hi is not None:
        for t in _ticks(x_lo, x_hi):
            x = PAD_L + (t - x_lo) / ((x_hi - x_lo) or 1) * pw
            out.append(f'<text x="{x:.1f}" y="{top + ph + 14}" font-size="10" text-anchor="middle" fill="#5b6570">{_fmt(t)}</text>')
    if x_label:
        out.append(f'<text x="{PAD_L + pw / 2}" y="{height - 4}" font-size="10" text-anchor="middle" fill="#5b6570">{escape(x_label)}</text>')
    if y_label:
        out.append(f'<text x="10" y="{top + ph / 2}" font-size="10" text-anchor="middle" fill="#5b6570" '
                   f'transform="rotate(-90 10 {top + ph / 2})">{escape(y_label)}</text>')
    return out


LEGEND_ROW = 14  # px per legend row, under the title


def _legend_rows(items: list[tuple[str, str]], width: int) -> list[list[tuple[float, str, str]]]:
    """Legend entries placed left to right from the plot's left edge, wrapping at the chart's
    width: [[(x, name, colour), ...], ...] (about 6 px per character at font size 10)."""
    rows, row, x = [], [], PAD_L
    for name, color in items:
        w = 11 + 6 * len(name) + 12
        if row and x + w > width - PAD_R:
            rows.append(row)
            row, x = [], PAD_L
        row.append((x, name, color))
        x += w
    if row:
        rows.append(row)
    return rows


def line_chart(series: dict[str, Sequence[Sequence[float]]], *, title: str = "", width: int = 480, height: int = 220,
               x_label: str = "step", y_label: str = "", y_min: float | None = None, y_max: float | None = None,
               reference: dict[str, float] | None = None) -> SafeString:
    """One line per series of (x, y) points; `reference` draws labelled horizontal lines
    (e.g. the labelers' agreement next to a reward model's accuracy)."""
    points = [(float(x), float(y)) for pts in series.values() for x, y in pts
              if x is not None and y is not None and math.isfinite(float(y))]
    refs = {k: float(v) for k, v in (reference or {}).items() if v is not None}
    if not points:
        return mark_safe(f'<p class="muted chart-empty">{escape(title)}: no data yet.</p>')
    xs, ys = [p[0] for p in points], [p[1] for p in points] + list(refs.values())
    x_lo, x_hi = min(xs), max(xs)
    y_lo = min(ys) if y_min is None else y_min
    y_hi = max(ys) if y_max is None else y_max
    if y_hi == y_lo:
        y_lo, y_hi = y_lo - 0.5, y_hi + 0.5
    legend = [(name, PALETTE[i % len(PALETTE)]) for i, name in enumerate(series)]
    legend += [(f"{name} ({_fmt(value)})", "#5b6570") for name, value in refs.items()]
    rows = _legend_rows(legend, width)
    top = PAD_T + LEGEND_ROW * len(rows)  # the legend has rows of its own under the title
    pw, ph = width - PAD_L - PAD_R, height - top - PAD_B

    def xy(x, y):
        return PAD_L + (x - x_lo) / ((x_hi - x_lo) or 1) * pw, top + ph - (y - y_lo) / (y_hi - y_lo) * ph

    out = _frame(width, height, title, x_lo, x_hi, y_lo, y_hi, x_label, y_label, top=top)
    for i, pts in enumerate(series.values()):
        color = PALETTE[i % len(PALETTE)]
        coords = [xy(float(x), float(y)) for x, y in pts if y is not None and math.isfinite(float(y))]
        if len(coords) == 1:
            out.append(f'<circle cx="{coords[0][0]:.1f}" cy="{coords[0][1]:.1f}" r="3" fill="{color}"/>')
        elif coords:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y in coords)
            out.append(f'<polyline points="{path}" fill="none" stroke="{color}" stroke-width="1.8"/>')
    for value in refs.values():
        _, y = xy(x_lo, value)
        out.append(f'<line x1="{PAD_L}" x2="{PAD_L + pw}" y1="{y:.1f}" y2="{y:.1f}" stroke="#5b6570" stroke-dasharray="4 3"/>')
    for r, row in enumerate(rows):
        baseline = PAD_T - 4 + LEGEND_ROW * r + 10
        for x, name, color in row:
            out.append(f'<rect x="{x}" y="{baseline - 8}" width="8" height="8" fill="{color}"/>'
                       f'<text x="{x + 11}" y="{baseline}" font-size="10" fill="#1d232a">{escape(name)}</text>')
    out.append("</svg>")
    return mark_safe("".join(out))


def bar_chart(bars: Iterable[tuple[str, float]], *, title: str = "", width: int = 480, height: int = 220,
              y_label: str = "", y_max: float | None = None) -> SafeString:
    bars = [(str(k), float(v)) for k, v in bars if v is not None]
    if not bars:
        return mark_safe(f'<p class="muted chart-empty">{escape(title)}: no data yet.</p>')
    y_hi = y_max if y_max is not None else max(max(v for _, v in bars), 1e-9)
    y_lo = min(0.0, min(v for _, v in bars))
    out = _frame(width, height, title, 0, None, y_lo, y_hi, "", y_label)
    pw, ph = width - PAD_L - PAD_R, height - PAD_T - PAD_B
    slot = pw / len(bars)
    for i, (name, value) in enumerate(bars):
        h = (value - y_lo) / ((y_hi - y_lo) or 1) * ph
        x = PAD_L + i * slot + slot * 0.15
        out.append(f'<rect x="{x:.1f}" y="{PAD_T + ph - h:.1f}" width="{slot * 0.7:.1f}" height="{max(h, 0):.1f}" '
                   f'fill="{PALETTE[0]}"><title>{escape(name)}: {_fmt(value)}</title></rect>')
        if len(bars) <= 24:
            out.append(f'<text x="{x + slot * 0.35:.1f}" y="{PAD_T + ph + 14}" font-size="10" text-anchor="middle" '
                       f'fill="#5b6570">{escape(name[:10])}</text>')
    out.append("</svg>")
    return mark_safe("".join(out))


def histogram(values: Sequence[float], *, bins: int = 20, title: str = "", width: int = 480, height: int = 220,
              x_label: str = "") -> SafeString:
    values = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    if not values:
        return mark_safe(f'<p class="muted chart-empty">{escape(title)}: no data yet.</p>')
    lo, hi = min(values), max(values)
    width_bin = (hi - lo) / bins or 1.0
    counts = [0] * bins
    for v in values:
        counts[min(bins - 1, int((v - lo) / width_bin))] += 1
    return bar_chart([(_fmt(lo + (i + 0.5) * width_bin), c) for i, c in enumerate(counts)], title=title,
                     width=width, height=height, y_label="count")


def hbar_chart(rows: Iterable[tuple[str, float | None]], *, title: str = "", value_max: float | None = None,
               fmt: str = "{:.0%}", threshold: float | None = None, threshold_label: str = "",
               width: int = 640) -> SafeString:
    """Horizontal bars, one per (label, value), for per-person figures (labels are user names,
    escaped); None is drawn as "no data". Bars below `threshold` are red, and the threshold is a
    dashed line (e.g. the pause mark of a gold-accuracy chart)."""
    rows = [(str(k), None if v is None else float(v)) for k, v in rows]
    if not rows:
        return mark_safe(f'<p class="muted chart-empty">{escape(title)}: no data yet.</p>')
    label_w, row_h, top = 150, 24, 28
    plot_w = width - label_w - 70
    height = top + row_h * len(rows) + 10
    vmax = value_max or max([v for _, v in rows if v is not None] + [1e-9])
    text = 'font-size="11" fill="#5b6570"'
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" class="chart" role="img" '
           f'aria-label="{escape(title)}">', f"<title>{escape(title)}</title>",
           f'<text x="0" y="16" font-size="13" font-weight="600" fill="#1d232a">{escape(title)}</text>']
    for i, (label, value) in enumerate(rows):
        y = top + i * row_h
        out.append(f'<text x="{label_w - 8}" y="{y + 16}" text-anchor="end" {text}>{escape(label[:24])}</text>')
        if value is None:
            out.append(f'<text x="{label_w + 4}" y="{y + 16}" {text}>no data</text>')
            continue
        shown = fmt.format(value)
        w = max(1.0, plot_w * min(1.0, value / vmax)) if vmax else 1.0
        color = "#b3261e" if threshold is not None and value < threshold else PALETTE[0]
        out.append(f'<rect x="{label_w}" y="{y + 3}" width="{w:.1f}" height="{row_h - 6}" fill="{color}">'
                   f"<title>{escape(label)}: {escape(shown)}</title></rect>")
        out.append(f'<text x="{label_w + w + 6:.1f}" y="{y + 16}" {text}>{escape(shown)}</text>')
    if threshold is not None and vmax:
        x = label_w + plot_w * min(1.0, threshold / vmax)
        out.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top - 4}" y2="{height - 6}" stroke="#f0a500" '
                   f'stroke-width="2" stroke-dasharray="4 3"><title>{escape(threshold_label or fmt.format(threshold))}'
                   f"</title></line>")
    out.append("</svg>")
    return mark_safe("".join(out))  # noqa: S308 - every interpolated text is escaped above
