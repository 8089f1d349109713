"""Prometheus counters, gauges and histograms shared by every Lambda instance, kept in Redis.

Writing: callers increment a per-invocation `MetricBuffer` (no I/O); `flush()` sends all of
the invocation's updates to Redis in one round trip (one Lua script call), which also
enforces the per-metric series cap atomically. A Redis outage never fails the caller: the
updates are dropped, logged once per outage and counted in CloudWatch (EMF).

Reading: `snapshot()` fetches every metric in one pipelined round trip (one HGETALL per
catalog metric, all in the same pipeline): no KEYS, no SCAN, nothing per series.

Layout, all keys under one hash tag so a Redis Cluster keeps them in one slot:
  {askproai}:m:<metric>   hash  field = series key (JSON list of label values)
                                 histograms: <series>|<bucket index>, <series>|sum, <series>|count
  {askproai}:s:<metric>   set   the series keys, for the cardinality cap
Label values are stored as JSON, so any character is safe; prometheus_client escapes them
for the exposition format.
"""

from __future__ import annotations

import bisect
import json
import math
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from platform_monitoring.observability.catalog import CATALOG, MetricSpec, spec

if TYPE_CHECKING:
    import redis


KEY_PREFIX = "{askproai}"
DEFAULT_SERIES_CAP = 2000
MAX_LABEL_LENGTH = 200
DROPPED_METRIC = "askproai_metrics_dropped_series"


# One call applies a whole invocation's updates. ARGV: cap, then groups of
# (op, metric, series, field, value); op is "inc" (HINCRBYFLOAT), "set" (HSET), or "max" / "min"
# (HSET only when the field is missing or the value is above / below it: a gauge that many
# Lambdas write out of order, such as the time a Stripe event type was last seen, only moves
# one way).
# A series not yet known is only admitted while the metric has fewer than `cap` series;
# refused ones are counted per metric in the dropped-series counter.
_APPLY_SCRIPT = """
local prefix = KEYS[1]
local cap = tonumber(ARGV[1])
local admitted = {}
local dropped = {}
for i = 2, #ARGV, 5 do
  local op, metric, series, fld, value = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4]
  local tag = metric .. '\\0' .. series
  local ok = admitted[tag]
  if ok == nil then
    local set = prefix .. ':s:' .. metric
    ok = redis.call('SISMEMBER', set, series) == 1
    if not ok and redis.call('SCARD', set) < cap then
      redis.call('SADD', set, series)
      ok = true
    end
    admitted[tag] = ok
    if not ok then dropped[metric] = (dropped[metric] or 0) + 1 end
  end
  if ok then
    local key = prefix .. ':m:' .. metric
    if op == 'inc' then
      redis.call('HINCRBYFLOAT', key, fld, value)
    elseif op == 'set' then
      redis.call('HSET', key, fld, value)
    else
      local current = tonumber(redis.call('HGET', key, fld))
      local wanted = tonumber(value)
      if current == nil or (op == 'max' and wanted > current) or (op == 'min' and wanted < current) then
        redis.call('HSET', key, fld, value)
      end
    end
  end
end
for metric, count in pairs(dropped) do
  local series = cjson.encode({metric})
  redis.call('SADD', prefix .. ':s:' .. ARGV_DROPPED, series)
  redis.call('HINCRBYFLOAT', prefix .. ':m:' .. ARGV_DROPPED, series, count)
end
return 0
""".replace("ARGV_DROPPED", f"'{DROPPED_METRIC}'")


def _label_text(value: object) -> str:
    # Anything not encodable as UTF-8 (a lone surrogate) becomes its escape, so one odd
    # label can never make the whole invocation's write fail.
    text = str(value)[:MAX_LABEL_LENGTH]
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def series_key(values: Iterable[object]) -> str:
    return json.dumps([_label_text(v) for v in values], ensure_ascii=False, separators=(",", ":"))


