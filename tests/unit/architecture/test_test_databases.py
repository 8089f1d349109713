"""`make test` runs tests/e2e and the other tests in two pytest sessions at once, against the machine's
one Redis: the two must never use the same numbered database (tests/conftest.py lists the split)."""

from __future__ import annotations

import re
from pathlib import Path

TESTS = Path(__file__).resolve().parents[2]
E2E = TESTS / "e2e"
# A database chosen in a test file: a URL on the machine's port, or a REDIS_DB / redis_db= number.
CHOSEN = re.compile(r"127\.0\.0\.1:6379/(\d+)|\bREDIS_DB = (\d+)|\bredis_db=(\d+)|port\]?\S*/(\d+)\"")
SAM_LOCAL_BESIDE_PYTEST = 3  # Makefile's SAM_LOCAL_BESIDE_PYTEST


def databases(paths: list[Path]) -> dict[int, list[str]]:
    found: dict[int, list[str]] = {}
    for path in paths:
        for match in CHOSEN.finditer(path.read_text(encoding="utf-8")):
            number = int(next(group for group in match.groups() if group is not None))
            found.setdefault(number, []).append(str(path.relative_to(TESTS)))
    return found


def test_the_end_to_end_session_and_the_other_share_no_redis_database() -> None:
    # tests/unit and its fakes talk to no server: their URLs are strings in settings tests
    files = sorted(TESTS.rglob("*.py"))
    e2e = databases([path for path in files if E2E in path.parents])
    rest = databases([path for path in files if E2E not in path.parents and TESTS / "unit" not in path.parents])
    rest.setdefault(0, []).append("conftest.py (redis_url)")
    assert e2e and rest, "the pattern found no database: it no longer matches how the tests choose one"
    shared = {number: (e2e[number], rest[number]) for number in set(e2e) & set(rest)}
    assert not shared, f"used by both sessions: {shared}"
    assert SAM_LOCAL_BESIDE_PYTEST not in set(e2e) | set(rest)
    makefile = (TESTS.parent / "Makefile").read_text(encoding="utf-8")
    assert f"redis://127.0.0.1:6379/{SAM_LOCAL_BESIDE_PYTEST} " in makefile
