"""BlockStore (security.stores): InMemoryBlockStore and DynamoBlockStore on SecurityBlocksTable
and SecurityWindowsTable, one suite.

An event is recorded in all of its rule windows or in none (a redelivery returns False and counts
nothing); a window counts from `since_ms` on, per rule and IP; a block is written only when none
is active (or forced) and the block the caller read is still the one stored; ending a block ends
only an active one.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from platform_monitoring.security.events import FAILED_LOGIN, RATE_LIMIT_VIOLATION, SUSPICIOUS_ACTIVITY, SecurityEvent
from platform_monitoring.security.rules import DAY, Block, BlockingRules
from platform_monitoring.security.stores import BlockStore

from tests.contract.harness import RACERS, T0_MS, race, unique

RULES = BlockingRules()
FAILED_LOGINS, SECURITY_EVENTS, RATE_LIMIT = RULES.failed_logins, RULES.security_events, RULES.rate_limit
EXPIRES = T0_MS // 1000 + DAY
HOUR_MS = 3_600_000


def address() -> str:
    """An IP no other test uses: 10.x.y.z from a fresh random ID."""
    value = int(unique("ip").rsplit("-", 1)[1][:6], 16)
    return f"10.{value >> 16 & 255}.{value >> 8 & 255}.{value & 255}"


def event(ip: str, at_ms: int = T0_MS, kind: str = FAILED_LOGIN, event_id: str | None = None) -> SecurityEvent:
    return SecurityEvent(event_id or unique("evt"), kind, ip, datetime.fromtimestamp(at_ms / 1000, UTC))


def block(ip: str, blocked_at: int = T0_MS, hours: int = 24, **changes: object) -> Block:
    values: dict[str, object] = {
        "ip": ip,
        "until_ms": blocked_at + hours * HOUR_MS,
        "blocked_at_ms": blocked_at,
        "reason": "failed_logins: 5 in 15 min (limit 5)",
        "decided_by": "rule:failed_logins",
        "offences": 1,
        "duration_seconds": hours * 3600,
    }
    values.update(changes)
    return Block(**values)  # type: ignore[arg-type]


# --- windows -----------------------------------------------------------------------------------


def test_an_event_is_counted_once_in_each_of_its_windows(block_store: BlockStore) -> None:
    ip = address()
    first = event(ip, kind=FAILED_LOGIN)
    rules = RULES.applicable(FAILED_LOGIN)
    assert rules == (FAILED_LOGINS, SECURITY_EVENTS)
    assert block_store.add_occurrences(first, rules, EXPIRES)
    assert not block_store.add_occurrences(first, rules, EXPIRES)  # the redelivery
    assert block_store.add_occurrences(event(ip, T0_MS + 1), rules, EXPIRES)
    assert block_store.count(FAILED_LOGINS, ip, T0_MS - 1) == 2
    assert block_store.count(SECURITY_EVENTS, ip, T0_MS - 1) == 2
    assert block_store.count(RATE_LIMIT, ip, T0_MS - 1) == 0


def test_a_window_counts_from_since_on_per_rule_and_ip(block_store: BlockStore) -> None:
    ip, other = address(), address()
    for at in (T0_MS - HOUR_MS, T0_MS, T0_MS + 1000):
        assert block_store.add_occurrences(event(ip, at), (FAILED_LOGINS,), EXPIRES)
    assert block_store.add_occurrences(event(other, T0_MS + 1000), (FAILED_LOGINS,), EXPIRES)
    assert block_store.count(FAILED_LOGINS, ip, T0_MS - HOUR_MS - 1) == 3
    assert block_store.count(FAILED_LOGINS, ip, T0_MS) == 2  # an event at since_ms counts
    assert block_store.count(FAILED_LOGINS, ip, T0_MS + 1) == 1
    assert block_store.count(FAILED_LOGINS, ip, T0_MS + 1001) == 0
    assert block_store.count(SECURITY_EVENTS, ip, 0) == 0
    assert block_store.count(FAILED_LOGINS, address(), 0) == 0


def test_an_event_already_in_one_window_is_written_to_none(block_store: BlockStore) -> None:
    ip = address()
    seen = event(ip, kind=FAILED_LOGIN)
    assert block_store.add_occurrences(seen, (FAILED_LOGINS,), EXPIRES)
    assert not block_store.add_occurrences(seen, (FAILED_LOGINS, SECURITY_EVENTS), EXPIRES)  # all or nothing
    assert block_store.count(FAILED_LOGINS, ip, 0) == 1
    assert block_store.count(SECURITY_EVENTS, ip, 0) == 0


def test_an_event_without_windows_is_still_recognised_when_redelivered(block_store: BlockStore) -> None:
    ip = address()
    allowlisted = event(ip, kind=SUSPICIOUS_ACTIVITY)
    assert block_store.add_occurrences(allowlisted, (), EXPIRES)
    assert not block_store.add_occurrences(allowlisted, (), EXPIRES)
    assert all(block_store.count(rule, ip, 0) == 0 for rule in RULES.windows)
    block_store.remove_occurrences(allowlisted, ())
    assert block_store.add_occurrences(allowlisted, (), EXPIRES)


def test_removed_occurrences_count_as_new_again(block_store: BlockStore) -> None:
    ip = address()
    limited = event(ip, kind=RATE_LIMIT_VIOLATION)
    rules = RULES.applicable(RATE_LIMIT_VIOLATION)
    assert block_store.add_occurrences(limited, rules, EXPIRES)
    block_store.remove_occurrences(limited, rules)
    assert block_store.count(RATE_LIMIT, ip, 0) == 0
    assert block_store.add_occurrences(limited, rules, EXPIRES)  # its redelivery is its first delivery
    assert block_store.count(RATE_LIMIT, ip, 0) == 1
    block_store.remove_occurrences(event(ip), rules)  # removing what was never added is no error
    assert block_store.count(RATE_LIMIT, ip, 0) == 1


def test_concurrent_deliveries_of_one_event_count_once(block_store: BlockStore) -> None:
    ip = address()
    delivered = event(ip)
    rules = (FAILED_LOGINS, SECURITY_EVENTS)
    results = race(RACERS, lambda _: block_store.add_occurrences(delivered, rules, EXPIRES))
    assert sorted(results, key=str) == [False] * (RACERS - 1) + [True]
    assert block_store.count(FAILED_LOGINS, ip, 0) == block_store.count(SECURITY_EVENTS, ip, 0) == 1


def test_concurrent_single_window_deliveries_count_once(block_store: BlockStore) -> None:
    ip = address()
    delivered = event(ip, kind=RATE_LIMIT_VIOLATION)
    results = race(RACERS, lambda _: block_store.add_occurrences(delivered, (RATE_LIMIT,), EXPIRES))
    assert sorted(results, key=str) == [False] * (RACERS - 1) + [True]
    assert block_store.count(RATE_LIMIT, ip, 0) == 1


# --- blocks ------------------------------------------------------------------------------------


def test_a_new_block_is_written_once(block_store: BlockStore) -> None:
    ip = address()
    assert block_store.get(ip) is None
    first = block(ip)
    assert block_store.put_block(first, None, T0_MS, EXPIRES, force=False)
    assert block_store.get(ip) == first
    # "none there" is stale now: refused, forced or not
    assert not block_store.put_block(block(ip, reason="second"), None, T0_MS, EXPIRES, force=False)
    assert not block_store.put_block(block(ip, reason="forced"), None, T0_MS, EXPIRES, force=True)
    assert block_store.get(ip) == first


def test_a_block_is_stored_as_decided_never_as_unblocked(block_store: BlockStore) -> None:
    """put_block stores the decision (who, why, how long); the unblocking fields are end_block's,
    and a missing offence count or duration reads back as the defaults (1, a day)."""
    ip = address()
    written = block(ip, reason="", offences=0, duration_seconds=0, unblocked_at_ms=T0_MS, unblocked_by="api:ops")
    assert block_store.put_block(written, None, T0_MS, EXPIRES, force=False)
    assert block_store.get(ip) == replace(
        written, offences=1, duration_seconds=DAY, unblocked_at_ms=None, unblocked_by=None
    )


def test_an_active_block_is_only_replaced_when_forced(block_store: BlockStore) -> None:
    ip = address()
    first = block(ip)
    assert block_store.put_block(first, None, T0_MS, EXPIRES, force=False)
    now = T0_MS + HOUR_MS
    assert not block_store.put_block(block(ip, now, reason="rule"), first, now, EXPIRES, force=False)
    assert block_store.get(ip) == first
    manual = block(ip, now, hours=48, reason="manual", decided_by="api:ops", offences=2)
    assert block_store.put_block(manual, first, now, EXPIRES, force=True)
    assert block_store.get(ip) == manual


def test_an_expired_block_is_replaced_by_the_next_one(block_store: BlockStore) -> None:
    ip = address()
    first = block(ip, hours=1)
    assert block_store.put_block(first, None, T0_MS, EXPIRES, force=False)
    at_end = first.until_ms  # until_ms is exclusive: the block is over at its end
    repeat = block(ip, at_end, hours=48, offences=2)
    assert block_store.put_block(repeat, first, at_end, EXPIRES, force=False)
    assert block_store.get(ip) == repeat


def test_a_block_written_meanwhile_wins_over_a_stale_previous(block_store: BlockStore) -> None:
    ip = address()
    first = block(ip, hours=1)
    assert block_store.put_block(first, None, T0_MS, EXPIRES, force=False)
    later = T0_MS + 2 * HOUR_MS
    meanwhile = block(ip, later, reason="another instance")
    assert block_store.put_block(meanwhile, first, later, EXPIRES, force=False)
    assert not block_store.put_block(block(ip, later + 1), first, later + 1, EXPIRES, force=False)
    assert not block_store.put_block(block(ip, later + 1), first, later + 1, EXPIRES, force=True)
    assert block_store.get(ip) == meanwhile


def test_previous_is_the_block_read_not_every_field_of_it(block_store: BlockStore) -> None:
    """A block is known by its blocked_at_ms: ending it meanwhile (until_ms, unblocked_*) leaves the
    caller's copy current, so its write goes through."""
    ip = address()
    first = block(ip)
    assert block_store.put_block(first, None, T0_MS, EXPIRES, force=False)
    now = T0_MS + HOUR_MS
    ended = block_store.end_block(ip, now, "api:ops")
    assert ended is not None and ended != first
    replacement = block(ip, now + 1, reason="manual", decided_by="api:admin")
    assert block_store.put_block(replacement, first, now + 1, EXPIRES, force=True)
    assert block_store.get(ip) == replacement


