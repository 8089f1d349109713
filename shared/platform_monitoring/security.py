"""The guide's SecurityMonitor: security events, automatic IP blocks, the allowlist.

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
  10 rate limit violations in 5 minutes   ->  block for 24 hours.
A repeat offender (an IP blocked before, its last block ended less than 30 days ago) is blocked
for twice as long as last time, capped at 7 days: 24 h, 48 h, 96 h, 7 d, 7 d...

Blocks live in DynamoDB with a TTL attribute, but TTL deletion can lag by days, so every read
compares `until_ms` with the clock. Allowlisted addresses and CIDR ranges are never blocked.
IPv4 and IPv6 are normalised (`::ffff:1.2.3.4` is 1.2.3.4, IPv6 is compressed lower case).
"""

from __future__ import annotations

import ipaddress
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from platform_monitoring.dynamo import count_after
from platform_monitoring.masking import mask, mask_text
from platform_monitoring.observability import count_business, monitoring_log, portal_log, recorder, security_log

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

    from platform_monitoring.settings import SecuritySettings

FAILED_LOGIN = "failed_login"
LOGIN = "login"
REGISTRATION = "registration"
SUSPICIOUS_ACTIVITY = "suspicious_activity"
API_KEY_USAGE = "api_key_usage"
PRIVILEGE_ESCALATION = "privilege_escalation"
LARGE_DATA_EXPORT = "large_data_export"
RATE_LIMIT_VIOLATION = "rate_limit_violation"
EVENT_TYPES = (
    FAILED_LOGIN,
    LOGIN,
    REGISTRATION,
    SUSPICIOUS_ACTIVITY,
    API_KEY_USAGE,
    PRIVILEGE_ESCALATION,
    LARGE_DATA_EXPORT,
    RATE_LIMIT_VIOLATION,
)
# The guide's tracked security events; logins and registrations are portal activity.
SECURITY_TYPES = frozenset(EVENT_TYPES) - {LOGIN, REGISTRATION}
# What counts toward security_breach_attempt (5 in 1 minute, alert_rules.json).
BREACH_TYPES = frozenset({FAILED_LOGIN, PRIVILEGE_ESCALATION, SUSPICIOUS_ACTIVITY})
BREACH_ALERT = "security_breach_attempt"

MAX_ID_CHARS = 64
MAX_USER_AGENT_CHARS = 512
MAX_DETAILS_CHARS = 8000
FUTURE_TOLERANCE_SECONDS = 300
HOUR, DAY = 3600, 86400

# Stripe's webhook senders (https://stripe.com/files/ips/ips_webhooks.txt): never blocked by default.
STRIPE_WEBHOOK_IPS = (
    "3.18.12.63",
    "3.130.192.231",
    "13.235.14.237",
    "13.235.122.149",
    "18.211.135.69",
    "35.154.171.200",
    "52.15.183.38",
    "54.88.130.119",
    "54.88.130.237",
    "54.187.174.169",
    "54.187.205.235",
    "54.187.216.72",
)


