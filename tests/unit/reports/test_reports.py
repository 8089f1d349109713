"""The three reports from a seeded week (fixed clock): their figures exactly, and each rendering
(text, HTML with inline SVG charts, Slack) carrying them."""

from __future__ import annotations

import email
from email.message import Message

import pytest
from platform_monitoring.alerting.rules import RuleSet
from platform_monitoring.reports.builders import daily_critical, monthly_performance, weekly_security
from platform_monitoring.reports.model import Report, email_message, render_html, render_text, slack_payload
from platform_monitoring.reports.runner import ReportSources, UnknownReport

from tests.support.reports import NOW_MS, SeededBlocks, SeededSecurityLogs, seeded_alert_store, seeded_snapshot


def section(report: Report, heading: str) -> dict[str, object]:
    [found] = [s for s in report.sections if s.heading == heading]
    return {"facts": dict(found.facts), "rows": found.table.rows if found.table else (), "chart": dict(found.chart)}


def test_the_daily_digest_lists_the_critical_episodes_of_the_last_day() -> None:
    report = daily_critical(RuleSet.load(), seeded_alert_store(), now_ms=NOW_MS, stage="prod")
    assert report.headline == "3 critical alerts fired in the last 24 hours, 1 still active, 1 resolved unacknowledged"
    assert section(report, "Episodes")["rows"] == (
        ("2026-11-28 12:00", "payment_failure", "payment_failure", "4 min", "60 min"),
        ("2026-11-28 19:00", "payment_failure", "payment_failure", "not acknowledged", "5 min"),
        (
            "2026-11-29 09:00",
            "database_connection_failure",
            "database_connection_failure",
            "not acknowledged",
            "still active",
        ),
    )
    assert section(report, "Fired per critical rule")["chart"] == {
        "payment_failure": 2.0,
        "security_breach_attempt": 0.0,
        "database_connection_failure": 1.0,
        "card_testing_suspected": 0.0,
    }
    assert report.period == "2026-11-28 10:00 to 2026-11-29 10:00 UTC"
    assert report.subject.startswith("[prod] Daily critical alerts: 3 critical alerts")


def test_the_weekly_security_review() -> None:
    logs = SeededSecurityLogs()
    report = weekly_security(logs, SeededBlocks(), now_ms=NOW_MS, stage="prod")
    assert logs.asked == [(NOW_MS - 7 * 86_400_000, NOW_MS)]
    assert report.headline == "42 failed logins, 2 addresses blocked, 361 security events"
    assert section(report, "Failed logins per day")["chart"] == {
        "2026-11-23": 3.0,
        "2026-11-24": 0.0,
        "2026-11-25": 30.0,
        "2026-11-26": 0.0,
        "2026-11-27": 0.0,
        "2026-11-28": 9.0,
        "2026-11-29": 0.0,
    }
    assert section(report, "Top sources")["rows"] == (
        ("203.0.113.9", "31", "yes"),
        ("198.51.100.4", "12", ""),
        ("192.0.2.1", "5", ""),
    )
    assert section(report, "Blocks decided")["rows"] == (
        ("203.0.113.9", "2026-11-26 10:00", "2026-11-27 10:00", "1", "failed_logins", "rule"),
        ("198.51.100.4", "2026-11-28 11:00", "2026-11-29 11:00", "2", "manual", "oncall"),
    )
    assert section(report, "New patterns")["facts"] == {
        "event types not seen in the 4 weeks before": "privilege_escalation",
        "top sources not seen in the 4 weeks before": "203.0.113.9",
    }
    assert "new event types: privilege_escalation" in report.highlights


def test_the_monthly_performance_analysis() -> None:
    report = monthly_performance(seeded_snapshot(), now_ms=NOW_MS, stage="prod")
    assert report.headline == "error rate 2.00% of 10000 requests, 4 slow transactions, 11 slow queries"
    assert section(report, "External API latency")["rows"] == (("stripe", "100", "126", "1000"),)
    assert section(report, "Webhook processing time")["rows"] == (("payment_intent.succeeded", "100", "169", "25"),)
    assert section(report, "Transactions")["rows"] == (("stripe.webhook", "100", "850", "2500"),)
    assert section(report, "Errors and slow work")["facts"]["external API calls / errors"] == "500 / 5"


def test_an_empty_store_renders_an_empty_report() -> None:
    report = monthly_performance({}, now_ms=NOW_MS, stage="dev")
    assert report.headline == "error rate 0.00% of 0 requests, 0 slow transactions, 0 slow queries"
    assert section(report, "Transactions")["rows"] == ()


@pytest.fixture
def weekly() -> Report:
    return weekly_security(SeededSecurityLogs(), SeededBlocks(), now_ms=NOW_MS, stage="prod")


def test_the_text_html_and_slack_renderings_carry_the_figures(weekly: Report) -> None:
    text = render_text(weekly)
    assert "42 failed logins, 2 addresses blocked, 361 security events" in text
    assert "203.0.113.9   31      yes" in text
    html = render_html(weekly)
    assert html.count("<svg") == 3  # failed logins per day, events by type, top sources (blocks: a table)
    assert '<td style="padding:2px 8px">203.0.113.9</td>' in html
    payload = slack_payload(weekly)
    assert payload["text"] == "Weekly security review: 42 failed logins, 2 addresses blocked, 361 security events"
    assert "• failed logins: 42" in payload["blocks"][1]["text"]["text"]


def test_the_email_is_text_then_html(weekly: Report) -> None:
    raw = email_message(weekly, "reports@example.com", ["sec@example.com", "cto@example.com"])
    message: Message = email.message_from_bytes(raw)
    assert message["To"] == "sec@example.com, cto@example.com" and message["X-AskProAI-Report"] == "weekly-security"
    assert [part.get_content_type() for part in message.walk()][1:] == ["text/plain", "text/html"]


def test_html_escapes_what_it_shows() -> None:
    report = Report("daily-critical", "T", "p", "dev", "<script>x</script>")
    assert "<script>" not in render_html(report) and "&lt;script&gt;" in render_html(report)


def test_an_unknown_report_is_named() -> None:
    sources = ReportSources("dev", RuleSet.load(), seeded_alert_store, SeededSecurityLogs, SeededBlocks, dict)
    with pytest.raises(UnknownReport, match="the reports are daily-critical, weekly-security, monthly-performance"):
        sources.render("yearly", NOW_MS)
    assert sources.render("daily-critical", NOW_MS).kind == "daily-critical"
