"""ReportsFunction's handler on fakes: the scheduled Input names the report, both channels' outcomes
are answered, a failed channel fails the invocation (Errors alarm, one retry)."""

from __future__ import annotations

from typing import Any

import pytest
from platform_monitoring.alerting.rules import RuleSet
from platform_monitoring.reports.delivery import Sent
from platform_monitoring.reports.model import Report
from platform_monitoring.reports.runner import ReportSources, UnknownReport

from tests.support.functions import cold_start, load_event
from tests.support.lambda_context import FakeLambdaContext
from tests.support.reports import SeededBlocks, SeededSecurityLogs, seeded_alert_store

ENV: dict[str, str | None] = {"STAGE": "test", "REPORT_EMAIL_RECIPIENTS": "sec@example.com"}


class RecordingSender:
    def __init__(self, outcome: str = "sent") -> None:
        self.reports: list[Report] = []
        self.outcome = outcome

    def send(self, report: Report) -> list[Sent]:
        self.reports.append(report)
        return [
            Sent("email", self.outcome, "SES said no" if self.outcome == "failed" else "id-1"),
            Sent("slack", "sent"),
        ]


@pytest.fixture(scope="module")
def function() -> Any:
    module = cold_start("reports", ENV)
    module.sources = ReportSources(
        "test", RuleSet.load(), seeded_alert_store, SeededSecurityLogs, SeededBlocks, lambda: {}
    )
    return module


def test_the_scheduled_input_names_the_report(function: Any) -> None:
    function.sender = RecordingSender()
    result = function.lambda_handler(load_event("reports_weekly_security.json"), FakeLambdaContext())
    assert result["report"] == "weekly-security"
    assert result["subject"].startswith("[test] Weekly security review: 42 failed logins")
    assert [(s["channel"], s["outcome"]) for s in result["sent"]] == [("email", "sent"), ("slack", "sent")]
    assert [r.kind for r in function.sender.reports] == ["weekly-security"]


def test_a_failed_channel_fails_the_invocation(function: Any) -> None:
    function.sender = RecordingSender("failed")
    with pytest.raises(function.ReportNotDelivered, match="email: SES said no"):
        function.lambda_handler(load_event("reports_daily_critical.json"), FakeLambdaContext())


def test_an_unknown_report_is_an_error(function: Any) -> None:
    function.sender = RecordingSender()
    with pytest.raises(UnknownReport):
        function.lambda_handler({"report": "yearly"}, FakeLambdaContext())
