"""The edge updater against moto server's WAFv2 and DynamoDB (over HTTP): the template's IP sets
track the blocks table through blocks, unblocks, expiry, a full set and two updaters racing."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import pytest
from platform_monitoring.security.addresses import STRIPE_WEBHOOK_IPS, Allowlist
from platform_monitoring.security.edge import IPV4, IPV6, EdgeUpdater, IpSetRef, Pacer, WafIpSet, cidr
from platform_monitoring.security.monitor import SecurityMonitor
from platform_monitoring.security.rules import Block
from platform_monitoring.security.stores import DynamoBlockStore

from tests.support.clock import Clock, SleepRecorder
from tests.support.local_stack import AwsEmulator, aws_emulator

pytestmark = pytest.mark.integration

OPERATOR = "192.0.2.0/28"  # the operator's Prometheus and uptime checker
ALLOWLIST = Allowlist([*STRIPE_WEBHOOK_IPS, OPERATOR])
SETS = {
    ("blocked", IPV4): "EdgeBlockedIpv4Set",
    ("blocked", IPV6): "EdgeBlockedIpv6Set",
    ("allowed", IPV4): "EdgeAllowedIpv4Set",
    ("allowed", IPV6): "EdgeAllowedIpv6Set",
}


@pytest.fixture(scope="module")
def emulator() -> Iterator[AwsEmulator]:
    with aws_emulator(ses_identities=()) as running:
        yield running


@pytest.fixture
def aws(emulator: AwsEmulator) -> AwsEmulator:
    emulator.reset()  # empty tables, the template's IP sets empty again
    return emulator


def store(aws: AwsEmulator) -> DynamoBlockStore:
    return DynamoBlockStore(
        aws.client("dynamodb"),
        aws.resources["SecurityBlocksTable"]["TableName"],
        aws.resources["SecurityWindowsTable"]["TableName"],
    )


def updater(
    aws: AwsEmulator, clock: Clock, waf: Any = None, pacer: Pacer | None = None, limit: int = 10_000
) -> EdgeUpdater:
    client = waf or aws.client("wafv2")
    pacer = pacer or Pacer(sleep=lambda _: None)

    def ip_set(kind: str, version: str) -> WafIpSet:
        return WafIpSet(client, IpSetRef.parse(aws.resources[SETS[kind, version]]["Ref"], version), pacer)

    return EdgeUpdater(
        store(aws),
        blocked={IPV4: ip_set("blocked", IPV4), IPV6: ip_set("blocked", IPV6)},
        allowed={IPV4: ip_set("allowed", IPV4), IPV6: ip_set("allowed", IPV6)},
        allowlist=ALLOWLIST,
        limit=limit,
        clock=clock,
    )


def contents(aws: AwsEmulator, kind: str, version: str) -> set[str]:
    name, set_id, scope = aws.resources[SETS[kind, version]]["Ref"].split("|")
    return set(aws.client("wafv2").get_ip_set(Name=name, Scope=scope, Id=set_id)["IPSet"]["Addresses"])


def monitor(aws: AwsEmulator, clock: Clock) -> SecurityMonitor:
    return SecurityMonitor(store(aws), allowlist=ALLOWLIST, clock=clock)


def test_blocks_and_unblocks_reach_the_ip_sets_and_the_allowlist_never_does(aws: AwsEmulator) -> None:
    clock = Clock()
    security = monitor(aws, clock)
    # Given: two IPv4 and one IPv6 block, and a block of a Stripe address written before it was allowlisted
    for ip in ("203.0.113.7", "198.51.100.23", "2001:db8::bad"):
        security.block(ip, reason="test", decided_by="api:test")
    stripe = STRIPE_WEBHOOK_IPS[0]
    now = security.now_ms()
    assert store(aws).put_block(Block(stripe, now + 3_600_000, now, "old", "api:x"), None, now, 0, force=False)

    # When: the updater runs
    report = updater(aws, clock).sync()

    # Then: the blocked sets hold the blocks, the allowlist sets Stripe and the operator
    assert contents(aws, "blocked", IPV4) == {"203.0.113.7/32", "198.51.100.23/32"}
    assert contents(aws, "blocked", IPV6) == {"2001:db8::bad/128"}
    assert contents(aws, "allowed", IPV4) == {cidr(ip) for ip in STRIPE_WEBHOOK_IPS} | {OPERATOR}
    assert contents(aws, "allowed", IPV6) == set()
    assert report.blocked == {"ipv4": 2, "ipv6": 1}
    assert report.left_out == {"ipv4": 0, "ipv6": 0}

    # When: one address is unblocked and the updater runs again
    security.unblock("203.0.113.7", by="api:alice")
    second = updater(aws, clock).sync()

    # Then: it left the set; only the set that changed was written
    assert contents(aws, "blocked", IPV4) == {"198.51.100.23/32"}
    assert second.changed == [aws.resources["EdgeBlockedIpv4Set"]["Ref"].split("|")[0]]


def test_an_expired_block_leaves_the_set_at_the_next_sweep(aws: AwsEmulator) -> None:
    clock = Clock()
    security = monitor(aws, clock)
    security.block("203.0.113.50", reason="short", decided_by="api:test", duration_seconds=60)
    security.block("203.0.113.51", reason="long", decided_by="api:test", duration_seconds=3600)
    updater(aws, clock).sync()
    assert contents(aws, "blocked", IPV4) == {"203.0.113.50/32", "203.0.113.51/32"}

    clock.advance(61)  # the minute's schedule runs after the short block ended
    updater(aws, clock).sync()

    assert contents(aws, "blocked", IPV4) == {"203.0.113.51/32"}


def test_past_the_sets_limit_the_longest_blocks_stay_and_the_rest_is_reported(aws: AwsEmulator) -> None:
    clock = Clock()
    security = monitor(aws, clock)
    for n in range(1, 6):
        security.block(f"203.0.113.{n}", reason="flood", decided_by="api:test", duration_seconds=n * 600)

    report = updater(aws, clock, limit=3).sync()

    assert contents(aws, "blocked", IPV4) == {"203.0.113.3/32", "203.0.113.4/32", "203.0.113.5/32"}
    assert report.left_out == {"ipv4": 2, "ipv6": 0}


def test_two_updates_of_one_set_are_a_second_apart(aws: AwsEmulator) -> None:
    clock = Clock()
    security = monitor(aws, clock)
    pace = SleepRecorder()
    edge = updater(aws, clock, pacer=Pacer(1.0, clock=pace.clock, sleep=pace.sleep))
    security.block("203.0.113.60", reason="first", decided_by="api:test")
    edge.sync()
    security.block("203.0.113.61", reason="second", decided_by="api:test")
    edge.sync()  # at once: the pacer waits out WAF's second for the blocked IPv4 set only

    assert pace.slept == [pytest.approx(1.0)]
    assert contents(aws, "blocked", IPV4) == {"203.0.113.60/32", "203.0.113.61/32"}


class RacingWaf:
    """A WAF client whose first UpdateIPSet lets another updater run to the end first: the lock
    token this one holds is then stale, as when two writers read the set at the same moment."""

    def __init__(self, client: Any, meanwhile: Any) -> None:
        self.client = client
        self.meanwhile = meanwhile
        self.conflicts: list[str] = []

    def get_ip_set(self, **kwargs: Any) -> Mapping[str, Any]:
        answer: Mapping[str, Any] = self.client.get_ip_set(**kwargs)
        return answer

    def update_ip_set(self, *, Addresses: Sequence[str], **kwargs: Any) -> Mapping[str, Any]:
        if self.meanwhile is not None:
            run, self.meanwhile = self.meanwhile, None
            run()
        try:
            answer: Mapping[str, Any] = self.client.update_ip_set(Addresses=Addresses, **kwargs)
        except self.client.exceptions.WAFOptimisticLockException:
            self.conflicts.append(kwargs["Name"])
            raise
        return answer


def test_two_updaters_racing_retry_the_stale_lock_token_and_the_set_ends_as_the_table(aws: AwsEmulator) -> None:
    clock = Clock()
    security = monitor(aws, clock)
    security.block("203.0.113.70", reason="first", decided_by="api:test")

    def other_updater_after_a_new_block() -> None:
        security.block("203.0.113.71", reason="meanwhile", decided_by="api:test")
        updater(aws, clock).sync()

    racing = RacingWaf(aws.client("wafv2"), other_updater_after_a_new_block)

    # When: updater A read the set and the table, then B blocked, synced and changed the lock token
    report = updater(aws, clock, waf=racing).sync()

    # Then: A's update met a stale token, A read the set and the table again, and the set is the table's
    assert racing.conflicts == [aws.resources["EdgeBlockedIpv4Set"]["Ref"].split("|")[0]]
    assert report.retries == 1
    assert contents(aws, "blocked", IPV4) == {"203.0.113.70/32", "203.0.113.71/32"}


def test_updaters_started_together_leave_every_set_as_the_table(aws: AwsEmulator) -> None:
    clock = Clock()
    security = monitor(aws, clock)
    for n in range(10):
        security.block(f"198.51.100.{n}", reason="flood", decided_by="api:test")
        security.block(f"2001:db8::{n:x}", reason="flood", decided_by="api:test")
    start = threading.Barrier(3)
    errors: list[BaseException] = []

    def run() -> None:
        edge = updater(aws, clock)
        start.wait()
        try:
            edge.sync()
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    assert contents(aws, "blocked", IPV4) == {f"198.51.100.{n}/32" for n in range(10)}
    assert contents(aws, "blocked", IPV6) == {cidr(f"2001:db8::{n:x}") for n in range(10)}
