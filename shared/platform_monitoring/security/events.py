"""Security events: the guide's types, validation and the event as it is stored."""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from platform_monitoring.core.masking import mask
from platform_monitoring.security.addresses import normalise_ip

FAILED_LOGIN = "failed_login"
LOGIN = "login"
REGISTRATION = "registration"
SUSPICIOUS_ACTIVITY = "suspicious_activity"
API_KEY_USAGE = "api_key_usage"
PRIVILEGE_ESCALATION = "privilege_escalation"
LARGE_DATA_EXPORT = "large_data_export"
RATE_LIMIT_VIOLATION = "rate_limit_violation"
# A wrong secret or signature on one of the bundle's own routes (api/refusals.py).
FAILED_AUTHENTICATION = "failed_authentication"
EVENT_TYPES = (
    FAILED_LOGIN,
    LOGIN,
    REGISTRATION,
    SUSPICIOUS_ACTIVITY,
    API_KEY_USAGE,
    PRIVILEGE_ESCALATION,
    LARGE_DATA_EXPORT,
    RATE_LIMIT_VIOLATION,
    FAILED_AUTHENTICATION,
)


# The guide's tracked security events; logins and registrations are portal activity.
SECURITY_TYPES = frozenset(EVENT_TYPES) - {LOGIN, REGISTRATION}
MAX_ID_CHARS = 64
MAX_USER_AGENT_CHARS = 512
MAX_DETAILS_CHARS = 8000
FUTURE_TOLERANCE_SECONDS = 300


class EventValidationError(ValueError):
    """One event is malformed; `field` names what is wrong."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(message)
        self.field = field_name
        self.message = message


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


def parse_event(
    data: Any, *, now: float | None = None, source: str = "api", default_id: str | None = None
) -> SecurityEvent:
    """A validated event; raises EventValidationError naming the first wrong field.

    An event without an `id` gets `default_id` (POST /api/events: derived from the signed request,
    see `signed_event_id`), else a random one."""
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
        id=_optional_id(data, "id") or default_id or str(uuid.uuid4()),
        type=str(event_type),
        ip=ip,
        occurred_at=_occurred_at(data.get("occurred_at"), now),
        user_id=_optional_id(data, "user_id"),
        company_id=_optional_id(data, "company_id"),
        user_agent=user_agent[:MAX_USER_AGENT_CHARS] if user_agent else None,
        details=dict(details),
        source=source,
    )


# uuid5's namespace for the IDs of events sent without one (a fixed, random value).
_SIGNED_EVENT_NAMESPACE = uuid.UUID("5b0f2a46-3d4e-4f7a-9c39-1f6d6c2b8e11")


def signed_event_id(signed_at: str, payload: str, index: int) -> str:
    """The ID of the `index`-th event of a signed POST /api/events body that carries no `id`.

    Derived from what the signature covers (its timestamp `t` and the exact body) and the event's
    place in it, so a replay of the request inside the signature's tolerance names the same events
    and the processor's redelivery check counts them once (windows, metrics, alert, security_logs);
    outside the tolerance the replay is refused as signature_expired. Two equal events in one body
    stay two events (their indexes differ); the same event sent again in a new request (a new `t`)
    is a new event, as the sender chose not to name it."""
    digest = hashlib.sha256(payload.encode("utf-8")).hexdigest()
    return str(uuid.uuid5(_SIGNED_EVENT_NAMESPACE, f"{signed_at}.{digest}.{index}"))


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


def masked_details(event: SecurityEvent) -> dict[str, Any]:
    masked: dict[str, Any] = mask(event.details)
    return masked
