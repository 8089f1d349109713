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
EXTRA_SENSITIVE_FIELDS = (
    "secret",
    "authorization",
    "cookie",
    "signature",
    "dsn",
    "credential",
    "credentials",
    "passphrase",
)


_MAX_DEPTH = 40
_FIELD_WORDS = tuple(tuple(f.split("_")) for f in SENSITIVE_FIELDS + EXTRA_SENSITIVE_FIELDS)
_FIELD_COMPACT = frozenset(f.replace("_", "") for f in SENSITIVE_FIELDS + EXTRA_SENSITIVE_FIELDS)
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_NON_WORD = re.compile(r"[^a-z0-9]+")


# Where a secret may start: not glued to an ASCII letter or digit (glued to non-ASCII text, as in
# "密钥sk_live_...", it is still one), or right after an escape that repr() or JSON wrote for the
# character before it ("\\nsk_live_...", "\\u2028sk_live_...").
_ESCAPED = r"(?<=\\[abfnrtv0])|(?<=\\x[0-9a-fA-F]{2})|(?<=\\u[0-9a-fA-F]{4})|(?<=\\U[0-9a-fA-F]{8})"
_START = rf"(?:(?<![A-Za-z0-9])|{_ESCAPED})"


_VALUE_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # Stripe secret/restricted keys and webhook signing secrets keep their kind for debugging.
    (re.compile(rf"{_START}(sk|rk)_(live|test)_[0-9A-Za-z]{{4,}}"), r"\1_\2_" + MASK),
    (re.compile(rf"{_START}whsec_[0-9A-Za-z+/=]{{4,}}"), "whsec_" + MASK),
    (re.compile(rf"(?i){_START}(bearer|basic)\s+[A-Za-z0-9\-._~+/]+=*"), r"\1 " + MASK),
    (re.compile(rf"{_START}eyJ[A-Za-z0-9_-]{{5,}}\.[A-Za-z0-9_-]{{5,}}\.[A-Za-z0-9_-]*"), MASK),
    (re.compile(rf"{_START}(AKIA|ASIA)[0-9A-Z]{{16}}(?![A-Za-z0-9])"), MASK),
    (re.compile(r"(?ai)\b([a-z][a-z0-9+.\-]*://)[^/\s@]+@"), r"\1" + MASK + "@"),
    (re.compile(r"(?i)(hooks\.slack\.com/services/)[A-Za-z0-9/_\-]+"), r"\1" + MASK),
    # Slack's bot, user, app and refresh tokens (xoxb-..., xoxp-..., xoxe.xoxp-...) keep their kind.
    (re.compile(rf"{_START}(xox[abeoprs](?:\.xox[abeoprs])?)-[0-9A-Za-z-]{{10,}}"), r"\1-" + MASK),
    (
        re.compile(
            # the key: a sensitive word, alone or inside a snake, kebab or camel name (db_password,
            # X-Api-Key, accessToken)
            rf"(?ai)(?:\b|{_ESCAPED})((?:[a-z0-9]*[_-])*[a-z0-9]*?"
            r"(?:password|passwd|pwd|secret|token|api[_-]?key|cvv|ssn|tax[_-]?id|card[_-]?number|signature"
            r"|authorization|cookie|credentials?|passphrase|dsn)"
            # quotes may come escaped (JSON inside a JSON string: {\"password\": \"...\"})
            r"(?:[_-][a-z0-9]+)*)((?:\\*[\"'])?\s*[=:]\s*)((?:\\*[\"'])?)"
            # the value: the rest of a quoted string, a JSON list or object (nested one level deep)
            # as a whole (to the end of the text when it was cut short), else one token
            r"(?:(?<=\")(?:[^\"\\]|\\.)*(?=\")|(?<=')[^']*(?=')"
            r"|\[(?:[^\[\]]|\[[^\[\]]*(?:\]|$))*(?:\]|$)|\{(?:[^{}]|\{[^{}]*(?:\}|$))*(?:\}|$)|[^\s\"'&,;]+)"
        ),
        r"\1\2\3" + MASK,
    ),
)


# A card number stands alone: digits inside a UUID, a request ID or a hex string are not one.
_CARD_CANDIDATE = re.compile(rf"(?:(?<![\w.\-])|{_ESCAPED})\d(?:[ -]?\d){{12,}}(?![\w.\-])")
_DIGIT_GROUP = re.compile(r"\d+")


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
    text = match.group(0)
    digits = re.sub(r"[ -]", "", text)
    if 13 <= len(digits) <= 19 and luhn_valid(digits):
        return MASK
    # A card beside other numbers ("4242 4242 4242 4242 12/30", "qty 2 4242-..."): any run of
    # whole digit groups that is a card number is masked on its own.
    groups = list(_DIGIT_GROUP.finditer(text))
    kept, shown_up_to, first = [], 0, 0
    while first < len(groups):
        run, last, card = "", first, False
        for last in range(first, len(groups)):
            run += groups[last].group(0)
            card = 13 <= len(run) <= 19 and luhn_valid(run)
            if card or len(run) > 19:
                break
        if card:
            kept += [text[shown_up_to : groups[first].start()], MASK]
            shown_up_to, first = groups[last].end(), last + 1
        else:
            first += 1
    return "".join(kept) + text[shown_up_to:]


def mask_text(text: str) -> str:
    """Mask secret-looking substrings of free text."""
    for pattern, replacement in _VALUE_PATTERNS:
        text = pattern.sub(replacement, text)
    return _CARD_CANDIDATE.sub(_mask_card, text)


def mask(value: Any, _depth: int = 0) -> Any:
    """A masked copy of value: dicts, lists, tuples and strings at any depth; the input is untouched."""
    if _depth > _MAX_DEPTH:
        return MASK
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, Mapping):
        # A key can hold a secret too (a form field or query parameter named after one).
        return {
            (mask_text(key) if isinstance(key, str) else key): (
                MASK
                if isinstance(key, str) and is_sensitive_key(key) and value[key] not in (None, "")
                else mask(value[key], _depth + 1)
            )
            for key in value
        }
    if isinstance(value, list | tuple | set | frozenset):
        return [mask(item, _depth + 1) for item in value]
    # Text, bytes, and anything else (an exception, a datetime, an object), which every consumer
    # shows as its text (json.dumps(default=str)), so it is masked as that text.
    text = bytes(value).decode("utf-8", "replace") if isinstance(value, bytes | bytearray) else str(value)
    return mask_text(text)


def sentry_before_send(event: dict[str, Any], hint: dict[str, Any]) -> dict[str, Any]:
    """Sentry's before_send hook: the same masking as the logs."""
    masked: dict[str, Any] = mask(event)
    return masked
