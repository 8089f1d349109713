"""Real servers shared by the component, end-to-end, localdev and artifact tests: MariaDB and Redis (this
machine's), moto server and localstripe (started here on free ports). And the session's
self-containment check: reading anything beside the repository fails it (tests/support/outside_reads.py).
And the session's AWS call log: every moto server started here appends each request to AWS_CALL_LOG,
which tests/e2e/test_least_privilege.py (moved to the end of the session) checks against the roles."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pymysql
import pytest
from platform_monitoring.core.settings import LOG_CHANNELS
from platform_monitoring.observability.logging import channels

from tests.support import iam
from tests.support.local_stack import AwsEmulator, aws_emulator, localstripe
from tests.support.outside_reads import OutsideReads

OUTSIDE_READS = OutsideReads.install(Path(__file__).resolve().parents[1])
# This session's moto requests (one JSON line each) and, at its end, what each function called.
# TEST_AWS_CALL_LOG: another file, for two sessions at once in one checkout.
AWS_CALL_LOG = Path(
    os.environ.get("TEST_AWS_CALL_LOG")
    or Path(__file__).resolve().parents[1] / ".local" / "aws-calls" / "session.jsonl"
)
LEAST_PRIVILEGE = "tests/e2e/test_least_privilege.py"
COLLECTED_FILES = pytest.StashKey[set[str]]()
# `make test` runs two sessions at once (tests/e2e, and the rest), each with its own call log, then the
# least-privilege check alone on both: TEST_AWS_CALL_LOGS_OF names the earlier sessions' logs, which
# this session judges (with the test files each of them ran, written beside each log).
EARLIER_CALL_LOGS = [Path(path) for path in os.environ.get("TEST_AWS_CALL_LOGS_OF", "").split()]


def _files_of(call_log: Path) -> Path:
    return call_log.with_suffix(".files")


def pytest_configure(config: pytest.Config) -> None:
    config.pluginmanager.register(OUTSIDE_READS, "outside-reads")
    AWS_CALL_LOG.parent.mkdir(parents=True, exist_ok=True)
    AWS_CALL_LOG.write_bytes(b"".join(log.read_bytes() for log in EARLIER_CALL_LOGS))
    os.environ["LOCAL_AWS_CALL_LOG"] = str(AWS_CALL_LOG)  # inherited by every moto server this session starts


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The least-privilege check judges the calls of every test before it: it runs last."""
    last = [item for item in items if item.nodeid.startswith(LEAST_PRIVILEGE)]
    items[:] = [item for item in items if not item.nodeid.startswith(LEAST_PRIVILEGE)] + last
    files = {item.nodeid.split("::", 1)[0] for item in items}
    _files_of(AWS_CALL_LOG).write_text("".join(f"{name}\n" for name in sorted(files)), encoding="utf-8")
    for log in EARLIER_CALL_LOGS:
        files |= set(_files_of(log).read_text(encoding="utf-8").split())
    config.stash[COLLECTED_FILES] = files


@pytest.fixture(scope="session")
def collected_files(request: pytest.FixtureRequest) -> set[str]:
    """The test files of this session and of the earlier sessions it judges (their node ids' paths),
    for checks that need the whole suite."""
    return request.config.stash.get(COLLECTED_FILES, set())


def pytest_sessionfinish(session: pytest.Session) -> None:
    if AWS_CALL_LOG.exists():
        report = iam.summary(iam.read_call_log(AWS_CALL_LOG))
        AWS_CALL_LOG.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n")


MYSQL_PORT = 3306
REDIS_PORT = 6379
# The machine's Redis databases, so that the two sessions of `make test` never share one: tests/e2e
# uses 1, 2, 4, 5, 6, 7, 9-14; every other test 0 (redis_url below), 8 and its own redis-servers;
# make sam-local beside them 3. tests/unit/architecture/test_test_databases.py checks the split.


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
