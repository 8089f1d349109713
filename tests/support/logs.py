"""Read what a log channel writes, as the JSON lines CloudWatch would receive."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def captured_channel(channel: str) -> Iterator[io.StringIO]:
    handler = logging.getLogger(f"channel-{channel}").handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    output = io.StringIO()
    previous = handler.setStream(output)
    try:
        yield output
    finally:
        handler.setStream(previous)
