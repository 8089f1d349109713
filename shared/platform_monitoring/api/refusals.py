"""Refused credentials: the API answers that count against the caller's address.

A wrong or missing secret (401 unauthorized) and a missing, malformed or wrong signature (400) are
failed authentications: `create_resolver` hands each to the reporters registered here, and the
functions register one that queues a `failed_authentication` security event
(wiring/refusals.py report_failed_authentications), so a source that keeps guessing gets blocked like
one that keeps failing logins. An expired signature is not counted: a clock problem, not a guess.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from platform_monitoring.core.masking import mask_text
from platform_monitoring.observability.logging import monitoring_log

FAILED_AUTHENTICATION_CODES = frozenset(
    {"unauthorized", "missing_signature", "malformed_signature", "invalid_signature"}
)

# (the API Gateway proxy event, the refusal's code)
Reporter = Callable[[Mapping[str, Any], str], None]
_reporters: list[Reporter] = []


def on_failed_authentication(reporter: Reporter) -> None:
    """Register a reporter (once per process; registering the same one again changes nothing)."""
    if reporter not in _reporters:
        _reporters.append(reporter)


def clear_reporters() -> None:
    _reporters.clear()


def report_refusal(event: Mapping[str, Any], code: str) -> None:
    """Tell the reporters about a refused credential; never raises into the refusal it reports."""
    if code not in FAILED_AUTHENTICATION_CODES:
        return
    for reporter in _reporters:
        try:
            reporter(event, code)
        except Exception as error:
            monitoring_log.warning(
                "A failed authentication could not be reported",
                extra={"error": mask_text(f"{type(error).__name__}: {error}")[:200]},
            )
