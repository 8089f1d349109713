"""The process-wide EdgeUpdater of WafIpSetUpdaterFunction: the WAF client and the blocks table from the environment."""

from __future__ import annotations

from platform_monitoring.core import clients
from platform_monitoring.security.addresses import STRIPE_WEBHOOK_IPS, Allowlist
from platform_monitoring.security.edge import IPV4, IPV6, EdgeUpdater, IpSetRef, Pacer, WafIpSet
from platform_monitoring.security.settings import (
    WAF_ALLOWED_IPV4_SET,
    WAF_ALLOWED_IPV6_SET,
    WAF_BLOCKED_IPV4_SET,
    WAF_BLOCKED_IPV6_SET,
    EdgeSettings,
)
from platform_monitoring.security.stores import DynamoBlockStore

# One pacer per process: with reserved concurrency 1 the warm instance keeps WAF's pace between invocations.
PACER = Pacer()


def build_edge_updater(settings: EdgeSettings, pacer: Pacer = PACER) -> EdgeUpdater | None:
    """The updater of the template's four IP sets, or None when the web ACL is turned off."""
    if not settings.enabled:
        return None
    settings.security.require()
    assert settings.security.blocks_table and settings.security.windows_table
    store = DynamoBlockStore(
        clients.dynamodb_client(settings.security.aws_timeout),
        settings.security.blocks_table,
        settings.security.windows_table,
    )
    waf = clients.wafv2_client(settings.aws_timeout)

    def ip_set(variable: str, version: str) -> WafIpSet:
        return WafIpSet(waf, IpSetRef.parse(settings.ip_sets[variable], version), pacer)

    # The same allowlist as IpGuard's (wiring/security.py): Stripe's webhook senders and SECURITY_ALLOWLIST.
    allowlist = Allowlist([*STRIPE_WEBHOOK_IPS, *(settings.security.allowlist or "").split(",")])
    return EdgeUpdater(
        store,
        blocked={IPV4: ip_set(WAF_BLOCKED_IPV4_SET, IPV4), IPV6: ip_set(WAF_BLOCKED_IPV6_SET, IPV6)},
        allowed={IPV4: ip_set(WAF_ALLOWED_IPV4_SET, IPV4), IPV6: ip_set(WAF_ALLOWED_IPV6_SET, IPV6)},
        allowlist=allowlist,
        limit=settings.limit,
    )
