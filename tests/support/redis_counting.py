"""Count the requests redis-py really sends, instead of trusting `RedisMetricBackend.round_trips`.

A round trip is one `send_packed_command` call: redis-py writes one command (or a whole
pipeline) and then waits for the answers. `CountingConnection` records every one of them with
the command names it carried, and tells the connection handshake (CLIENT SETINFO, SELECT, ...)
apart from the caller's own requests:

    counter = RoundTripCounter()
    client = counting_client("redis://127.0.0.1:6379/8", counter)
    with counter.measure() as trips:
        backend.snapshot()
    assert len(trips.requests) == 1        # the caller's round trips
    trips.handshakes                       # those spent connecting (new connections only)

`server_commandstats(client)` reads `INFO commandstats` (calls per command, server wide) for
the server-side view: no KEYS, no SCAN, one HGETALL per catalog metric.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

# Commands whose first argument is a subcommand (CLIENT SETINFO, SCRIPT LOAD, ...).
_CONTAINERS = {"CLIENT", "SCRIPT", "CONFIG", "COMMAND", "MEMORY", "OBJECT", "FUNCTION", "ACL"}


@dataclass(frozen=True)
class RoundTrip:
    commands: tuple[str, ...]
    handshake: bool  # sent while a new connection was being set up


@dataclass
class Measurement:
    trips: list[RoundTrip] = field(default_factory=list)
    connects: int = 0

    @property
    def requests(self) -> list[RoundTrip]:
        """Round trips the caller asked for (not the connection handshake)."""
        return [trip for trip in self.trips if not trip.handshake]

    @property
    def handshakes(self) -> list[RoundTrip]:
        return [trip for trip in self.trips if trip.handshake]

    @property
    def commands(self) -> list[str]:
        return [name for trip in self.trips for name in trip.commands]

    def summary(self) -> str:
        return ", ".join(
            ("handshake " if trip.handshake else "") + "+".join(_compact(trip.commands)) for trip in self.trips
        )


def _compact(commands: tuple[str, ...]) -> list[str]:
    """HGETALL x30 instead of thirty names."""
    out: list[str] = []
    for name in commands:
        if out and out[-1].split(" x")[0] == name:
            head, _, count = out[-1].partition(" x")
            out[-1] = f"{head} x{int(count or 1) + 1}"
        else:
            out.append(name)
    return out


class RoundTripCounter:
    """Shared by every connection of a pool; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.trips: list[RoundTrip] = []
        self.connects = 0

    def record(self, commands: tuple[str, ...], handshake: bool) -> None:
        with self._lock:
            self.trips.append(RoundTrip(commands, handshake))

    def connected(self) -> None:
        with self._lock:
            self.connects += 1

    @contextmanager
    def measure(self) -> Iterator[Measurement]:
        """What was sent inside the block (filled in when the block ends)."""
        with self._lock:
            start_trips, start_connects = len(self.trips), self.connects
        measurement = Measurement()
        try:
            yield measurement
        finally:
            with self._lock:
                measurement.trips = self.trips[start_trips:]
                measurement.connects = self.connects - start_connects


class _RecordingPacker:
    """Wraps redis-py's command packer to note each command's name before it is sent."""

    def __init__(self, inner: Any, pending: list[str]) -> None:
        self._inner = inner
        self._pending = pending

    def pack(self, *args: Any) -> Any:
        self._pending.append(_command_name(args))
        return self._inner.pack(*args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def _command_name(args: tuple[Any, ...]) -> str:
    def text(value: Any) -> str:
        return (value.decode() if isinstance(value, bytes) else str(value)).upper()

    name = text(args[0]) if args else "?"
    words = name.split()  # redis-py passes some as one string ("CLIENT SETINFO")
    if len(words) == 1 and name in _CONTAINERS and len(args) > 1:
        words.append(text(args[1]))
    return " ".join(words)


class CountingConnection(redis.Connection):
    """A redis.Connection that reports each request it sends to a RoundTripCounter."""

    def __init__(self, *args: Any, counter: RoundTripCounter, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._counter = counter
        self._pending: list[str] = []
        self._in_handshake = False
        self._command_packer = _RecordingPacker(self._command_packer, self._pending)

    def on_connect_check_health(self, check_health: bool = True) -> None:
        self._counter.connected()
        self._in_handshake = True
        try:
            super().on_connect_check_health(check_health=check_health)
        finally:
            self._in_handshake = False

    def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        names = tuple(self._pending)
        self._pending.clear()
        if not self._sock:
            # Connecting sends its own handshake round trips first (recorded while they are sent).
            self.connect()
        self._counter.record(names, self._in_handshake)
        super().send_packed_command(command, check_health)


def counting_client(url: str, counter: RoundTripCounter, timeout: float = 5.0) -> redis.Redis:
    """A client configured like platform_monitoring.clients.redis_client, whose requests are counted."""
    pool = redis.ConnectionPool.from_url(
        url,
        connection_class=CountingConnection,
        counter=counter,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        retry=Retry(NoBackoff(), 0),
    )
    return redis.Redis(connection_pool=pool)


def server_commandstats(client: redis.Redis) -> dict[str, int]:
    """Calls per command since the server started (INFO commandstats), e.g. {"hgetall": 120, ...}."""
    stats = client.info("commandstats")
    return {name.removeprefix("cmdstat_"): int(value["calls"]) for name, value in stats.items()}


def commandstats_delta(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {name: after[name] - before.get(name, 0) for name in after if after[name] != before.get(name, 0)}


@contextmanager
def private_redis_server(timeout: float = 10.0) -> Iterator[str]:
    """A throwaway redis-server (the machine's binary) on a free loopback port: an empty script
    cache and command statistics that no other client touches. Yields its URL; always stopped."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server is not installed (scripts/ensure-services installs it)")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    args = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    try:
        deadline = time.monotonic() + timeout
        probe_client = redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1)
        while True:
            try:
                probe_client.ping()
                break
            except redis.ConnectionError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"redis-server on port {port} did not start") from None
                time.sleep(0.05)
        probe_client.close()
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
