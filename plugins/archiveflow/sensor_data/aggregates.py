"""Per-sensor temperature aggregates: per hour, and overall.

Idempotency: aggregates are never incremented. Each hour a batch touched is recomputed from every
raw object of that hour in S3 (the raw data is the one source of truth) and written over the
hour's item; the overall item is then recomputed from the sensor's hourly items. A retried or
re-run batch rewrites the same raw objects (storage.py), so recomputing gives the same numbers:
nothing is ever counted twice. A reading is counted once even if it was put into the stream twice
(a producer's retry, which gives the copy a new sequence number; the raw writer leaves out a copy
its shard already stored, storage.py, but not one that went to another shard): a reading's
identity is its sensor and its timestamp (a sensor measures once at a given instant), and of
several lines with one identity the first to arrive in the stream is counted. A line that breaks the contract of today
(written by an older version) is left out and counted, so an hour can always be recomputed.

Items in the `sensor-aggregates` table (key: sensor_id, window_start):

| window_start | window | attributes |
|---|---|---|
| `2026-12-01T13:00:00Z` | `hour` | count, sum_temperature, min_temperature, max_temperature, mean_temperature |
| `overall` | `overall` | the same, plus first_hour, last_hour, hours |

`overall` sorts after every hour (letters after digits), so a key range over hours never meets it.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from archiveflow.sensor_data.readings import Malformed, checked_temperature, parse_instant, utc_text

OVERALL = "overall"


@dataclass(frozen=True)
class Stats:
    count: int
    total: float
    minimum: float
    maximum: float

    @property
    def mean(self) -> float:
        return self.total / self.count

    @classmethod
    def of(cls, temperatures: list[float]) -> Stats:
        return cls(len(temperatures), math.fsum(temperatures), min(temperatures), max(temperatures))

    @classmethod
    def combine(cls, parts: list[Stats]) -> Stats:
        return cls(sum(p.count for p in parts), math.fsum(p.total for p in parts),
                   min(p.minimum for p in parts), max(p.maximum for p in parts))

    def attributes(self) -> dict[str, Any]:
        return {"count": self.count, "sum_temperature": _number(self.total),
                "min_temperature": _number(self.minimum), "max_temperature": _number(self.maximum),
                "mean_temperature": _number(self.mean)}

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> Stats:
        return cls(int(item["count"]), float(item["sum_temperature"]), float(item["min_temperature"]),
                   float(item["max_temperature"]))


def _number(value: float) -> Decimal:
    # DynamoDB numbers are decimal: the float's shortest repr round-trips exactly.
    return Decimal(repr(value))


@dataclass(frozen=True)
class HourStats:
    by_sensor: dict[str, Stats]
    duplicates: int  # lines of a reading already counted (same sensor and timestamp)
    unusable: int  # lines that break today's contract (left out)


def hour_stats(lines: Iterable[Mapping[str, Any]]) -> HourStats:
    """Stats per sensor of one hour's raw lines, each reading (sensor, timestamp) counted once."""
    first: dict[tuple[str, str], tuple[tuple[datetime, str, int], float]] = {}
    lines_read = unusable = 0
    for line in lines:
        lines_read += 1
        try:
            identity = (line["sensor_id"], line["timestamp"])
            source = line["_kinesis"]
            arrival = (parse_instant(source["arrived_at"]), source["shard_id"], int(source["sequence_number"]))
            temperature = checked_temperature(line)
        except (Malformed, KeyError, TypeError, ValueError):
            unusable += 1
            continue
        if arrival[0] is None:
            unusable += 1
        elif identity not in first or arrival < first[identity][0]:
            first[identity] = (arrival, temperature)
    temperatures: dict[str, list[float]] = defaultdict(list)
    for (sensor_id, _), (_, temperature) in first.items():
        temperatures[sensor_id].append(temperature)
    return HourStats({sensor_id: Stats.of(values) for sensor_id, values in temperatures.items()},
                     duplicates=lines_read - unusable - len(first), unusable=unusable)


def hour_item(sensor_id: str, hour: datetime, stats: Stats) -> dict[str, Any]:
    return {"sensor_id": sensor_id, "window_start": utc_text(hour), "window": "hour", **stats.attributes()}


def overall_item(sensor_id: str, hourly: list[Mapping[str, Any]]) -> dict[str, Any]:
    """The overall item of a sensor from all its hourly items (sorted by window_start)."""
    stats = Stats.combine([Stats.from_item(item) for item in hourly])
    return {"sensor_id": sensor_id, "window_start": OVERALL, "window": OVERALL, **stats.attributes(),
            "first_hour": hourly[0]["window_start"], "last_hour": hourly[-1]["window_start"],
            "hours": len(hourly)}


def hour_of(text: str) -> datetime:
    moment = parse_instant(text)
    if moment is None:
        raise ValueError(f"not an hour: {text!r}")
    return moment