class EventValidationError(ValueError):
    """One event is malformed; `field` names what is wrong."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(message)
        self.field = field_name
        self.message = message


# --- addresses ------------------------------------------------------------------------
IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def parse_ip(text: Any) -> IpAddress:
    """An address in canonical form: IPv4-mapped IPv6 becomes IPv4; a zone or brackets are refused."""
    if not isinstance(text, str) or not text.strip() or len(text) > 64:
        raise ValueError("not an IP address")
    address = ipaddress.ip_address(text.strip())
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def normalise_ip(text: Any) -> str:
    """The canonical text of an address (`::FFFF:10.0.0.1` -> `10.0.0.1`, `2001:DB8:0::1` -> `2001:db8::1`)."""
    return str(parse_ip(text))


class Allowlist:
    """Addresses and CIDR ranges that are never blocked."""

    def __init__(self, entries: Iterable[str] = ()) -> None:
        self.networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
        for entry in entries:
            if not entry.strip():
                continue
            self.networks.append(ipaddress.ip_network(entry.strip(), strict=False))

    @classmethod
    def parse(cls, text: str | None) -> Allowlist:
        return cls(part for part in (text or "").split(",") if part.strip())

    def __contains__(self, ip: object) -> bool:
        try:
            address = parse_ip(ip)
        except ValueError:
            return False
        return any(address.version == net.version and address in net for net in self.networks)

    def __len__(self) -> int:
        return len(self.networks)


# --- events ---------------------------------------------------------------------------
@dataclass(frozen=True)
class SecurityEvent:
    id: str
    type: str
    ip: str
    occurred_at: datetime
    user_id: str | None = None
    company_id: str | None = None
    user_agent: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    source: str = "api"  # api, eventbridge, library

    @property
    def occurred_ms(self) -> int:
        return int(self.occurred_at.timestamp() * 1000)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": self.type,
            "ip": self.ip,
            "user_id": self.user_id,
            "company_id": self.company_id,
            "user_agent": self.user_agent,
            "occurred_at": iso(self.occurred_ms),
            "details": self.details,
            "source": self.source,
        }

    def log_fields(self) -> dict[str, Any]:
        fields = self.to_json()
        fields["event_id"] = fields.pop("id")
        fields["event_type"] = fields.pop("type")
        return fields


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def _optional_id(data: Mapping[str, Any], name: str) -> str | None:
    value = data.get(name)
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise EventValidationError(name, f"{name} must be a string or an integer")
    text = str(value)
    if len(text) > MAX_ID_CHARS:
        raise EventValidationError(name, f"{name} must be at most {MAX_ID_CHARS} characters")
    return text


def _occurred_at(value: Any, now: float) -> datetime:
    if not isinstance(value, str) or not value:
        raise EventValidationError(
            "occurred_at", "occurred_at is required: an ISO 8601 time such as 2026-01-31T18:00:00Z"
        )
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise EventValidationError("occurred_at", "occurred_at is not an ISO 8601 time") from None
    if parsed.tzinfo is None:
        raise EventValidationError("occurred_at", "occurred_at needs a time zone (e.g. Z)")
    if parsed.timestamp() > now + FUTURE_TOLERANCE_SECONDS:
        raise EventValidationError("occurred_at", "occurred_at is in the future")
    return parsed.astimezone(UTC)


def parse_event(data: Any, *, now: float | None = None, source: str = "api") -> SecurityEvent:
    """A validated event; raises EventValidationError naming the first wrong field."""
    if not isinstance(data, Mapping):
        raise EventValidationError("event", "an event must be a JSON object")
    now = time.time() if now is None else now
    event_type = data.get("type")
    if event_type not in EVENT_TYPES:
        raise EventValidationError("type", f"type must be one of {', '.join(EVENT_TYPES)}")
    try:
        ip = normalise_ip(data.get("ip"))
    except ValueError:
        raise EventValidationError("ip", "ip must be an IPv4 or IPv6 address") from None
    user_agent = data.get("user_agent")
    if user_agent is not None and not isinstance(user_agent, str):
        raise EventValidationError("user_agent", "user_agent must be a string")
    details = data.get("details")
    if details is None:
        details = {}
    if not isinstance(details, Mapping):
        raise EventValidationError("details", "details must be a JSON object")
    if len(json.dumps(details, default=str)) > MAX_DETAILS_CHARS:
        raise EventValidationError("details", f"details must be at most {MAX_DETAILS_CHARS} characters of JSON")
    return SecurityEvent(
        id=_optional_id(data, "id") or str(uuid.uuid4()),
        type=str(event_type),
        ip=ip,
        occurred_at=_occurred_at(data.get("occurred_at"), now),
        user_id=_optional_id(data, "user_id"),
        company_id=_optional_id(data, "company_id"),
        user_agent=user_agent[:MAX_USER_AGENT_CHARS] if user_agent else None,
        details=dict(details),
        source=source,
    )


def event_from_message(body: str) -> SecurityEvent:
    """An event from a queue message: the /api/events form, or an EventBridge envelope around one."""
    data = json.loads(body)
    if isinstance(data, dict) and "detail-type" in data and isinstance(data.get("detail"), dict):
        detail = dict(data["detail"])
        detail.setdefault("id", data.get("id"))
        # An event held back in the queue (MySQL down) is still valid when it lands.
        return parse_event(detail, now=time.time(), source="eventbridge")
    source = data.pop("source", "api") if isinstance(data, dict) else "api"
    return parse_event(data, source=str(source))


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
    block_seconds: int = DAY
    max_block_seconds: int = 7 * DAY
    repeat_window_seconds: int = 30 * DAY

    @property
    def windows(self) -> tuple[WindowRule, ...]:
        return (self.failed_logins, self.security_events, self.rate_limit)

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


class BlockStore(Protocol):
    """IP blocks and rule windows; every race is settled by a conditional write."""

    def add_occurrences(self, event: SecurityEvent, rules: tuple[WindowRule, ...], expires_at: int) -> bool:
        """Record the event in each window (and a marker when it has none); False if already recorded."""
        ...

    def remove_occurrences(self, event: SecurityEvent, rules: tuple[WindowRule, ...]) -> None:
        """Forget the event's items, so its redelivery counts as its first delivery again."""
        ...

    def count(self, rule: WindowRule, ip: str, since_ms: int) -> int: ...

    def get(self, ip: str) -> Block | None:
        """The IP's block record, active or not (callers compare until_ms with the clock)."""
        ...

    def put_block(self, block: Block, previous: Block | None, now_ms: int, expires_at: int, *, force: bool) -> bool:
        """Write a block unless one is active (force: replace it) or `previous` changed meanwhile."""
        ...

    def end_block(self, ip: str, now_ms: int, by: str) -> Block | None: ...


