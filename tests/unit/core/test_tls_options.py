"""TLS to MySQL and Redis is configured once (DatabaseSettings, RedisSettings, core/clients.py) and
reaches every client constructor: the health checks, the metric store, security_logs, the CLI and
migrate all build theirs through `mysql_connection` / `mysql_ssl` and `redis_client`."""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

import pymysql
import pytest
import redis
from platform_monitoring.core import clients
from platform_monitoring.core.config import ConfigurationError
from platform_monitoring.core.settings import DatabaseSettings, RedisSettings
from platform_monitoring.observability.performance import mysql_connection
from platform_monitoring.tools import migrate

from tests.support.tls import TlsFiles, make_tls_files


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return make_tls_files(tmp_path_factory.mktemp("tls"))


class Connected(Exception):
    """Raised instead of opening the socket: the constructor got this far with these options."""


@pytest.fixture
def captured(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Every pymysql Connection built, stopped before it dials out; pymysql has made its SSL context by then."""
    built: list[Any] = []

    def connect(self: Any, sock: Any = None) -> None:
        built.append(self)
        raise Connected

    monkeypatch.setattr(pymysql.connections.Connection, "connect", connect)
    return built


def test_without_db_ssl_ca_tls_is_not_required(captured: list[Any]) -> None:
    settings = DatabaseSettings.from_env({})
    assert clients.mysql_ssl(settings) is None
    with pytest.raises(Connected):
        mysql_connection(settings, 1.0)
    # pymysql's own default: TLS when the server offers it, unverified, plain TCP otherwise
    assert captured[0]._ssl_required is False


def test_db_ssl_ca_reaches_every_mysql_constructor_verified(tls: TlsFiles, captured: list[Any]) -> None:
    settings = DatabaseSettings.from_env({"DB_SSL_CA": str(tls.ca)})
    with pytest.raises(Connected):
        mysql_connection(settings, 1.0)  # the health check, security_logs and the CLI
    with pytest.raises(Connected):
        migrate.migrate(settings, 1.0)  # the migrate CLI
    assert len(captured) == 2
    for connection in captured:
        context: ssl.SSLContext = connection.ctx
        assert connection._ssl_required is True  # a server without TLS is refused, not used in clear
        assert (context.verify_mode, context.check_hostname) == (ssl.CERT_REQUIRED, True)
        # the CA loaded is this one, not only the system's trust store
        assert {"commonName": "askproai-test-ca"} in [
            dict(entry[0] for entry in cert["subject"]) for cert in context.get_ca_certs()
        ]


def test_db_ssl_verify_false_keeps_tls_without_checks(tls: TlsFiles, captured: list[Any]) -> None:
    settings = DatabaseSettings.from_env({"DB_SSL_CA": str(tls.ca), "DB_SSL_VERIFY": "false"})
    with pytest.raises(Connected):
        mysql_connection(settings, 1.0)
    context: ssl.SSLContext = captured[0].ctx
    assert captured[0]._ssl_required is True
    assert (context.verify_mode, context.check_hostname) == (ssl.CERT_NONE, False)


def test_a_rediss_url_and_its_ca_reach_the_redis_client(tls: TlsFiles) -> None:
    settings = RedisSettings.from_env({"REDIS_URL": "rediss://cache.example:6380/2", "REDIS_SSL_CA": str(tls.ca)})
    pool = clients.redis_client(settings, 0.5).connection_pool
    assert pool.connection_class is redis.SSLConnection
    options = pool.connection_kwargs
    assert (options["ssl_ca_certs"], options.get("ssl_cert_reqs", "required")) == (str(tls.ca), "required")
    assert options.get("ssl_check_hostname", True) is True
    # rediss:// without a CA: TLS with the system's trust store; redis:// stays plain
    plain = clients.redis_client(RedisSettings.from_env({"REDIS_URL": "rediss://cache.example:6380/0"}), 0.5)
    assert plain.connection_pool.connection_class is redis.SSLConnection
    assert "ssl_ca_certs" not in plain.connection_pool.connection_kwargs
    assert clients.redis_client(RedisSettings.from_env({}), 0.5).connection_pool.connection_class is redis.Connection


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"DB_SSL_CA": "/nonexistent/rds-ca.pem"}, "DB_SSL_CA must name a PEM CA bundle file"),
        ({"REDIS_URL": "rediss://h:6380/0", "REDIS_SSL_CA": "/nonexistent/ca.pem"}, "REDIS_SSL_CA must name"),
        ({"DB_SSL_VERIFY": "maybe"}, "DB_SSL_VERIFY must be true or false"),
    ],
)
def test_tls_mistakes_stop_the_cold_start(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        DatabaseSettings.from_env(env) if "DB_" in next(iter(env)) else RedisSettings.from_env(env)


def test_a_redis_ca_without_a_rediss_url_is_refused(tls: TlsFiles, tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="not a rediss://"):
        RedisSettings.from_env({"REDIS_URL": "redis://127.0.0.1:6379/0", "REDIS_SSL_CA": str(tls.ca)})