def test_a_previous_block_that_vanished_is_stale(block_store: BlockStore) -> None:
    ip = address()
    assert not block_store.put_block(block(ip, T0_MS + 1), block(ip), T0_MS + 1, EXPIRES, force=True)
    assert block_store.get(ip) is None


def test_concurrent_first_blocks_have_one_winner(block_store: BlockStore) -> None:
    ip = address()
    blocks = [block(ip, reason=f"instance {index}") for index in range(RACERS)]
    results = race(RACERS, lambda index: block_store.put_block(blocks[index], None, T0_MS, EXPIRES, force=False))
    assert results.count(True) == 1 and results.count(False) == RACERS - 1, results
    assert block_store.get(ip) == blocks[results.index(True)]


def test_ending_a_block_ends_only_an_active_one(block_store: BlockStore) -> None:
    ip = address()
    assert block_store.end_block(ip, T0_MS, "api:ops") is None
    assert block_store.get(ip) is None  # nothing was created

    first = block(ip)
    assert block_store.put_block(first, None, T0_MS, EXPIRES, force=False)
    now = T0_MS + HOUR_MS
    ended = block_store.end_block(ip, now, "api:ops")
    expected = replace(first, until_ms=now, unblocked_at_ms=now, unblocked_by="api:ops")
    assert ended == expected
    assert block_store.get(ip) == expected
    assert not expected.active(now)
    assert block_store.end_block(ip, now + 1, "api:someone-else") == expected  # over already: unchanged


