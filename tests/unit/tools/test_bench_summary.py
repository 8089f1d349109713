"""`make bench` ends with one summary line per figure; a figure the run did not measure is stated
as such and counted outside its goal, never silently left out."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bench import summary


@pytest.fixture(autouse=True)
def empty() -> Iterator[None]:
    saved = dict(summary.FIGURES)
    summary.FIGURES.clear()
    yield
    summary.FIGURES.clear()
    summary.FIGURES.update(saved)


def test_every_required_figure_has_a_line_measured_or_not() -> None:
    summary.record("DynamoDB requests per occurrence while firing", "1", "<= 1", True)
    summary.record("cold start HealthFunction vs hello-world", "4.20x", "<= 4x", False)
    lines = summary.lines()
    assert lines[: len(summary.REQUIRED)] == [
        "summary: time to page p99 | not measured | <= 2 s | outside",
        "summary: time to page vs Prometheus and Alertmanager | not measured | >= 10x sooner | outside",
        "summary: DynamoDB requests per occurrence while firing | 1 | <= 1 | within",
        "summary: cost per million webhooks | not measured | measured | outside",
        "summary: scrape at 100k vs generate_latest | not measured | measured | outside",
    ]
    assert lines[-1] == "summary: cold start HealthFunction vs hello-world | 4.20x | <= 4x | outside"
