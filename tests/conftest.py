"""Real servers shared by the component, end-to-end, localdev and artifact tests: MariaDB and Redis (this
machine's), moto server and localstripe (started here on free ports). And the session's
self-containment check: reading anything beside the repository fails it (tests/support/outside_reads.py)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pymysql
import pytest
from platform_monitoring.core.settings import LOG_CHANNELS
from platform_monitoring.observability.logging import channels

from tests.support.local_stack import AwsEmulator, aws_emulator, localstripe
from tests.support.outside_reads import OutsideReads

OUTSIDE_READS = OutsideReads.install(Path(__file__).resolve().parents[1])


def pytest_configure(config: pytest.Config) -> None:
    config.pluginmanager.register(OUTSIDE_READS, "outside-reads")


MYSQL_PORT = 3306
REDIS_PORT = 6379


@pytest.fixture(scope="session")
def mysql_port() -> int:
    connection = pymysql.connect(host="127.0.0.1", port=MYSQL_PORT, user="root", password="")
    with connection.cursor() as cursor:
        cursor.execute("CREATE DATABASE IF NOT EXISTS test")
    connection.close()
    return MYSQL_PORT


@pytest.fixture(scope="session")
def redis_port() -> int:
    return REDIS_PORT


@pytest.fixture(scope="session")
def redis_url(redis_port: int) -> str:
    return f"redis://127.0.0.1:{redis_port}/0"


@pytest.fixture(scope="session")
def aws() -> Iterator[AwsEmulator]:
    with aws_emulator() as emulator:
        yield emulator


@pytest.fixture(scope="session")
def aws_resources(aws: AwsEmulator) -> dict[str, dict[str, str]]:
    return dict(aws.resources)


@pytest.fixture(scope="session")
def sqs_client(aws: AwsEmulator) -> Any:
    return aws.client("sqs")


@pytest.fixture(scope="session")
def localstripe_url() -> Iterator[str]:
    with localstripe() as stripe:
        yield stripe.url


# The log channels' levels as the library sets them; each test starts from these.
CHANNEL_LEVELS = {name: logging.getLevelName(channels[name].log_level) for name in LOG_CHANNELS}


@pytest.fixture(autouse=True)
def channel_levels_restored() -> Iterator[None]:
    """A test or a fixture (tests/support/event_costs.py quietens every channel) may change the
    channels' levels; the next test finds them as the library set them."""
    channels.set_levels(CHANNEL_LEVELS)
    yield
