"""What a notification looks like on each channel: e-mail (text and HTML), SMS and Slack."""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from email.message import EmailMessage
from typing import Any

from platform_monitoring.alerting.notification import Notification
from platform_monitoring.core.masking import mask, mask_text

SMS_MAX_CHARS = 160  # one GSM-7 segment
SEVERITY_EMOJI = {"critical": ":red_circle:", "high": ":large_orange_circle:", "warning": ":warning:"}
SEVERITY_COLOUR = {"critical": "#b00020", "high": "#e65100", "warning": "#f9a825", "info": "#1565c0"}


# ---------------------------------------------------------------------------
# Messages
# ---------------------------------------------------------------------------
def _clean(value: Any) -> str:
    # A lone surrogate (a client's JSON "\udc80") cannot be encoded into an email: shown escaped.
    return mask_text(" ".join(str(value).split()).encode("utf-8", "backslashreplace").decode("utf-8"))


def headline(notification: Notification) -> str:
    title = _clean(notification.title)
    if notification.kind == "resolved":
        return f"RESOLVED: {title}"
    if notification.kind == "test":
        return f"TEST: {title}"
    return f"{notification.severity.upper()}: {title}"


def facts(notification: Notification) -> list[tuple[str, str]]:
    """The label/value lines every channel shows (SMS shows fewer)."""
    n = notification
    rows = [("Severity", n.severity), ("Alert", f"{n.alert_type} (id {n.alert_id})")]
    if n.kind == "firing":
        since = f"; {n.total} since it started firing" if n.total > n.count else ""
        rows.append(("Count", f"{n.count} in the last {n.window} (threshold {n.threshold}){since}"))
    elif n.kind == "resolved":
        rows.append(("Resolution", n.resolution or "resolved"))
        rows.append(("Total", f"{n.total} occurrences while it was firing"))
    if n.suppressed:
        rows.append(("Suppressed", f"{n.suppressed} repeats since the previous notification (throttled)"))
    if n.first_seen:
        rows.append(("First seen", n.first_seen))
    if n.last_seen:
        rows.append(("Last seen", n.last_seen))
    if n.labels:
        rows.append(("Labels", ", ".join(f"{key}={value}" for key, value in sorted(n.labels.items()))))
    if n.stage:
        rows.append(("Stage", n.stage))
    return [(label, _clean(value)) for label, value in rows]


def context_lines(notification: Notification) -> list[tuple[str, str]]:
    masked = mask(notification.context)
    return [
        (_clean(key), _clean(json.dumps(value) if isinstance(value, dict | list) else value))
        for key, value in masked.items()
    ]


def email_subject(notification: Notification) -> str:
    return _clean(notification.subject)[:200]


def email_text(notification: Notification) -> str:
    n = notification
    lines = [headline(n), "", _clean(n.summary), ""]
    if n.description:
        lines += [f"What happened: {_clean(n.description)}", ""]
    lines += [f"{label + ':':<12} {value}" for label, value in facts(n)]
    context = context_lines(n)
    if context:
        lines += ["", "Context:"] + [f"  {key}: {value}" for key, value in context]
    lines += ["", f"Runbook: {n.runbook_url}"]
    if n.kind == "firing":
        lines.append(f"Acknowledge: POST /api/alerts/{n.alert_id}/ack (X-Alerts-Secret)")
    lines += ["", f"Notification {n.notification_id}"]
    return "\n".join(lines) + "\n"


def email_html(notification: Notification) -> str:
    n = notification
    esc = html.escape
    colour = "#2e7d32" if n.kind == "resolved" else SEVERITY_COLOUR.get(n.severity, "#455a64")
    rows = "".join(
        f'<tr><th align="left" style="padding:2px 12px 2px 0">{esc(label)}</th><td>{esc(value)}</td></tr>'
        for label, value in facts(n)
    )
    context = "".join(f"<li><code>{esc(key)}</code>: {esc(value)}</li>" for key, value in context_lines(n))
    parts = [
        '<!doctype html><html><body style="font-family:sans-serif">',
        f'<h2 style="color:{colour}">{esc(headline(n))}</h2>',
        f"<p><strong>{esc(_clean(n.summary))}</strong></p>",
        f"<p>{esc(_clean(n.description))}</p>" if n.description else "",
        f"<table>{rows}</table>",
        f"<h3>Context</h3><ul>{context}</ul>" if context else "",
        f'<p><a href="{esc(n.runbook_url, quote=True)}">Runbook</a></p>',
        f"<p>Acknowledge: <code>POST /api/alerts/{esc(n.alert_id)}/ack</code></p>" if n.kind == "firing" else "",
        f'<p style="color:#777">Notification {esc(n.notification_id)}</p>',
        "</body></html>",
    ]
    return "".join(parts)


def email_message(notification: Notification, sender: str, recipients: Sequence[str]) -> bytes:
    """multipart/alternative: the plain text first, the HTML second (mail clients show the HTML)."""
    message = EmailMessage()
    message["Subject"] = email_subject(notification)
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    message["X-AskProAI-Alert"] = f"{notification.alert_type}; id={notification.alert_id}; kind={notification.kind}"
    message.set_content(email_text(notification))
    message.add_alternative(email_html(notification), subtype="html")
    return message.as_bytes()


def sms_text(notification: Notification) -> str:
    """One SMS segment: severity, what, how many; plain ASCII."""
    n = notification
    stage = f"[{n.stage}] " if n.stage and n.stage != "prod" else ""
    suppressed = f" (+{n.suppressed} suppressed)" if n.suppressed and n.kind == "firing" else ""
    text = f"{stage}{headline(n)} - {_clean(n.summary)}{suppressed}"
    text = text.encode("ascii", "replace").decode("ascii")
    return text if len(text) <= SMS_MAX_CHARS else text[: SMS_MAX_CHARS - 3] + "..."


def slack_payload(notification: Notification) -> dict[str, Any]:
    n = notification
    emoji = ":white_check_mark:" if n.kind == "resolved" else SEVERITY_EMOJI.get(n.severity, ":bell:")
    if n.kind == "test":
        emoji = ":test_tube:"
    fields = [{"type": "mrkdwn", "text": f"*{label}*\n{value}"} for label, value in facts(n)]
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": f"{headline(n)}"[:150]}},
        {"type": "section", "text": {"type": "mrkdwn", "text": f"*{_clean(n.summary)}*\n{_clean(n.description)}"}},
        {"type": "section", "fields": fields[:10]},  # Slack allows ten fields
    ]
    context = context_lines(n)
    if context:
        listed = "\n".join(f"• `{key}`: {value}" for key, value in context)[:2900]
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": f"*Context*\n{listed}"}})
    links = f"<{n.runbook_url}|Runbook>"
    if n.kind == "firing":
        links += f" · acknowledge: `POST /api/alerts/{n.alert_id}/ack`"
    blocks.append(
        {"type": "context", "elements": [{"type": "mrkdwn", "text": f"{links} · notification {n.notification_id}"}]}
    )
    return {"text": f"{emoji} {headline(n)}: {_clean(n.summary)}", "blocks": blocks}
