"""The guide's AlertingService: rules, windows, throttling, silences and the alert lifecycle.

    from platform_monitoring.wiring.alerting import alert
    alert("payment_failure", {"count": 5, "window": 5})        # the guide's "Manual Alert Test"

`alert(type, context)` records the occurrence in the rule's window (DynamoDB), counts the
window, and when the count reaches the rule's threshold decides, with one conditional write
on the alert's record, whether this call is the one that notifies (at most one per throttle
period per alert, however many Lambdas call at once) or a repeat that is only counted. The
notifying call publishes the alert to the SNS alerts topic; AlertDispatcherFunction delivers
it by email, SMS and Slack. See docs/alerting.md for the rules, the window edges and the costs.

Contexts are masked before they are stored or sent: no secret reaches an alert.
`context["count"]`, when a positive integer, is how many occurrences the call reports (the
guide's manual test reports 5 payment failures at once); `context["occurrence_id"]` (a Stripe
or security event ID) makes the occurrence count once however often its message is retried;
anything else in the context is shown in the notification, and a rule's `group_by` labels
(e.g. `queue`) are read from it.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from platform_monitoring.alerting.delivery.history import DeliveryHistory
from platform_monitoring.alerting.notification import Notification, Publisher
from platform_monitoring.alerting.rules import SEVERITIES, AlertRule, RuleSet
from platform_monitoring.alerting.settings import DEFAULT_RUNBOOK_BASE_URL
from platform_monitoring.alerting.store import (
    ACKNOWLEDGED,
    FIRING,
    RESOLVED,
    AlertConflict,
    AlertNotFound,
    AlertRecord,
    AlertStore,
    Claim,
    NewAlert,
    Silence,
    iso,
)
from platform_monitoring.core.interfaces import SECURITY_CONTROL_ALERT
from platform_monitoring.core.masking import mask, mask_text
from platform_monitoring.observability.logging import monitoring_log
from platform_monitoring.observability.metrics import metrics

# An occurrence stays in DynamoDB this long after it left its window (TTL deletes it lazily;
# the window's sort-key bound, not the TTL, decides what is counted).
EVENT_TTL_MARGIN_SECONDS = 3600
RESOLVED_RETENTION_SECONDS = 30 * 86400  # resolved alerts stay listable for 30 days
SILENCE_TTL_MARGIN_SECONDS = 86400
MAX_SILENCE_SECONDS = 7 * 86400


# One call reports at most this many occurrences to the window (25 = one BatchWriteItem),
# or the rule's threshold when that is higher: enough for the call alone to fire the rule.
MAX_REPORTED_OCCURRENCES = 25
MAX_DECISION_ATTEMPTS = 4
MAX_REMEMBERED_THROTTLES = 1000
MAX_REMEMBERED_OCCURRENCES = 10_000
_FIELD = re.compile(r"\{(\w+)\}")


@dataclass(frozen=True)
class AlertDecision:
    """What one alert() call did.

    outcome: notified (this call published the alert), throttled (a repeat within the
    throttle period, counted as suppressed), acknowledged (a repeat of an acknowledged
    alert), silenced (a silence muted it), below_threshold, disabled (MONITORING_ENABLED is
    false), error (the alert store or topic failed; logged and counted, never raised).
    """

    outcome: str
    alert_type: str
    alert_id: str
    count: int = 0
    threshold: float = 0
    notification_id: str | None = None
    suppressed: int = 0
    error: str | None = None

    @property
    def notified(self) -> bool:
        return self.outcome == "notified"


def make_alert_id(alert_type: str, labels: Mapping[str, str]) -> str:
    """The alert's id: its type, plus a short hash of its grouping labels (URL-safe)."""
    if not labels:
        return alert_type
    digest = hashlib.sha256(json.dumps(dict(sorted(labels.items()))).encode()).hexdigest()[:12]
    return f"{alert_type}-{digest}"


def render(template: str, values: Mapping[str, Any]) -> str:
    """{name} fields from values (missing ones show as '?'); nothing else of str.format."""
    return mask_text(_FIELD.sub(lambda match: str(values.get(match.group(1), "?")), template))


