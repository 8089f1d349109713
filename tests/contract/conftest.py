"""Each store fixture has two parameters: `fake` (tests/support/fakes.py) and `real` (the library's
store on moto server's tables and topic from template.yaml, or on Redis), the latter marked
`integration`. Real servers are only reached when a `real` case runs (`-k fake` needs none).

The moto server is the session's (`aws` in tests/conftest.py), shared with other suites: every
test writes under IDs of its own (harness.unique) and reads back only what it wrote. The metric
store's keys have one fixed prefix, so the real metric backend gets a Redis database no other
suite uses (METRIC_DB), emptied of the store's own keys before and after each test.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterator
from typing import Any

import pytest
from platform_monitoring.alerting.delivery.records import DeliveryStore
from platform_monitoring.observability.store import MetricBackend
from platform_monitoring.security.stores import BlockStore
from platform_monitoring.webhooks.card_testing import CardTestingWindow
from platform_monitoring.webhooks.reconciliation import CheckpointStore

from tests.contract.harness import (
    AlertStoreHarness,
    PublisherHarness,
    dynamo_alert_store,
    fake_alert_store,
    fake_publisher,
    sns_publisher,
)
from tests.support.card_testing import InMemoryCardTestingWindow
from tests.support.fakes import InMemoryBlockStore, InMemoryDeliveryStore, InMemoryMetricBackend
from tests.support.reconciliation import InMemoryCheckpointStore

IMPLEMENTATIONS = [pytest.param("fake", id="fake"), pytest.param("real", id="real", marks=pytest.mark.integration)]
METRIC_DB = 3  # databases 0-2, 5-7 and 9-15 belong to other suites, `make local` and the benches


@pytest.fixture(params=IMPLEMENTATIONS)
def implementation(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def alert_store(implementation: str, request: pytest.FixtureRequest) -> AlertStoreHarness:
    if implementation == "fake":
        return fake_alert_store()
    return dynamo_alert_store(request.getfixturevalue("aws"))


@pytest.fixture
def block_store(implementation: str, request: pytest.FixtureRequest) -> BlockStore:
    if implementation == "fake":
        return InMemoryBlockStore()
    from platform_monitoring.security.stores import DynamoBlockStore

    aws = request.getfixturevalue("aws")
    return DynamoBlockStore(
        aws.client("dynamodb"),
        aws.resources["SecurityBlocksTable"]["Ref"],
        aws.resources["SecurityWindowsTable"]["Ref"],
    )


@pytest.fixture
def delivery_store(implementation: str, request: pytest.FixtureRequest) -> DeliveryStore:
    if implementation == "fake":
        return InMemoryDeliveryStore()
    from platform_monitoring.alerting.delivery.records import DynamoDeliveryStore

    aws = request.getfixturevalue("aws")
    return DynamoDeliveryStore(aws.client("dynamodb"), aws.resources["AlertDeliveriesTable"]["Ref"])


@pytest.fixture
def publisher(implementation: str, request: pytest.FixtureRequest) -> PublisherHarness:
    if implementation == "fake":
        return fake_publisher()
    return sns_publisher(request.getfixturevalue("aws"))


def metric_db_url(redis_url: str) -> str:
    """redis_url (the machine's Redis) with database METRIC_DB."""
    return urllib.parse.urlsplit(redis_url)._replace(path=f"/{METRIC_DB}").geturl()


@pytest.fixture
def metric_backend(implementation: str, request: pytest.FixtureRequest) -> Iterator[MetricBackend]:
    if implementation == "fake":
        yield InMemoryMetricBackend()
        return
    import redis
    from platform_monitoring.observability.store import RedisMetricBackend

    client: Any = redis.Redis.from_url(metric_db_url(request.getfixturevalue("redis_url")))
    backend = RedisMetricBackend(client)
    backend.clear()  # the store's own keys, nothing else in the database
    yield backend
    backend.clear()
    client.close()


@pytest.fixture
def checkpoint_store(implementation: str, request: pytest.FixtureRequest) -> CheckpointStore:
    if implementation == "fake":
        return InMemoryCheckpointStore()
    from platform_monitoring.webhooks.reconciliation import DynamoCheckpointStore

    aws = request.getfixturevalue("aws")
    return DynamoCheckpointStore(aws.client("dynamodb"), aws.resources["StripeReconciliationTable"]["Ref"])


@pytest.fixture
def card_testing_window(implementation: str, request: pytest.FixtureRequest) -> Iterator[CardTestingWindow]:
    if implementation == "fake":
        yield InMemoryCardTestingWindow()
        return
    import redis
    from platform_monitoring.webhooks.card_testing import KEY_PREFIX, RedisCardTestingWindow

    client: Any = redis.Redis.from_url(metric_db_url(request.getfixturevalue("redis_url")))

    def clear() -> None:  # the window's own keys only (the metric suite shares the database)
        keys = list(client.scan_iter(match=f"{KEY_PREFIX}:*", count=1000))
        if keys:
            client.delete(*keys)

    clear()
    yield RedisCardTestingWindow(client)
    clear()
    client.close()