def test_an_expired_block_is_not_ended_again(block_store: BlockStore) -> None:
    ip = address()
    short = block(ip, hours=1)
    assert block_store.put_block(short, None, T0_MS, EXPIRES, force=False)
    assert block_store.end_block(ip, short.until_ms, "api:ops") == short
    assert block_store.get(ip) == short


def test_concurrent_unblocks_have_one_winner(block_store: BlockStore) -> None:
    ip = address()
    assert block_store.put_block(block(ip), None, T0_MS, EXPIRES, force=False)
    results = race(RACERS, lambda index: block_store.end_block(ip, T0_MS + 1000, f"api:ops{index}"))
    ended = block_store.get(ip)
    assert ended is not None and ended.unblocked_by is not None
    assert all(result == ended for result in results), results  # the losers see the winner's end


# --- the edge updater's read ---------------------------------------------------------------------


def test_active_blocks_are_the_blocks_not_yet_over(block_store: BlockStore) -> None:
    active, ended, expired = address(), address(), address()
    assert block_store.put_block(block(active), None, T0_MS, EXPIRES, force=False)
    assert block_store.put_block(block(ended), None, T0_MS, EXPIRES, force=False)
    assert block_store.end_block(ended, T0_MS + 1000, "api:alice") is not None
    assert block_store.put_block(
        block(expired, blocked_at=T0_MS - 2 * HOUR_MS, hours=1), None, T0_MS, EXPIRES, force=False
    )

    found = {found.ip: found for found in block_store.active_blocks(T0_MS + 2000)}  # type: ignore[attr-defined]

    assert active in found and found[active].until_ms == block(active).until_ms
    assert ended not in found and expired not in found
