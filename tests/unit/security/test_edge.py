"""The edge's set computation and pacing (security/edge.py); the sets in WAF: tests/component/test_waf_edge_moto.py."""

from __future__ import annotations

import pytest
from platform_monitoring.security.addresses import STRIPE_WEBHOOK_IPS, Allowlist
from platform_monitoring.security.edge import (
    IPV4,
    IPV6,
    IpSetRef,
    Pacer,
    allowlist_sets,
    blocked_sets,
    cidr,
)
from platform_monitoring.security.rules import Block

from tests.support.clock import SleepRecorder

NOW = 1_795_946_400_000


def block(ip: str, seconds_left: int) -> Block:
    return Block(ip, NOW + seconds_left * 1000, NOW - 1000, "test", "api:test")


def test_active_blocks_become_cidrs_per_ip_version_and_expired_ones_leave() -> None:
    blocks = [block("203.0.113.7", 60), block("2001:DB8::1", 60), block("198.51.100.1", 0), block("::ffff:10.0.0.1", 5)]
    sets = blocked_sets(blocks, NOW, Allowlist())
    assert sets.ipv4 == ("10.0.0.1/32", "203.0.113.7/32")  # 198.51.100.1's block ends now: gone
    assert sets.ipv6 == ("2001:db8::1/128",)
    assert sets.left_out == {IPV4: 0, IPV6: 0}


def test_allowlisted_addresses_never_reach_the_blocked_sets() -> None:
    blocks = [block(STRIPE_WEBHOOK_IPS[0], 60), block("192.0.2.10", 60), block("192.0.2.200", 60)]
    sets = blocked_sets(blocks, NOW, Allowlist([STRIPE_WEBHOOK_IPS[0], "192.0.2.0/25"]))
    assert sets.ipv4 == ("192.0.2.200/32",)


def test_past_the_limit_the_longest_blocks_stay_and_the_rest_is_counted() -> None:
    blocks = [block(f"203.0.113.{n}", n * 60) for n in range(1, 8)]
    sets = blocked_sets(blocks, NOW, Allowlist(), limit=3)
    assert sets.ipv4 == ("203.0.113.5/32", "203.0.113.6/32", "203.0.113.7/32")
    assert sets.left_out[IPV4] == 4


def test_the_allowlist_sets_hold_stripe_and_the_operators_ranges() -> None:
    sets = allowlist_sets(Allowlist([*STRIPE_WEBHOOK_IPS, "10.20.0.0/16", "2001:db8:ff::/48"]))
    assert set(sets[IPV4]) == {cidr(ip) for ip in STRIPE_WEBHOOK_IPS} | {"10.20.0.0/16"}
    assert sets[IPV6] == ("2001:db8:ff::/48",)


def test_a_set_reference_is_cloudformations_name_id_scope() -> None:
    ref = IpSetRef.parse("askproai-blocked-ipv4-dev|a1b2c3|REGIONAL", IPV4)
    assert (ref.name, ref.id, ref.scope, ref.version) == ("askproai-blocked-ipv4-dev", "a1b2c3", "REGIONAL", IPV4)
    for wrong in ("", "name|id", "name|id|GLOBAL", "||REGIONAL"):
        with pytest.raises(ValueError, match="not a WAF IP set reference"):
            IpSetRef.parse(wrong, IPV4)


def test_the_pacer_keeps_one_second_between_two_updates_of_a_set_but_not_across_sets() -> None:
    time = SleepRecorder(now=100.0)
    pacer = Pacer(1.0, clock=time.clock, sleep=time.sleep)
    pacer.wait("a")
    pacer.done("a")
    time.now += 0.25
    pacer.wait("b")  # another set: no wait
    pacer.done("b")
    pacer.wait("a")  # the same set 0.25 s later: waits the rest of the second
    pacer.done("a")
    time.now += 5
    pacer.wait("a")  # long after: no wait
    assert time.slept == [pytest.approx(0.75)]
