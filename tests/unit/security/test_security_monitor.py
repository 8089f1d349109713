"""SecurityMonitor with the in-memory block store: validation, thresholds at their edges, sliding
windows, 24 h expiry checked on read, the allowlist, IPv6, repeat offenders, redeliveries."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from typing import Any

import pytest
from platform_monitoring.observability.metrics import recorder
from platform_monitoring.security.addresses import Allowlist, normalise_ip
from platform_monitoring.security.events import EventValidationError, event_from_message, parse_event
from platform_monitoring.security.monitor import NotBlockable, SecurityMonitor
from platform_monitoring.security.rules import DAY

from tests.support.alerting import RecordingAlerts
from tests.support.clock import Clock
from tests.support.fakes import InMemoryBlockStore, InMemoryMetricBackend
from tests.support.logs import captured_channel

T0 = 1_790_000_000.0  # 2026-09-21


def at(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat().replace("+00:00", "Z")


def event(kind: str = "failed_login", ip: str = "203.0.113.7", when: float | None = None, **extra: Any) -> Any:
    data = {"type": kind, "ip": ip, "occurred_at": at(when if when is not None else T0), **extra}
    return parse_event(data, now=when if when is not None else T0)


def make(**kwargs: Any) -> tuple[SecurityMonitor, InMemoryBlockStore, Clock, RecordingAlerts]:
    store, clock, alerts = InMemoryBlockStore(), Clock(T0), RecordingAlerts()
    return SecurityMonitor(store, clock=clock, alerts=alerts, **kwargs), store, clock, alerts


def counters(backend: InMemoryMetricBackend) -> dict[str, Any]:
    recorder.flush()
    return {name: values for name, values in backend.snapshot().items() if values}


# -- validation -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"type": "hack", "ip": "1.2.3.4", "occurred_at": at(T0)}, "type"),
        ({"type": "login", "ip": "999.1.1.1", "occurred_at": at(T0)}, "ip"),
        ({"type": "login", "ip": "1.2.3.4"}, "occurred_at"),
        ({"type": "login", "ip": "1.2.3.4", "occurred_at": "yesterday"}, "occurred_at"),
        ({"type": "login", "ip": "1.2.3.4", "occurred_at": "2027-01-15T10:00:00"}, "occurred_at"),
        ({"type": "login", "ip": "1.2.3.4", "occurred_at": at(T0 + 3600)}, "occurred_at"),
        ({"type": "login", "ip": "1.2.3.4", "occurred_at": at(T0), "details": []}, "details"),
        ({"type": "login", "ip": "1.2.3.4", "occurred_at": at(T0), "user_id": {"a": 1}}, "user_id"),
        ({"type": "login", "ip": "1.2.3.4", "occurred_at": at(T0), "user_agent": 5}, "user_agent"),
        ("not an object", "event"),
    ],
)
def test_a_malformed_event_names_its_field(data: Any, field: str) -> None:
    with pytest.raises(EventValidationError) as raised:
        parse_event(data, now=T0)
    assert raised.value.field == field


def test_addresses_are_normalised() -> None:
    assert normalise_ip("::ffff:203.0.113.7") == "203.0.113.7"
    assert normalise_ip("2001:DB8:0:0::1") == "2001:db8::1"
    assert normalise_ip(" 10.0.0.1 ") == "10.0.0.1"
    assert event(ip="2001:0db8:0000::0001").ip == "2001:db8::1"
    with pytest.raises(ValueError, match="does not appear"):
        normalise_ip("10.0.0.1/8")


def test_an_eventbridge_envelope_is_the_same_event() -> None:
    envelope = {
        "id": "eb-1",
        "detail-type": "security_event",
        "source": "askproai.platform",
        "detail": {"type": "login", "ip": "198.51.100.4", "occurred_at": at(T0), "user_id": 7},
    }
    parsed = event_from_message(json.dumps(envelope))
    assert (parsed.id, parsed.type, parsed.ip, parsed.user_id, parsed.source) == (
        "eb-1",
        "login",
        "198.51.100.4",
        "7",
        "eventbridge",
    )


# -- thresholds ---------------------------------------------------------------------------
def test_four_failed_logins_do_not_block_the_fifth_does(metric_store: InMemoryMetricBackend) -> None:
    monitor, _, _, _ = make()
    for second in range(4):
        assert monitor.record(event(when=T0 - 60 + second)).block is None
    assert not monitor.is_blocked("203.0.113.7")

    outcome = monitor.record(event(when=T0))

    assert outcome.block is not None
    assert outcome.block.until_ms == int(T0 * 1000) + DAY * 1000
    assert outcome.block.decided_by == "rule:failed_logins"
    assert monitor.is_blocked("203.0.113.7")
    values = counters(metric_store)
    assert sum(values["askproai_failed_logins"].values()) == 5
    assert sum(values["askproai_blocked_ips"].values()) == 1


def test_the_fifteen_minute_window_slides() -> None:
    monitor, _, clock, _ = make()
    # four failed logins, then the fifth 15 min + 1 s after the first: only four in any window
    for second in (0, 60, 120, 180):
        clock.now = T0 + second
        monitor.record(event(when=T0 + second))
    clock.now = T0 + 901
    assert monitor.record(event(when=T0 + 901)).block is None
    # the window keeps sliding: at T0+961 the first two are out (120, 180, 901, 961: four)
    clock.now = T0 + 961
    assert monitor.record(event(when=T0 + 961)).block is None
    # one more inside 15 minutes of the third: five (120, 180, 901, 961, 962)
    clock.now = T0 + 962
    assert monitor.record(event(when=T0 + 962)).block is not None


def test_twenty_security_events_in_an_hour_block_nineteen_do_not() -> None:
    monitor, _, clock, _ = make()
    kinds = ["suspicious_activity", "api_key_usage", "large_data_export", "privilege_escalation"]
    for index in range(19):
        clock.now = T0 + index * 150  # spread over 47.5 minutes
        assert monitor.record(event(kinds[index % 4], when=clock.now)).block is None
    clock.now = T0 + 19 * 150
    assert monitor.record(event("api_key_usage", when=clock.now)).block is not None


def test_logins_and_registrations_never_count_toward_a_block(metric_store: InMemoryMetricBackend) -> None:
    monitor, _, _, _ = make()
    for index in range(30):
        monitor.record(event("login" if index % 2 else "registration", when=T0 - index))
    assert not monitor.is_blocked("203.0.113.7")
    values = counters(metric_store)
    assert sum(values["askproai_portal_logins"].values()) == 15
    assert sum(values["askproai_portal_registrations"].values()) == 15


def test_ten_rate_limit_violations_in_five_minutes_block() -> None:
    monitor, _, clock, _ = make()
    for index in range(9):
        clock.now = T0 + index * 30
        assert monitor.record(event("rate_limit_violation", when=clock.now)).block is None
    clock.now = T0 + 270
    outcome = monitor.record(event("rate_limit_violation", when=clock.now))
    assert outcome.block is not None
    assert outcome.block.decided_by == "rule:rate_limit_violations"


def test_a_block_expires_after_24_hours_even_before_ttl_deletes_it() -> None:
    monitor, store, clock, _ = make()
    monitor.block("203.0.113.7", reason="test", decided_by="api:test")
    clock.now = T0 + DAY - 1
    assert monitor.is_blocked("203.0.113.7")
    clock.now = T0 + DAY
    assert not monitor.is_blocked("203.0.113.7")
    assert "203.0.113.7" in store.blocks  # the item is still there (TTL is late); the read says expired


def test_a_repeat_offender_is_blocked_twice_as_long_up_to_seven_days() -> None:
    monitor, _, clock, _ = make()
    durations = []
    for _ in range(5):
        block = monitor.block("203.0.113.7", reason="rule", decided_by="rule:test", only_if_new=True)
        assert block is not None
        durations.append(block.duration_seconds // 3600)
        clock.now = block.until_ms / 1000 + 3600  # an hour after it ended
    assert durations == [24, 48, 96, 168, 168]
    # 30 days without a block: the next one is 24 h again
    clock.now += 31 * DAY
    block = monitor.block("203.0.113.7", reason="rule", decided_by="rule:test", only_if_new=True)
    assert block is not None
    assert (block.duration_seconds, block.offences) == (DAY, 1)


def test_the_allowlist_is_never_blocked_addresses_and_cidr_ranges() -> None:
    allowlist = Allowlist.parse("198.51.100.10, 10.20.0.0/16, 2001:db8:abcd::/48")
    monitor, _, _, _ = make(allowlist=allowlist)
    for ip in ("198.51.100.10", "10.20.3.4", "::ffff:10.20.9.9", "2001:db8:abcd:12::5"):
        for second in range(10):
            monitor.record(event(ip=ip, when=T0 - second))
        assert not monitor.is_blocked(ip), ip
        with pytest.raises(NotBlockable):
            monitor.block(ip, reason="manual", decided_by="api:test")
    assert "10.21.0.1" not in allowlist


def test_ipv6_is_blocked_under_its_canonical_form() -> None:
    monitor, _, _, _ = make()
    for second in range(5):
        monitor.record(event(ip="2001:DB8::0:7" if second % 2 else "2001:db8:0::7", when=T0 - second))
    assert monitor.is_blocked("2001:0db8:0000:0000:0000:0000:0000:0007")


def test_a_redelivered_event_counts_once(metric_store: InMemoryMetricBackend) -> None:
    monitor, _, _, alerts = make()
    first = event(when=T0)
    assert monitor.record(first).first_delivery
    for _ in range(5):
        assert not monitor.record(first).first_delivery
    assert not monitor.is_blocked("203.0.113.7")
    assert sum(counters(metric_store)["askproai_failed_logins"].values()) == 1
    assert len(alerts.calls) == 1


def test_breach_types_feed_the_alert_and_block_unblock_are_logged() -> None:
    monitor, _, _, alerts = make()
    with captured_channel("security") as security:
        for second in range(5):
            monitor.record(event(when=T0 - second, details={"password": "hunter2", "path": "/login"}))
        monitor.record(event("api_key_usage", when=T0))
        monitor.unblock("203.0.113.7", by="api:alice", actor_ip="198.51.100.4")
    # The unblock is itself notified, naming who and from where
    assert [kind for kind, _ in alerts.calls] == ["security_breach_attempt"] * 5 + ["security_control_change"]
    unblocked = alerts.calls[-1][1]
    assert (unblocked["action"], unblocked["target"], unblocked["by"], unblocked["actor_ip"]) == (
        "unblock",
        "203.0.113.7",
        "api:alice",
        "198.51.100.4",
    )
    lines = [json.loads(line) for line in security.getvalue().splitlines()]
    messages = [line["message"] for line in lines]
    assert "IP 203.0.113.7 blocked until 2026-09-22T14:13:20.000Z" in messages
    blocked = next(line for line in lines if line["message"].startswith("IP 203.0.113.7 blocked"))
    assert blocked["decided_by"] == "rule:failed_logins"
    assert "IP 203.0.113.7 unblocked" in messages
    assert next(line for line in lines if line["message"] == "IP 203.0.113.7 unblocked")["decided_by"] == "api:alice"
    assert "hunter2" not in security.getvalue()


def test_concurrent_failed_logins_block_once(metric_store: InMemoryMetricBackend) -> None:
    monitor, _, _, _ = make()
    events = [event(when=T0 - index / 10) for index in range(40)]
    threads = [threading.Thread(target=monitor.record, args=(item,)) for item in events]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    values = counters(metric_store)
    assert sum(values["askproai_failed_logins"].values()) == 40
    assert sum(values["askproai_blocked_ips"].values()) == 1


def test_a_manual_block_replaces_and_unblock_keeps_the_history() -> None:
    monitor, _, clock, _ = make()
    monitor.block("203.0.113.7", reason="first", decided_by="api:alice", duration_seconds=3600)
    replaced = monitor.block("203.0.113.7", reason="longer", decided_by="api:bob", duration_seconds=7200)
    assert replaced is not None
    assert (replaced.reason, replaced.offences) == ("longer", 1)
    clock.now += 10
    ended = monitor.unblock("203.0.113.7", by="api:carol")
    assert ended is not None
    assert not ended.active(monitor.now_ms())
    assert ended.unblocked_by == "api:carol"
    assert not monitor.is_blocked("203.0.113.7")
    assert monitor.lookup("203.0.113.7") is not None