def _label_values(metric: MetricSpec, labels: Mapping[str, object]) -> list[str]:
    unknown = set(labels) - set(metric.labels)
    if unknown:
        raise ValueError(f"{metric.name} has no label(s) {sorted(unknown)}; it has {list(metric.labels)}")
    return [str(labels.get(name, "")) for name in metric.labels]


@dataclass
class Update:
    op: str
    metric: str
    series: str
    field: str
    value: float


@dataclass
class MetricBuffer:
    """What one invocation records; nothing leaves the process until flush."""

    updates: dict[tuple[str, str, str, str], float] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def inc(self, name: str, amount: float = 1.0, **labels: object) -> None:
        metric = spec(name)
        if not math.isfinite(amount):
            return  # Redis cannot add inf or NaN; a broken measurement must not cost the others
        if metric.type != "counter":
            raise TypeError(f"{metric.name} is a {metric.type}, not a counter")
        if amount < 0:
            raise ValueError(f"{metric.name}: a counter only goes up")
        key = series_key(_label_values(metric, labels))
        self._add("inc", metric.name, key, key, amount)

    def set(self, name: str, value: float, **labels: object) -> None:
        metric = spec(name)
        if metric.type != "gauge":
            raise TypeError(f"{metric.name} is a {metric.type}, not a gauge")
        if not math.isfinite(value):
            return
        key = series_key(_label_values(metric, labels))
        with self._lock:
            self.updates[("set", metric.name, key, key)] = float(value)

    def extreme(self, op: str, name: str, value: float, **labels: object) -> None:
        """A gauge that only rises (op "max") or only falls ("min"): the store keeps the extreme of
        what every writer sent, whatever order their flushes arrive in."""
        metric = spec(name)
        if metric.type != "gauge":
            raise TypeError(f"{metric.name} is a {metric.type}, not a gauge")
        if op not in ("max", "min"):
            raise ValueError(f"op must be max or min, not {op!r}")
        if not math.isfinite(value):
            return
        key = series_key(_label_values(metric, labels))
        slot = (op, metric.name, key, key)
        with self._lock:
            held = self.updates.get(slot)
            pick = max if op == "max" else min
            self.updates[slot] = float(value) if held is None else pick(held, float(value))

    def observe(self, name: str, value: float, **labels: object) -> None:
        metric = spec(name)
        if metric.type != "histogram":
            raise TypeError(f"{metric.name} is a {metric.type}, not a histogram")
        if not math.isfinite(value):
            return
        key = series_key(_label_values(metric, labels))
        bucket = bisect.bisect_left(metric.buckets, value)  # index len(buckets) is +Inf
        self._add("inc", metric.name, key, f"{key}|{bucket}", 1.0)
        self._add("inc", metric.name, key, f"{key}|sum", float(value))
        self._add("inc", metric.name, key, f"{key}|count", 1.0)

    def _add(self, op: str, metric: str, series: str, fld: str, amount: float) -> None:
        with self._lock:
            slot = (op, metric, series, fld)
            self.updates[slot] = self.updates.get(slot, 0.0) + amount

    def drain(self) -> list[Update]:
        with self._lock:
            drained = [Update(op, m, s, f, v) for (op, m, s, f), v in self.updates.items()]
            self.updates.clear()
        return drained


class MetricBackend(Protocol):
    def apply(self, updates: list[Update], cap: int) -> None: ...

    def snapshot(self) -> dict[str, dict[str, float]]: ...


