"""The alerting rules, as data: alert_rules.json beside this module, plus per-environment overrides.

A rule is either
- `count`: it fires when the number of occurrences reported through `alert()` within the
  last `window_seconds` reaches `threshold` (the guide's "3 failures in 5 minutes"), or
- `condition`: a clock evaluates it (ScheduledChecksFunction) and calls `alert()` while it
  holds (high error rate, queue backlog) and clears it when it no longer does, or
- `absence` (a dead-man rule): the scheduled checks call `alert()` while no Stripe event of the
  rule's `params.event_type` ("any": of any type) was seen for `window_seconds`, within the
  rule's active hours, and clear it once traffic returns (alerting/absence.py).

A rule's `params` hold what only its evaluator reads (an absence rule's event type and active
hours, the card-testing thresholds); they are overridden like the fields, by name.

ALERT_RULE_OVERRIDES changes fields per environment (a template parameter), as
comma-separated `<type>.<field>=<value>` pairs; channel lists join with `+`:

    payment_failure.threshold=5,payment_failure.channels=email+slack,high_error_rate.min_requests=200
    payments_absent.active_hours=07:00-23:00,payments_absent.days=mon-sat,card_testing_suspected.min_declines=20

A rule may declare an `escalation` (PagerDuty's model; evaluated every minute by
alerting/escalation.py): its `channels` are paged at once, then each step's channels once the
alert has been firing unacknowledged for the step's `after_seconds`, the last step again every
`repeat_seconds`, and nothing after `stop_after_seconds`; an acknowledged alert still active
after `ack_timeout_seconds` becomes unacknowledged and pages again. `<type>.escalation=none`
turns it off for an environment.

`notify_resolved_when_silenced` (default true): an alert that resolves while its type is silenced
still sends its resolved notice to the channels that received its firing notification (the
delivery history knows them; Alertmanager's users asked for it, #226), so whoever was paged
learns it is over. An alert that fired during the silence paged nobody and sends no notice;
false keeps a silence quiet both ways.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from dataclasses import field as dataclass_field
from pathlib import Path
from typing import Any, Literal

from platform_monitoring.alerting.settings import ALERT_RULE_OVERRIDES
from platform_monitoring.core.config import ConfigurationError

RULES_FILE = Path(__file__).with_name("alert_rules.json")
CHANNELS = ("email", "slack", "sms")
SEVERITIES = ("critical", "high", "warning", "info")


RuleKind = Literal["count", "condition", "absence"]
KINDS = ("count", "condition", "absence")


# Params a rule of a kind may be given by an override even where alert_rules.json leaves them out.
_OPTIONAL_PARAMS = {"absence": ("event_type", "active_hours", "days", "time_zone")}
_INT_FIELDS = ("window_seconds", "throttle_seconds", "min_requests")
_CHANNEL_FIELDS = ("channels", "resolved_channels")
_BOOL_FIELDS = ("notify_resolved_when_silenced",)
_FIXED_FIELDS = ("security", "silenceable")


@dataclass(frozen=True)
class EscalationStep:
    after_seconds: int  # firing unacknowledged this long (since it fired or was un-acknowledged)
    channels: tuple[str, ...]


DEFAULT_STOP_AFTER_SECONDS = 86400


@dataclass(frozen=True)
class Escalation:
    """When an unacknowledged alert pages again, and whom; see the module's docstring."""

    steps: tuple[EscalationStep, ...] = ()
    repeat_seconds: int | None = None  # the last step again this often
    stop_after_seconds: int = DEFAULT_STOP_AFTER_SECONDS
    ack_timeout_seconds: int | None = None  # an acknowledgement lasts this long while the alert is active

    def page_at(self, level: int) -> int | None:
        """Seconds into the episode at which escalation page `level` (1, 2, ...) is due; None: never."""
        if level < 1 or not self.steps:
            return None
        if level <= len(self.steps):
            at = self.steps[level - 1].after_seconds
        elif self.repeat_seconds:
            at = self.steps[-1].after_seconds + (level - len(self.steps)) * self.repeat_seconds
        else:
            return None
        return at if at <= self.stop_after_seconds else None

    def due_level(self, elapsed_seconds: float) -> int:
        """The highest page level due after elapsed_seconds (0: none yet)."""
        level = 0
        while (at := self.page_at(level + 1)) is not None and at <= elapsed_seconds:
            level += 1
        return level

    def channels(self, level: int) -> tuple[str, ...]:
        return self.steps[min(level, len(self.steps)) - 1].channels