def occurrences(context: Mapping[str, Any]) -> int:
    value = context.get("count")
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    return 1


class SilenceRefused(Exception):
    """A silence the rules do not allow as asked: `code` is not_silenceable (never) or security_alert
    (a security alert type, allowed only with force=True)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class AlertingService:
    """Rules, windows, throttle, silences and lifecycle over an AlertStore and a Publisher."""

    def __init__(
        self,
        rules: RuleSet,
        store: AlertStore,
        publisher: Publisher,
        *,
        runbook_base_url: str = DEFAULT_RUNBOOK_BASE_URL,
        stage: str = "dev",
        enabled: bool = True,
        clock: Callable[[], float] = time.time,
        history: DeliveryHistory | None = None,
    ) -> None:
        self.rules = rules
        self.store = store
        self.publisher = publisher
        self.runbook_base_url = runbook_base_url
        self.stage = stage
        self.enabled = enabled
        self.clock = clock
        self.history = history  # whom an alert paged: a resolved notice during a silence goes there
        # alert id -> (end of its throttle period, the window count) as this process last saw it.
        # Only a hint: the store's conditional write decides; a stale entry costs one extra request.
        self._throttled: dict[str, tuple[int, int]] = {}
        # When this process last repeated an alert without writing its window: resolve_quiet may be
        # handed records listed before that repeat (the scheduled run lists, then alerts, then resolves).
        self._repeated_at: dict[str, int] = {}
        # (alert id, occurrence id) this process counted lately, so that its retry (the usual one:
        # same Lambda, message failed after alert()) does not raise the running count above.
        self._counted_ids: dict[tuple[str, str], None] = {}
        self._counted_lock = threading.Lock()

    def now_ms(self) -> int:
        return int(self.clock() * 1000)

    def runbook_url(self, alert_type: str) -> str:
        return f"{self.runbook_base_url}{alert_type}.md"

    # -- raising alerts ----------------------------------------------------------
    def alert(
        self,
        alert_type: str,
        context: Mapping[str, Any] | None = None,
        *,
        severity: str | None = None,
        channels: tuple[str, ...] | None = None,
    ) -> AlertDecision:
        """Record one occurrence (or context["count"] of them) and notify when the rule says so.

        `severity` and `channels` replace the rule's for this alert (one fed in from Prometheus or
        CloudWatch brings its own severity); a rule title with {fields} is rendered from the context
        like its summary.
        """
        rule = self.rules[alert_type]
        masked: dict[str, Any] = mask(dict(context or {}))
        if severity is not None:
            if severity not in SEVERITIES:
                raise ValueError(f"severity must be one of {', '.join(SEVERITIES)}, not {severity!r}")
            rule = replace(rule, severity=severity)
        if channels is not None:
            rule = replace(rule, channels=channels)
        if "{" in rule.title:
            rule = replace(rule, title=render(rule.title, masked))
        occurrence_id = masked.pop("occurrence_id", None)
        labels = {name: str(masked.get(name, "")) for name in rule.group_by}
        alert_id = make_alert_id(alert_type, labels)
        if not self.enabled:
            return AlertDecision("disabled", alert_type, alert_id, threshold=rule.threshold)
        try:
            return self._alert(rule, alert_id, labels, masked, None if occurrence_id is None else str(occurrence_id))
        except Exception as error:  # alerting must never take its caller down with it
            monitoring_log.exception("Alerting failed", extra={"alert_type": alert_type, "alert_id": alert_id})
            metrics.add_metric(name="AlertingErrors", unit=MetricUnit.Count, value=1)
            return AlertDecision(
                "error", alert_type, alert_id, threshold=rule.threshold, error=mask_text(f"{type(error).__name__}")
            )

    def _alert(
        self,
        rule: AlertRule,
        alert_id: str,
        labels: dict[str, str],
        context: dict[str, Any],
        occurrence_id: str | None = None,
    ) -> AlertDecision:
        now = self.now_ms()
        reported = occurrences(context)
        if rule.kind == "count":
            repeat, recorded = self._throttled_repeat(
                rule, alert_id, context, now=now, reported=reported, occurrence_id=occurrence_id
            )
            if repeat is not None:
                return repeat
            if not recorded:
                # An occurrence seen before (its message retried) is not counted again, but the decision
                # below runs again: the earlier attempt may have failed before its notification went out.
                self._record(rule, alert_id, now, reported, occurrence_id)
                self._counted(alert_id, occurrence_id)
            count = self.store.count_events(alert_id, now - rule.window_ms)
            if count < rule.count_threshold:
                monitoring_log.debug(
                    "Alert below threshold",
                    extra={"alert_type": rule.type, "count": count, "threshold": rule.count_threshold},
                )
                return AlertDecision("below_threshold", rule.type, alert_id, count, rule.threshold)
        else:
            count = reported
        return self._decide(rule, alert_id, labels=labels, context=context, now=now, count=count, reported=reported)

    def _decide(
        self,
        rule: AlertRule,
        alert_id: str,
        *,
        labels: dict[str, str],
        context: dict[str, Any],
        now: int,
        count: int,
        reported: int,
    ) -> AlertDecision:
        summary = self.summary(rule, count, context)
        for _ in range(MAX_DECISION_ATTEMPTS):
            # The common case in a storm first: a repeat within the throttle period is one write.
            repeated, current = self.store.repeat(
                alert_id, now, reported, window_count=count, summary=summary, context=context
            )
            if repeated:
                return self._repeated(rule, alert_id, current, count)
            new = NewAlert(
                id=alert_id,
                type=rule.type,
                severity=rule.severity,
                title=rule.title,
                summary=summary,
                labels=labels,
                context=context,
                now=now,
                notify_until=now + rule.throttle_seconds * 1000,
                notification_id=uuid.uuid4().hex,
                occurrences=reported,
                window_count=count,
            )
            if current is None or current.status == FIRING:
                claim = self.store.claim(new)
            elif current.status == RESOLVED and current.resolved_at is not None:
                claim = self.store.reopen(new, current.resolved_at)
            else:  # acknowledged or changed meanwhile: decide again
                continue
            if claim is not None:  # this call won the conditional write: it notifies
                return self._notify(rule, new, claim, count)
        monitoring_log.warning("Alert decision lost every race; counted as a repeat", extra={"alert_id": alert_id})
        return AlertDecision("throttled", rule.type, alert_id, count, rule.threshold)

    def _throttled_repeat(
        self,
        rule: AlertRule,
        alert_id: str,
        context: dict[str, Any],
        *,
        now: int,
        reported: int,
        occurrence_id: str | None,
    ) -> tuple[AlertDecision | None, bool]:
        """A repeat of an alert this process saw firing and throttled: a write on its record without
        counting the window (the record's condition, not the count, decides); None otherwise.

        The occurrence goes to the rule's window only in the throttle period's last window: an
        earlier one has left the window before any call may notify again, so that call (which
        counts the window) sees what it would have seen. A repeat is then ONE request for most of
        the throttle period and two in its last window, instead of three. resolve_quiet reads the
        record's last_seen, which the write sets, so the alert does not resolve meanwhile. The
        record's window_count is this process's running count (an upper bound: occurrences that
        left the window since are still in it). An occurrence ID is recorded in DynamoDB in the
        last window only; a retry elsewhere earlier adds one to that running count, and, as in
        every path, to the record's count and suppressed totals.

        Returns the decision (None: decide in full) and whether the occurrence is in the window.
        """
        throttled_until, counted = self._throttled.get(alert_id, (0, 0))
        if now >= throttled_until:
            return None, False
        new = not self._counted(alert_id, occurrence_id)
        recorded = now >= throttled_until - rule.window_ms
        if recorded:
            new = self._record(rule, alert_id, now, reported, occurrence_id) and new
        count = counted + reported if new else counted
        summary = self.summary(rule, count, context)
        repeated, current = self.store.repeat(
            alert_id, now, reported, window_count=count, summary=summary, context=context
        )
        if not repeated:  # resolved, released or changed elsewhere: the whole decision runs
            self._throttled.pop(alert_id, None)
            return None, recorded
        if len(self._repeated_at) >= MAX_REMEMBERED_THROTTLES:
            self._repeated_at.clear()
        self._repeated_at[alert_id] = now
        return self._repeated(rule, alert_id, current, count), recorded

    def _record(self, rule: AlertRule, alert_id: str, now: int, reported: int, occurrence_id: str | None) -> bool:
        """The occurrences into the rule's window; False when occurrence_id was recorded before."""
        written = min(reported, max(MAX_REPORTED_OCCURRENCES, rule.count_threshold))
        expires = (now + rule.window_ms) // 1000 + EVENT_TTL_MARGIN_SECONDS
        return self.store.add_events(alert_id, now, written, expires, occurrence_id)

    def _repeated(self, rule: AlertRule, alert_id: str, current: AlertRecord | None, count: int) -> AlertDecision:
        outcome = "acknowledged" if current is not None and current.status == ACKNOWLEDGED else "throttled"
        suppressed = current.suppressed if current is not None else 0
        if current is not None and current.status == FIRING:
            self._remember_throttle(alert_id, current.notified_until, count)
        return AlertDecision(outcome, rule.type, alert_id, count, rule.threshold, suppressed=suppressed)

    def _counted(self, alert_id: str, occurrence_id: str | None) -> bool:
        """Whether this process counted the occurrence before; from now on it has."""
        if occurrence_id is None:
            return False
        key = (alert_id, occurrence_id)
        with self._counted_lock:
            if key in self._counted_ids:
                return True
            if len(self._counted_ids) >= MAX_REMEMBERED_OCCURRENCES:
                del self._counted_ids[next(iter(self._counted_ids))]  # the oldest (dicts keep order)
            self._counted_ids[key] = None
            return False

    def _remember_throttle(self, alert_id: str, until: int, count: int) -> None:
        if len(self._throttled) >= MAX_REMEMBERED_THROTTLES:  # a bound for many grouped alerts
            self._throttled.clear()
        self._throttled[alert_id] = (until, count)

    def summary(self, rule: AlertRule, count: int, context: Mapping[str, Any]) -> str:
        values = {**context, "count": count, "window": rule.window_text(), "threshold": rule.threshold_text()}
        return render(rule.summary, values)

    def _notify(self, rule: AlertRule, new: NewAlert, claim: Claim, count: int) -> AlertDecision:
        suppressed = claim.suppressed
        if claim.first_seen == new.now:  # a new alert, or a resolved one reopened: a new episode
            self._episode(lambda: self.store.open_episode(new.id, rule.type, new.now), new.id)
        silence = self.active_silence(rule.type, new.now)
        if silence is not None:
            silenced_until = min(silence.ends_at, new.notify_until)
            self.store.mark_silenced(new.id, new.notification_id, silenced_until, suppressed + 1)
            self._remember_throttle(new.id, silenced_until, count)
            monitoring_log.info(
                "Alert silenced", extra={"alert_id": new.id, "silence_id": silence.id, "until": iso(silence.ends_at)}
            )
            return AlertDecision("silenced", rule.type, new.id, count, rule.threshold, suppressed=suppressed)
        self._remember_throttle(new.id, new.notify_until, count)
        notification = self.firing_notification(
            rule,
            notification_id=new.notification_id,
            alert_id=new.id,
            labels=new.labels,
            summary=new.summary,
            count=count,
            total=claim.total,
            suppressed=suppressed,
            first_seen=claim.first_seen,
            last_seen=new.now,
            context=new.context,
            channels=rule.channels,
            now=new.now,
        )
        try:
            self.publisher.publish(notification)
        except Exception:
            # Give the throttle slot back so the next occurrence tries again.
            self._throttled.pop(new.id, None)
            try:
                self.store.release(new.id, new.notification_id)
            except Exception:
                monitoring_log.exception("Could not release the throttle after a failed publish")
            raise
        monitoring_log.warning(
            f"Alert: {new.summary}",
            extra={"alert_id": new.id, "alert_type": rule.type, "severity": rule.severity, "suppressed": suppressed},
        )
        return AlertDecision(
            "notified", rule.type, new.id, count, rule.threshold, new.notification_id, suppressed=suppressed
        )

    def firing_notification(
        self,
        rule: AlertRule,
        *,
        notification_id: str,
        alert_id: str,
        labels: Mapping[str, str],
        summary: str,
        count: int,
        total: int,
        suppressed: int,
        first_seen: int,
        last_seen: int,
        context: Mapping[str, Any],
        channels: tuple[str, ...],
        now: int,
        escalation: int = 0,
    ) -> Notification:
        """A firing notification of `rule`: its first page (alert()) or a later one (escalation)."""
        return Notification(
            notification_id=notification_id,
            kind="firing",
            alert_id=alert_id,
            alert_type=rule.type,
            title=rule.title,
            severity=rule.severity,
            summary=summary,
            description=rule.description,
            labels=dict(labels),
            count=count,
            total=total,
            threshold=rule.threshold_text(),
            window=rule.window_text(),
            suppressed=suppressed,
            first_seen=iso(first_seen),
            last_seen=iso(last_seen),
            context=dict(context),
            channels=self._channels(channels, labels),
            runbook_url=self.runbook_url(rule.type),
            stage=self.stage,
            created_at=iso(now),
            escalation=escalation,
        )

    @staticmethod
    def _channels(channels: tuple[str, ...], labels: Mapping[str, str]) -> tuple[str, ...]:
        # An alert about a channel (alert_channel_failure) is not sent through that channel.
        return tuple(channel for channel in channels if channel != labels.get("channel"))

    # -- lifecycle -----------------------------------------------------------------
    def get(self, alert_id: str) -> AlertRecord:
        record = self.store.get(alert_id)
        if record is None:
            raise AlertNotFound(alert_id)
        return record

    def alerts(
        self, status: str | None = None, severity: str | None = None, alert_type: str | None = None
    ) -> list[AlertRecord]:
        """Alerts, most recently seen first; status "active" means firing or acknowledged."""
        records = [
            record
            for record in self.store.alerts()
            if (status is None or record.status == status or (status == "active" and record.active))
            and (severity is None or record.severity == severity)
            and (alert_type is None or record.type == alert_type)
        ]
        return sorted(records, key=lambda record: record.last_seen, reverse=True)

    def acknowledge(self, alert_id: str, by: str = "api", note: str | None = None) -> AlertRecord:
        """Stop the alert repeating; it still resolves (with a notice) when its condition clears."""
        try:
            record = self.store.acknowledge(alert_id, mask_text(by), mask_text(note) if note else None, self.now_ms())
        except AlertConflict as conflict:
            if conflict.record.status == ACKNOWLEDGED:
                return conflict.record  # acknowledging twice is harmless
            raise
        monitoring_log.info("Alert acknowledged", extra={"alert_id": alert_id, "by": record.acknowledged_by})
        at = record.acknowledged_at or self.now_ms()
        self._episode(lambda: self.store.close_episode(record.id, record.first_seen, "acknowledged_at", at), alert_id)
        return record

    def resolve(self, alert_id: str, by: str = "api", note: str | None = None) -> AlertRecord:
        """Resolve by hand (the API); the resolved notice goes out like an automatic one."""
        resolution = f"resolved by {mask_text(by)}" + (f": {mask_text(note)}" if note else "")
        return self._resolve(alert_id, mask_text(by), resolution)

    def _resolve(self, alert_id: str, by: str, resolution: str) -> AlertRecord:
        now = self.now_ms()
        record = self.store.resolve(alert_id, by, resolution, now, now // 1000 + RESOLVED_RETENTION_SECONDS)
        monitoring_log.info("Alert resolved", extra={"alert_id": alert_id, "resolution": resolution})
        self._episode(lambda: self.store.close_episode(record.id, record.first_seen, "resolved_at", now), alert_id)
        self._resolved_notice(record)
        return record

    @staticmethod
    def _episode(write: Callable[[], None], alert_id: str) -> None:
        """An episode write for the quality statistics: its failure costs a statistic, never the alert."""
        try:
            write()
        except Exception:
            monitoring_log.exception("Could not record the alert's episode", extra={"alert_id": alert_id})
            metrics.add_metric(name="AlertingErrors", unit=MetricUnit.Count, value=1)

    def clear(self, record: AlertRecord, resolution: str) -> AlertRecord | None:
        """The clock saw the alert's condition clear: resolve it (None if someone else already did)."""
        try:
            return self._resolve(record.id, "schedule", resolution)
        except (AlertConflict, AlertNotFound):
            return None

    def resolve_quiet(self, records: list[AlertRecord]) -> list[AlertRecord]:
        """Resolve the active count-rule alerts whose window holds no occurrence any more."""
        resolved = []
        now = self.now_ms()
        for record in records:
            rule = self.rules.get(record.type)
            if rule is None or rule.kind != "count" or not record.active:
                continue
            if max(record.last_seen, self._repeated_at.get(record.id, 0)) > now - rule.window_ms:
                # Seen within the window: a throttled repeat updates last_seen but may not write
                # its occurrence to the window (see _throttled_repeat), so the record says it first.
                continue
            if self.store.count_events(record.id, now - rule.window_ms) == 0:
                cleared = self.clear(record, f"no occurrence in the last {rule.window_text()}")
                if cleared is not None:
                    resolved.append(cleared)
        return resolved

    def _resolved_notice(self, record: AlertRecord) -> None:
        rule = self.rules.get(record.type)
        channels = self._channels(rule.resolved_channels, record.labels) if rule else ()
        if not channels:
            return
        now = self.now_ms()
        assert rule is not None
        if self.active_silence(record.type, now) is not None:
            channels = self._paged_channels(rule, record, channels)
            if not channels:
                monitoring_log.info("Resolved notice silenced", extra={"alert_id": record.id})
                return
            monitoring_log.info(
                "Resolved notice sent during a silence to the channels the alert paged",
                extra={"alert_id": record.id, "channels": list(channels)},
            )
        notification = Notification(
            notification_id=uuid.uuid4().hex,
            kind="resolved",
            alert_id=record.id,
            alert_type=record.type,
            title=record.title,
            severity=record.severity,
            summary=f"Resolved: {record.title} ({record.resolution})",
            description=rule.description,
            labels=record.labels,
            count=0,
            total=record.count,
            threshold=rule.threshold_text(),
            window=rule.window_text(),
            suppressed=record.suppressed,
            first_seen=iso(record.first_seen),
            last_seen=iso(record.last_seen),
            context=record.context,
            channels=channels,
            runbook_url=self.runbook_url(record.type),
            stage=self.stage,
            created_at=iso(now),
            resolution=record.resolution,
        )
        try:
            self.publisher.publish(notification)
        except Exception:  # the alert is resolved either way
            monitoring_log.exception("Could not publish the resolved notice", extra={"alert_id": record.id})
            metrics.add_metric(name="AlertingErrors", unit=MetricUnit.Count, value=1)

    def _paged_channels(self, rule: AlertRule, record: AlertRecord, channels: tuple[str, ...]) -> tuple[str, ...]:
        """Of `channels`, those that delivered a firing notification of the record's episode (the
        delivery history); () when the rule keeps silences quiet or the history cannot say."""
        if not rule.notify_resolved_when_silenced or self.history is None:
            return ()
        try:
            attempts = self.history.for_alert(record.id)
        except Exception:  # without the history nobody is known to be paged: stay silent
            monitoring_log.exception("Could not read the delivery history", extra={"alert_id": record.id})
            return ()
        paged = {
            attempt.channel
            for attempt in attempts
            if attempt.kind == "firing" and attempt.outcome == "sent" and attempt.at >= record.first_seen
        }
        return tuple(channel for channel in channels if channel in paged)

    # -- silences --------------------------------------------------------------------
    def silence(
        self,
        alert_type: str,
        *,
        minutes: float | None = None,
        until_ms: int | None = None,
        reason: str = "",
        by: str = "api",
        force: bool = False,
        actor_ip: str | None = None,
    ) -> Silence:
        """Mute one alert type until a time (at most 7 days ahead); notifications resume after it.

        A security alert type (rule `security`) is muted only with force=True (`muted_security_types`
        names it for the answer); security_control_change never. Every silence raises
        security_control_change naming who (`by`, `actor_ip`) muted what until when.
        """
        rule = self.rules[alert_type]  # raises UnknownAlertType
        if not rule.silenceable:
            raise SilenceRefused(
                "not_silenceable", f"{alert_type} reports changes to the security controls and cannot be silenced"
            )
        if rule.security and not force:
            raise SilenceRefused(
                "security_alert",
                f"{alert_type} is a security alert; a silence would hide attacks. "
                'Send "force": true to silence it anyway',
            )
        now = self.now_ms()
        if (minutes is None) == (until_ms is None):
            raise ValueError("give either minutes or until")
        # Checked as a float first: a huge `minutes` (1e308) must be refused, not overflow int().
        span_ms = until_ms - now if until_ms is not None else float(minutes or 0) * 60_000
        if not span_ms > 0:  # NaN too
            raise ValueError("a silence must end in the future")
        if span_ms > MAX_SILENCE_SECONDS * 1000:
            raise ValueError("a silence lasts at most 7 days")
        ends = now + int(span_ms)
        silence = Silence(uuid.uuid4().hex[:16], alert_type, now, ends, mask_text(reason)[:500], mask_text(by)[:100])
        self.store.put_silence(silence, ends // 1000 + SILENCE_TTL_MARGIN_SECONDS)
        monitoring_log.info("Alert type silenced", extra={"silence": silence.to_api()})
        self.security_control_changed(
            "silence created",
            f"{alert_type} until {iso(ends)}" + (" (forced: a security alert)" if rule.security else ""),
            by=silence.created_by,
            actor_ip=actor_ip,
            reason=silence.reason,
            occurrence_id=f"silence:{silence.id}",
        )
        return silence

    def muted_security_types(self, silence: Silence) -> list[str]:
        """The security alert types a silence mutes (for the answer's `warnings`)."""
        rule = self.rules.get(silence.type)
        return [silence.type] if rule is not None and rule.security else []

    def silences(self) -> list[Silence]:
        now = self.now_ms()
        return sorted((s for s in self.store.silences() if s.ends_at > now), key=lambda s: s.ends_at)

    def unsilence(self, silence_id: str, *, by: str = "api", actor_ip: str | None = None) -> Silence:
        silence = self.store.delete_silence(silence_id)
        if silence is None:
            raise AlertNotFound(silence_id)
        monitoring_log.info("Silence removed", extra={"silence": silence.to_api()})
        self.security_control_changed(
            "silence removed",
            f"{silence.type} (silence {silence.id})",
            by=by,
            actor_ip=actor_ip,
            occurrence_id=f"unsilence:{silence.id}",
        )
        return silence

    def security_control_changed(
        self, action: str, target: str, *, by: str, actor_ip: str | None, **details: str
    ) -> AlertDecision:
        """Notify security_control_change (masked like every context); never raises. `details`' occurrence_id
        names the change: it is the alert's group (each change pages on its own) and counts once when retried."""
        context = {"action": action, "target": target, "by": by, "actor_ip": actor_ip or "unknown", **details}
        context["change"] = details.get("occurrence_id", uuid.uuid4().hex)
        decision = self.alert(SECURITY_CONTROL_ALERT, context)
        if decision.outcome not in ("notified", "disabled"):
            monitoring_log.error(
                "A change to the security controls was not notified",
                extra={"action": action, "outcome": decision.outcome, "error": decision.error},
            )
        return decision

    def active_silence(self, alert_type: str, now_ms: int) -> Silence | None:
        # One query on the silences' type index, not a scan of every silence.
        matching = [s for s in self.store.active_silences(alert_type, now_ms) if s.active_at(now_ms)]
        return max(matching, key=lambda s: s.ends_at) if matching else None
