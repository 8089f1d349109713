"""WafIpSetUpdaterFunction: the WAF IP sets in step with SecurityBlocksTable (its stream, and every minute).

Reserved concurrency 1: the only writer of the sets. Whatever invoked it (a batch of stream records,
the minute's schedule), it reconciles the whole sets from the table, so a lost or repeated stream
record changes nothing and expired blocks leave within the minute (security/edge.py).
"""

from __future__ import annotations

from typing import Any

from platform_monitoring.core.config import load_settings
from platform_monitoring.observability.invocation import configure, instrument
from platform_monitoring.security.settings import EdgeSettings
from platform_monitoring.wiring.edge import build_edge_updater

settings = load_settings(EdgeSettings.from_env)
configure(settings.monitoring)
updater = build_edge_updater(settings)


@instrument
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    if updater is None:
        return {"enabled": False}
    return {"enabled": True, **updater.sync().to_json()}
