"""Sending a report: one SES raw email (text + HTML) to the report recipients and one Slack post."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from platform_monitoring.core.config import Secret
from platform_monitoring.reports.model import Report, email_message, slack_payload

if TYPE_CHECKING:
    from mypy_boto3_ses import SESClient


@dataclass(frozen=True)
class Sent:
    channel: str  # email | slack
    outcome: str  # sent | skipped | failed
    detail: str = ""


class ReportSender:
    def __init__(
        self,
        ses: SESClient | None,
        sender: str | None,
        recipients: Sequence[str],
        slack_webhook: Secret,
        slack_timeout: float = 5.0,
    ) -> None:
        self.ses = ses
        self.sender = sender
        self.recipients = tuple(recipients)
        self.slack_webhook = slack_webhook
        self.slack_timeout = slack_timeout

    def send(self, report: Report) -> list[Sent]:
        """Both channels, each isolated: one failing does not stop the other (the caller sees both)."""
        return [self._email(report), self._slack(report)]

    def _email(self, report: Report) -> Sent:
        if self.ses is None or not self.sender or not self.recipients:
            return Sent("email", "skipped", "no REPORT_EMAIL_RECIPIENTS or sender configured")
        try:
            response = self.ses.send_raw_email(RawMessage={"Data": email_message(report, self.sender, self.recipients)})
        except Exception as error:  # SES's rejection, named; the report still goes to Slack
            return Sent("email", "failed", f"{type(error).__name__}: {error}"[:300])
        return Sent("email", "sent", response["MessageId"])

    def _slack(self, report: Report) -> Sent:
        url = self.slack_webhook.reveal() if self.slack_webhook.configured else None
        if not url:
            return Sent("slack", "skipped", "no Slack webhook configured")
        request = urllib.request.Request(  # noqa: S310 - https (or loopback http) enforced by settings
            url, data=json.dumps(slack_payload(report)).encode(), headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=self.slack_timeout) as response:  # noqa: S310
                return Sent("slack", "sent", f"HTTP {response.status}")
        except urllib.error.HTTPError as error:
            return Sent("slack", "failed", f"Slack answered HTTP {error.code}")
        except (urllib.error.URLError, TimeoutError) as error:
            return Sent("slack", "failed", f"Slack is unreachable: {type(error).__name__}")
