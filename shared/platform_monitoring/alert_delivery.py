"""Alert delivery: email (SES), SMS (SNS) and Slack, each channel isolated, none sent twice.

AlertDispatcherFunction receives each notification from the alerts topic and hands it to
`AlertDispatcher.deliver`:
- A channel's targets are `email` (one message to every ALERT_EMAIL_RECIPIENTS address),
  `sms:<number>` (one per ALERT_SMS_RECIPIENTS number) and `slack`. A channel without
  recipients is skipped with a log line.
- Before sending to a target the dispatcher claims it with one conditional write in
  AlertDeliveriesTable (notification id + target): a target already delivered, or being
  delivered by a concurrent invocation (a lease), is not sent again. So when Lambda retries
  the invocation after a failure, only the targets that failed are tried again.
- The targets are sent to concurrently, so a Slack webhook that hangs until its timeout
  delays nothing else; an exception in one never reaches another.
- When a target fails, the successes are recorded first, then `DeliveryFailed` is raised so
  Lambda's asynchronous retry runs (twice), after which the event lands in the dead-letter
  queue (alarmed). On the last attempt the failing channel is itself reported through the
  channels that work (the `alert_channel_failure` rule, throttled like any alert).

Every message is built from an already-masked notification and masked again as text.
"""

from __future__ import annotations

import html
import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from email.message import EmailMessage
from typing import TYPE_CHECKING, Any, Protocol

from aws_lambda_powertools.metrics import MetricUnit

from platform_monitoring.alerting import Notification
from platform_monitoring.masking import mask, mask_text
from platform_monitoring.observability import metrics, monitoring_log, recorder
from platform_monitoring.settings import AlertDispatcherSettings, AlertRecipients, Secret

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_ses import SESClient
    from mypy_boto3_sns import SNSClient

SMS_MAX_CHARS = 160  # one GSM-7 segment
CHANNEL_FAILURE_TYPE = "alert_channel_failure"
DELIVERY_RECORD_DAYS = 7
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
            raise SlackError(f"Slack answered HTTP {error.code}") from None
        except TimeoutError:
            raise SlackError(f"Slack did not answer within {self.timeout:g} s") from None
        except urllib.error.URLError as error:
            if isinstance(error.reason, TimeoutError):
                raise SlackError(f"Slack did not answer within {self.timeout:g} s") from None
            raise SlackError(f"Slack is unreachable: {type(error.reason).__name__}") from None


# ---------------------------------------------------------------------------
# Delivery records
# ---------------------------------------------------------------------------
SENDING, SENT, FAILED = "sending", "sent", "failed"


class DeliveryStore(Protocol):
    def claim(self, notification_id: str, target: str, now_ms: int, lease_ms: int) -> int | None:
        """The attempt number when this caller may send; None when delivered or in flight elsewhere."""
        ...

    def mark_sent(self, notification_id: str, target: str, now_ms: int, receipt: str) -> None: ...

    def mark_failed(self, notification_id: str, target: str, now_ms: int, error: str) -> None: ...


