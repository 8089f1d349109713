"""Small bar charts as inline SVG for the reports' HTML (no image library, no attachment).

Inline SVG shows in Apple Mail, Outlook for Mac, Thunderbird and most webmail previews; clients that
strip it (Gmail's web client) still have the same figures in the table beside each chart and in the
text part, so nothing is only in a picture.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

BAR_HEIGHT = 18
GAP = 6
LABEL_WIDTH = 150
BAR_WIDTH = 260
COLOR = "#3b7dd8"


def bar_chart(title: str, bars: Sequence[tuple[str, float]], unit: str = "") -> str:
    """Horizontal bars, one per (label, value), scaled to the largest; '' when there is nothing to draw."""
    if not bars or max(value for _, value in bars) <= 0:
        return ""
    top = max(value for _, value in bars)
    height = len(bars) * (BAR_HEIGHT + GAP) + GAP + 20
    width = LABEL_WIDTH + BAR_WIDTH + 80
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
        f'aria-label="{escape(title, quote=True)}" style="font-family:Arial,sans-serif;font-size:12px">',
        f'<text x="0" y="14" font-weight="bold">{escape(title)}</text>',
    ]
    for index, (label, value) in enumerate(bars):
        y = 20 + GAP + index * (BAR_HEIGHT + GAP)
        length = max(1, round(BAR_WIDTH * value / top)) if value > 0 else 0
        shown = f"{value:g}{unit}"
        parts.append(f'<text x="0" y="{y + 13}">{escape(label[:24])}</text>')
        parts.append(f'<rect x="{LABEL_WIDTH}" y="{y}" width="{length}" height="{BAR_HEIGHT}" fill="{COLOR}"/>')
        parts.append(f'<text x="{LABEL_WIDTH + length + 4}" y="{y + 13}">{escape(shown)}</text>')
    parts.append("</svg>")
    return "".join(parts)
