"""Unit tests open no sockets: every connection attempt fails the test, the metric recorder
writes to the in-memory store, and refused credentials are reported into a list."""

from __future__ import annotations

import socket
from collections.abc import Iterator, Sequence

import pytest
from platform_monitoring.api.refusals import clear_reporters
from platform_monitoring.observability.metrics import recorder
from platform_monitoring.security.events import SecurityEvent
from platform_monitoring.wiring import events as events_wiring
from platform_monitoring.wiring.events import FailedAuthenticationReporter

from tests.support.fakes import InMemoryMetricBackend


class SocketUsedInUnitTest(AssertionError):
    pass


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise SocketUsedInUnitTest(f"a unit test tried to connect: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)


@pytest.fixture(autouse=True)
def metric_store() -> Iterator[InMemoryMetricBackend]:
    backend = InMemoryMetricBackend()
    recorder.use(backend)
    recorder.buffer.drain()
    yield backend


class RefusalQueue:
    """The failed-authentication reports of refused requests (api/refusals.py), kept in memory."""

    def __init__(self) -> None:
        self.events: list[SecurityEvent] = []

    def send_events(self, events: Sequence[SecurityEvent]) -> list[str]:
        self.events.extend(events)
        return []


@pytest.fixture(autouse=True)
def refused_credentials(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[SecurityEvent]]:
    """A function's cold start registers the process's reporter: here it queues into a list, not SQS."""
    queue = RefusalQueue()
    clear_reporters()
    monkeypatch.setattr(events_wiring, "_reporter", FailedAuthenticationReporter(queue))
    yield queue.events
    clear_reporters()
