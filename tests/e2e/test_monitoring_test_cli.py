"""`monitoring-test` against a running local stack, as an operator runs it."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from localdev.stack import LocalStack
from tests.support.functions import ROOT
from tests.support.local_stack import local_stack

pytestmark = pytest.mark.integration

CLI = ROOT / ".venv" / "bin" / "monitoring-test"
SECRETS = {
    "HEALTH_CHECK_SECRET": "cli-health-secret",
    "METRICS_SECRET": "cli-metrics-secret",
    "EVENTS_SECRET": "cli-events-secret",
    "ALERTS_API_SECRET": "cli-alerts-secret",
    "ALERTS_ADMIN_SECRET": "cli-alerts-admin-secret",
}


@pytest.fixture(scope="module")
def stack(mysql_port: int) -> Iterator[LocalStack]:
    environ = {**os.environ, **SECRETS, "DB_DATABASE": "test", "REDIS_URL": "redis://127.0.0.1:6379/13"}
    with local_stack(environ=environ, schedules=False) as running:
        yield running


def run(stack: LocalStack, tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    # cwd without a .env, so only what is passed here counts
    environment = {"PATH": os.environ["PATH"], **SECRETS, **env}
    return subprocess.run(
        [CLI, *args, "--url", stack.api_url], cwd=tmp_path, env=environment, capture_output=True, text=True, timeout=120
    )


def in_process_env(stack: LocalStack, redis_db: int = 13) -> dict[str, str]:
    """What --performance needs to exercise PerformanceMonitor itself: the stack's metric store,
    its Stripe (localstripe) and the database."""
    return {
        "REDIS_URL": f"redis://127.0.0.1:6379/{redis_db}",
        "STRIPE_SECRET_KEY": "sk_test_cli",
        "STRIPE_API_BASE": stack.stripe_url,
        "DB_HOST": "127.0.0.1",
        "DB_DATABASE": "test",
        "DB_USERNAME": "root",
    }


def test_health_and_performance_pass_on_a_healthy_stack(stack: LocalStack, tmp_path: Path) -> None:
    result = run(stack, tmp_path, "--health", "--performance", **in_process_env(stack))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "health: passed" in result.stdout
    assert "PASS a request without the secret is refused (401)" in result.stdout
    assert "performance: passed" in result.stdout
    assert "a health request was counted" in result.stdout
    for recorded in (
        'the transaction was recorded: askproai_transaction_duration_ms_count{transaction="monitoring_test"} +1',
        'the slow transaction was recorded: askproai_slow_transactions_total{transaction="monitoring_test"} +1',
        'the API call was recorded: askproai_external_api_calls_total{service="stripe"} +1',
        "the slow query was recorded: askproai_slow_queries_total +1",
        "PASS the slow query was logged on the performance channel: SELECT SLEEP(?)",
    ):
        assert recorded in result.stdout


def test_performance_fails_when_its_records_do_not_reach_the_stacks_store(stack: LocalStack, tmp_path: Path) -> None:
    result = run(stack, tmp_path, "--performance", **in_process_env(stack, redis_db=12))
    assert result.returncode == 1
    assert "FAIL the slow query was recorded: askproai_slow_queries_total +0" in result.stdout


def test_a_wrong_secret_fails_with_exit_1(stack: LocalStack, tmp_path: Path) -> None:
    result = run(stack, tmp_path, "--health", HEALTH_CHECK_SECRET="wrong")
    assert result.returncode == 1
    assert "health: FAILED" in result.stdout


def test_an_unreachable_stack_fails(tmp_path: Path) -> None:
    environment = {"PATH": os.environ["PATH"], **SECRETS}
    result = subprocess.run(
        [CLI, "--health", "--url", "http://127.0.0.1:9"], cwd=tmp_path, env=environment, capture_output=True, text=True
    )
    assert result.returncode == 1
    assert "cannot reach" in result.stdout


def test_security_events_blocks_and_unblocks_end_to_end(stack: LocalStack, tmp_path: Path) -> None:
    result = run(stack, tmp_path, "--security")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "security: passed" in result.stdout
    assert 'the event was processed: askproai_security_events_total{type="api_key_usage"} +1' in result.stdout
    assert "PASS DELETE unblocks it (200)" in result.stdout


def test_manual_block_lookup_and_unblock(stack: LocalStack, tmp_path: Path) -> None:
    blocked = run(stack, tmp_path, "--security", "--block", "2001:DB8::9", "--hours", "2", "--reason", "scanner")
    assert blocked.returncode == 0, blocked.stdout + blocked.stderr
    assert "PASS 2001:db8::9: BLOCKED until" in blocked.stdout
    looked = run(stack, tmp_path, "--security", "--lookup", "2001:db8::9")
    assert "scanner; decided by api:" in looked.stdout
    ended = run(stack, tmp_path, "--security", "--unblock", "2001:db8::9")
    assert "PASS 2001:db8::9: not blocked" in ended.stdout
    missing = run(stack, tmp_path, "--security", "--lookup", "192.0.2.200")
    assert missing.returncode == 1
    assert "FAIL 404" in missing.stdout
