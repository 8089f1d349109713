"""ReportsFunction: the guide's reviews on EventBridge schedules, each an email (text and HTML with
small SVG charts) and a Slack summary; the event names the report: daily-critical, weekly-security or
monthly-performance (docs/reports.md)."""

from __future__ import annotations

import time
from typing import Any

from platform_monitoring.core.config import load_settings
from platform_monitoring.observability.invocation import configure, instrument
from platform_monitoring.observability.logging import monitoring_log
from platform_monitoring.reports.settings import ReportsSettings
from platform_monitoring.wiring.reports import build_report_sender, build_report_sources, render_and_send

settings = load_settings(ReportsSettings.from_env)
configure(settings.alerting.monitoring)
sources = build_report_sources(settings)
sender = build_report_sender(settings)


class ReportNotDelivered(RuntimeError):
    """A channel failed (logged); raised so the function's Errors alarm sees it and Lambda retries."""


@instrument
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    kind = str((event or {}).get("report", ""))
    report, sent = render_and_send(sources, sender, kind, int(time.time() * 1000))
    result = {"report": kind, "subject": report.subject, "sent": [s.__dict__ for s in sent]}
    failed = [s for s in sent if s.outcome == "failed"]
    (monitoring_log.warning if failed else monitoring_log.info)(f"Report {kind}", extra=result)
    if failed:
        raise ReportNotDelivered("; ".join(f"{s.channel}: {s.detail}" for s in failed))
    return result