class RedisMetricBackend:
    """The shared store. `round_trips` counts requests sent, for `make bench` and tests."""

    def __init__(self, client: redis.Redis) -> None:
        self._client = client
        self._script = client.register_script(_APPLY_SCRIPT)
        self.round_trips = 0

    def apply(self, updates: list[Update], cap: int) -> None:
        if not updates:
            return
        args: list[str | int | float] = [cap]
        for update in updates:
            args.extend((update.op, update.metric, update.series, update.field, repr(update.value)))
        self.round_trips += 1
        self._script(keys=[KEY_PREFIX], args=args)

    def snapshot(self) -> dict[str, dict[str, float]]:
        pipeline = self._client.pipeline(transaction=False)
        names = [*(metric.name for metric in CATALOG)]
        for name in names:
            pipeline.hgetall(f"{KEY_PREFIX}:m:{name}")
        self.round_trips += 1
        replies = pipeline.execute()
        return {
            name: {_text(k): float(v) for k, v in reply.items()} for name, reply in zip(names, replies, strict=True)
        }

    def clear(self) -> None:
        """Remove every series (tests and `monitoring-test` only)."""
        keys = [f"{KEY_PREFIX}:{kind}:{m.name}" for m in CATALOG for kind in ("m", "s")]
        self._client.delete(*keys)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _is_outage(error: BaseException) -> bool:
    """Connection trouble pauses the store; a rejected command (a bug) does not."""
    if isinstance(error, OSError):
        return True
    import redis  # noqa: PLC0415 - only reached after a failure

    return isinstance(error, redis.ConnectionError | redis.TimeoutError)


class MetricRecorder:
    """Buffers an invocation's updates and writes them at its end; never raises to the caller.

    After a failed write the store is not tried again for `retry_after` seconds, so a Redis
    that hangs costs one timeout, not one per invocation. Lost updates are counted through
    `on_dropped` (CloudWatch EMF in the functions) and logged once per outage.
    """

    def __init__(
        self,
        backend: Callable[[], MetricBackend],
        cap: int = DEFAULT_SERIES_CAP,
        on_dropped: Callable[[int, BaseException, bool], None] | None = None,
        retry_after: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._backend_factory = backend
        self._backend: MetricBackend | None = None
        self.cap = cap
        self.buffer = MetricBuffer()
        self._on_dropped = on_dropped
        self.retry_after = retry_after
        self._clock = clock
        self._paused_until = 0.0
        self.outage_logged = False

    def pause(self) -> None:
        """The store just failed elsewhere (a scrape): don't spend another timeout on it now."""
        self._paused_until = self._clock() + self.retry_after

    def use(self, backend: MetricBackend) -> None:
        """Write to this backend from now on (tests use the in-memory one)."""
        self._backend = backend
        self._paused_until = 0.0

    @property
    def backend(self) -> MetricBackend:
        if self._backend is None:
            self._backend = self._backend_factory()
        return self._backend

    def inc(self, name: str, amount: float = 1.0, **labels: object) -> None:
        self.buffer.inc(name, amount, **labels)

    def set(self, name: str, value: float, **labels: object) -> None:
        self.buffer.set(name, value, **labels)

    def observe(self, name: str, value: float, **labels: object) -> None:
        self.buffer.observe(name, value, **labels)

    def raise_to(self, name: str, value: float, **labels: object) -> None:
        """Set a gauge to value unless the store holds a higher one (a last-seen time)."""
        self.buffer.extreme("max", name, value, **labels)

    def lower_to(self, name: str, value: float, **labels: object) -> None:
        """Set a gauge to value unless the store holds a lower one (a first-seen time)."""
        self.buffer.extreme("min", name, value, **labels)

    def flush(self) -> int:
        """Write what was recorded; returns the number of updates written (0 when dropped)."""
        updates = self.buffer.drain()
        if not updates:
            return 0
        if self._clock() < self._paused_until:
            self._dropped(len(updates), ConnectionError("metric store paused after a failure"))
            return 0
        try:
            self.backend.apply(updates, self.cap)
        except Exception as error:  # an outage of the store must never fail the request
            if _is_outage(error):
                self.pause()
            self._dropped(len(updates), error)
            return 0
        self.outage_logged = False
        return len(updates)

    def _dropped(self, count: int, error: BaseException) -> None:
        """on_dropped(count, error, first) where first is True once per outage (log that one)."""
        if self._on_dropped is not None:
            self._on_dropped(count, error, not self.outage_logged)
        self.outage_logged = True
