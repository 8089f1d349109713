"""A rediss:// REDIS_URL against a real redis-server speaking TLS only (its own process, a throwaway
CA made with openssl): the clients every function builds (`redis_client`: health check, metric store)
connect when REDIS_SSL_CA names the CA, and refuse a server whose certificate that trust does not cover.
Skipped when this machine's redis-server was built without TLS."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from platform_monitoring.core import clients
from platform_monitoring.core.settings import RedisSettings
from platform_monitoring.health.checks import OK, RedisCheck
from platform_monitoring.observability.store import RedisMetricBackend

from tests.support.tls import NoTls, TlsFiles, make_tls_files, tls_redis

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return make_tls_files(tmp_path_factory.mktemp("redis-tls"))


@pytest.fixture(scope="module")
def tls_port(tls: TlsFiles) -> Iterator[int]:
    try:
        with tls_redis(tls) as port:
            yield port
    except NoTls as missing:
        pytest.skip(f"redis-server cannot serve TLS here: {missing}")


def settings(port: int, ca: Path | None) -> RedisSettings:
    env = {"REDIS_URL": f"rediss://127.0.0.1:{port}/0"}
    return RedisSettings.from_env({**env, "REDIS_SSL_CA": str(ca)} if ca else env)


def test_the_health_check_and_the_metric_store_speak_tls_with_the_ca(tls: TlsFiles, tls_port: int) -> None:
    configured = settings(tls_port, tls.ca)
    assert RedisCheck(configured).run(2.0).status == OK
    RedisMetricBackend(clients.redis_client(configured, 2.0)).clear()  # the metric store's client: a DEL
    client = clients.redis_client(configured, 2.0)
    client.set("askproai:tls-probe", "1")
    assert client.get("askproai:tls-probe") == b"1"


def test_a_certificate_the_trust_does_not_cover_is_refused(tls: TlsFiles, tls_port: int, tmp_path: Path) -> None:
    other_ca = make_tls_files(tmp_path / "other", name="someone-else").ca
    for trust in (None, other_ca):  # the system's trust store, then another CA
        with pytest.raises(redis.ConnectionError, match=r"CERTIFICATE_VERIFY_FAILED|certificate verify failed"):
            clients.redis_client(settings(tls_port, trust), 2.0).ping()
    outcome = RedisCheck(settings(tls_port, other_ca)).run(2.0)
    assert outcome.status != OK and "Redis connection failed" in outcome.message


def test_plain_redis_is_not_spoken_to_a_tls_port(tls_port: int) -> None:
    plain = clients.redis_client(RedisSettings.from_env({"REDIS_URL": f"redis://127.0.0.1:{tls_port}/0"}), 1.0)
    with pytest.raises(redis.RedisError):
        plain.ping()


def test_every_fresh_client_connects(tls: TlsFiles, tls_port: int) -> None:
    # A cold start builds a new client: none may trip over the server's post-handshake TLS records.
    answered = 0
    for _ in range(30):
        client = clients.redis_client(settings(tls_port, tls.ca), 2.0)
        answered += bool(client.ping())
        client.close()
    assert answered == 30
