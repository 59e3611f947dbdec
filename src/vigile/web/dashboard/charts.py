"""Charts drawn on the server as inline SVG: no script, no library, nothing to fetch.

Each chart is an ``<svg role="img">`` with a ``<title>`` and a ``<desc>`` that says
in words what it shows (screen readers read it), colours come from CSS classes of
the dashboard's stylesheet (the Content-Security-Policy forbids inline styles), and
every chart has its figures in a table next to it for who prefers to read.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from markupsafe import Markup

from vigile.report.charts import nice_max

__all__ = ["Series", "bars", "lines", "spark"]


@dataclass
class Series:
    """One line of a chart: a label, a CSS class, and its values (``None``: no data)."""

    label: str
    cls: str
    values: Sequence[float | None]
    dashed: bool = False
    area: bool = False


def fmt(n: float) -> str:
    """Compact axis numbers: 950, 1.2 k, 34 k, 1.5 M."""
    n = float(n)
    if abs(n) >= 1_000_000:
        return f"{n / 1_000_000:.1f} M".replace(".0 M", " M")
    if abs(n) >= 10_000:
        return f"{n / 1000:.0f} k"
    if abs(n) >= 1000:
        return f"{n / 1000:.1f} k".replace(".0 k", " k")
    if n != int(n):
        return f"{n:.1f}"
    return f"{n:.0f}"


def _svg(width: int, height: int, title: str, desc: str, body: list[str], cls: str) -> Markup:
    return Markup(
        f'<svg xmlns="http://www.w3.org/2000/svg" class="{cls}" viewBox="0 0 {width} '
        f'{height}" role="img" aria-label="{escape(title)}" focusable="false">'
        f"<title>{escape(title)}</title><desc>{escape(desc)}</desc>" + "".join(body) + "</svg>"
    )


def lines(
    title: str,
    labels: Sequence[str],
    series: Sequence[Series],
    *,
    desc: str = "",
    width: int = 720,
    height: int = 220,
    ticks: int = 6,
) -> Markup:
    """A time series: x = ``labels`` (evenly spaced), one polyline (or area) per series."""
    left, right, top, bottom = 48, 12, 12, 34
    plot_w, plot_h = width - left - right, height - top - bottom
    top_value = max((v for s in series for v in s.values if v is not None), default=0.0)
    ymax = nice_max(top_value)
    n = max(len(labels), 1)
    step = plot_w / max(n - 1, 1)
    body: list[str] = []
    for i in range(5):
        y = top + plot_h - plot_h * i / 4
        body.append(
            f'<line class="grid" x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}"/>'
        )
        body.append(
            f'<text class="axis" x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">'
            f"{fmt(ymax * i / 4)}</text>"
        )
    every = max(1, n // ticks)
    for i, label in enumerate(labels):
        if i % every == 0:
            x = left + i * step
            body.append(
                f'<text class="axis" x="{x:.1f}" y="{height - 14}" '
                f'text-anchor="middle">{escape(label)}</text>'
            )
    for s in series:
        runs: list[list[str]] = [[]]
        for i, v in enumerate(s.values):
            if v is None:
                if runs[-1]:
                    runs.append([])
                continue
            x = left + i * step
            y = top + plot_h - plot_h * min(float(v), ymax) / ymax
            runs[-1].append(f"{x:.1f},{y:.1f}")
        for run in runs:
            if not run:
                continue
            if s.area and len(run) > 1:
                first_x, last_x = run[0].split(",")[0], run[-1].split(",")[0]
                base = top + plot_h
                pts = f"{first_x},{base} {' '.join(run)} {last_x},{base}"
                body.append(f'<polygon class="area {s.cls}" points="{pts}"/>')
            dash = ' stroke-dasharray="5 4"' if s.dashed else ""
            body.append(
                f'<polyline class="line {s.cls}" fill="none" points="{" ".join(run)}"{dash}/>'
            )
    legend_x = left
    for s in series:
        body.append(
            f'<rect class="key {s.cls}" x="{legend_x}" y="{height - 10}" width="10" height="4"/>'
        )
        body.append(
            f'<text class="legend" x="{legend_x + 14}" y="{height - 4}">{escape(s.label)}</text>'
        )
        legend_x += 24 + 7 * len(s.label)
    if not desc:
        parts = []
        for s in series:
            vals = [v for v in s.values if v is not None]
            if vals:
                parts.append(f"{s.label}: max {fmt(max(vals))}, last {fmt(vals[-1])}")
        span = f"from {labels[0]} to {labels[-1]}" if labels else "no data"
        desc = f"{title}, {span}. " + "; ".join(parts)
    return _svg(width, height, title, desc, body, "chart lines")


def bars(
    title: str,
    items: Sequence[tuple[str, float, str]],
    *,
    desc: str = "",
    width: int = 420,
    bar_h: int = 22,
    left: int = 130,
) -> Markup:
    """Horizontal bars: ``(label, value, css class)`` each, value printed at the bar's end."""
    right = 60
    height = max(1, len(items)) * (bar_h + 8) + 8
    top_value = max((v for _, v, _ in items), default=0.0)
    scale = (width - left - right) / (top_value or 1.0)
    body: list[str] = []
    for i, (label, value, cls) in enumerate(items):
        y = 8 + i * (bar_h + 8)
        w = max(float(value) * scale, 1.0 if value else 0.0)
        body.append(
            f'<text class="label" x="{left - 8}" y="{y + bar_h * 0.7:.1f}" '
            f'text-anchor="end">{escape(label)}</text>'
        )
        body.append(
            f'<rect class="bar {cls}" x="{left}" y="{y}" width="{w:.1f}" height="{bar_h}"/>'
        )
        body.append(
            f'<text class="value" x="{left + w + 6:.1f}" y="{y + bar_h * 0.7:.1f}">'
            f"{value:,.0f}</text>"
        )
    if not desc:
        desc = f"{title}: " + ", ".join(f"{label} {value:,.0f}" for label, value, _ in items)
    return _svg(width, height, title, desc, body, "chart bars")


def spark(
    title: str,
    values: Sequence[float],
    *,
    baseline: float | None = None,
    highlight: Sequence[bool] | None = None,
    width: int = 240,
    height: int = 48,
) -> Markup:
    """Small daily bars with the baseline as a dashed line (small multiples per account)."""
    n = max(len(values), 1)
    top_value = max([*values, baseline or 0.0, 1.0])
    bw = width / n
    body: list[str] = []
    for i, v in enumerate(values):
        h = (height - 4) * float(v) / top_value
        cls = "bar hot" if highlight is not None and highlight[i] else "bar"
        body.append(
            f'<rect class="{cls}" x="{i * bw + 0.5:.1f}" y="{height - h:.1f}" '
            f'width="{max(bw - 1, 1):.1f}" height="{h:.1f}"/>'
        )
    if baseline is not None:
        y = height - (height - 4) * baseline / top_value
        body.append(
            f'<line class="baseline" x1="0" x2="{width}" y1="{y:.1f}" y2="{y:.1f}" '
            'stroke-dasharray="4 3"/>'
        )
    above = sum(1 for v in values if baseline is not None and v > 2 * max(baseline, 1.0))
    desc = f"{title}: {len(values)} days, max {fmt(max(values, default=0))}" + (
        f", baseline {fmt(baseline)}, {above} days above twice the baseline"
        if baseline is not None
        else ""
    )
    return Markup(
        str(_svg(width, height, title, desc, body, "spark")).replace(
            "<svg ", f'<svg width="{width}" height="{height}" ', 1
        )
    )
