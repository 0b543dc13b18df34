"""sensor_pipeline's steps on the emulator's Kinesis, S3 and DynamoDB: what lands where, that the
aggregates equal an independent computation from the raw data, and that retries and re-runs never
count twice."""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from boto3.dynamodb.conditions import Key
from tests.integration.sensor_data.expected import (
    close,
    item_summary,
    s3_lines,
    summary,
    temperatures_by_sensor_hour,
)

from archiveflow.errors import BadRequest
from archiveflow.sensor_data.averages import average_temperature
from archiveflow.sensor_data.mock import MockPlan, mock_records, sensor_ids
from archiveflow.sensor_data.pipeline import commit_batch, ingest_shard, recompute_aggregates
from archiveflow.sensor_data.stream import put_records

pytestmark = pytest.mark.integration


def put_mock(sensors, prefix: str, malformed: int = 6, readings: int = 40, seed: int = 1) -> list:
    plan = MockPlan(prefix, 3, readings, 90, datetime.now(UTC) - timedelta(minutes=1), 0.1, 0.2, malformed, seed)
    records = mock_records(plan)
    for i in range(0, len(records), 500):
        put_records(sensors.kinesis, sensors.stream, [(r.partition_key, r.data) for r in records[i:i + 500]])
    return records


def ingest_all(sensors, max_records: int = 50_000, run_id: str = "run") -> list[dict]:
    return [ingest_shard(sensors.kinesis, sensors.s3, sensors.checkpoints, sensors.bucket, sensors.stream, shard,
                         max_records, run_id) for shard in sensors.shards()]


def run_pipeline(sensors, max_records: int = 50_000) -> list[dict]:
    batches = ingest_all(sensors, max_records)
    recompute_aggregates(sensors.s3, sensors.bucket, sensors.aggregates, [h for b in batches for h in b["hours"]])
    for batch in batches:
        commit_batch(sensors.checkpoints, batch)
    return batches


def aggregate_items(sensors, sensor_list: list[str]) -> dict[tuple[str, str], dict]:
    items = {}
    for sensor_id in sensor_list:
        for item in sensors.aggregates.query(KeyConditionExpression=Key("sensor_id").eq(sensor_id))["Items"]:
            items[(sensor_id, item["window_start"])] = item
    return items


def assert_aggregates_match_raw(sensors, sensor_list: list[str]) -> dict:
    raw = [line for line in s3_lines(sensors.s3, sensors.bucket, "raw/", sensors.stream)]
    expected = temperatures_by_sensor_hour(raw)
    items = aggregate_items(sensors, sensor_list)
    hourly = {key: item for key, item in items.items() if key[1] != "overall"}
    assert set(hourly) == set(expected)
    for key, values in expected.items():
        assert close(item_summary(hourly[key]), summary(values)), key
    for sensor_id in sensor_list:
        values = [v for (s, _), vs in expected.items() if s == sensor_id for v in vs]
        assert close(item_summary(items[(sensor_id, "overall")]), summary(values)), sensor_id
    return items


def test_readings_land_in_raw_and_quarantine_and_aggregates_match_the_raw_data(sensors):
    prefix = f"it-{uuid.uuid4().hex[:6]}"
    records = put_mock(sensors, prefix, malformed=6)
    batches = run_pipeline(sensors)

    assert sum(b["records"] for b in batches) == len(records)
    raw = s3_lines(sensors.s3, sensors.bucket, "raw/", sensors.stream)
    assert len(raw) == 3 * 40  # every valid reading once, late ones included
    quarantined = s3_lines(sensors.s3, sensors.bucket, "quarantine/", sensors.stream)
    assert Counter(q["reason"] for q in quarantined) == Counter(r.kind for r in records if r.kind not in
                                                                ("reading", "late"))
    assert all(q["message"] and q["_kinesis"]["partition_key"].startswith(f"{prefix}-malformed-") for q in quarantined)
    sensor_list = sensor_ids(MockPlan(prefix, 3, 0, 0, datetime.now(UTC), 0, 0, 0, 0))
    items = assert_aggregates_match_raw(sensors, sensor_list)
    late_hours = {key for key in items if key[1] < min(b["hours"][-1] for b in batches if b["hours"])}
    assert late_hours, "late readings should have made aggregates for earlier hours"


