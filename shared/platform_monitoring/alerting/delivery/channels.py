"""The three channels (SES e-mail, SNS SMS, Slack webhook), each isolated from the others."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Protocol

from platform_monitoring.alerting.delivery.messages import email_message, slack_payload, sms_text
from platform_monitoring.alerting.notification import Notification
from platform_monitoring.core.config import Secret

if TYPE_CHECKING:
    from mypy_boto3_ses import SESClient
    from mypy_boto3_sns import SNSClient


# ---------------------------------------------------------------------------
# Channels
# ---------------------------------------------------------------------------
class Channel(Protocol):
    name: str

    def targets(self) -> list[str]:
        """Delivery targets; empty when the channel has no recipients configured."""
        ...

    def skip_reason(self) -> str: ...

    def send(self, target: str, notification: Notification) -> str:
        """Send; return a receipt (message ID). Raise on failure."""
        ...


class EmailChannel:
    name = "email"

    def __init__(self, client: Callable[[], SESClient], sender: str | None, recipients: Sequence[str]) -> None:
        self._client = client
        self.sender = sender
        self.recipients = tuple(recipients)

    def targets(self) -> list[str]:
        return ["email"] if self.recipients and self.sender else []

    def skip_reason(self) -> str:
        if not self.recipients:
            return "no ALERT_EMAIL_RECIPIENTS configured"
        return "ALERT_EMAIL_FROM is not configured"

    def send(self, target: str, notification: Notification) -> str:
        assert self.sender
        response = self._client().send_raw_email(  # recipients from the message's To header
            Source=self.sender,
            RawMessage={"Data": email_message(notification, self.sender, self.recipients)},
        )
        return response["MessageId"]


class SmsChannel:
    name = "sms"

    def __init__(self, client: Callable[[], SNSClient], numbers: Sequence[str]) -> None:
        self._client = client
        self.numbers = tuple(numbers)  # E.164, validated by settings

    def targets(self) -> list[str]:
        return [f"sms:{number}" for number in self.numbers]

    def skip_reason(self) -> str:
        return "no ALERT_SMS_RECIPIENTS configured"

    def send(self, target: str, notification: Notification) -> str:
        response = self._client().publish(
            PhoneNumber=target.removeprefix("sms:"),
            Message=sms_text(notification),
            MessageAttributes={"AWS.SNS.SMS.SMSType": {"DataType": "String", "StringValue": "Transactional"}},
        )
        return response["MessageId"]


class SlackError(Exception):
    pass


class SlackChannel:
    """An incoming webhook, posted with urllib and a timeout (the URL is a secret: never logged)."""

    name = "slack"

    def __init__(self, webhook: Secret, timeout: float) -> None:
        self.webhook = webhook
        self.timeout = timeout

    def targets(self) -> list[str]:
        return ["slack"] if self.webhook.configured else []

    def skip_reason(self) -> str:
        return "no ALERT_SLACK_WEBHOOK configured"

    def send(self, target: str, notification: Notification) -> str:
        url = self.webhook.reveal()
        if not url:
            raise SlackError("the Slack webhook reference is empty")
        body = json.dumps(slack_payload(notification)).encode()
        request = urllib.request.Request(  # noqa: S310 - https (or loopback http) enforced by settings
            url, data=body, headers={"Content-Type": "application/json"}, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                answer = response.read(200).decode("utf-8", "replace")
                return f"HTTP {response.status} {answer}".strip()
        except urllib.error.HTTPError as error:
            # Slack says why in the body (invalid_payload, no_service, channel_is_archived...): keep it.
            reason = error.read(100).decode("utf-8", "replace").strip()
            raise SlackError(f"Slack answered HTTP {error.code}" + (f": {reason}" if reason else "")) from None
        except TimeoutError:
            raise SlackError(f"Slack did not answer within {self.timeout:g} s") from None
        except urllib.error.URLError as error:
            if isinstance(error.reason, TimeoutError):
                raise SlackError(f"Slack did not answer within {self.timeout:g} s") from None
            raise SlackError(f"Slack is unreachable: {type(error.reason).__name__}") from None
