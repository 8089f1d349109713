"""A report as data (sections of facts, tables and charts) and its three renderings: the email's
text and HTML parts, and the Slack summary."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from html import escape
from typing import Any

from platform_monitoring.reports.charts import bar_chart


@dataclass(frozen=True)
class Table:
    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


@dataclass(frozen=True)
class Section:
    heading: str
    facts: tuple[tuple[str, str], ...] = ()
    table: Table | None = None
    chart: tuple[tuple[str, float], ...] = ()  # (label, value) bars
    chart_unit: str = ""
    note: str = ""


@dataclass(frozen=True)
class Report:
    kind: str  # daily-critical | weekly-security | monthly-performance
    title: str
    period: str  # "2026-11-22 10:00 to 2026-11-29 10:00 UTC"
    stage: str
    headline: str  # one line: what a person should know first
    highlights: tuple[str, ...] = ()  # the Slack summary's bullets
    sections: tuple[Section, ...] = field(default_factory=tuple)

    @property
    def subject(self) -> str:
        return f"[{self.stage}] {self.title}: {self.headline}"


def render_text(report: Report) -> str:
    lines = [report.title, report.period, "", report.headline, ""]
    for section in report.sections:
        lines.append(section.heading)
        lines.append("-" * len(section.heading))
        lines.extend(f"{name}: {value}" for name, value in section.facts)
        shown = {name for name, _ in section.facts}
        if section.table is None:  # the chart's figures in words too: nothing is only in a picture
            lines.extend(
                f"  {label}: {value:g}{section.chart_unit}" for label, value in section.chart if label not in shown
            )
        if section.table is not None:
            widths = [
                max(len(cell) for cell in column)
                for column in zip(section.table.headers, *section.table.rows, strict=True)
            ]
            for cells in (section.table.headers, *section.table.rows):
                lines.append("  ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=True)).rstrip())
        if section.note:
            lines.append(section.note)
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def _table_html(table: Table) -> str:
    head = "".join(f'<th style="text-align:left;padding:2px 8px">{escape(h)}</th>' for h in table.headers)
    body = "".join(
        "<tr>" + "".join(f'<td style="padding:2px 8px">{escape(cell)}</td>' for cell in row) + "</tr>"
        for row in table.rows
    )
    return f'<table style="border-collapse:collapse"><tr>{head}</tr>{body}</table>'


def render_html(report: Report) -> str:
    parts = [
        '<!DOCTYPE html><html><head><meta charset="utf-8">',
        f"<title>{escape(report.title)}</title></head>",
        '<body style="font-family:Arial,sans-serif;font-size:14px;color:#222">',
        f"<h2>{escape(report.title)}</h2>",
        f'<p style="color:#666">{escape(report.period)} &middot; {escape(report.stage)}</p>',
        f"<p><strong>{escape(report.headline)}</strong></p>",
    ]
    for section in report.sections:
        parts.append(f"<h3>{escape(section.heading)}</h3>")
        if section.facts:
            parts.append(
                "<ul>"
                + "".join(f"<li>{escape(name)}: <strong>{escape(value)}</strong></li>" for name, value in section.facts)
                + "</ul>"
            )
        chart = bar_chart(section.heading, section.chart, section.chart_unit)
        if chart:
            parts.append(f"<div>{chart}</div>")
        if section.table is not None:
            parts.append(_table_html(section.table))
        if section.note:
            parts.append(f'<p style="color:#666">{escape(section.note)}</p>')
    parts.append("</body></html>\n")
    return "\n".join(parts)


def slack_payload(report: Report) -> dict[str, Any]:
    bullets = "\n".join(f"• {line}" for line in report.highlights) or "• nothing to report"
    return {
        "text": f"{report.title}: {report.headline}",
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": report.title[:150]}},
            {"type": "section", "text": {"type": "mrkdwn", "text": f"*{report.headline}*\n{bullets}"}},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": f"{report.period} · {report.stage}"}]},
        ],
    }


def email_message(report: Report, sender: str, recipients: Sequence[str]) -> bytes:
    """multipart/alternative: the text part first, the HTML (with its inline SVG charts) second."""
    message = EmailMessage()
    message["Subject"] = report.subject
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    message["X-AskProAI-Report"] = report.kind
    message.set_content(render_text(report))
    message.add_alternative(render_html(report), subtype="html")
    return message.as_bytes()
