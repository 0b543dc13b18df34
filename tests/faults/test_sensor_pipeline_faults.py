"""sensor_pipeline under faults: one run's tasks in a child process, killed (SIGKILL by pid) after a
shard's raw objects are written but before the aggregates, or after the aggregates but before the
checkpoint moves; then the next run (what a retry of the run's tasks, or the next schedule, does).
And its producer, sensor_mock_data's put step, killed after a chunk is put, before its record: the
retry puts the chunk again.

After each, read from S3 and DynamoDB themselves: every reading is in the raw data exactly once,
each sensor's hourly and overall aggregates equal the count and mean computed here from the
readings the test put (not from anything the pipeline wrote), no batch is left pending, and
another run finds nothing new."""

from __future__ import annotations

import gzip
import hashlib
import json
import statistics
import uuid
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

import mock_task
import pytest
import sensor_task
from boto3.dynamodb.conditions import Key
from harness import aws_env, start_child

from archiveflow import resources
from archiveflow.sensor_data.averages import average_temperature
from archiveflow.sensor_data.stream import put_records

pytestmark = pytest.mark.integration
TASK = str(Path(sensor_task.__file__))
MOCK_TASK = str(Path(mock_task.__file__))
SENSORS = 4
READINGS = 60  # per sensor, 90 s apart: over two or three hours


class Readings:
    """A stream of its own with SENSORS x READINGS readings put; what to check afterwards."""

    def __init__(self, local_stack, put: bool = True):
        self.local_stack = local_stack
        self.kinesis, self.s3 = local_stack.client("kinesis"), local_stack.client("s3")
        dynamodb = local_stack.resource("dynamodb")
        self.aggregates = dynamodb.Table(resources.dynamodb_table("sensor-aggregates"))
        self.checkpoints = dynamodb.Table(resources.dynamodb_table("sensor-checkpoints"))
        self.bucket = resources.bucket("sensor-data")
        self.stream = f"fault-sensors-{uuid.uuid4().hex[:8]}"
        self.kinesis.create_stream(StreamName=self.stream, ShardCount=2)
        self.kinesis.get_waiter("stream_exists").wait(StreamName=self.stream, WaiterConfig={"Delay": 1})
        if put:
            self._put()

    def _put(self) -> None:
        end = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)
        self.readings = [(sensor, end - timedelta(seconds=90 * i), round(15 + s + (i * 37 % 100) / 7, 6))
                         for s, sensor in enumerate(self._sensors_on_every_shard()) for i in range(READINGS)]
        records = [(sensor, json.dumps({"sensor_id": sensor, "timestamp": moment.isoformat(),
                                        "temperature": value}).encode()) for sensor, moment, value in self.readings]
        for start in range(0, len(records), 500):
            assert put_records(self.kinesis, self.stream, records[start:start + 500]) == []

    def _sensors_on_every_shard(self) -> list[str]:
        """SENSORS sensor ids (the partition key) spread evenly over the shards' hash ranges: with
        random names all of them land on one shard one time in eight, and the kills below need a
        batch on each shard."""
        ranges = [(int(shard["HashKeyRange"]["StartingHashKey"]), int(shard["HashKeyRange"]["EndingHashKey"]))
                  for shard in self.kinesis.list_shards(StreamName=self.stream)["Shards"]]
        per_shard, chosen = SENSORS // len(ranges), []
        for n in range(1000):
            name = f"{self.stream}-s{n}"
            key = int(hashlib.md5(name.encode()).hexdigest(), 16)  # Kinesis maps a partition key by its MD5
            shard = next(i for i, (low, high) in enumerate(ranges) if low <= key <= high)
            if sum(1 for _, on in chosen if on == shard) < per_shard:
                chosen.append((name, shard))
            if len(chosen) == SENSORS:
                return [name for name, _ in chosen]
        raise AssertionError("no spread of sensor ids over the shards")

    def start(self, run_id: str, failpoint: str | None = None):
        return start_child([TASK, self.stream, run_id], failpoint=failpoint, env=aws_env(self.local_stack))

    def run(self, run_id: str) -> list[dict]:
        task = self.start(run_id)
        assert task.finish() == 0, task.output[-3000:]
        return task.result()

    def raw_lines(self) -> list[dict]:
        lines = []
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix="raw/"):
            for item in page.get("Contents", []):
                if item["Key"].rsplit("/", 1)[-1].startswith(f"{self.stream}."):
                    body = self.s3.get_object(Bucket=self.bucket, Key=item["Key"])["Body"].read()
                    lines += [json.loads(text) for text in gzip.decompress(body).decode().split("\n") if text]
        return lines

    def pending(self) -> list[dict]:
        items = self.checkpoints.query(KeyConditionExpression=Key("stream_name").eq(self.stream),
                                       ConsistentRead=True)["Items"]
        return [i for i in items if "pending_first" in i]

    def check_counted_once(self) -> str:
        raw = Counter((line["sensor_id"], datetime.fromisoformat(line["timestamp"])) for line in self.raw_lines())
        doubled = [k for k, n in raw.items() if n > 1]
        assert not doubled, f"{len(doubled)} readings stored twice: {doubled[:3]}"
        assert set(raw) == {(sensor, moment) for sensor, moment, _ in self.readings}
        by_hour, by_sensor = defaultdict(list), defaultdict(list)
        for sensor, moment, value in self.readings:
            by_hour[(sensor, moment.strftime("%Y-%m-%dT%H:00:00Z"))].append(value)
            by_sensor[sensor].append(value)
        items = {}
        for sensor in by_sensor:
            for item in self.aggregates.query(KeyConditionExpression=Key("sensor_id").eq(sensor),
                                              ConsistentRead=True)["Items"]:
                items[(sensor, item["window_start"])] = item
        hourly = {k: v for k, v in items.items() if k[1] != "overall"}
        assert set(hourly) == set(by_hour)
        for key, values in by_hour.items():
            assert int(hourly[key]["count"]) == len(values), (key, hourly[key]["count"], len(values))
            assert abs(float(hourly[key]["mean_temperature"]) - statistics.fmean(values)) < 1e-9, key
        for sensor, values in by_sensor.items():
            assert int(items[(sensor, "overall")]["count"]) == len(values), sensor
            answer = average_temperature(self.aggregates, sensor, None, None)  # what the API serves
            assert answer["count"] == len(values)
            assert abs(answer["average_temperature"] - statistics.fmean(values)) < 1e-9, (sensor, answer)
        assert self.pending() == []
        again = self.run("after")
        assert sum(b["records"] for b in again) == 0, again
        return (f"{len(self.readings)} readings once in raw, {len(hourly)} hourly + {len(by_sensor)} overall "
                "aggregates = independent mean, 0 pending")

    def drop(self) -> None:
        self.kinesis.delete_stream(StreamName=self.stream)