@dataclass(frozen=True)
class AlertRule:
    type: str
    kind: RuleKind
    title: str
    summary: str  # a template: {count}, {window}, {threshold} and the context's keys
    description: str
    threshold: float
    window_seconds: int
    severity: str
    channels: tuple[str, ...]
    resolved_channels: tuple[str, ...]
    throttle_seconds: int
    group_by: tuple[str, ...] = ()
    min_requests: int = 0
    escalation: Escalation | None = None
    # What only the rule's evaluator reads (see the module docstring); not part of equality.
    params: Mapping[str, Any] = dataclass_field(default_factory=dict, compare=False)
    notify_resolved_when_silenced: bool = True
    # A security alert: a silence of it is refused unless forced, and its answer names it (docs/alerting.md).
    security: bool = False
    # False for the audit of the security controls (security_control_change): its own notice cannot be muted.
    silenceable: bool = True

    @property
    def window_ms(self) -> int:
        return self.window_seconds * 1000

    @property
    def count_threshold(self) -> int:
        """The number of occurrences that fires a count rule."""
        return max(1, math.ceil(self.threshold))

    def window_text(self) -> str:
        return describe_seconds(self.window_seconds)

    def threshold_text(self) -> str:
        if self.type == "high_error_rate":
            return f"{self.threshold * 100:g}%"
        return f"{self.threshold:g}"


def describe_seconds(seconds: int) -> str:
    """300 -> '5 minutes', 60 -> 'minute', 90 -> '90 seconds', 3600 -> 'hour'."""
    for size, unit in ((86400, "day"), (3600, "hour"), (60, "minute")):
        if seconds % size == 0:
            amount = seconds // size
            return unit if amount == 1 else f"{amount} {unit}s"
    return f"{seconds} seconds"


def _rule(alert_type: str, data: Mapping[str, Any]) -> AlertRule:
    rule = AlertRule(
        type=alert_type,
        kind=data["kind"],
        title=str(data["title"]),
        summary=str(data["summary"]),
        description=str(data.get("description", "")),
        threshold=float(data["threshold"]),
        window_seconds=int(data["window_seconds"]),
        severity=str(data["severity"]),
        channels=tuple(data["channels"]),
        resolved_channels=tuple(data.get("resolved_channels", ())),
        throttle_seconds=int(data["throttle_seconds"]),
        group_by=tuple(data.get("group_by", ())),
        min_requests=int(data.get("min_requests", 0)),
        escalation=_escalation(data["escalation"]) if data.get("escalation") else None,
        params=dict(data.get("params", {})),
        notify_resolved_when_silenced=_flag(data.get("notify_resolved_when_silenced", True), alert_type),
        security=bool(data.get("security", False)),
        silenceable=bool(data.get("silenceable", True)),
    )
    _validate(rule, f"{RULES_FILE.name}: rule {alert_type}")
    return rule


def _flag(value: Any, alert_type: str) -> bool:
    if not isinstance(value, bool):
        raise ConfigurationError(
            f"{RULES_FILE.name}: rule {alert_type}: notify_resolved_when_silenced is true or false"
        )
    return value


def _escalation(data: Mapping[str, Any]) -> Escalation:
    def optional(name: str) -> int | None:
        return None if data.get(name) is None else int(data[name])

    return Escalation(
        steps=tuple(
            EscalationStep(int(step["after_seconds"]), tuple(step["channels"])) for step in data.get("steps", ())
        ),
        repeat_seconds=optional("repeat_seconds"),
        stop_after_seconds=int(data.get("stop_after_seconds", DEFAULT_STOP_AFTER_SECONDS)),
        ack_timeout_seconds=optional("ack_timeout_seconds"),
    )


def _escalation_problems(escalation: Escalation) -> list[str]:
    problems = []
    times = [step.after_seconds for step in escalation.steps]
    if any(after < 1 for after in times) or times != sorted(set(times)):
        problems.append("escalation steps need after_seconds above 0, increasing (the rule's channels page at once)")
    if any(not step.channels or set(step.channels) - set(CHANNELS) for step in escalation.steps):
        problems.append(f"every escalation step needs channels among {', '.join(CHANNELS)}")
    if escalation.repeat_seconds is not None and (escalation.repeat_seconds < 60 or not escalation.steps):
        problems.append("escalation repeat_seconds must be at least 60 and needs a step to repeat")
    if escalation.ack_timeout_seconds is not None and escalation.ack_timeout_seconds < 60:
        problems.append("escalation ack_timeout_seconds must be at least 60")
    if escalation.stop_after_seconds < 1:
        problems.append("escalation stop_after_seconds must be at least 1")
    return problems


