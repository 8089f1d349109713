"""The failed_authentication rule (security/rules.py): 10 in 5 minutes blocks an address; Stripe's
webhook senders and the allowlist are counted and logged, never blocked; the limits are settings."""

from __future__ import annotations

from datetime import UTC, datetime

from platform_monitoring.security.addresses import STRIPE_WEBHOOK_IPS, Allowlist
from platform_monitoring.security.events import FAILED_AUTHENTICATION, parse_event
from platform_monitoring.security.monitor import SecurityMonitor
from platform_monitoring.security.rules import BlockingRules
from platform_monitoring.security.settings import SecuritySettings

from tests.support.clock import T0, Clock
from tests.support.fakes import InMemoryBlockStore

RULE = BlockingRules().failed_authentications


def flood(monitor: SecurityMonitor, ip: str, count: int, clock: Clock) -> None:
    for _ in range(count):
        occurred = datetime.fromtimestamp(clock(), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        event = {
            "type": FAILED_AUTHENTICATION,
            "ip": ip,
            "occurred_at": occurred,
            "details": {"reason": "unauthorized"},
        }
        monitor.record(parse_event(event, now=clock(), source="library"))
        clock.advance(1)


def test_the_tenth_wrong_secret_in_five_minutes_blocks_the_address() -> None:
    clock = Clock(T0)
    monitor = SecurityMonitor(InMemoryBlockStore(), clock=clock)
    flood(monitor, "203.0.113.90", RULE.limit - 1, clock)
    assert not monitor.is_blocked("203.0.113.90")
    flood(monitor, "203.0.113.90", 1, clock)
    block = monitor.lookup("203.0.113.90")
    assert block is not None and block.active(monitor.now_ms())
    assert block.decided_by == "rule:failed_authentications"


def test_stripe_and_the_allowlist_are_never_blocked_by_failed_authentications() -> None:
    clock = Clock(T0)
    allowlist = Allowlist([*STRIPE_WEBHOOK_IPS, "192.0.2.0/24"])
    monitor = SecurityMonitor(InMemoryBlockStore(), allowlist=allowlist, clock=clock)
    for ip in (STRIPE_WEBHOOK_IPS[0], "192.0.2.7"):
        flood(monitor, ip, RULE.limit * 3, clock)
        assert monitor.lookup(ip) is None


def test_the_limit_and_the_window_are_settings() -> None:
    rules = SecuritySettings.from_env(
        {"SECURITY_FAILED_AUTH_LIMIT": "3", "SECURITY_FAILED_AUTH_WINDOW_SECONDS": "60"}
    ).rules.failed_authentications
    assert (rules.limit, rules.window_seconds, rules.types) == (3, 60, frozenset({FAILED_AUTHENTICATION}))
