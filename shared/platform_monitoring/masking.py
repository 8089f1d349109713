"""Sensitive data masking for log records, Sentry events and alert messages.

Two nets, applied at any depth:
- by key: the guide's eight fields (password, stripe_secret, api_key, token, card_number,
  cvv, ssn, tax_id) plus secret, authorization, cookie, signature, dsn, credential and
  passphrase, matched on the key's words, so `db_password`, `X-Api-Key`, `accessToken`
  and `Stripe-Signature` are masked too;
- by value: strings that look like secrets whatever their key: Stripe secret, restricted
  and webhook keys, bearer/basic credentials, JWTs, AWS access key ids, passwords inside
  URLs, Slack webhook paths, `password=...` pairs in free text, and card numbers that pass
  the Luhn check.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

MASK = "[MASKED]"
SENSITIVE_FIELDS = ("password", "stripe_secret", "api_key", "token", "card_number", "cvv", "ssn", "tax_id")
EXTRA_SENSITIVE_FIELDS = ("secret", "authorization", "cookie", "signature", "dsn", "credential", "passphrase")
_MAX_DEPTH = 40

_FIELD_WORDS = tuple(tuple(f.split("_")) for f in SENSITIVE_FIELDS + EXTRA_SENSITIVE_FIELDS)
_FIELD_COMPACT = frozenset(f.replace("_", "") for f in SENSITIVE_FIELDS + EXTRA_SENSITIVE_FIELDS)
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_NON_WORD = re.compile(r"[^a-z0-9]+")

_VALUE_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # Stripe secret/restricted keys and webhook signing secrets keep their kind for debugging.
    (re.compile(r"\b(sk|rk)_(live|test)_[0-9A-Za-z]{4,}"), r"\1_\2_" + MASK),
    (re.compile(r"\bwhsec_[0-9A-Za-z+/=]{4,}"), "whsec_" + MASK),
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9\-._~+/]+=*"), r"\1 " + MASK),
    (re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*"), MASK),
    (re.compile(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b"), MASK),
    (re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://)[^/\s@]+@"), r"\1" + MASK + "@"),
    (re.compile(r"(?i)(hooks\.slack\.com/services/)[A-Za-z0-9/_\-]+"), r"\1" + MASK),
    (
        re.compile(
            r"(?i)\b((?:[a-z0-9]+[_-])*(?:password|passwd|pwd|secret|token|api[_-]?key|cvv|ssn|tax[_-]?id)"
            r"(?:[_-][a-z0-9]+)*)([\"']?\s*[=:]\s*)([\"']?)[^\s\"'&,;]+"
        ),
        r"\1\2\3" + MASK,
    ),
)
# A card number stands alone: digits inside a UUID, a request ID or a hex string are not one.
_CARD_CANDIDATE = re.compile(r"(?<![\w.\-])\d(?:[ -]?\d){12,18}(?![\w.\-])")


def is_sensitive_key(key: str) -> bool:
    """True when a key names one of the masked fields (db_password, X-Api-Key, accessToken...)."""
    normalised = _NON_WORD.sub("_", _CAMEL.sub("_", key).lower()).strip("_")
    if normalised.replace("_", "") in _FIELD_COMPACT:
        return True
    words = tuple(normalised.split("_"))
    for field_words in _FIELD_WORDS:
        width = len(field_words)
        if any(words[i : i + width] == field_words for i in range(len(words) - width + 1)):
            return True
    return False


def luhn_valid(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        digit = ord(char) - 48
        if position % 2:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return total % 10 == 0


def _mask_card(match: re.Match[str]) -> str:
    digits = re.sub(r"[ -]", "", match.group(0))
    return MASK if 13 <= len(digits) <= 19 and luhn_valid(digits) else match.group(0)


def mask_text(text: str) -> str:
    """Mask secret-looking substrings of free text."""
    for pattern, replacement in _VALUE_PATTERNS:
        text = pattern.sub(replacement, text)
    return _CARD_CANDIDATE.sub(_mask_card, text)


def mask(value: Any, _depth: int = 0) -> Any:
    """A masked copy of value: dicts, lists, tuples and strings at any depth; the input is untouched."""
    if _depth > _MAX_DEPTH:
        return MASK
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, Mapping):
        return {
            key: (
                MASK
                if isinstance(key, str) and is_sensitive_key(key) and value[key] not in (None, "")
                else mask(value[key], _depth + 1)
            )
            for key in value
        }
    if isinstance(value, list | tuple | set | frozenset):
        return [mask(item, _depth + 1) for item in value]
    if isinstance(value, bytes | bytearray):
        return mask_text(bytes(value).decode("utf-8", "replace"))
    return value


def sentry_before_send(event: dict[str, Any], hint: dict[str, Any]) -> dict[str, Any]:
    """Sentry's before_send hook: the same masking as the logs."""
    masked: dict[str, Any] = mask(event)
    return masked