@pytest.fixture
def readings(local_stack):
    made = Readings(local_stack)
    yield made
    made.drop()


def test_kill_after_the_raw_objects_before_the_aggregates(readings, fault_table):
    task = readings.start("run-1", failpoint="sensor_data.stored")
    task.wait_for("failpoint sensor_data.stored reached")
    stored = len(readings.raw_lines())
    assert 0 < stored < len(readings.readings)  # one shard's batch is in S3; no aggregate yet
    assert task.kill() < 0
    assert len(readings.pending()) == 1
    batches = readings.run("run-2")
    assert sum(b["replayed"] for b in batches) == 1 and sum(b["records"] for b in batches) == len(readings.readings)
    fault_table("SIGKILL", "sensor_pipeline: ingest_shard after the raw objects, before the aggregates",
                f"next run replayed the pending batch ({stored} readings) and rewrote the same objects",
                readings.check_counted_once())


def test_kill_after_the_aggregates_before_the_checkpoint(readings, fault_table):
    task = readings.start("run-1", failpoint="sensor_data.committing")
    task.wait_for("failpoint sensor_data.committing reached")
    assert task.kill() < 0
    assert len(readings.pending()) == 2  # the aggregates are written; neither checkpoint moved
    batches = readings.run("run-2")
    assert all(b["replayed"] for b in batches) and sum(b["records"] for b in batches) == len(readings.readings)
    fault_table("SIGKILL", "sensor_pipeline: after update_aggregates, before commit_checkpoints",
                "next run replayed both batches; the aggregates were recomputed, not added to",
                readings.check_counted_once())


def test_mock_data_killed_between_a_chunk_put_and_its_record(local_stack, fault_table):
    readings = Readings(local_stack, put=False)
    try:
        end = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)
        records = mock_task.mock_records(mock_task.plan(readings.stream, end))
        documents = [json.loads(record.data) for record in records]
        readings.readings = [(d["sensor_id"], datetime.fromisoformat(d["timestamp"]), d["temperature"])
                             for d in documents]
        argv = [MOCK_TASK, readings.stream, "mock-1", readings.stream, end.isoformat()]
        task = start_child(argv, failpoint="sensor_mock_data.chunk_put", env=aws_env(local_stack))
        task.wait_for("failpoint sensor_mock_data.chunk_put reached")
        assert task.kill() < 0  # the first chunk is in the stream, its item in `runs` is not
        stored = readings.run("run-1")  # the pipeline stores the first chunk before the retry puts it again
        assert sum(b.get("readings", 0) for b in stored) == len(records)
        retry = start_child(argv, env=aws_env(local_stack))
        assert retry.finish() == 0 and retry.result() == len(records), retry.output[-3000:]
        batches = readings.run("run-2")
        assert sum(b["records"] for b in batches) == len(records)  # the chunk's copies (new sequence numbers)
        assert sum(b.get("duplicates_dropped", 0) for b in batches) == len(records)
        fault_table("SIGKILL", "sensor_mock_data: after a chunk's put, before its record in runs",
                    f"the retry put the chunk again; the pipeline left the {len(records)} copies out of raw",
                    readings.check_counted_once())
    finally:
        readings.drop()
