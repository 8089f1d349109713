"""The guide's SecurityMonitor: security events, automatic IP blocks, the allowlist.

The event itself is in events.py, addresses and the allowlist in addresses.py, the rules and the
block in rules.py, their DynamoDB tables in stores.py; this module decides.

An event is `{"type", "ip", "user_id", "company_id", "user_agent", "occurred_at", "details"}`
(plus an optional `id`); `parse_event` validates one and names the field that is wrong.

`SecurityMonitor.record(event)` is the one code path every ingestion route ends in (the
/api/events queue, the EventBridge bus, direct calls from the platform's functions):

- the event is counted against its IP's windows in DynamoDB (one occurrence item per rule,
  written in one transaction; a redelivered event finds its items and changes nothing),
- when a window reaches its limit the IP is blocked (one conditional write, so many Lambdas
  deciding at once block it once and count it once),
- metrics and the `security_breach_attempt` alert occurrence are applied on first delivery only,
- the event is logged on the security channel (masked) and handed back for `security_logs`.

Blocking rules (defaults are the guide's; docs/security.md):
  5 failed logins from an IP in 15 minutes, 20 security events in 1 hour,
  10 rate limit violations in 5 minutes, 10 failed authentications (a wrong secret or
  signature on the bundle's own routes, api/refusals.py) in 5 minutes  ->  block for 24 hours.
A repeat offender (an IP blocked before, its last block ended less than 30 days ago) is blocked
for twice as long as last time, capped at 7 days: 24 h, 48 h, 96 h, 7 d, 7 d...

Blocks live in DynamoDB with a TTL attribute, but TTL deletion can lag by days, so every read
compares `until_ms` with the clock. Allowlisted addresses and CIDR ranges are never blocked.
IPv4 and IPv6 are normalised (`::ffff:1.2.3.4` is 1.2.3.4, IPv6 is compressed lower case).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from platform_monitoring.core.interfaces import SECURITY_CONTROL_ALERT, Alerting, AlertNotRecorded, require_recorded
from platform_monitoring.core.masking import mask_text
from platform_monitoring.observability.logging import portal_log, security_log
from platform_monitoring.observability.metrics import count_business, recorder
from platform_monitoring.security.addresses import Allowlist, normalise_ip
from platform_monitoring.security.events import (
    FAILED_AUTHENTICATION,
    FAILED_LOGIN,
    LOGIN,
    PRIVILEGE_ESCALATION,
    RATE_LIMIT_VIOLATION,
    REGISTRATION,
    SUSPICIOUS_ACTIVITY,
    SecurityEvent,
    iso,
)
from platform_monitoring.security.rules import HOUR, Block, BlockingRules
from platform_monitoring.security.stores import BlockStore

if TYPE_CHECKING:
    pass

# What counts toward security_breach_attempt (5 in 1 minute, alert_rules.json).
BREACH_TYPES = frozenset({FAILED_LOGIN, PRIVILEGE_ESCALATION, SUSPICIOUS_ACTIVITY})
BREACH_ALERT = "security_breach_attempt"


class NotBlockable(ValueError):
    """The address is on the allowlist (or not an address)."""


@dataclass
class Outcome:
    event: SecurityEvent
    first_delivery: bool
    block: Block | None = None  # a block this event caused
    counts: dict[str, int] = field(default_factory=dict)


class SecurityMonitor:
    """Records events, decides blocks, answers `is_blocked` (see the module docstring)."""

    def __init__(
        self,
        store: BlockStore,
        *,
        rules: BlockingRules | None = None,
        allowlist: Allowlist | None = None,
        alerts: Alerting | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.rules = rules or BlockingRules()
        self.allowlist = allowlist if allowlist is not None else Allowlist()
        self.alerts = alerts
        self.clock = clock

    def now_ms(self) -> int:
        return int(self.clock() * 1000)

    # -- events ------------------------------------------------------------------
    def record(self, event: SecurityEvent) -> Outcome:
        """Count the event, block its IP when a rule says so; metrics and alert on first delivery only."""
        now = self.now_ms()
        allowlisted = event.ip in self.allowlist
        rules = () if allowlisted else self.rules.applicable(event.type)
        longest = max((rule.window_seconds for rule in rules), default=3600)
        first = self.store.add_occurrences(event, rules, expires_at=event.occurred_ms // 1000 + longest + 3600)
        outcome = Outcome(event, first)
        if rules and now - event.occurred_ms < max(rule.window_ms for rule in rules):
            for rule in rules:
                since = now - rule.window_ms
                if event.occurred_ms <= since:
                    continue
                count = self.store.count(rule, event.ip, since)
                outcome.counts[rule.name] = count
                if count >= rule.limit and outcome.block is None:
                    outcome.block = self.block(
                        event.ip,
                        reason=f"{rule.name}: {count} in {_describe(rule.window_seconds)} (limit {rule.limit})",
                        decided_by=f"rule:{rule.name}",
                        only_if_new=True,
                    )
        if first:
            try:
                self._effects(event, allowlisted)
            except AlertNotRecorded:
                # The alert occurrence must not be lost: forget this delivery, so the one SQS makes
                # next counts as the first and raises it again (a block already made stays, once).
                self.store.remove_occurrences(event, rules)
                raise
        else:
            security_log.info("Security event redelivered; already counted", extra=event.log_fields())
        return outcome

    def _effects(self, event: SecurityEvent, allowlisted: bool) -> None:
        # The alert first: when it cannot be recorded (AlertNotRecorded) nothing below has counted yet.
        if event.type in BREACH_TYPES and self.alerts is not None:
            context = {
                "event_type": event.type,
                "ip": event.ip,
                "user_id": event.user_id,
                "event_id": event.id,
                "occurrence_id": event.id,  # a redelivery whose alert failed half-way counts once
            }
            require_recorded(self.alerts.alert(BREACH_ALERT, context), BREACH_ALERT)
        recorder.inc("security_events_total", type=event.type)
        fields = {**event.log_fields(), "allowlisted": allowlisted}
        if event.type == LOGIN:
            count_business("portal_logins_total")
            portal_log.info("Portal login", extra=fields)
            security_log.info("Security event login", extra=fields)
            return
        if event.type == REGISTRATION:
            count_business("portal_registrations_total")
            portal_log.info("Portal registration", extra=fields)
            security_log.info("Security event registration", extra=fields)
            return
        if event.type == FAILED_LOGIN:
            recorder.inc("failed_logins_total")
        elif event.type == RATE_LIMIT_VIOLATION:
            recorder.inc("rate_limit_violations_total")
        elif event.type == FAILED_AUTHENTICATION:
            recorder.inc("failed_authentications_total")
        security_log.warning(f"Security event {event.type}", extra=fields)

    # -- blocks ------------------------------------------------------------------
    def block(
        self,
        ip: str,
        *,
        reason: str,
        decided_by: str,
        duration_seconds: int | None = None,
        only_if_new: bool = False,
        actor_ip: str | None = None,
    ) -> Block | None:
        """Block an IP; returns the new block, or None when it was already blocked (only_if_new) or lost a race.

        `actor_ip` (a manual block through the API): the block is notified as security_control_change."""
        address = normalise_ip(ip)
        reason, decided_by = mask_text(reason), mask_text(decided_by)  # stored, answered and logged
        if address in self.allowlist:
            if only_if_new:
                return None
            raise NotBlockable(f"{address} is on the allowlist (SECURITY_ALLOWLIST) and is never blocked")
        for _ in range(3):
            now = self.now_ms()
            previous = self.store.get(address)
            if previous is not None and previous.active(now) and only_if_new:
                return None
            duration = duration_seconds or self.rules.duration_seconds(
                previous if previous is None or not previous.active(now) else None, now
            )
            offences = (
                self.rules.offences(previous, now)
                if previous is None or not previous.active(now)
                else previous.offences
            )
            block = Block(
                ip=address,
                until_ms=now + duration * 1000,
                blocked_at_ms=now,
                reason=reason[:300],
                decided_by=decided_by[:100],
                offences=offences,
                duration_seconds=duration,
            )
            expires_at = block.until_ms // 1000 + self.rules.repeat_window_seconds
            if self.store.put_block(block, previous, now, expires_at, force=not only_if_new):
                if previous is None or not previous.active(now):
                    recorder.inc("blocked_ips_total")
                security_log.warning(
                    f"IP {address} blocked until {iso(block.until_ms)}",
                    extra={
                        "ip": address,
                        "reason": block.reason,
                        "decided_by": block.decided_by,
                        "offences": offences,
                        "duration_seconds": duration,
                    },
                )
                if actor_ip is not None:
                    self._control_changed(
                        "block",
                        f"{address} until {iso(block.until_ms)}",
                        block.decided_by,
                        actor_ip,
                        now_ms=now,
                        reason=block.reason,
                    )
                return block
            if only_if_new:
                return None  # another Lambda blocked it first
        raise RuntimeError(f"could not write the block of {address}: it kept changing")

    def unblock(self, ip: str, *, by: str, actor_ip: str | None = None) -> Block | None:
        """End the IP's block; the unblock is notified as security_control_change (who, from where)."""
        address = normalise_ip(ip)
        by = mask_text(by)
        now = self.now_ms()
        ended = self.store.end_block(address, now, by[:100])
        if ended is not None and ended.unblocked_by == by[:100]:
            security_log.warning(
                f"IP {address} unblocked", extra={"ip": address, "decided_by": by, "actor_ip": actor_ip}
            )
            self._control_changed("unblock", address, by[:100], actor_ip, now_ms=now)
        return ended

    def _control_changed(
        self, action: str, target: str, by: str, actor_ip: str | None, *, now_ms: int, reason: str = ""
    ) -> None:
        """security_control_change for a manual block or an unblock. The change has happened: when the
        notice cannot go out, the security log says so (an operator must be able to unblock in an outage)."""
        if self.alerts is None:
            security_log.error("A change to the blocks was not notified: no alerting", extra={"action": action})
            return
        change = f"{action}:{target.split(' ', maxsplit=1)[0]}:{now_ms}"
        context = {
            "action": action,
            "target": target,
            "by": by,
            "actor_ip": actor_ip or "unknown",
            "reason": reason,
            "change": change,  # the rule's group: each change is its own alert and pages
            "occurrence_id": change,
        }
        try:
            require_recorded(self.alerts.alert(SECURITY_CONTROL_ALERT, context), SECURITY_CONTROL_ALERT)
        except Exception as error:
            security_log.error(
                "A change to the blocks was not notified",
                extra={"action": action, "target": target, "error": mask_text(str(error))[:200]},
            )

    def lookup(self, ip: str) -> Block | None:
        return self.store.get(normalise_ip(ip))

    def is_blocked(self, ip: str) -> bool:
        """One call for the platform's functions: True while an active block exists (allowlist wins)."""
        try:
            address = normalise_ip(ip)
        except ValueError:
            return False
        if address in self.allowlist:
            return False
        block = self.store.get(address)
        return block is not None and block.active(self.now_ms())


def _describe(seconds: int) -> str:
    if seconds % HOUR == 0:
        return f"{seconds // HOUR} h"
    if seconds % 60 == 0:
        return f"{seconds // 60} min"
    return f"{seconds} s"