def test_rerun_changes_nothing(sensors):
    prefix = f"it-{uuid.uuid4().hex[:6]}"
    put_mock(sensors, prefix)
    run_pipeline(sensors)
    sensor_list = [f"{prefix}-00{i}" for i in (1, 2, 3)]
    before_items, before_objects = aggregate_items(sensors, sensor_list), sensors.listing()

    again = run_pipeline(sensors)

    assert [b["records"] for b in again] == [0, 0]
    assert aggregate_items(sensors, sensor_list) == before_items
    assert sensors.listing() == before_objects


def test_a_failed_run_is_replayed_exactly_even_when_more_records_arrived(sensors):
    prefix = f"it-{uuid.uuid4().hex[:6]}"
    put_mock(sensors, prefix, malformed=2, readings=30, seed=2)
    first_try = ingest_all(sensors, max_records=25)  # raw written, then the run "fails" before aggregates
    objects_after_first_try = sensors.listing()
    put_mock(sensors, prefix, malformed=2, readings=30, seed=3)  # more readings arrive meanwhile

    retry = ingest_all(sensors, max_records=25)

    # The prefix is random: the few partition keys may all hash to one shard, leaving another with
    # nothing held by the first try (its retry then reads the new records: not a replay).
    held = [b for b in first_try if b["records"]]
    replays = [b for b in retry if b["shard_id"] in {h["shard_id"] for h in held}]
    assert held and [(b["first"], b["last"]) for b in replays] == [(b["first"], b["last"]) for b in held]
    assert all(b["replayed"] for b in replays)
    assert {k: v for k, v in sensors.listing().items() if k in objects_after_first_try} == objects_after_first_try
    recompute_aggregates(sensors.s3, sensors.bucket, sensors.aggregates, [h for b in retry for h in b["hours"]])
    for batch in (b for b in retry if b["records"]):
        assert commit_batch(sensors.checkpoints, batch)
        assert not commit_batch(sensors.checkpoints, batch)  # a retried commit is a no-op
    while any(b["records"] for b in run_pipeline(sensors, max_records=25)):
        pass  # later runs take the rest, 25 records per shard at a time

    raw = s3_lines(sensors.s3, sensors.bucket, "raw/", sensors.stream)
    assert len(raw) == 2 * 3 * 30  # both puts, each reading exactly once
    assert len({(line["_kinesis"]["shard_id"], line["_kinesis"]["sequence_number"]) for line in raw}) == len(raw)
    assert_aggregates_match_raw(sensors, [f"{prefix}-00{i}" for i in (1, 2, 3)])


def test_average_over_a_range_is_truncated_to_whole_hours(sensors):
    prefix = f"it-{uuid.uuid4().hex[:6]}"
    put_mock(sensors, prefix, readings=120)  # 3 hours of readings every 90 s
    run_pipeline(sensors)
    sensor_id = f"{prefix}-001"
    expected = temperatures_by_sensor_hour(s3_lines(sensors.s3, sensors.bucket, "raw/", sensors.stream))
    hours = sorted(hour for (s, hour) in expected if s == sensor_id)
    first, last = datetime.fromisoformat(hours[0]), datetime.fromisoformat(hours[-1])
    start, end = first + timedelta(minutes=30), last + timedelta(minutes=15)  # → [first, last)

    answer = average_temperature(sensors.aggregates, sensor_id, start, end)

    inside = [v for (s, hour), vs in expected.items() if s == sensor_id and first <= datetime.fromisoformat(hour) < last
              for v in vs]
    assert answer["count"] == len(inside) and abs(answer["average_temperature"] - summary(inside)["mean"]) < 1e-9
    assert (answer["from"], answer["to"]) == (hours[0], hours[-1])
    assert answer["truncated_to_whole_hours"] is True and answer["hours_covered"] == len(hours) - 1
    everything = average_temperature(sensors.aggregates, sensor_id, None, None)
    all_values = [v for (s, _), vs in expected.items() if s == sensor_id for v in vs]
    assert everything["count"] == len(all_values) and everything["truncated_to_whole_hours"] is False
    assert average_temperature(sensors.aggregates, f"{prefix}-unknown", None, None) is None
    with pytest.raises(BadRequest) as err:
        average_temperature(sensors.aggregates, sensor_id, end, start)
    assert err.value.field == "to"
    empty = average_temperature(sensors.aggregates, sensor_id, datetime(2001, 1, 1, tzinfo=UTC),
                                datetime(2001, 1, 2, tzinfo=UTC))
    assert (empty["count"], empty["average_temperature"]) == (0, None)
