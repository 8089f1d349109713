"""Waiting for what happens in another process: a queue drained, a row landed, a server ready."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(
    predicate: Callable[[], T | None],
    timeout: float = 10.0,
    interval: float = 0.1,
    message: str = "",
    *,
    retrying: tuple[type[Exception], ...] = (),
    error: Callable[[str], Exception] = AssertionError,
) -> T:
    """Poll until predicate() returns something truthy; return it, or raise `error` after timeout seconds.

    An exception of a `retrying` type counts as "not yet" (a server still starting); the last one is
    named in the error.
    """
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while True:
        try:
            value = predicate()
        except retrying as exc:
            last_error = exc
        else:
            if value:
                return value
        if time.monotonic() > deadline:
            reason = message or f"condition not met within {timeout}s"
            raise error(f"{reason}: {last_error}" if last_error is not None else reason)
        time.sleep(interval)