class InMemoryBlockStore:
    """The unit tests' fake, with the DynamoDB store's conditions applied under a lock."""

    def __init__(self) -> None:
        self.occurrences: dict[str, set[str]] = {}
        self.blocks: dict[str, Block] = {}
        self.lock = threading.Lock()
        self.round_trips = 0

    def add_occurrences(self, event: SecurityEvent, rules: tuple[WindowRule, ...], expires_at: int) -> bool:
        keys = window_keys(event, rules)
        with self.lock:
            self.round_trips += 1
            if any(sk in self.occurrences.get(pk, set()) for pk, sk in keys):
                return False
            for pk, sk in keys:
                self.occurrences.setdefault(pk, set()).add(sk)
            return True

    def remove_occurrences(self, event: SecurityEvent, rules: tuple[WindowRule, ...]) -> None:
        with self.lock:
            self.round_trips += 1
            for pk, sk in window_keys(event, rules):
                self.occurrences.get(pk, set()).discard(sk)

    def count(self, rule: WindowRule, ip: str, since_ms: int) -> int:
        with self.lock:
            self.round_trips += 1
            return sum(1 for sk in self.occurrences.get(f"{rule.name}#{ip}", set()) if sk > sort_key(since_ms))

    def get(self, ip: str) -> Block | None:
        with self.lock:
            self.round_trips += 1
            return self.blocks.get(ip)

    def put_block(self, block: Block, previous: Block | None, now_ms: int, expires_at: int, *, force: bool) -> bool:
        with self.lock:
            self.round_trips += 1
            current = self.blocks.get(block.ip)
            if current is not None and current.active(now_ms) and not force:
                return False
            if current != previous:
                return False
            self.blocks[block.ip] = block
            return True

    def end_block(self, ip: str, now_ms: int, by: str) -> Block | None:
        with self.lock:
            self.round_trips += 1
            current = self.blocks.get(ip)
            if current is None or not current.active(now_ms):
                return current
            ended = _replace(current, until_ms=now_ms, unblocked_at_ms=now_ms, unblocked_by=by)
            self.blocks[ip] = ended
            return ended


def _replace(block: Block, **changes: Any) -> Block:
    return Block(**{**block.__dict__, **changes})


def sort_key(ms: int) -> str:
    return f"{ms:015d}"


