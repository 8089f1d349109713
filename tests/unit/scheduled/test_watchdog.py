"""The Watchdog's settings: an https URL (a heartbeat URL is a credential), empty means off."""

from __future__ import annotations

import pytest
from platform_monitoring.core.config import ConfigurationError
from platform_monitoring.scheduled.settings import ScheduledChecksSettings


def test_the_ping_url_must_be_https() -> None:
    env = {"WATCHDOG_PING_URL": "http://hc-ping.com/0b3f6f4e"}
    with pytest.raises(ConfigurationError, match="WATCHDOG_PING_URL must be an https:// URL"):
        ScheduledChecksSettings.from_env(env)
    assert ScheduledChecksSettings.from_env({}).watchdog_url is None  # empty: the heartbeat is off
    https = ScheduledChecksSettings.from_env({"WATCHDOG_PING_URL": "https://hc-ping.com/0b3f6f4e"})
    assert https.watchdog_url == "https://hc-ping.com/0b3f6f4e"
