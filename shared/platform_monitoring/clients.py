"""Connections to the outside services, built from settings, with explicit timeouts.

Logic receives these (or fakes of them) instead of building clients itself.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

from platform_monitoring.settings import DatabaseSettings, RedisSettings, StripeSettings

if TYPE_CHECKING:
    import pymysql.connections
    import redis
    import stripe
    from mypy_boto3_sqs import SQSClient


def mysql_connection(settings: DatabaseSettings, timeout: float) -> pymysql.connections.Connection[Any]:
    import pymysql  # noqa: PLC0415 - functions that never touch MySQL skip the import

    return pymysql.connect(
        host=settings.host,
        port=settings.port,
        user=settings.username,
        password=settings.password.reveal() or "",
        database=settings.database,
        connect_timeout=timeout,
        read_timeout=timeout,
        write_timeout=timeout,
        autocommit=True,
        charset="utf8mb4",
    )


def redis_client(settings: RedisSettings, timeout: float) -> redis.Redis:
    import redis  # noqa: PLC0415
    from redis.backoff import NoBackoff  # noqa: PLC0415
    from redis.retry import Retry  # noqa: PLC0415

    return redis.Redis.from_url(
        settings.url.reveal() or "",
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        # redis-py retries three times by default, which would triple a hung server's cost.
        retry=Retry(NoBackoff(), 0),
    )


def stripe_client(settings: StripeSettings, timeout: float) -> stripe.StripeClient:
    import stripe  # noqa: PLC0415

    base = {"api": settings.api_base} if settings.api_base else {}
    return stripe.StripeClient(
        settings.secret_key.reveal() or "",
        base_addresses=base,  # type: ignore[arg-type]
        max_network_retries=0,
        http_client=stripe.RequestsClient(timeout=timeout),
    )


@functools.lru_cache(maxsize=8)
def sqs_client(timeout: float) -> SQSClient:
    import boto3  # noqa: PLC0415
    from botocore.config import Config  # noqa: PLC0415

    # AWS_ENDPOINT_URL (boto3's own setting) points every client at moto server locally.
    config = Config(connect_timeout=timeout, read_timeout=timeout, retries={"max_attempts": 1, "mode": "standard"})
    return boto3.client("sqs", config=config)


def preload_health_clients() -> None:
    """Import the health checks' client libraries during the init phase (cold start), so the
    first request's check timeouts are not spent importing stripe and boto3."""
    import boto3  # noqa: F401, PLC0415
    import pymysql  # noqa: F401, PLC0415
    import redis  # noqa: F401, PLC0415
    import stripe  # noqa: F401, PLC0415
