"""Edge blocking: the bundle's IP blocks as AWS WAF IP sets, kept in step by one serialized updater.

The web ACL in template.yaml (EdgeWebAcl) evaluates, in order: the allowlist sets (allow), the
blocked sets (block, 403), then per-IP rate limits on the ingest and the secret routes. IpGuard
stays behind it as the second layer. WafIpSetUpdaterFunction (reserved concurrency 1, so one
writer) runs on every change of SecurityBlocksTable (its stream) and every minute (the sweep that
drops expired blocks), and each time reconciles the whole sets from the table (`EdgeUpdater.sync`).

WAF's own limits shape the code:
- an IP set holds at most 10,000 addresses: past that the longest-lasting blocks stay at the edge
  and the rest only in IpGuard (`blocked_sets`), reported as `left_out` (a metric and an alarm);
- about one update per second per set: `Pacer` waits between two updates of the same set;
- updates are optimistic (a LockToken from GetIPSet): a stale token (WAFOptimisticLockException,
  someone updated the set in between) is retried from a fresh GetIPSet, which also re-reads what
  the other writer left, so the final set is always the table's.
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from aws_lambda_powertools.metrics import MetricUnit

from platform_monitoring.observability.logging import security_log
from platform_monitoring.observability.metrics import metrics, recorder
from platform_monitoring.security.addresses import Allowlist, parse_ip
from platform_monitoring.security.rules import Block

MAX_ADDRESSES_PER_SET = 10_000  # WAF's quota for one IP set (not raisable)
UPDATE_INTERVAL_SECONDS = 1.0  # WAF's update rate for one IP set, about 1 request/s
MAX_UPDATE_ATTEMPTS = 5  # stale lock tokens and WAF throttling, each retried from a fresh GetIPSet
IPV4, IPV6 = "IPV4", "IPV6"
RETRIED_ERRORS = frozenset(
    {"WAFOptimisticLockException", "WAFLimitsExceededException", "WAFUnavailableEntityException"}
)


class WafClient(Protocol):
    """The two WAFv2 calls the updater makes (boto3's wafv2 client)."""

    def get_ip_set(self, *, Name: str, Scope: str, Id: str) -> Mapping[str, Any]: ...

    def update_ip_set(
        self,
        *,
        Name: str,
        Scope: str,
        Id: str,
        Addresses: Sequence[str],
        LockToken: str,
    ) -> Mapping[str, Any]: ...


class ActiveBlocks(Protocol):
    def active_blocks(self, now_ms: int) -> list[Block]:
        """Every block whose until_ms is after now_ms."""
        ...


class EdgeSyncError(RuntimeError):
    """An IP set could not be brought in step (it kept changing, or WAF kept refusing)."""


@dataclass(frozen=True)
class IpSetRef:
    """One WAF IP set: CloudFormation's Ref of an AWS::WAFv2::IPSet is "name|id|scope"."""

    name: str
    id: str
    scope: str
    version: str  # IPV4 or IPV6

    @classmethod
    def parse(cls, ref: str, version: str) -> IpSetRef:
        parts = ref.split("|")
        if len(parts) != 3 or not all(parts) or parts[2] not in ("REGIONAL", "CLOUDFRONT"):
            raise ValueError(f"{ref!r} is not a WAF IP set reference (name|id|scope)")
        return cls(parts[0], parts[1], parts[2], version)


def cidr(ip: str) -> str:
    """One address as WAF stores it: 1.2.3.4/32, 2001:db8::1/128."""
    address = parse_ip(ip)
    return f"{address}/{address.max_prefixlen}"


def canonical_cidr(text: str) -> str:
    return str(ipaddress.ip_network(text.strip(), strict=False))


@dataclass(frozen=True)
class EdgeSets:
    """What the blocked sets should hold, and how many active blocks did not fit."""

    ipv4: tuple[str, ...]
    ipv6: tuple[str, ...]
    left_out: Mapping[str, int]


def blocked_sets(
    blocks: Iterable[Block], now_ms: int, allowlist: Allowlist, limit: int = MAX_ADDRESSES_PER_SET
) -> EdgeSets:
    """The active, not allowlisted blocks as CIDRs, per IP version, at most `limit` each.

    Past the limit the blocks that last longest stay (the shortest end soonest, and IpGuard
    still denies them); the number left out per version is reported, never silently dropped.
    """
    by_version: dict[str, list[Block]] = {IPV4: [], IPV6: []}
    for block in blocks:
        if not block.active(now_ms) or block.ip in allowlist:
            continue
        try:
            version = IPV4 if parse_ip(block.ip).version == 4 else IPV6
        except ValueError:
            continue
        by_version[version].append(block)
    kept: dict[str, tuple[str, ...]] = {}
    left_out: dict[str, int] = {}
    for version, found in by_version.items():
        found.sort(key=lambda block: (-block.until_ms, block.ip))
        kept[version] = tuple(sorted({cidr(block.ip) for block in found[:limit]}))
        left_out[version] = max(0, len(found) - limit)
    return EdgeSets(kept[IPV4], kept[IPV6], left_out)


def allowlist_sets(allowlist: Allowlist) -> dict[str, tuple[str, ...]]:
    """The allowlist's addresses and ranges as CIDRs, per IP version."""
    sets: dict[str, set[str]] = {IPV4: set(), IPV6: set()}
    for network in allowlist.networks:
        sets[IPV4 if network.version == 4 else IPV6].add(str(network))
    return {version: tuple(sorted(entries)) for version, entries in sets.items()}


class Pacer:
    """At most one update per `interval` seconds per key (WAF throttles faster updates of a set).

    The updater runs with reserved concurrency 1 and keeps this in its warm instance, so the pace
    also holds between invocations; a cold instance cannot know the last update time and WAF's
    throttling (WAFLimitsExceededException) is retried after the interval.
    """

    def __init__(
        self,
        interval: float = UPDATE_INTERVAL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.interval = interval
        self.clock = clock
        self.sleep = sleep
        self._last: dict[str, float] = {}

    def wait(self, key: str) -> None:
        last = self._last.get(key)
        if last is not None:
            delay = last + self.interval - self.clock()
            if delay > 0:
                self.sleep(delay)

    def done(self, key: str) -> None:
        self._last[key] = self.clock()


def _error_code(error: Exception) -> str:
    response = getattr(error, "response", None)
    if isinstance(response, Mapping):
        return str((response.get("Error") or {}).get("Code") or "")
    return ""


@dataclass
class SetChange:
    ref: IpSetRef
    changed: bool
    addresses: int
    retries: int = 0


class WafIpSet:
    """One IP set, replaced as a whole: GetIPSet (contents and LockToken), then UpdateIPSet."""

    def __init__(self, client: WafClient, ref: IpSetRef, pacer: Pacer, max_attempts: int = MAX_UPDATE_ATTEMPTS) -> None:
        self.client = client
        self.ref = ref
        self.pacer = pacer
        self.max_attempts = max_attempts

    def read(self) -> tuple[set[str], str]:
        answer = self.client.get_ip_set(Name=self.ref.name, Scope=self.ref.scope, Id=self.ref.id)
        addresses = {canonical_cidr(text) for text in answer["IPSet"].get("Addresses") or ()}
        return addresses, str(answer["LockToken"])

    def replace(self, wanted: Callable[[bool], Iterable[str]]) -> SetChange:
        """Make the set hold `wanted(fresh)`: read the set (and its LockToken) first, then what it
        should hold, then update with that token. After a stale token `fresh` is True: someone
        wrote in between, so what the set should hold is read again too (the table may have moved
        on), and the last writer to succeed always wrote what it read after the previous write."""
        retries = 0
        for _ in range(self.max_attempts):
            current, token = self.read()
            target = {canonical_cidr(text) for text in wanted(retries > 0)}
            if current == target:
                return SetChange(self.ref, changed=False, addresses=len(target), retries=retries)
            self.pacer.wait(self.ref.id)
            try:
                self.client.update_ip_set(
                    Name=self.ref.name, Scope=self.ref.scope, Id=self.ref.id, Addresses=sorted(target), LockToken=token
                )
            except Exception as error:
                if _error_code(error) not in RETRIED_ERRORS:
                    raise
                retries += 1
                security_log.info(
                    "WAF IP set update retried", extra={"ip_set": self.ref.name, "error": _error_code(error)}
                )
                continue
            finally:
                self.pacer.done(self.ref.id)
            return SetChange(self.ref, changed=True, addresses=len(target), retries=retries)
        raise EdgeSyncError(f"WAF IP set {self.ref.name} could not be updated in {self.max_attempts} attempts")


@dataclass
class EdgeReport:
    blocked: dict[str, int] = field(default_factory=dict)
    allowed: dict[str, int] = field(default_factory=dict)
    left_out: dict[str, int] = field(default_factory=dict)
    changed: list[str] = field(default_factory=list)
    retries: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "blocked": self.blocked,
            "allowed": self.allowed,
            "left_out": self.left_out,
            "changed": self.changed,
            "retries": self.retries,
        }


class EdgeUpdater:
    """Brings the four IP sets (blocked and allowed, IPv4 and IPv6) in step with the blocks table."""

    def __init__(
        self,
        blocks: ActiveBlocks,
        blocked: Mapping[str, WafIpSet],
        allowed: Mapping[str, WafIpSet],
        allowlist: Allowlist,
        *,
        limit: int = MAX_ADDRESSES_PER_SET,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.blocks = blocks
        self.blocked = dict(blocked)
        self.allowed = dict(allowed)
        self.allowlist = allowlist
        self.limit = min(limit, MAX_ADDRESSES_PER_SET)
        self.clock = clock

    def wanted(self) -> EdgeSets:
        """What the blocked sets should hold now, from the table."""
        now_ms = int(self.clock() * 1000)
        return blocked_sets(self.blocks.active_blocks(now_ms), now_ms, self.allowlist, self.limit)

    def sync(self) -> EdgeReport:
        latest = [self.wanted()]  # one Scan per sync, again only after a stale lock token

        def blocked(version: str) -> Callable[[bool], tuple[str, ...]]:
            def addresses(fresh: bool) -> tuple[str, ...]:
                if fresh:
                    latest[0] = self.wanted()
                return latest[0].ipv4 if version == IPV4 else latest[0].ipv6

            return addresses

        allow = allowlist_sets(self.allowlist)

        def allowed(version: str) -> Callable[[bool], tuple[str, ...]]:
            return lambda _fresh: allow[version]  # configuration: the same on every attempt

        report = EdgeReport()
        plan = [
            *((ip_set, blocked(version), report.blocked) for version, ip_set in self.blocked.items()),
            *((ip_set, allowed(version), report.allowed) for version, ip_set in self.allowed.items()),
        ]
        for ip_set, addresses, counts in plan:
            change = ip_set.replace(addresses)
            counts[ip_set.ref.version.lower()] = change.addresses
            report.retries += change.retries
            if change.changed:
                report.changed.append(ip_set.ref.name)
        report.left_out = {version.lower(): n for version, n in latest[0].left_out.items()}
        self._record(report)
        return report

    def _record(self, report: EdgeReport) -> None:
        for version, count in report.blocked.items():
            recorder.set("waf_blocked_addresses", count, ip_version=version)
        left_out = sum(report.left_out.values())
        for version, count in report.left_out.items():
            recorder.set("waf_blocks_left_out", count, ip_version=version)
        # CloudWatch (EMF): WafBlocksLeftOutAlarm fires while blocks do not fit in the sets.
        metrics.add_metric(name="WafBlocksLeftOut", unit=MetricUnit.Count, value=left_out)
        if left_out:
            security_log.warning(
                "WAF IP sets are full: blocks left out stay only in IpGuard",
                extra={"left_out": report.left_out, "limit": self.limit},
            )
        if report.changed:
            security_log.info("WAF IP sets updated", extra=report.to_json())