class DynamoDeliveryStore:
    """AlertDeliveriesTable: key (notification_id, target), TTL expires_at."""

    def __init__(self, client: DynamoDBClient, table: str) -> None:
        self._client = client
        self.table = table

    def claim(self, notification_id: str, target: str, now_ms: int, lease_ms: int) -> int | None:
        client = self._client
        try:
            response = client.update_item(
                TableName=self.table,
                Key={"notification_id": {"S": notification_id}, "target": {"S": target}},
                UpdateExpression="SET delivery_status = :sending, lease_until = :lease, expires_at = :expires "
                "ADD attempts :one",
                ConditionExpression="attribute_not_exists(notification_id) OR delivery_status = :failed "
                "OR (delivery_status = :sending AND lease_until < :now)",
                ExpressionAttributeValues={
                    ":sending": {"S": SENDING},
                    ":failed": {"S": FAILED},
                    ":lease": {"N": str(now_ms + lease_ms)},
                    ":now": {"N": str(now_ms)},
                    ":expires": {"N": str(now_ms // 1000 + DELIVERY_RECORD_DAYS * 86400)},
                    ":one": {"N": "1"},
                },
                ReturnValues="UPDATED_NEW",
            )
        except client.exceptions.ConditionalCheckFailedException:
            return None
        return int(response["Attributes"]["attempts"]["N"])

    def _set(self, notification_id: str, target: str, status: str, now_ms: int, note: str) -> None:
        self._client.update_item(
            TableName=self.table,
            Key={"notification_id": {"S": notification_id}, "target": {"S": target}},
            UpdateExpression="SET delivery_status = :status, finished_at = :now, note = :note",
            ExpressionAttributeValues={
                ":status": {"S": status},
                ":now": {"N": str(now_ms)},
                ":note": {"S": note[:500] or "-"},
            },
        )

    def mark_sent(self, notification_id: str, target: str, now_ms: int, receipt: str) -> None:
        self._set(notification_id, target, SENT, now_ms, receipt)

    def mark_failed(self, notification_id: str, target: str, now_ms: int, error: str) -> None:
        self._set(notification_id, target, FAILED, now_ms, error)


class InMemoryDeliveryStore:
    """Unit tests' fake, same conditions."""

    def __init__(self) -> None:
        self.records: dict[tuple[str, str], dict[str, Any]] = {}
        self.requests = 0

    def claim(self, notification_id: str, target: str, now_ms: int, lease_ms: int) -> int | None:
        self.requests += 1
        record = self.records.get((notification_id, target))
        if record is not None and not (
            record["status"] == FAILED or (record["status"] == SENDING and record["lease_until"] < now_ms)
        ):
            return None
        attempts = (record or {}).get("attempts", 0) + 1
        self.records[(notification_id, target)] = {
            "status": SENDING,
            "lease_until": now_ms + lease_ms,
            "attempts": attempts,
        }
        return int(attempts)

    def mark_sent(self, notification_id: str, target: str, now_ms: int, receipt: str) -> None:
        self.requests += 1
        self.records[(notification_id, target)].update(status=SENT, note=receipt)

    def mark_failed(self, notification_id: str, target: str, now_ms: int, error: str) -> None:
        self.requests += 1
        self.records[(notification_id, target)].update(status=FAILED, note=error)


class NoDeliveryRecords:
    """Every claim succeeds (monitoring-test --alert sends its test through every channel each run)."""

    def claim(self, notification_id: str, target: str, now_ms: int, lease_ms: int) -> int | None:
        return 1

    def mark_sent(self, notification_id: str, target: str, now_ms: int, receipt: str) -> None:
        return None

    def mark_failed(self, notification_id: str, target: str, now_ms: int, error: str) -> None:
        return None


# ---------------------------------------------------------------------------
# The dispatcher
# ---------------------------------------------------------------------------
@dataclass(frozen=True)
class DeliveryResult:
    channel: str
    target: str
    status: str  # sent | failed | skipped | already_sent
    detail: str = ""
    attempt: int = 0

    def describe(self) -> str:
        return f"{self.target}: {self.status}" + (f" ({self.detail})" if self.detail else "")


class DeliveryFailed(Exception):
    """At least one target failed; the others were delivered and recorded."""

    def __init__(self, results: list[DeliveryResult]) -> None:
        self.results = results
        failed = [r.describe() for r in results if r.status == FAILED]
        super().__init__("alert delivery failed: " + "; ".join(failed))


ChannelFailureReporter = Callable[[Notification, DeliveryResult], None]


class AlertDispatcher:
    def __init__(
        self,
        channels: Sequence[Channel],
        store: DeliveryStore,
        *,
        attempts: int = 3,
        report_failure: ChannelFailureReporter | None = None,
        clock: Callable[[], float] = time.time,
        lease_seconds: float = 120.0,
    ) -> None:
        self.channels = {channel.name: channel for channel in channels}
        self.store = store
        self.attempts = attempts
        self.report_failure = report_failure
        self.clock = clock
        self.lease_ms = int(lease_seconds * 1000)

    def deliver(self, notification: Notification) -> list[DeliveryResult]:
        """Send to every target not yet delivered; raise DeliveryFailed after recording when one fails."""
        results: list[DeliveryResult] = []
        work: list[tuple[Channel, str]] = []
        for name in notification.channels:
            channel = self.channels.get(name)
            if channel is None:
                continue
            targets = channel.targets()
            if not targets:
                reason = channel.skip_reason()
                monitoring_log.info(
                    f"Alert channel {name} skipped: {reason}", extra={"notification_id": notification.notification_id}
                )
                results.append(DeliveryResult(name, name, "skipped", reason))
                continue
            work.extend((channel, target) for target in targets)
        if work:
            with ThreadPoolExecutor(max_workers=len(work), thread_name_prefix="alert-channel") as pool:
                results.extend(pool.map(lambda item: self._send(item[0], item[1], notification), work))
        failed = [result for result in results if result.status == FAILED]
        if not failed:
            return results
        self._report_exhausted(notification, failed)
        raise DeliveryFailed(results)

    def _send(self, channel: Channel, target: str, notification: Notification) -> DeliveryResult:
        nid = notification.notification_id
        attempt = self.store.claim(nid, target, self._now(), self.lease_ms)
        if attempt is None:
            return DeliveryResult(channel.name, target, "already_sent", "delivered by an earlier attempt")
        try:
            receipt = channel.send(target, notification)
        except Exception as error:
            detail = mask_text(f"{type(error).__name__}: {' '.join(str(error).split())}")[:300]
            self._record(self.store.mark_failed, nid, target, detail)
            monitoring_log.warning(
                f"Alert delivery by {channel.name} failed",
                extra={"notification_id": nid, "target": target, "attempt": attempt, "error": detail},
            )
            if notification.kind != "test":
                recorder.inc("alert_delivery_failures_total", channel=channel.name)
                metrics.add_metric(name="AlertDeliveryFailures", unit=MetricUnit.Count, value=1)
            return DeliveryResult(channel.name, target, FAILED, detail, attempt)
        self._record(self.store.mark_sent, nid, target, mask_text(receipt))
        if notification.kind != "test":
            recorder.inc("alerts_sent_total", type=notification.alert_type, channel=channel.name)
        monitoring_log.info(
            f"Alert delivered by {channel.name}", extra={"notification_id": nid, "target": target, "attempt": attempt}
        )
        return DeliveryResult(channel.name, target, SENT, mask_text(receipt)[:200], attempt)

    def _record(self, mark: Callable[[str, str, int, str], None], nid: str, target: str, note: str) -> None:
        try:
            mark(nid, target, self._now(), note)
        except Exception:  # the claim's lease still protects against a resend for lease_seconds
            monitoring_log.exception("Could not record an alert delivery", extra={"target": target})

    def _report_exhausted(self, notification: Notification, failed: list[DeliveryResult]) -> None:
        if (
            self.report_failure is None
            or notification.kind == "test"
            or notification.alert_type == CHANNEL_FAILURE_TYPE
        ):
            return  # never report a failure about a failure report: no loops
        for result in failed:
            if result.attempt >= self.attempts:
                try:
                    self.report_failure(notification, result)
                except Exception:
                    monitoring_log.exception("Could not report a failing alert channel")

    def _now(self) -> int:
        return int(self.clock() * 1000)


def channels_from_settings(recipients: AlertRecipients, slack_timeout: float, aws_timeout: float) -> list[Channel]:
    """The three channels from AlertRecipients (settings), with lazily created AWS clients."""
    from platform_monitoring import clients  # noqa: PLC0415

    return [
        EmailChannel(lambda: clients.ses_client(aws_timeout), recipients.email_from, recipients.emails),
        SmsChannel(lambda: clients.sns_client(aws_timeout), recipients.sms_numbers),
        SlackChannel(recipients.slack_webhook, slack_timeout),
    ]


def channel_test_notification(stage: str, runbook_base_url: str) -> Notification:
    """What `monitoring-test --alert` sends through every configured channel."""
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    return Notification(
        notification_id=f"test-{int(time.time() * 1000)}",
        kind="test",
        alert_id="test_alert",
        alert_type="test_alert",
        title="Test alert from monitoring-test",
        severity="info",
        summary="This is a test of the alert channels; no action is needed.",
        description="Sent by `monitoring-test --alert` to prove that this channel delivers.",
        first_seen=now,
        last_seen=now,
        runbook_url=f"{runbook_base_url}README.md",
        stage=stage,
        created_at=now,
    )


def send_test_alert(settings: AlertDispatcherSettings) -> list[DeliveryResult]:
    """`monitoring-test --alert`: a test notification through every configured channel, no records kept."""
    dispatcher = AlertDispatcher(
        channels_from_settings(settings.recipients, settings.slack_timeout, settings.alerting.aws_timeout),
        NoDeliveryRecords(),
        attempts=1,
    )
    notification = channel_test_notification(settings.alerting.monitoring.stage, settings.alerting.runbook_base_url)
    try:
        return dispatcher.deliver(notification)
    except DeliveryFailed as failed:
        return failed.results
