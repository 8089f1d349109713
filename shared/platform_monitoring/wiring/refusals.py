"""Refused credentials become security events: each API function calls
`report_failed_authentications()` at cold start.

What reports them (wiring/events.py: the security settings, the events queue and its SQS client) is
imported and built at the first refusal, not at cold start: a function that refuses nothing never
loads it (the security package's modules were about 15 ms of every API function's cold start in
make bench, part 2).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from platform_monitoring.api.refusals import on_failed_authentication

if TYPE_CHECKING:
    from platform_monitoring.security.settings import SecuritySettings


class _AtFirstRefusal:
    """The reporter api/refusals.py calls: wiring/events.py's, fetched when a refusal comes."""

    def __init__(self, settings: SecuritySettings | None) -> None:
        self.settings = settings

    def __call__(self, event: Mapping[str, Any], code: str) -> None:
        from platform_monitoring.wiring import events  # noqa: PLC0415 - see the module docstring

        reporter = events.failed_authentication_reporter(self.settings)
        if reporter is not None:
            reporter(event, code)


_hook: _AtFirstRefusal | None = None


def report_failed_authentications(settings: SecuritySettings | None = None) -> None:
    """Call at a function's cold start (with its security settings when it has them): its refused
    secrets and signatures become failed_authentication security events."""
    global _hook  # noqa: PLW0603 - one per Lambda instance
    if _hook is None:
        _hook = _AtFirstRefusal(settings)
    on_failed_authentication(_hook)
