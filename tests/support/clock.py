"""A clock tests move by hand, for code that takes `clock=` (epoch seconds)."""

from __future__ import annotations

# 2026-11-29T10:00:00Z: a round time, so window edges read plainly in the tests.
T0 = 1_795_946_400.0


class Clock:
    """Callable like time.time; `now` is set, `at()` and `advance()` move it."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def at(self, seconds_after_t0: float) -> Clock:
        self.now = T0 + seconds_after_t0
        return self

    def advance(self, seconds: float) -> Clock:
        self.now += seconds
        return self


class SleepRecorder:
    """A clock and a sleep for code that paces itself (`clock=`, `sleep=`): time moves only when the
    code sleeps (or a test moves `now`), and every sleep is recorded in `slept`."""

    def __init__(self, now: float = 0.0) -> None:
        self.now = now
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds
