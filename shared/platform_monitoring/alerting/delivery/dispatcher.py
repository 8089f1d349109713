"""AlertDispatcher: email (SES), SMS (SNS) and Slack, each channel isolated, none sent twice.

Messages are built in messages.py, sent by the channels in channels.py, claimed and recorded in
records.py; this module runs one notification through all of them.

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

import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from aws_lambda_powertools.metrics import MetricUnit

from platform_monitoring.alerting.delivery.channels import Channel
from platform_monitoring.alerting.delivery.history import SKIPPED, DeliveryAttempt, DeliveryHistory
from platform_monitoring.alerting.delivery.records import FAILED, SENT, DeliveryStore
from platform_monitoring.alerting.notification import Notification
from platform_monitoring.core.masking import mask_text
from platform_monitoring.observability.logging import monitoring_log
from platform_monitoring.observability.metrics import metrics, recorder

CHANNEL_FAILURE_TYPE = "alert_channel_failure"


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
        history: DeliveryHistory | None = None,
    ) -> None:
        self.channels = {channel.name: channel for channel in channels}
        self.store = store
        self.attempts = attempts
        self.report_failure = report_failure
        self.clock = clock
        self.lease_ms = int(lease_seconds * 1000)
        self.history = history

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
                self._remember(notification, name, name, outcome=SKIPPED, reason=reason, attempt=0)
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
            self._remember(notification, channel.name, target, outcome=FAILED, reason=detail, attempt=attempt)
            monitoring_log.warning(
                f"Alert delivery by {channel.name} failed",
                extra={"notification_id": nid, "target": target, "attempt": attempt, "error": detail},
            )
            if notification.kind != "test":
                recorder.inc("alert_delivery_failures_total", channel=channel.name)
                metrics.add_metric(name="AlertDeliveryFailures", unit=MetricUnit.Count, value=1)
            return DeliveryResult(channel.name, target, FAILED, detail, attempt)
        self._record(self.store.mark_sent, nid, target, mask_text(receipt))
        self._remember(notification, channel.name, target, outcome=SENT, reason=receipt, attempt=attempt)
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

    def _remember(
        self, notification: Notification, channel: str, target: str, *, outcome: str, reason: str, attempt: int
    ) -> None:
        """One attempt into the delivery history (when kept); the history failing never stops a delivery."""
        if self.history is None or notification.kind == "test":
            return
        try:
            self.history.record(
                DeliveryAttempt.create(
                    notification,
                    channel=channel,
                    target=target,
                    at=self._now(),
                    outcome=outcome,
                    reason=reason,
                    attempt=attempt,
                )
            )
        except Exception:
            monitoring_log.exception("Could not record the delivery attempt in the history", extra={"target": target})

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
