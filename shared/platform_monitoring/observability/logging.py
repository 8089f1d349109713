"""The guide's log channels: the one place that creates loggers; everything else imports them from here.

Log channels are the guide's six (monitoring, security, performance, stripe, portal,
webhooks), each a Powertools Logger with its own LOG_LEVEL_<CHANNEL>, writing JSON lines
with `channel`, the correlation ID, the Lambda context, request metadata and user/company
context when present. Every record passes through the masking formatter.
"""

from __future__ import annotations

import logging
import os
import re
import uuid
from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter

from platform_monitoring.core.masking import mask, mask_text
from platform_monitoring.core.settings import LOG_CHANNELS

SERVICE_NAME = os.environ.get("POWERTOOLS_SERVICE_NAME", "askproai-monitoring")
CORRELATION_HEADER = "X-Correlation-ID"
_SAFE_CORRELATION_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")


class MaskingFormatter(LambdaPowertoolsFormatter):
    """Powertools' JSON formatter with the bundle's masking applied to the whole record."""

    def serialize(self, log: Mapping[str, Any]) -> str:
        # A lone surrogate (from a client's JSON "\udc80") cannot be written to a UTF-8 stdout:
        # the line would be lost and logging's error report would print the unmasked message.
        return super().serialize(mask(log)).encode("utf-8", "backslashreplace").decode("utf-8")

    def _extract_log_message(self, log_record: logging.LogRecord) -> Any:
        # Powertools decodes a message that is JSON text: "4242424242424242" becomes a number, which
        # masking (of text) would pass. A message that decodes to a number keeps its masked text.
        message: Any = super()._extract_log_message(log_record)  # typed without numbers, which it returns
        if isinstance(message, int | float) and not isinstance(message, bool) and isinstance(log_record.msg, str):
            masked = mask_text(log_record.msg)
            if masked != log_record.msg:
                return masked
        return message


class ChannelLoggers:
    """The six log channels; context keys are appended to all of them at once."""

    def __init__(self, channels: tuple[str, ...] = LOG_CHANNELS) -> None:
        self._loggers: dict[str, Logger] = {}
        for channel in channels:
            # The Python logger is named after the channel (no dots, so no parent that would
            # print a record twice); the JSON `service` stays the bundle's own name.
            logger = Logger(service=f"channel-{channel}", logger_formatter=MaskingFormatter(), level="INFO")
            logger.append_keys(service=SERVICE_NAME, channel=channel)
            self._loggers[channel] = logger
        self._invocation_keys: set[str] = set()

    def __getitem__(self, channel: str) -> Logger:
        return self._loggers[channel]

    def set_levels(self, levels: Mapping[str, str]) -> None:
        for channel, level in levels.items():
            if channel in self._loggers:
                self._loggers[channel].setLevel(level.upper())

    def append_keys(self, **keys: Any) -> None:
        """Keys for the current invocation only; begin_invocation() removes them."""
        present = {k: v for k, v in keys.items() if v not in (None, "")}
        for logger in self._loggers.values():
            logger.append_keys(**present)
        self._invocation_keys.update(present)

    def begin_invocation(self) -> None:
        if self._invocation_keys:
            for logger in self._loggers.values():
                logger.remove_keys(list(self._invocation_keys))
            self._invocation_keys.clear()


channels = ChannelLoggers()


monitoring_log = channels["monitoring"]


security_log = channels["security"]


performance_log = channels["performance"]


stripe_log = channels["stripe"]


portal_log = channels["portal"]


webhooks_log = channels["webhooks"]


# --- correlation and request context --------------------------------------------------
def _header(headers: Mapping[str, Any] | None, name: str) -> str | None:
    if not headers:
        return None
    lowered = name.lower()
    for key, value in headers.items():
        if isinstance(key, str) and key.lower() == lowered and isinstance(value, str):
            return value
    return None


def correlation_id_from(event: Mapping[str, Any]) -> str:
    """X-Correlation-ID header, else API Gateway's request ID, else the event's own ID."""
    incoming = _header(event.get("headers"), CORRELATION_HEADER)
    # A client-chosen ID is echoed and logged, so only a plain token is accepted.
    if incoming and _SAFE_CORRELATION_ID.match(incoming):
        return incoming
    request_context = event.get("requestContext") or {}
    if isinstance(request_context, Mapping) and request_context.get("requestId"):
        return str(request_context["requestId"])
    if event.get("id"):  # EventBridge
        return str(event["id"])
    records = event.get("Records")
    if isinstance(records, list) and records and isinstance(records[0], Mapping):
        record = records[0]
        message_id = record.get("messageId") or (record.get("Sns") or {}).get("MessageId")
        if message_id:
            return str(message_id)
    return str(uuid.uuid4())


def request_metadata(event: Mapping[str, Any]) -> dict[str, Any]:
    """Request metadata and the user/company context an authorizer put on the request."""
    request_context = event.get("requestContext")
    if not isinstance(request_context, Mapping) or "httpMethod" not in event:
        return {}
    identity = request_context.get("identity") or {}
    authorizer = request_context.get("authorizer") or {}
    claims = authorizer.get("claims") or {}
    return {
        "http_method": event.get("httpMethod"),
        "path": event.get("path"),
        "route": event.get("resource"),
        "source_ip": identity.get("sourceIp"),
        "user_agent": _header(event.get("headers"), "User-Agent"),
        "request_id": request_context.get("requestId"),
        "user_id": authorizer.get("user_id") or claims.get("sub"),
        "company_id": authorizer.get("company_id") or claims.get("custom:company_id"),
    }


def bind_user(user_id: str | int | None, company_id: str | int | None = None) -> None:
    """User/company context for the rest of this invocation's log lines."""
    channels.append_keys(user_id=user_id, company_id=company_id)