def _validate(rule: AlertRule, where: str) -> None:
    problems = []
    if rule.kind not in KINDS:
        problems.append(f"kind must be one of {', '.join(KINDS)}, not {rule.kind!r}")
    if rule.severity not in SEVERITIES:
        problems.append(f"severity must be one of {', '.join(SEVERITIES)}")
    if not rule.threshold > 0:
        problems.append("threshold must be above 0")
    if rule.window_seconds < 1 or rule.throttle_seconds < 0 or rule.min_requests < 0:
        problems.append("window_seconds must be at least 1; throttle_seconds and min_requests at least 0")
    unknown = set(rule.channels) - set(CHANNELS) | set(rule.resolved_channels) - set(CHANNELS)
    if unknown:
        problems.append(f"unknown channel(s) {sorted(unknown)}; channels are {', '.join(CHANNELS)}")
    if rule.escalation is not None:
        problems.extend(_escalation_problems(rule.escalation))
    if problems:
        raise ConfigurationError(f"{where}: " + "; ".join(problems))


class RuleSet(Mapping[str, AlertRule]):
    """The rules by alert type (a read-only mapping)."""

    def __init__(self, rules: Mapping[str, AlertRule]) -> None:
        self._rules = dict(rules)

    def __getitem__(self, alert_type: str) -> AlertRule:
        try:
            return self._rules[alert_type]
        except KeyError:
            known = ", ".join(self._rules)
            raise UnknownAlertType(f"no alerting rule {alert_type!r}; the rules are {known}") from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._rules)

    def __len__(self) -> int:
        return len(self._rules)

    @classmethod
    def load(cls, overrides: str | None = None, path: Path = RULES_FILE) -> RuleSet:
        data = json.loads(path.read_text(encoding="utf-8"))
        rules = {name: _rule(name, body) for name, body in data["rules"].items()}
        return cls(apply_overrides(rules, overrides))


class UnknownAlertType(KeyError):
    """alert() was called with a type that has no rule."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "unknown alert type"


def apply_overrides(rules: Mapping[str, AlertRule], overrides: str | None) -> dict[str, AlertRule]:
    """Rules with ALERT_RULE_OVERRIDES applied; one ConfigurationError names every wrong pair."""
    result = dict(rules)
    problems: list[str] = []
    for pair in (overrides or "").split(","):
        if not pair.strip():
            continue
        target, sep, raw = pair.partition("=")
        alert_type, dot, field = target.strip().partition(".")
        value = raw.strip()
        if not sep or not dot or not value:
            problems.append(f"{ALERT_RULE_OVERRIDES}: {pair.strip()!r} is not <type>.<field>=<value>")
            continue
        if alert_type not in result:
            problems.append(f"{ALERT_RULE_OVERRIDES}: no rule {alert_type!r}")
            continue
        if field.strip() in _FIXED_FIELDS:  # an environment must not turn a security alert into a mutable one
            problems.append(f"{ALERT_RULE_OVERRIDES}: {pair.strip()!r}: {field.strip()} cannot be overridden")
            continue
        try:
            rule = result[alert_type]
            if field in rule.params or field in _OPTIONAL_PARAMS.get(rule.kind, ()):
                parsed = _parse_param(field, value, rule.params.get(field, ""))
                changed = replace(rule, params={**rule.params, field: parsed})
            else:
                changed = replace(rule, **{field: _parse_field(field, value)})
            _validate(changed, f"{ALERT_RULE_OVERRIDES}: {pair.strip()!r}")
        except ConfigurationError as error:
            problems.extend(error.errors)
            continue
        except (ValueError, TypeError) as error:
            problems.append(f"{ALERT_RULE_OVERRIDES}: {pair.strip()!r}: {error}")
            continue
        result[alert_type] = changed
    if problems:
        raise ConfigurationError.of(problems)
    return result


def _parse_param(name: str, value: str, current: Any) -> Any:
    """A param's new value, read as the type of the value it replaces (lists join with `+`)."""
    if isinstance(current, bool):
        if value.lower() not in ("true", "false"):
            raise ValueError(f"{name} is true or false")
        return value.lower() == "true"
    if isinstance(current, int):
        return int(value)
    if isinstance(current, float):
        return float(value)
    if isinstance(current, list):
        return [item for item in value.split("+") if item and item != "none"]
    return value


def _parse_field(field: str, value: str) -> Any:
    if field == "threshold":
        return float(value.removesuffix("%")) / 100 if value.endswith("%") else float(value)
    if field in _INT_FIELDS:
        return int(value)
    if field in _CHANNEL_FIELDS:
        return tuple(channel for channel in value.split("+") if channel and channel != "none")
    if field == "severity":
        return value.lower()
    if field == "escalation" and value == "none":
        return None
    if field in _BOOL_FIELDS:
        if value.lower() not in ("true", "false"):
            raise ValueError(f"{field} is true or false")
        return value.lower() == "true"
    raise ValueError(
        f"field {field!r} cannot be overridden "
        f"(threshold, severity, escalation=none, {', '.join(_INT_FIELDS + _CHANNEL_FIELDS + _BOOL_FIELDS)}, "
        "or the rule's params)"
    )
