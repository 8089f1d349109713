"""`make bench`'s load run (bench/load_bench.py) end to end at a tiny size, so CI notices when it rots:
the local stack on free ports, two worker processes sending signed webhooks (some redelivered) and
signed event batches (an attacker per worker), the queues drained, then every agreement check.

The figures are printed, never asserted (speed belongs in `make bench`); what is asserted is that the
bundle's counters, DynamoDB, MySQL and the dead-letter queues agree with what was sent. Redis
database 7, so it can run beside `make bench` (database 6); rows are matched by this run's event ids.
"""

from __future__ import annotations

import io

import pytest

from bench.load_bench import FAILED_LOGINS_TO_BLOCK, LoadSizes, Progress, run_load

pytestmark = pytest.mark.integration

SIZES = LoadSizes(
    processes=2,
    webhooks=5,
    webhook_duplicates=2,
    event_batches=2,
    batch_size=3,
    event_duplicates=2,
    drain_seconds=45,
    visibility_seconds=5,
)


def test_a_tiny_load_run_loses_nothing_and_counts_nothing_twice(mysql_port: int) -> None:
    said = io.StringIO()
    report = run_load(SIZES, redis_db=7, database="askproai_load_bench", progress=Progress(interval=0, stream=said))
    print("\n" + "\n".join(report.lines()))
    # it says what it is doing as it goes: each step, and the answers counted while the workers send
    steps = said.getvalue()
    for step in ("starting the local stack", "signed requests from 2 processes", "waiting for the queues"):
        assert step in steps, steps

    assert [check.name for check in report.disagreements] == []
    seen = {check.name: check.seen for check in report.checks}
    unique_events = SIZES.processes * (SIZES.event_batches * SIZES.batch_size + FAILED_LOGINS_TO_BLOCK)
    # the run was the one planned: every request answered, both queues drained
    assert seen["webhook deliveries answered 200"] == SIZES.processes * (SIZES.webhooks + SIZES.webhook_duplicates)
    assert seen["event batches answered 202"] == SIZES.processes * (SIZES.event_batches + 1)
    assert all(report.drained.values()), report.drained
    # each unique webhook processed once; each redelivery counted as a duplicate, not again
    assert seen["DynamoDB idempotency records COMPLETED"] == SIZES.processes * SIZES.webhooks
    duplicates = sum(value for name, value in seen.items() if name.startswith("webhooks ") and "duplicate" in name)
    assert duplicates == SIZES.processes * SIZES.webhook_duplicates
    # each unique platform event one row, redelivered ones not again; one block per attacker
    assert seen["MySQL security_logs rows"] == unique_events
    assert seen["blocked_ips_total (one attacker per worker)"] == SIZES.processes
