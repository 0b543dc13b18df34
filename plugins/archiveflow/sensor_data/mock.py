"""Realistic sensor readings for sensor_mock_data: several sensors reporting at a fixed interval
with a daily temperature cycle and noise, some sent out of order, some late (measured hours
before they are sent), a few malformed. Deterministic for a given seed, so a retried run sends
the same readings; `put_mock_records` puts them so that a retry puts only what is missing."""

from __future__ import annotations

import json
import logging
import math
import random
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from boto3.dynamodb.conditions import Key

from archiveflow.errors import TransientServiceError
from archiveflow.failpoints import failpoint
from archiveflow.sensor_data.pipeline import query_all
from archiveflow.sensor_data.readings import utc_text
from archiveflow.sensor_data.stream import PUT_RECORDS_LIMIT, put_records

log = logging.getLogger(__name__)

LOCATIONS = ["warehouse-a", "warehouse-b", "cold-room", "office", "server-room", "loading-dock"]


@dataclass(frozen=True)
class MockPlan:
    sensor_prefix: str
    sensor_count: int
    readings_per_sensor: int
    interval_seconds: int
    end: datetime  # the newest reading's time (UTC)
    late_fraction: float
    out_of_order_fraction: float
    malformed_count: int
    seed: int


@dataclass(frozen=True)
class MockRecord:
    partition_key: str
    data: bytes
    kind: str  # "reading", "late", or the malformation ("not_json", ...)


def sensor_ids(plan: MockPlan) -> list[str]:
    return [f"{plan.sensor_prefix}-{i:03d}" for i in range(1, plan.sensor_count + 1)]


def mock_records(plan: MockPlan) -> list[MockRecord]:
    rng = random.Random(plan.seed)
    records = [_reading(rng, plan, sensor_id, k) for sensor_id in sensor_ids(plan)
               for k in range(plan.readings_per_sensor)]
    records.sort(key=lambda r: json.loads(r.data)["timestamp"])  # in time order, as sensors send them
    late = [records.pop(rng.randrange(len(records))) for _ in range(round(len(records) * plan.late_fraction))]
    _swap_neighbours(rng, records, plan.out_of_order_fraction)
    # A reading is its sensor and timestamp (aggregates.py): no two readings may share both.
    taken = {(r.partition_key, json.loads(r.data)["timestamp"]) for r in records}
    records.extend(_delayed(rng, record, taken) for record in late)  # sent last, measured hours before
    for i in range(plan.malformed_count):
        records.insert(rng.randrange(len(records) + 1), _malformed(rng, plan, i))
    return records


def _reading(rng: random.Random, plan: MockPlan, sensor_id: str, k: int) -> MockRecord:
    moment = plan.end - timedelta(seconds=plan.interval_seconds * (plan.readings_per_sensor - 1 - k))
    moment += timedelta(milliseconds=rng.randrange(0, 900))  # sensor clocks are not aligned
    climate = zlib.crc32(sensor_id.encode())  # each sensor has its own place (stable across processes)
    base = 18 + (climate % 80) / 10
    daily = 3 * math.sin(2 * math.pi * (moment.hour + moment.minute / 60 - 9) / 24)
    reading = {"sensor_id": sensor_id, "timestamp": utc_text(moment),
               "temperature": round(base + daily + rng.gauss(0, 0.4), 2),
               "humidity": round(rng.uniform(30, 70), 1), "location": LOCATIONS[climate % len(LOCATIONS)]}
    return MockRecord(sensor_id, json.dumps(reading).encode(), "reading")


def _swap_neighbours(rng: random.Random, records: list[MockRecord], fraction: float) -> None:
    for _ in range(round(len(records) * fraction / 2)):
        if len(records) > 1:
            i = rng.randrange(len(records) - 1)
            records[i], records[i + 1] = records[i + 1], records[i]


def _delayed(rng: random.Random, record: MockRecord, taken: set[tuple[str, str]]) -> MockRecord:
    reading = json.loads(record.data)
    measured = datetime.fromisoformat(reading["timestamp"]) - timedelta(hours=rng.randint(1, 3))
    while (record.partition_key, utc_text(measured)) in taken:
        measured += timedelta(milliseconds=1)
    reading["timestamp"] = utc_text(measured)
    taken.add((record.partition_key, reading["timestamp"]))
    return MockRecord(record.partition_key, json.dumps(reading).encode(), "late")


MALFORMATIONS = {
    "not_json": lambda sid, ts: b"{sensor_id: " + sid.encode() + b", temperature: 21.5",
    "missing_field": lambda sid, ts: json.dumps({"sensor_id": sid, "timestamp": ts}).encode(),
    "invalid_temperature": lambda sid, ts: json.dumps({"sensor_id": sid, "timestamp": ts, "temperature": "warm"}).encode(),
    "invalid_timestamp": lambda sid, ts: json.dumps({"sensor_id": sid, "timestamp": ts[:19], "temperature": 20.0}).encode(),
    "temperature_below_absolute_zero": lambda sid, ts: json.dumps(
        {"sensor_id": sid, "timestamp": ts, "temperature": -300.0}).encode(),
    "not_an_object": lambda sid, ts: json.dumps([sid, ts, 21.0]).encode(),
}


def _malformed(rng: random.Random, plan: MockPlan, i: int) -> MockRecord:
    kind = list(MALFORMATIONS)[i % len(MALFORMATIONS)]
    sensor_id = rng.choice(sensor_ids(plan))
    data = MALFORMATIONS[kind](sensor_id, utc_text(plan.end))
    return MockRecord(f"{plan.sensor_prefix}-malformed-{i}", data, kind)


def put_mock_records(kinesis, stream: str, records: list[MockRecord], runs_table, run_id: str) -> None:
    """Put the records in chunks of PUT_RECORDS_LIMIT. Each chunk's item in the `runs` table says
    which of its records are not in the stream yet (`unput`, positions in the chunk), so a retry
    puts only those: a record accepted once is not put again. A try killed between a chunk's put
    and its item puts the chunk again (new sequence numbers): the pipeline stores each reading
    once all the same (sensor_data/storage.py)."""
    pk = f"sensor_mock_data#{run_id}"
    progress = {item["sk"]: item for item in query_all(runs_table, KeyConditionExpression=Key("pk").eq(pk))}
    chunks = [records[i:i + PUT_RECORDS_LIMIT] for i in range(0, len(records), PUT_RECORDS_LIMIT)]
    for index, chunk in enumerate(chunks):
        sk = f"chunk#{index:05d}"
        earlier = progress.get(sk)
        todo = list(range(len(chunk))) if earlier is None else [int(i) for i in earlier.get("unput", [])]
        if not todo:
            log.info("chunk %d/%d was put by an earlier try", index + 1, len(chunks))
            continue
        refused = put_records(kinesis, stream, [(chunk[i].partition_key, chunk[i].data) for i in todo])
        failpoint("sensor_mock_data.chunk_put")
        unput = [todo[i] for i in refused]
        runs_table.put_item(Item={"pk": pk, "sk": sk, "records": len(chunk), "unput": unput, "stream": stream,
                                  "put_at": datetime.now(UTC).isoformat()})
        if unput:
            raise TransientServiceError(f"{stream}: chunk {index + 1}/{len(chunks)}: {len(unput)} of its records "
                                        "still refused (throttled); a retry puts only those")
        log.info("chunk %d/%d: %d records put", index + 1, len(chunks), len(todo))
        failpoint("sensor_mock_data.chunk_recorded")
