"""The three channels (SES e-mail, SNS SMS, Slack webhook), each isolated from the others."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from platform_monitoring.alerting.delivery.messages import email_message, slack_payload, sms_text
from platform_monitoring.alerting.notification import Notification
from platform_monitoring.core.config import Secret
from platform_monitoring.core.settings import slack_webhook_problem

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


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is an answer, not a new destination: the alert is not posted on to wherever it points."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # urllib then raises HTTPError with the 3xx status


def _webhook_opener() -> urllib.request.OpenerDirector:
    """http and https only (urlopen's default opener also reads file:, ftp: and data: URLs), no redirects."""
    opener = urllib.request.OpenerDirector()
    for handler in (
        urllib.request.HTTPHandler(),
        urllib.request.HTTPSHandler(),
        urllib.request.HTTPDefaultErrorHandler(),
        urllib.request.HTTPErrorProcessor(),
        _NoRedirects(),
    ):
        opener.add_handler(handler)
    return opener


class SlackChannel:
    """An incoming webhook, posted with urllib and a timeout (the URL is a secret: never logged).

    The URL, literal or read from SSM / Secrets Manager, passes `slack_webhook_problem` before each
    post (a reference's value can change with a rotation); redirects are not followed."""

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
        problem = slack_webhook_problem(url)
        if problem is not None:
            where = "" if self.webhook.source == "env" else f" (read from its {self.webhook.source} reference)"
            raise SlackError(f"{self.webhook.variable}{where} {problem}; nothing was sent")
        body = json.dumps(slack_payload(notification)).encode()
        request = urllib.request.Request(  # noqa: S310 - the scheme and host are checked just above
            url, data=body, headers={"Content-Type": "application/json"}, method="POST"
        )
        try:
            with _webhook_opener().open(request, timeout=self.timeout) as response:
                answer = response.read(200).decode("utf-8", "replace")
                return f"HTTP {response.status} {answer}".strip()
        except urllib.error.HTTPError as error:
            if 300 <= error.code < 400:
                raise SlackError(f"Slack answered HTTP {error.code} (a redirect, not followed)") from None
            # Slack says why in the body (invalid_payload, no_service, channel_is_archived...): keep it.
            reason = error.read(100).decode("utf-8", "replace").strip()
            raise SlackError(f"Slack answered HTTP {error.code}" + (f": {reason}" if reason else "")) from None
        except TimeoutError:
            raise SlackError(f"Slack did not answer within {self.timeout:g} s") from None
        except urllib.error.URLError as error:
            if isinstance(error.reason, TimeoutError):
                raise SlackError(f"Slack did not answer within {self.timeout:g} s") from None
            raise SlackError(f"Slack is unreachable: {type(error.reason).__name__}") from None
