"""Failed authentication is a security event, end to end on the local stack: a scripted flood of
wrong secrets from one loopback address (127.0.0.61, which the local API Gateway reports as the
source IP) -> each 401 queues a failed_authentication event -> the processor counts the address's
window and blocks it -> IpGuardFunction answers 403 once the authorizer's cached Allow ends (the
template's 30 s, cut to 5 s in this stack so the wait is short).
Another address keeps its access throughout; the events are in security_logs and the metrics. Then
WafIpSetUpdaterFunction (its events/ sample, as the minute's schedule sends it) puts the block in the
template's WAF IP set in moto, and takes it out after an unblock."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
import redis
from platform_monitoring.observability.store import RedisMetricBackend
from platform_monitoring.security.rules import BlockingRules

from localdev.stack import LocalStack
from localdev.template import aws_client
from tests.support.functions import load_event
from tests.support.local_stack import local_stack
from tests.support.mysql import database_environment, drop_database, security_log_rows
from tests.support.stack_calls import api_call
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration

METRICS_SECRET = "failed-auth-metrics-secret"
ALERTS_SECRET = "failed-auth-alerts-secret"
ADMIN_SECRET = "failed-auth-alerts-admin-secret"  # blocks and unblocks
REDIS_URL = "redis://127.0.0.1:6379/6"
DATABASE = "askproai_failed_auth_test"
ATTACKER, OPERATOR = "127.0.0.61", "127.0.0.62"
RULE = BlockingRules().failed_authentications  # the template sets no override: the defaults apply
FLOOD_LIMIT_SECONDS = 150  # the block (seconds, more on a loaded machine) plus the authorizer's cache
# The template caches an Allow for 30 s; what the flood shows (refused once the cache ends) is the same
# with 5 s, and the suite waits 25 s less.
AUTHORIZER_TTL_SECONDS = 5


def short_authorizer_cache(template: dict[str, Any]) -> None:
    [api] = [r for r in template["Resources"].values() if r.get("Type") == "AWS::Serverless::Api"]
    for authorizer in api["Properties"]["Auth"]["Authorizers"].values():
        identity = authorizer.get("Identity") or {}
        assert identity.get("ReauthorizeEvery") == 30, identity  # the template's, which the docs state
        identity["ReauthorizeEvery"] = AUTHORIZER_TTL_SECONDS


@pytest.fixture(scope="module")
def stack(mysql_port: int) -> Iterator[LocalStack]:
    RedisMetricBackend(redis.Redis.from_url(REDIS_URL)).clear()
    drop_database(mysql_port, DATABASE)
    environ = {
        **{key: value for key, value in os.environ.items() if not key.startswith(("ALERT_", "SECURITY_"))},
        "METRICS_SECRET": METRICS_SECRET,
        "ALERTS_API_SECRET": ALERTS_SECRET,
        "ALERTS_ADMIN_SECRET": ADMIN_SECRET,
        "SECURITY_ALLOWLIST": "2001:db8:ffff::/48",  # an operator's IPv6 range: the allowlist's IPv6 set
        "REDIS_URL": REDIS_URL,
        **database_environment(mysql_port, DATABASE),
    }
    only = (
        "MetricsFunction",
        "IpGuardFunction",
        "SecurityEventsProcessorFunction",
        "SecurityApiFunction",
        "WafIpSetUpdaterFunction",
    )
    with local_stack(environ=environ, schedules=False, only=only, template_edit=short_authorizer_cache) as running:
        yield running


def scrape(stack: LocalStack, source: str, secret: str) -> int:
    return api_call(stack, "GET", "/api/metrics", headers={"X-Metrics-Secret": secret}, source=source)[0]


def counter(name: str) -> float:
    return sum(RedisMetricBackend(redis.Redis.from_url(REDIS_URL)).snapshot().get(name, {}).values())


# The flood waits out the authorizer's cache after the block; with the stack's start on a loaded
# machine that came near the suite's 120 s per test (with the template's 30 s cache).
@pytest.mark.timeout(300)
def test_a_flood_of_wrong_secrets_gets_its_address_blocked_while_another_keeps_access(
    stack: LocalStack, mysql_port: int
) -> None:
    assert scrape(stack, OPERATOR, METRICS_SECRET) == 200
    statuses: list[int] = []
    started, started_epoch = time.monotonic(), time.time()
    blocked_at: float | None = None
    # When: the attacker keeps guessing the metrics secret until the API refuses it outright
    while time.monotonic() - started < FLOOD_LIMIT_SECONDS:
        status = scrape(stack, ATTACKER, f"guess-{len(statuses)}")
        statuses.append(status)
        if status == 403:
            blocked_at = time.monotonic() - started
            break
        assert status == 401
        if len(statuses) % 20 == 0:  # the operator, meanwhile, is served as before
            assert scrape(stack, OPERATOR, METRICS_SECRET) == 200
        time.sleep(0.05)

    # Then: it was blocked by the failed-authentication rule, and stays refused, whatever it sends
    assert blocked_at is not None, f"not blocked after {len(statuses)} wrong secrets"
    status, answer = api_call(
        stack, "GET", f"/api/security/blocks/{ATTACKER}", headers={"X-Alerts-Secret": ALERTS_SECRET}
    )
    assert status == 200 and answer["block"]["blocked"], answer
    assert answer["block"]["decided_by"] == f"rule:{RULE.name}"
    assert scrape(stack, ATTACKER, METRICS_SECRET) == 403
    # the other address was never counted and keeps its access
    assert scrape(stack, OPERATOR, METRICS_SECRET) == 200
    assert (
        api_call(stack, "GET", f"/api/security/blocks/{OPERATOR}", headers={"X-Alerts-Secret": ALERTS_SECRET})[0] == 404
    )
    # visible in security_logs and the metrics
    rows = wait_until(
        lambda: len(r := security_log_rows(mysql_port, DATABASE, ATTACKER)) >= RULE.limit and r,
        timeout=60,
        message="the failed authentications did not reach security_logs",
    )
    assert {row["type"] for row in rows} == {"failed_authentication"}
    wait_until(lambda: counter("askproai_failed_authentications") >= RULE.limit, timeout=30)
    assert counter("askproai_blocked_ips") >= 1
    refused = statuses.count(401)
    written = datetime.fromisoformat(answer["block"]["blocked_at"].replace("Z", "+00:00")).timestamp() - started_epoch
    print(
        f"\nfailed authentication: {refused} wrong secrets answered 401; the block (at the {RULE.limit}th in the "
        f"window) written {written:.1f} s after the first, 403 from IpGuard {blocked_at:.1f} s after the first "
        f"(the authorizer's cached Allow lasts {AUTHORIZER_TTL_SECONDS} s here, 30 s as deployed)"
    )


def blocked_at_the_edge(stack: LocalStack, ip_set: str = "EdgeBlockedIpv4Set") -> set[str]:
    name, set_id, scope = stack.resources[ip_set]["Ref"].split("|")
    waf = aws_client("wafv2", stack.moto_url, stack.region)
    return set(waf.get_ip_set(Name=name, Scope=scope, Id=set_id)["IPSet"]["Addresses"])


def test_the_block_reaches_the_waf_ip_set_and_the_unblock_leaves_it(stack: LocalStack) -> None:
    headers = {"X-Alerts-Admin-Secret": ADMIN_SECRET, "Content-Type": "application/json"}
    for address in ("198.51.100.61", "2001:db8::61"):
        status, _ = api_call(stack, "PUT", f"/api/security/blocks/{address}", body=b"{}", headers=headers)
        assert status == 200
    result = stack.invoke("WafIpSetUpdaterFunction", load_event("waf_ip_set_updater.json"), timeout=60)
    assert result.ok, result.error
    assert result.payload["enabled"] is True
    assert "198.51.100.61/32" in blocked_at_the_edge(stack)
    assert "2001:db8::61/128" in blocked_at_the_edge(stack, "EdgeBlockedIpv6Set")
    # the operator's IPv6 range (SECURITY_ALLOWLIST) is in the allowlist set, evaluated before the blocks
    assert "2001:db8:ffff::/48" in blocked_at_the_edge(stack, "EdgeAllowedIpv6Set")

    status, _ = api_call(stack, "DELETE", "/api/security/blocks/198.51.100.61", body=b"{}", headers=headers)
    assert status == 200
    result = stack.invoke("WafIpSetUpdaterFunction", load_event("waf_ip_set_updater.json"), timeout=60)
    assert result.ok, result.error
    assert "198.51.100.61/32" not in blocked_at_the_edge(stack)
