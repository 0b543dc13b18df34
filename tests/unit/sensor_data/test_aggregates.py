"""Aggregation math and the S3 layout of a batch (no services)."""

import gzip
import json
from datetime import UTC, datetime

from boto3.dynamodb.types import TypeSerializer

from archiveflow.sensor_data.aggregates import Stats, hour_item, hour_stats, overall_item
from archiveflow.sensor_data.readings import StreamRecord, parse_reading
from archiveflow.sensor_data.storage import batch_objects, read_jsonl_gz

ARRIVED = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def line(sensor, temperature, seq, shard="shardId-0", second=0, arrived="2026-12-01T12:00:00Z"):
    return {"sensor_id": sensor, "timestamp": f"2026-12-01T11:00:{second:02d}Z", "temperature": temperature,
            "_kinesis": {"stream": "s", "shard_id": shard, "sequence_number": str(seq), "arrived_at": arrived}}


def test_hour_stats_count_each_reading_once_by_sensor_and_timestamp():
    lines = [line("a", 20.0, 1), line("a", 22.0, 2, second=1), line("b", 5.5, 3),
             line("a", 20.0, 1),  # the same line read twice
             line("a", 20.0, 9, second=1, arrived="2026-12-01T12:00:05Z")]  # put again: new sequence number
    stats = hour_stats(lines)
    assert stats.by_sensor["a"] == Stats(2, 42.0, 20.0, 22.0) and stats.by_sensor["a"].mean == 21.0
    assert stats.by_sensor["b"] == Stats(1, 5.5, 5.5, 5.5)
    assert (stats.duplicates, stats.unusable) == (2, 0)
    # Of two lines of one reading, the first to arrive is counted, whatever order the lines come in.
    later_first = hour_stats([line("a", 30.0, 12, shard="shardId-1", arrived="2026-12-01T12:00:10.5Z"),
                              line("a", 10.0, 700, arrived="2026-12-01T12:00:10Z")])
    assert later_first.by_sensor["a"] == Stats(1, 10.0, 10.0, 10.0)


def test_hour_stats_leave_out_lines_that_break_the_contract_so_an_hour_can_always_be_recomputed():
    # Written by a version without bounds: each used to make the hour's DynamoDB write raise.
    old = [line("a", 1e300, 1), line("a", 1e300, 2, second=1), line("a", 5e-324, 3, second=2), line("a", "hot", 4)]
    stats = hour_stats([*old, line("a", 21.5, 5, second=3)])
    assert stats.by_sensor["a"] == Stats(2, 21.5, 0.0, 21.5)  # 5e-324 counts as 0.0: to the micro-kelvin
    assert (stats.unusable, stats.duplicates) == (3, 0)
    item = hour_item("a", datetime(2026, 12, 1, 11, tzinfo=UTC), hour_stats([line("a", 5e-324, 3)]).by_sensor["a"])
    TypeSerializer().serialize(item)  # what the DynamoDB write does with every number: no Underflow


def test_overall_item_combines_hours_exactly():
    hourly = [{"window_start": "2026-12-01T10:00:00Z", **Stats.of([0.1] * 10).attributes()},
              {"window_start": "2026-12-01T11:00:00Z", **Stats.of([0.2, 0.7]).attributes()}]
    item = overall_item("a", hourly)
    assert item["count"] == 12 and item["hours"] == 2
    assert float(item["sum_temperature"]) == 1.9  # fsum: no drift from adding 0.1 ten times
    assert (item["first_hour"], item["last_hour"]) == ("2026-12-01T10:00:00Z", "2026-12-01T11:00:00Z")
    assert float(item["min_temperature"]) == 0.1 and float(item["max_temperature"]) == 0.7


def record(seq: int, data: bytes) -> StreamRecord:
    return StreamRecord("stream-x", "shardId-000000000001", str(seq), "pk", ARRIVED, data)


def test_batch_objects_partition_by_reading_hour_and_quarantine_with_reason():
    records = [record(7, b'{"sensor_id":"a","timestamp":"2026-12-01T11:59:59Z","temperature":1}'),
               record(8, b'{"sensor_id":"a","timestamp":"2026-12-01T09:00:00Z","temperature":2}'),  # late
               record(9, b"\xff not json")]
    objects = batch_objects([(r, parse_reading(r.data, r.arrived_at)) for r in records])
    name = "stream-x.shardId-000000000001.7.jsonl.gz"
    assert sorted(objects) == [f"quarantine/date=2026-12-01/{name}", f"raw/date=2026-12-01/hour=09/{name}",
                               f"raw/date=2026-12-01/hour=11/{name}"]
    (late,) = read_jsonl_gz(objects[f"raw/date=2026-12-01/hour=09/{name}"])
    assert late["temperature"] == 2.0 and late["_kinesis"]["sequence_number"] == "8"
    (bad,) = read_jsonl_gz(objects[f"quarantine/date=2026-12-01/{name}"])
    assert bad["reason"] == "not_json" and "data_base64" in bad and bad["_kinesis"]["sequence_number"] == "9"
    # The same batch gives the same bytes: a retry rewrites identical objects.
    again = batch_objects([(r, parse_reading(r.data, r.arrived_at)) for r in records])
    assert again == objects
    assert json.loads(gzip.decompress(objects[f"raw/date=2026-12-01/hour=11/{name}"]))["sensor_id"] == "a"


def test_batch_objects_store_a_reading_once_whatever_its_copies():
    reading = b'{"sensor_id":"a","timestamp":"2026-12-01T11:00:00+01:00","temperature":1}'
    records = [record(7, reading),
               record(8, b'{"sensor_id":"a","timestamp":"2026-12-01T10:00:00Z","temperature":9}'),  # put again
               record(9, b'{"sensor_id":"b","timestamp":"2026-12-01T10:30:00Z","temperature":2}'),
               record(10, b'{"sensor_id":"c","timestamp":"2026-12-01T10:40:00Z","temperature":3}')]
    parsed = [(r, parse_reading(r.data, r.arrived_at)) for r in records]
    # "c" is in an object an earlier batch of the shard wrote
    objects = batch_objects(parsed, stored={("c", "2026-12-01T10:40:00Z")})
    (key,) = objects
    lines = list(read_jsonl_gz(objects[key]))
    assert [(line["sensor_id"], line["temperature"], line["_kinesis"]["sequence_number"]) for line in lines] == [
        ("a", 1.0, "7"), ("b", 2.0, "9")]  # the first copy stays
