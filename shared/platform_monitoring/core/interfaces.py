"""The small interfaces one concern implements and others call, so the callers never import it."""

from __future__ import annotations

from typing import Any, Protocol

# --- the monitor ----------------------------------------------------------------------
# The alert raised for every change to the security controls (an unblock, a manual block, a silence
# created or removed), by the alerting and the security concerns alike; its rule cannot be silenced.
SECURITY_CONTROL_ALERT = "security_control_change"


class Alerting(Protocol):
    def alert(self, alert_type: str, context: dict[str, Any], /) -> object: ...


class AlertNotRecorded(RuntimeError):
    """alert() answered `error` (it logs and never raises): the occurrence was not recorded. Raised by
    the callers that must not lose one (the SQS processors), so SQS delivers the message again."""


def require_recorded(decision: object, alert_type: str) -> None:
    """Raise AlertNotRecorded when an alert() decision is `error`."""
    if getattr(decision, "outcome", None) == "error":
        raise AlertNotRecorded(f"{alert_type}: {getattr(decision, 'error', None)}")
