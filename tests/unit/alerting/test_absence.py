"""Absence (dead-man) rules on a fake clock: the window's edge, active hours, days and time zones."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from platform_monitoring.alerting.absence import AbsenceWatch, ActiveHours, parse_days
from platform_monitoring.alerting.rules import RuleSet
from platform_monitoring.core.config import ConfigurationError

BERLIN = ZoneInfo("Europe/Berlin")
MINUTE = 60


def at(text: str, zone: ZoneInfo = BERLIN) -> float:
    """'2026-11-30 09:00' in `zone` as epoch seconds (2026-11-30 is a Monday)."""
    return datetime.fromisoformat(text).replace(tzinfo=zone).timestamp()


def payments(overrides: str | None = None, zone: str = "Europe/Berlin") -> AbsenceWatch:
    return AbsenceWatch.of(RuleSet.load(overrides)["payments_absent"], zone)


def test_the_shipped_rules_read_as_their_documentation_says() -> None:
    rules = RuleSet.load()
    watch = AbsenceWatch.of(rules["payments_absent"], "Europe/Berlin")
    assert (watch.event_type, watch.rule.window_seconds) == ("payment_intent.succeeded", 3600)
    assert watch.hours == ActiveHours.parse("08:00-22:00", "mon-fri")
    webhooks = AbsenceWatch.of(rules["webhooks_absent"])
    assert (webhooks.event_type, webhooks.hours, webhooks.rule.window_seconds) == ("any", None, 1800)


def test_it_fires_one_second_past_the_window_and_not_at_it() -> None:
    watch = payments()
    last = at("2026-11-30 10:00")
    assert watch.evaluate(last + 3600, last, last).verdict == "ok"  # exactly 60 minutes: not yet
    fired = watch.evaluate(last + 3601, last, last)
    assert fired.verdict == "silent" and fired.silent_seconds == 3601


def test_traffic_within_the_window_is_ok_at_any_hour() -> None:
    watch = payments()
    assert watch.evaluate(at("2026-11-30 23:30"), at("2026-11-30 23:00"), 0).verdict == "ok"
    assert watch.evaluate(at("2026-11-30 10:59"), at("2026-11-30 10:00"), 0).verdict == "ok"


def test_outside_the_active_hours_nothing_fires() -> None:
    watch = payments()
    friday_evening = at("2026-11-27 21:00")
    for quiet in ("2026-11-27 23:00", "2026-11-28 12:00", "2026-11-29 20:00", "2026-11-30 07:59"):
        assert watch.evaluate(at(quiet), friday_evening, 0).verdict == "inactive", quiet


def test_only_the_current_periods_active_time_counts() -> None:
    """Monday morning after a quiet weekend: the hour counts from 08:00, not from Friday's last payment."""
    watch = payments()
    friday_evening = at("2026-11-27 21:50")
    assert watch.evaluate(at("2026-11-30 08:00"), friday_evening, 0).verdict == "waiting"
    assert watch.evaluate(at("2026-11-30 09:00"), friday_evening, 0).verdict == "waiting"
    monday_nine = watch.evaluate(at("2026-11-30 09:00") + 1, friday_evening, 0)
    assert monday_nine.verdict == "silent" and monday_nine.silent_seconds == 3601


def test_the_hours_are_the_operators_time_zone() -> None:
    """08:00 in Berlin is 07:00 UTC in winter: the same instant is active for one operator, not the other."""
    last = at("2026-11-30 05:00", ZoneInfo("UTC"))
    now = at("2026-11-30 09:30", ZoneInfo("UTC"))  # 10:30 in Berlin
    assert payments(zone="Europe/Berlin").evaluate(now, last, 0).silent_seconds == 150 * MINUTE  # since 08:00 CET
    assert payments(zone="UTC").evaluate(now, last, 0).silent_seconds == 90 * MINUTE  # since 08:00 UTC
    new_york = payments(zone="America/New_York")  # 04:30 there
    assert new_york.evaluate(now, last, 0).verdict == "inactive"


def test_a_rules_own_time_zone_wins_over_the_setting() -> None:
    watch = payments("payments_absent.time_zone=Asia/Tokyo", zone="Europe/Berlin")
    assert watch.zone_name == "Asia/Tokyo" and watch.zone == ZoneInfo("Asia/Tokyo")


def test_hours_across_midnight_belong_to_the_day_they_start() -> None:
    hours = ActiveHours.parse("22:00-06:00", "fri")
    friday_night = datetime(2026, 11, 27, 23, 0, tzinfo=BERLIN)
    saturday_dawn = datetime(2026, 11, 28, 5, 59, tzinfo=BERLIN)
    assert hours.period_start(friday_night) == datetime(2026, 11, 27, 22, 0, tzinfo=BERLIN)
    assert hours.period_start(saturday_dawn) == datetime(2026, 11, 27, 22, 0, tzinfo=BERLIN)
    assert hours.period_start(datetime(2026, 11, 28, 6, 0, tzinfo=BERLIN)) is None
    assert hours.period_start(datetime(2026, 11, 28, 23, 0, tzinfo=BERLIN)) is None  # Saturday's night


def test_a_type_never_seen_counts_from_when_the_checks_started_watching() -> None:
    watch = AbsenceWatch.of(RuleSet.load()["webhooks_absent"])
    started = at("2026-11-30 10:00")
    assert watch.evaluate(started + 1800, None, started).verdict == "waiting"
    silent = watch.evaluate(started + 1801, None, started)
    assert silent.verdict == "silent" and watch.context(silent)["last_seen"] == "never"


def test_days_and_hours_are_overridable_per_environment() -> None:
    watch = payments("payments_absent.active_hours=07:00-23:00,payments_absent.days=mon-sat")
    saturday = at("2026-11-28 12:00")
    assert watch.evaluate(saturday, saturday - 7200, 0).verdict == "silent"
    assert watch.hours is not None and watch.hours.describe() == "07:00-23:00 (mon, tue, wed, thu, fri, sat)"


@pytest.mark.parametrize(
    ("text", "days"),
    [("mon-fri", {0, 1, 2, 3, 4}), ("sat+sun", {5, 6}), ("fri-mon", {4, 5, 6, 0}), ("", set(range(7)))],
)
def test_day_lists(text: str, days: set[int]) -> None:
    assert parse_days(text) == days


@pytest.mark.parametrize(
    "overrides",
    ["payments_absent.active_hours=8-22", "payments_absent.days=weekdays", "payments_absent.time_zone=Mars/Olympus"],
)
def test_a_bad_schedule_is_a_configuration_error(overrides: str) -> None:
    with pytest.raises(ConfigurationError, match="payments_absent"):
        payments(overrides)
