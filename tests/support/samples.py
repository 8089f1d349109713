"""What a scrape exposes, read back with prometheus_client's parsers: every sample by name and labels."""

from __future__ import annotations

from prometheus_client.openmetrics.parser import text_string_to_metric_families as openmetrics_families
from prometheus_client.parser import text_string_to_metric_families

Labels = tuple[tuple[str, str], ...]
Samples = dict[str, dict[Labels, float]]  # sample name -> its labels, sorted -> value


def parse_samples(text: str, *, openmetrics: bool = False) -> Samples:
    """The samples of an exposition in the Prometheus text format (or OpenMetrics)."""
    parse = openmetrics_families if openmetrics else text_string_to_metric_families
    samples: Samples = {}
    for family in parse(text):
        for sample in family.samples:
            samples.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    """One sample's value; 0 when it is not exposed (yet)."""
    return samples.get(name, {}).get(tuple(sorted(labels.items())), 0.0)
