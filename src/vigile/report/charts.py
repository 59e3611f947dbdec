"""Charts of the report as inline vector SVG: no plotting library, no fonts to fetch.

Every chart is a plain ``<svg>`` string with a ``viewBox``, so it scales in the
browser and stays vector in the PDF (WeasyPrint draws SVG natively). Text
uses the document's own font (system fonts only).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from html import escape

#: The report's palette: extracted (dark), consulted (light), sensitive (accent).
DARK = "#1f4e79"
LIGHT = "#9dc3e6"
ACCENT = "#c0504d"
GRID = "#d9d9d9"
TEXT = "#333333"


def _fmt(n: float, lang: str = "en") -> str:
    """1234567 → "1.2 M" ("1,2 M" in French), 12345 → "12 k" (compact axis labels)."""
    if n >= 1_000_000:
        text = f"{n / 1_000_000:.1f} M".replace(".0 M", " M")
    elif n >= 10_000:
        text = f"{n / 1000:.0f} k"
    elif n >= 1000:
        text = f"{n / 1000:.1f} k".replace(".0 k", " k")
    else:
        text = f"{n:.0f}"
    return text.replace(".", ",") if lang == "fr" else text


def _int(n: int, lang: str) -> str:
    """A count grouped the way the language writes it (``19 923`` / ``19,923``)."""
    return f"{n:,}".replace(",", "\u202f") if lang == "fr" else f"{n:,}"


def nice_max(value: float) -> float:
    """The next 'round' number at or above ``value`` (1, 2, 2.5, 5 × 10^k)."""
    if value <= 0:
        return 1.0
    magnitude = 10 ** (len(str(int(value))) - 1)
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * magnitude:
            return float(step * magnitude)
    return float(10 * magnitude)


def _svg(width: int, height: int, body: list[str], title: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="100%" role="img" aria-label="{escape(title)}" '
        f'font-family="DejaVu Sans, Liberation Sans, Arial, sans-serif" font-size="11">'
        f"<title>{escape(title)}</title>" + "".join(body) + "</svg>"
    )


def stacked_days(
    days: Sequence[date],
    dark: Sequence[int],
    light: Sequence[int],
    *,
    title: str,
    dark_label: str,
    light_label: str,
    width: int = 720,
    height: int = 260,
    lang: str = "en",
) -> str:
    """Vertical bars per day, two stacked series (e.g. newly extracted, newly consulted)."""
    left, right, top, bottom = 56, 12, 28, 44
    plot_w, plot_h = width - left - right, height - top - bottom
    totals = [a + b for a, b in zip(dark, light, strict=True)]
    top_value = nice_max(max(totals, default=0))
    body: list[str] = []
    for i in range(5):
        v = top_value * i / 4
        y = top + plot_h - plot_h * i / 4
        body.append(
            f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" stroke="{GRID}"/>'
        )
        body.append(
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" fill="{TEXT}">'
            f"{_fmt(v, lang)}</text>"
        )
    n = max(len(days), 1)
    slot = plot_w / n
    bar = max(slot * 0.8, 1.0)
    label_every = max(1, round(n / 12))
    for i, day in enumerate(days):
        x = left + i * slot + (slot - bar) / 2
        h_dark = plot_h * dark[i] / top_value
        h_light = plot_h * light[i] / top_value
        y_dark = top + plot_h - h_dark
        body.append(
            f'<rect x="{x:.1f}" y="{y_dark:.1f}" width="{bar:.1f}" height="{h_dark:.1f}" '
            f'fill="{DARK}">'
            f"<title>{day.isoformat()}: {_int(dark[i], lang)}</title></rect>"
        )
        body.append(
            f'<rect x="{x:.1f}" y="{y_dark - h_light:.1f}" width="{bar:.1f}" '
            f'height="{h_light:.1f}" '
            f'fill="{LIGHT}"><title>{day.isoformat()}: {_int(light[i], lang)}</title></rect>'
        )
        if i % label_every == 0:
            cx = x + bar / 2
            body.append(
                f'<text x="{cx:.1f}" y="{top + plot_h + 14}" text-anchor="middle" fill="{TEXT}" '
                f'font-size="9">{day.strftime("%d/%m")}</text>'
            )
    body.append(
        f'<line x1="{left}" x2="{width - right}" y1="{top + plot_h}" y2="{top + plot_h}" '
        f'stroke="{TEXT}"/>'
    )
    body += _legend([(DARK, dark_label), (LIGHT, light_label)], left, height - 12)
    body.append(f'<text x="{left}" y="16" font-weight="bold" fill="{TEXT}">{escape(title)}</text>')
    return _svg(width, height, body, title)


def horizontal_bars(
    labels: Sequence[str],
    dark: Sequence[int],
    light: Sequence[int] | None = None,
    *,
    title: str,
    dark_label: str = "",
    light_label: str = "",
    width: int = 720,
    row: int = 18,
    label_width: int = 190,
    lang: str = "en",
) -> str:
    """One horizontal bar per label (e.g. per practice, per category), optionally stacked."""
    light = light if light is not None else [0] * len(dark)
    top, bottom, right = 28, 34 if (dark_label or light_label) else 12, 60
    height = top + bottom + row * max(len(labels), 1)
    plot_w = width - label_width - right
    top_value = nice_max(max((a + b for a, b in zip(dark, light, strict=True)), default=0))
    body = [f'<text x="0" y="16" font-weight="bold" fill="{TEXT}">{escape(title)}</text>']
    for i, label in enumerate(labels):
        y = top + i * row
        w_dark = plot_w * dark[i] / top_value
        w_light = plot_w * light[i] / top_value
        fits = max(12, int(label_width / 6.2))
        text = label if len(label) <= fits else label[: fits - 1] + "…"
        body.append(
            f'<text x="{label_width - 6}" y="{y + row * 0.7:.1f}" text-anchor="end" fill="{TEXT}">'
            f"{escape(text)}</text>"
        )
        body.append(
            f'<rect x="{label_width}" y="{y + 2}" width="{w_dark:.1f}" height="{row - 4}" '
            f'fill="{DARK}"/>'
        )
        if light[i]:
            body.append(
                f'<rect x="{label_width + w_dark:.1f}" y="{y + 2}" width="{w_light:.1f}" '
                f'height="{row - 4}" fill="{LIGHT}"/>'
            )
        body.append(
            f'<text x="{label_width + w_dark + w_light + 4:.1f}" y="{y + row * 0.7:.1f}" '
            f'fill="{TEXT}" font-size="10">{_int(dark[i] + light[i], lang)}</text>'
        )
    legend = [(c, t) for c, t in ((DARK, dark_label), (LIGHT, light_label)) if t]
    if legend:
        body += _legend(legend, label_width, height - 10)
    return _svg(width, height, body, title)


def _legend(items: Sequence[tuple[str, str]], x: float, y: float) -> list[str]:
    out = []
    for color, label in items:
        out.append(f'<rect x="{x:.1f}" y="{y - 9:.1f}" width="10" height="10" fill="{color}"/>')
        out.append(f'<text x="{x + 14:.1f}" y="{y:.1f}" fill="{TEXT}">{escape(label)}</text>')
        x += 24 + 6.2 * len(label)
    return out