def window_keys(event: SecurityEvent, rules: tuple[WindowRule, ...]) -> list[tuple[str, str]]:
    sk = f"{sort_key(event.occurred_ms)}#{event.id}"
    return [(f"{rule.name}#{event.ip}", sk) for rule in rules] or [(f"seen#{event.ip}", sk)]


class DynamoBlockStore:
    """SecurityBlocksTable (key `ip`, TTL `expires_at`) and SecurityWindowsTable (pk, sk, TTL `expires_at`).

    Windows: one item per event and rule, pk "<rule>#<ip>", sk "<epoch ms, 15 digits>#<event id>",
    all of an event's items in one TransactWriteItems with attribute_not_exists, so a redelivered
    event is recognised and counts once. Counting is a strongly consistent Query (Select COUNT).
    """

    def __init__(self, client: DynamoDBClient, blocks_table: str, windows_table: str) -> None:
        self._client = client
        self.blocks_table = blocks_table
        self.windows_table = windows_table

    def add_occurrences(self, event: SecurityEvent, rules: tuple[WindowRule, ...], expires_at: int) -> bool:
        items = [
            {
                "Put": {
                    "TableName": self.windows_table,
                    "Item": {"pk": {"S": pk}, "sk": {"S": sk}, "expires_at": {"N": str(expires_at)}},
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            }
            for pk, sk in window_keys(event, rules)
        ]
        try:
            if len(items) == 1:
                self._client.put_item(**items[0]["Put"])  # type: ignore[arg-type]
            else:
                self._client.transact_write_items(TransactItems=items)  # type: ignore[arg-type]
        except self._client.exceptions.ConditionalCheckFailedException:
            return False
        except self._client.exceptions.TransactionCanceledException as error:
            reasons = [r.get("Code") for r in error.response.get("CancellationReasons", [])]
            if "ConditionalCheckFailed" in reasons:
                return False
            raise
        return True

    def remove_occurrences(self, event: SecurityEvent, rules: tuple[WindowRule, ...]) -> None:
        for pk, sk in window_keys(event, rules):
            self._client.delete_item(TableName=self.windows_table, Key={"pk": {"S": pk}, "sk": {"S": sk}})

    def count(self, rule: WindowRule, ip: str, since_ms: int) -> int:
        return count_after(self._client, self.windows_table, f"{rule.name}#{ip}", sort_key(since_ms))

    def get(self, ip: str) -> Block | None:
        item = self._client.get_item(TableName=self.blocks_table, Key={"ip": {"S": ip}}, ConsistentRead=True).get(
            "Item"
        )
        return _block_from_item(item) if item else None

    def put_block(self, block: Block, previous: Block | None, now_ms: int, expires_at: int, *, force: bool) -> bool:
        item = _block_item(block, expires_at)
        if previous is None:
            condition, values = "attribute_not_exists(ip)", {}
        else:
            condition = "blocked_at_ms = :previous"
            values = {":previous": {"N": str(previous.blocked_at_ms)}}
            if not force:
                condition += " AND until_ms <= :now"
                values[":now"] = {"N": str(now_ms)}
        request: dict[str, Any] = {"TableName": self.blocks_table, "Item": item, "ConditionExpression": condition}
        if values:
            request["ExpressionAttributeValues"] = values
        try:
            self._client.put_item(**request)
        except self._client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def end_block(self, ip: str, now_ms: int, by: str) -> Block | None:
        try:
            response = self._client.update_item(
                TableName=self.blocks_table,
                Key={"ip": {"S": ip}},
                UpdateExpression="SET until_ms = :now, unblocked_at_ms = :now, unblocked_by = :by",
                ConditionExpression="attribute_exists(ip) AND until_ms > :now",
                ExpressionAttributeValues={":now": {"N": str(now_ms)}, ":by": {"S": by}},
                ReturnValues="ALL_NEW",
            )
        except self._client.exceptions.ConditionalCheckFailedException:
            return self.get(ip)  # none, or already over: nothing to end
        return _block_from_item(response["Attributes"])


def _block_item(block: Block, expires_at: int) -> dict[str, Any]:
    item: dict[str, Any] = {
        "ip": {"S": block.ip},
        "until_ms": {"N": str(block.until_ms)},
        "blocked_at_ms": {"N": str(block.blocked_at_ms)},
        "reason": {"S": block.reason},
        "decided_by": {"S": block.decided_by},
        "offences": {"N": str(block.offences)},
        "duration_seconds": {"N": str(block.duration_seconds)},
        "expires_at": {"N": str(expires_at)},
    }
    return item


def _block_from_item(item: Mapping[str, Any]) -> Block:
    def number(name: str) -> int | None:
        return int(item[name]["N"]) if name in item else None

    def text(name: str) -> str | None:
        return str(item[name]["S"]) if name in item else None

    return Block(
        ip=text("ip") or "",
        until_ms=number("until_ms") or 0,
        blocked_at_ms=number("blocked_at_ms") or 0,
        reason=text("reason") or "",
        decided_by=text("decided_by") or "",
        offences=number("offences") or 1,
        duration_seconds=number("duration_seconds") or DAY,
        unblocked_at_ms=number("unblocked_at_ms"),
        unblocked_by=text("unblocked_by"),
    )


# --- the monitor ----------------------------------------------------------------------
class Alerting(Protocol):
    def alert(self, alert_type: str, context: dict[str, Any], /) -> object: ...


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

    @classmethod
    def from_settings(cls, settings: SecuritySettings, alerts: Alerting | None = None) -> SecurityMonitor:
        from platform_monitoring import clients  # noqa: PLC0415

        settings.require()
        assert settings.blocks_table and settings.windows_table
        store = DynamoBlockStore(
            clients.dynamodb_client(settings.aws_timeout), settings.blocks_table, settings.windows_table
        )
        # Stripe's webhook senders are always on the list: a blocked Stripe would stop payments monitoring.
        allowlist = Allowlist([*STRIPE_WEBHOOK_IPS, *(settings.allowlist or "").split(",")])
        return cls(store, rules=settings.rules, allowlist=allowlist, alerts=alerts)

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
            # Not at module level: alerting (and Powertools metrics) stays out of IpGuard's cold start.
            from platform_monitoring.alerting import AlertNotRecorded  # noqa: PLC0415

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
            from platform_monitoring.alerting import require_recorded  # noqa: PLC0415 - see record()

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
    ) -> Block | None:
        """Block an IP; returns the new block, or None when it was already blocked (only_if_new) or lost a race."""
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
                return block
            if only_if_new:
                return None  # another Lambda blocked it first
        raise RuntimeError(f"could not write the block of {address}: it kept changing")

    def unblock(self, ip: str, *, by: str) -> Block | None:
        address = normalise_ip(ip)
        by = mask_text(by)
        ended = self.store.end_block(address, self.now_ms(), by[:100])
        if ended is not None and ended.unblocked_by == by[:100]:
            security_log.warning(f"IP {address} unblocked", extra={"ip": address, "decided_by": by})
        return ended

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


# --- one call for the platform's functions ---------------------------------------------
_default: SecurityMonitor | None = None


def security_monitor() -> SecurityMonitor:
    """The process's SecurityMonitor from the environment (SECURITY_BLOCKS_TABLE, ...), built on first use."""
    global _default  # noqa: PLW0603 - one monitor per Lambda instance
    if _default is None:
        from platform_monitoring.alerting import alerting_service  # noqa: PLC0415
        from platform_monitoring.settings import SecuritySettings  # noqa: PLC0415

        settings = SecuritySettings.from_env()
        alerts: Alerting | None = None
        try:
            alerts = alerting_service()
        except Exception as error:  # a function without alerting still records and blocks
            monitoring_log.warning("SecurityMonitor without alerting", extra={"error": mask_text(str(error))[:200]})
        _default = SecurityMonitor.from_settings(settings, alerts=alerts)
    return _default


def is_blocked(ip: str) -> bool:
    """`security.is_blocked(request_ip)`: is this address blocked right now?"""
    return security_monitor().is_blocked(ip)


def masked_details(event: SecurityEvent) -> dict[str, Any]:
    masked: dict[str, Any] = mask(event.details)
    return masked
