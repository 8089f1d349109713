"""`make bench BENCH_PARTS="2 9"`: the parts named, in the run's order; a wrong number says the range."""

from __future__ import annotations

import importlib

import pytest

from bench.__main__ import BENCH_PARTS, chosen_parts


def test_unset_or_empty_runs_every_part_in_order() -> None:
    assert chosen_parts(None) == chosen_parts("  ") == list(range(1, len(BENCH_PARTS) + 1))


def test_named_parts_run_in_the_runs_order() -> None:
    assert chosen_parts("9 2") == chosen_parts("2,9") == [2, 9]


def test_an_unknown_part_is_refused_with_the_range() -> None:
    with pytest.raises(SystemExit, match="no part 11 \\(1 to 10\\)"):
        chosen_parts("2 11")


def test_every_part_names_a_function_that_exists() -> None:
    for what, target in BENCH_PARTS.values():
        if isinstance(target, str):
            module, function = target.split(":")
            assert callable(getattr(importlib.import_module(module), function)), (what, target)
        else:
            assert callable(target), what
