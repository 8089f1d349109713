"""Dead-man rules (kind `absence`): what did NOT happen, e.g. no successful payment for an hour on a weekday.

An absence rule names an event type (`params.event_type`; "any" for any Stripe event) and a gap
(`window_seconds`), and optionally active hours in the operator's time zone:

    "params": {"event_type": "payment_intent.succeeded", "active_hours": "08:00-22:00", "days": "mon-fri"}

The webhook processor records, per event type, when the newest event it handled was created
(a gauge in the metric store, written with a conditional max: see webhooks/processor.py). The
scheduled checks evaluate every absence rule each minute with `evaluate()`:

- outside the active hours the rule is not evaluated: nothing fires (a firing alert stays until
  traffic returns; see below);
- within them, the silence is counted from the later of the last-seen time and the start of the
  current active period: the rule fires once that exceeds the window. So "no payment for 60
  minutes between 08:00 and 22:00" fires at 09:00 on a Monday that saw none since 08:00, not at
  08:00 because the last payment was on Friday evening; only active time is counted, and only
  the current period's (a silence that began yesterday counts from this morning's start);
- it resolves when traffic returns: an event seen within the window, at any hour.

Active hours may span midnight ("22:00-06:00"); the days name the day a period starts on.
The time zone is the rule's `params.time_zone`, else ALERT_TIME_ZONE (IANA, default UTC).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta, tzinfo
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from platform_monitoring.alerting.rules import AlertRule, describe_seconds
from platform_monitoring.core.config import ConfigurationError

ANY_EVENT = "any"
DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
ALL_DAYS = frozenset(range(7))

Verdict = Literal["silent", "ok", "waiting", "inactive"]


def time_zone(name: str) -> tzinfo:
    """An IANA zone. UTC needs no time zone database (a Lambda image may have none: the python3.12+
    runtimes on Amazon Linux 2023 lack /usr/share/zoneinfo; install `tzdata` into the layer there)."""
    if name.upper() in ("UTC", "ETC/UTC"):
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigurationError(f"{name!r} is not an IANA time zone (such as Europe/Berlin)") from None


def parse_days(text: str) -> frozenset[int]:
    """'mon-fri', 'sat+sun', 'mon,wed,fri' or '' (every day) -> weekday numbers (Monday 0)."""
    days: set[int] = set()
    for part in text.replace("+", ",").replace(" ", "").lower().split(","):
        if not part:
            continue
        first, _, last = part.partition("-")
        if first not in DAY_NAMES or (last and last not in DAY_NAMES):
            raise ConfigurationError(f"days: {part!r} is not a day or range of {', '.join(DAY_NAMES)}")
        start, end = DAY_NAMES.index(first), DAY_NAMES.index(last or first)
        days.update((start + offset) % 7 for offset in range((end - start) % 7 + 1))
    return frozenset(days) or ALL_DAYS


def _clock_time(text: str) -> time:
    try:
        hours, minutes = (int(part) for part in text.strip().split(":"))
        return time(hours, minutes)
    except ValueError:
        raise ConfigurationError(f"active_hours: {text!r} is not HH:MM") from None


@dataclass(frozen=True)
class ActiveHours:
    start: time
    end: time
    days: frozenset[int] = ALL_DAYS  # the weekday a period starts on

    @classmethod
    def parse(cls, hours: str, days: str = "") -> ActiveHours | None:
        """'08:00-22:00' -> ActiveHours; '' with no days: always active (None)."""
        if not hours.strip():
            return None if not days.strip() else cls(time(0, 0), time(0, 0), parse_days(days))
        first, sep, last = hours.partition("-")
        if not sep:
            raise ConfigurationError(f"active_hours: {hours!r} is not HH:MM-HH:MM")
        return cls(_clock_time(first), _clock_time(last), parse_days(days))

    def period_start(self, local: datetime) -> datetime | None:
        """The start of the active period `local` falls in; None when it is outside every period."""
        for days_back in (0, 1):  # a period that spans midnight started yesterday
            day = (local - timedelta(days=days_back)).date()
            start = datetime.combine(day, self.start, local.tzinfo)
            end_day = day if self.end > self.start else day + timedelta(days=1)  # end <= start: next day
            end = datetime.combine(end_day, self.end, local.tzinfo)
            if day.weekday() in self.days and start <= local < end:
                return start
        return None

    def describe(self) -> str:
        days = ", ".join(DAY_NAMES[d] for d in sorted(self.days)) if self.days != ALL_DAYS else "every day"
        return f"{self.start:%H:%M}-{self.end:%H:%M} ({days})"


@dataclass(frozen=True)
class Evaluation:
    verdict: Verdict  # silent: fire; ok: traffic within the window (resolve); waiting / inactive: neither
    silent_seconds: int  # counted as the rule counts it (active time of the current period)
    last_seen: float | None


@dataclass(frozen=True)
class AbsenceWatch:
    """One absence rule, ready to evaluate."""

    rule: AlertRule
    event_type: str
    hours: ActiveHours | None
    zone: tzinfo
    zone_name: str

    @classmethod
    def of(cls, rule: AlertRule, default_time_zone: str = "UTC") -> AbsenceWatch:
        params: Mapping[str, Any] = rule.params
        event_type = str(params.get("event_type") or "").strip()
        if not event_type:
            raise ConfigurationError(f"absence rule {rule.type}: params.event_type is required (or 'any')")
        try:
            hours = ActiveHours.parse(str(params.get("active_hours", "")), str(params.get("days", "")))
            zone_name = str(params.get("time_zone") or default_time_zone)
            zone = time_zone(zone_name)
        except ConfigurationError as error:
            raise ConfigurationError(f"absence rule {rule.type}: {error}") from None
        return cls(rule, event_type, hours, zone, zone_name)

    def evaluate(self, now: float, last_seen: float | None, watching_since: float) -> Evaluation:
        """`last_seen`: the newest event's time (None: never seen, then the silence counts from
        `watching_since`, when the checks first watched the rule)."""
        window = self.rule.window_seconds
        if last_seen is not None and now - last_seen <= window:
            return Evaluation("ok", max(0, int(now - last_seen)), last_seen)
        reference = last_seen if last_seen is not None else watching_since
        if self.hours is not None:
            start = self.hours.period_start(datetime.fromtimestamp(now, self.zone))
            if start is None:
                return Evaluation("inactive", 0, last_seen)
            reference = max(reference, start.timestamp())
        silent = max(0, int(now - reference))
        return Evaluation("silent" if silent > window else "waiting", silent, last_seen)

    def context(self, evaluation: Evaluation) -> dict[str, Any]:
        last = evaluation.last_seen
        return {
            "event_type": self.event_type,
            "silent_for": describe_seconds(max(60, evaluation.silent_seconds // 60 * 60)),
            "last_seen": datetime.fromtimestamp(last, self.zone).isoformat(timespec="minutes") if last else "never",
            "active_hours": self.hours.describe() if self.hours else "always",
            "time_zone": self.zone_name,
        }
