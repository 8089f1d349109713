"""Blocking rules (windowed counts per source IP, how long a block lasts) and the block they decide."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from platform_monitoring.security.events import (
    FAILED_AUTHENTICATION,
    FAILED_LOGIN,
    RATE_LIMIT_VIOLATION,
    SECURITY_TYPES,
    iso,
)

HOUR, DAY = 3600, 86400


# --- rules and blocks -----------------------------------------------------------------
@dataclass(frozen=True)
class WindowRule:
    name: str  # the window's key prefix and the reason a block gives
    limit: int
    window_seconds: int
    types: frozenset[str]

    @property
    def window_ms(self) -> int:
        return self.window_seconds * 1000


@dataclass(frozen=True)
class BlockingRules:
    failed_logins: WindowRule = WindowRule("failed_logins", 5, 900, frozenset({FAILED_LOGIN}))
    security_events: WindowRule = WindowRule("security_events", 20, HOUR, SECURITY_TYPES)
    rate_limit: WindowRule = WindowRule("rate_limit_violations", 10, 300, frozenset({RATE_LIMIT_VIOLATION}))
    # Wrong secrets and signatures on the bundle's routes: machines retry fast, so a shorter window
    # than logins' and a higher limit (a rotated secret's stragglers must not block Prometheus).
    failed_authentications: WindowRule = WindowRule(
        "failed_authentications", 10, 300, frozenset({FAILED_AUTHENTICATION})
    )
    block_seconds: int = DAY
    max_block_seconds: int = 7 * DAY
    repeat_window_seconds: int = 30 * DAY

    @property
    def windows(self) -> tuple[WindowRule, ...]:
        return (self.failed_logins, self.security_events, self.rate_limit, self.failed_authentications)

    def applicable(self, event_type: str) -> tuple[WindowRule, ...]:
        return tuple(rule for rule in self.windows if event_type in rule.types)

    def duration_seconds(self, previous: Block | None, now_ms: int) -> int:
        """24 h; twice the last block when the IP's last block ended under 30 days ago; at most 7 days."""
        if previous is None or previous.until_ms < now_ms - self.repeat_window_seconds * 1000:
            return self.block_seconds
        return min(self.max_block_seconds, max(self.block_seconds, previous.duration_seconds * 2))

    def offences(self, previous: Block | None, now_ms: int) -> int:
        if previous is None or previous.until_ms < now_ms - self.repeat_window_seconds * 1000:
            return 1
        return previous.offences + 1


@dataclass(frozen=True)
class Block:
    ip: str
    until_ms: int
    blocked_at_ms: int
    reason: str
    decided_by: str
    offences: int = 1
    duration_seconds: int = DAY
    unblocked_at_ms: int | None = None
    unblocked_by: str | None = None

    def active(self, now_ms: int) -> bool:
        return self.until_ms > now_ms

    def to_api(self, now_ms: int) -> dict[str, Any]:
        return {
            "ip": self.ip,
            "blocked": self.active(now_ms),
            "until": iso(self.until_ms),
            "blocked_at": iso(self.blocked_at_ms),
            "reason": self.reason,
            "decided_by": self.decided_by,
            "offences": self.offences,
            "duration_seconds": self.duration_seconds,
            "unblocked_at": iso(self.unblocked_at_ms) if self.unblocked_at_ms else None,
            "unblocked_by": self.unblocked_by,
        }
