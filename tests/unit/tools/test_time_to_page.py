"""bench/time_to_page.py's arithmetic: nearest-rank percentiles (p99 of 20 trials is the slowest one,
not an interpolation below it), Prometheus durations, and which Alertmanager notification counts."""

from __future__ import annotations

from bench.time_to_page import RULE, Receiver, percentile, seconds


def test_p99_of_twenty_trials_is_the_slowest_and_p50_the_tenth() -> None:
    values = [float(n) for n in range(1, 21)]
    assert percentile(values, 0.99) == 20.0
    assert percentile(values, 0.95) == 19.0
    assert percentile(values, 0.50) == 10.0
    assert percentile([3.0], 0.99) == 3.0


def test_durations_as_prometheus_writes_them() -> None:
    assert [seconds(text) for text in ("15s", "1m", "500ms", "1h")] == [15, 60, 0.5, 3600]


def test_only_the_rules_firing_notification_after_the_trial_started_counts() -> None:
    receiver = Receiver()
    firing = {"alerts": [{"status": "firing", "labels": {"alertname": RULE}}]}
    receiver.arrivals += [
        (1.0, firing),  # an earlier trial's
        (2.0, {"alerts": [{"status": "firing", "labels": {"alertname": "AskProAIMetricsDown"}}]}),
        (3.0, {"alerts": [{"status": "resolved", "labels": {"alertname": RULE}}]}),
        (4.0, firing),
    ]
    assert receiver.firing(since=1) == 4.0
    assert receiver.firing(since=4) is None
