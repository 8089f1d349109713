"""Unit tests open no sockets: every connection attempt fails the test, and the metric
recorder writes to the in-memory store."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from platform_monitoring.observability.metrics import recorder

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
