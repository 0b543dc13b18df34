"""sensor_pipeline against hostile input, on the emulator's Kinesis, S3, DynamoDB and SNS: the run
after a few thousand records (some hostile, some put twice) succeeds, every record is stored once
as a reading or quarantined, and the API's averages equal a mean computed here from what was put;
a batch that keeps failing for an unforeseen reason is quarantined whole, announced, and the shard
goes on."""

from __future__ import annotations

import json
import statistics
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta, timezone

import pytest
from botocore.exceptions import ClientError
from tests.integration.sensor_data.expected import s3_lines

from archiveflow import resources
from archiveflow.operators.sensor_data import IngestShardOperator
from archiveflow.sensor_data import pipeline
from archiveflow.sensor_data.mock import MockPlan, mock_records
from archiveflow.sensor_data.readings import utc_text
from archiveflow.sensor_data.stream import put_records, read_new

pytestmark = pytest.mark.integration


def run_pipeline(sensors, run_id: str) -> dict:
    """One sensor_pipeline run: its tasks' core steps in the DAG's order, on the stack's clients."""
    batches = [pipeline.ingest_shard(sensors.kinesis, sensors.s3, sensors.checkpoints, sensors.bucket, sensors.stream,
                                     shard, 50_000, run_id) for shard in sensors.shards()]
    aggregates = pipeline.recompute_aggregates(sensors.s3, sensors.bucket, sensors.aggregates,
                                               [hour for batch in batches for hour in batch["hours"]])
    for batch in batches:
        pipeline.commit_batch(sensors.checkpoints, batch)
    quarantined = Counter()
    for batch in batches:
        quarantined.update(batch.get("quarantined", {}))
    return {"records": sum(b["records"] for b in batches), "quarantined": quarantined,
            "duplicates_dropped": sum(b.get("duplicates_dropped", 0) for b in batches), **aggregates}


def put(sensors, records: list[tuple[str, bytes]]) -> None:
    for i in range(0, len(records), 500):
        assert not put_records(sensors.kinesis, sensors.stream, records[i:i + 500])  # nothing refused


def hostile(prefix: str, now: datetime) -> tuple[list[tuple[bytes, str]], list[tuple[bytes, dict]]]:
    """(records that must be quarantined, with their reason), (records that are readings, with what is counted)."""
    edge, ts = f"{prefix}-edge", utc_text(now - timedelta(minutes=30))

    def doc(**fields) -> bytes:
        return json.dumps({"sensor_id": edge, "timestamp": ts, "temperature": 20.0, **fields}).encode()

    quarantined = [
        (doc(temperature=1e300), "temperature_above_maximum"),
        (doc(temperature=-1e300), "temperature_below_absolute_zero"),
        (doc(temperature=10_000.5), "temperature_above_maximum"),
        (doc(temperature=10**400), "invalid_temperature"),
        (doc(sensor_id="\ud800"), "invalid_sensor_id"),
        (doc(sensor_id="x" * 257), "invalid_sensor_id"),
        (doc(note="\udc00 alone"), "unstorable_json"),
        (doc(deep=json.loads("[" * 40 + "]" * 40)), "unstorable_json"),
        (doc(timestamp="0001-01-01T00:00:00+01:00"), "invalid_timestamp"),
        (doc(timestamp="9999-12-31T23:59:59-01:00"), "invalid_timestamp"),
        (doc(timestamp="1970-01-01T00:00:00Z"), "timestamp_too_early"),
        (doc(timestamp=utc_text(now + timedelta(days=2))), "timestamp_in_future"),
        (b"[" * 100_000, "not_json"),
        (b"\xff\xfe\x00garbage", "not_json"),
        (b'{"sensor_id": "s", "timestamp": "2026-12-01T10:00:00Z", "temperature": NaN}', "not_json"),
        (b'"just a string"', "not_an_object"),
    ]
    base = now - timedelta(minutes=40)

    def at(seconds: int) -> str:
        return utc_text(base + timedelta(seconds=seconds))

    readings = [  # (data, the reading as counted)
        (doc(timestamp=at(1), temperature=1e-300), {"sensor_id": edge, "timestamp": at(1), "temperature": 0.0}),
        (doc(timestamp=at(2), temperature=-273.15), {"sensor_id": edge, "timestamp": at(2), "temperature": -273.15}),
        (doc(timestamp=at(3), temperature=10_000), {"sensor_id": edge, "timestamp": at(3), "temperature": 10_000.0}),
        (doc(timestamp=at(4), temperature=21.25, note="a\u2028line\x85separator"),
         {"sensor_id": edge, "timestamp": at(4), "temperature": 21.25}),
        (doc(timestamp=(base + timedelta(seconds=5)).astimezone(timezone(timedelta(hours=5))).isoformat(), temperature=19),
         {"sensor_id": edge, "timestamp": at(5), "temperature": 19.0}),
    ]
    return quarantined, readings


def test_after_thousands_of_records_some_hostile_the_run_succeeds_and_averages_are_exact(sensors, sensors_api):
    prefix, now = f"acc-{uuid.uuid4().hex[:6]}", datetime.now(UTC)
    mock = mock_records(MockPlan(prefix, 4, 500, 30, now - timedelta(minutes=1), 0.05, 0.1, 30, seed=25))
    bad, good = hostile(prefix, now)
    copies = [r for r in mock if r.kind == "reading"][::100]  # a producer's retry: the same readings put again
    put(sensors, [(r.partition_key, r.data) for r in mock])
    put(sensors, [(f"{prefix}-hostile-{i}", data) for i, (data, _) in enumerate(bad + good)])
    put(sensors, [(r.partition_key, r.data) for r in copies])
    total = len(mock) + len(bad) + len(good) + len(copies)
    assert total > 2000

    summary = run_pipeline(sensors, f"acceptance__{prefix}")

    # Every record stored once: as a raw line (a reading) or a quarantine line (with its reason); a
    # copy of a reading already stored is left out.
    raw = s3_lines(sensors.s3, sensors.bucket, "raw/", sensors.stream)
    quarantined = s3_lines(sensors.s3, sensors.bucket, "quarantine/", sensors.stream)
    positions = [(line["_kinesis"]["shard_id"], line["_kinesis"]["sequence_number"]) for line in raw + quarantined]
    assert len(positions) == len(set(positions)) == total - len(copies) and summary["records"] == total
    assert set(Counter((line["sensor_id"], line["timestamp"]) for line in raw).values()) == {1}
    expected_reasons = Counter(r.kind for r in mock if r.kind not in ("reading", "late")) + Counter(
        reason for _, reason in bad)
    assert Counter(line["reason"] for line in quarantined) == expected_reasons == summary["quarantined"]
    assert summary["duplicates_dropped"] == len(copies) and summary["duplicates"] == 0

    # The API's averages against the mean of the readings, computed here from what was put.
    expected: dict[tuple[str, str], float] = {}
    for reading in [json.loads(r.data) for r in mock if r.kind in ("reading", "late")] + [g for _, g in good]:
        expected.setdefault((reading["sensor_id"], reading["timestamp"]), reading["temperature"])
    for sensor_id in sorted({s for s, _ in expected}):
        values = [t for (s, _), t in expected.items() if s == sensor_id]
        answer = sensors_api.get(f"/{sensor_id}/average-temperature")
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["count"] == len(values), sensor_id
        assert body["average_temperature"] == pytest.approx(statistics.fmean(values), abs=1e-9), sensor_id
        assert (body["min_temperature"], body["max_temperature"]) == (min(values), max(values))

    assert run_pipeline(sensors, f"again__{prefix}")["records"] == 0  # nothing new, nothing stuck


def unforeseen_on_raw_objects(monkeypatch, failures: list[Exception]):
    """Writing a batch's raw objects writes the first one, then fails with the next of `failures`."""
    real = pipeline.put_objects

    def put_objects(s3, bucket, objects):
        if failures and any(key.startswith("raw/") for key in objects):
            first = next(iter(objects))
            real(s3, bucket, {first: objects[first]})
            raise failures.pop(0)
        real(s3, bucket, objects)

    monkeypatch.setattr(pipeline, "put_objects", put_objects)


def subscribe(local_stack) -> str:
    sns, sqs = local_stack.client("sns"), local_stack.client("sqs")
    topic = next(t["TopicArn"] for t in sns.list_topics()["Topics"]
                 if t["TopicArn"].endswith(":" + resources.sns_topic("notifications")))
    queue = sqs.create_queue(QueueName=f"test-announce-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn, Attributes={"RawMessageDelivery": "true"})
    return queue


def test_a_batch_failing_3_tries_is_quarantined_whole_announced_and_the_shard_moves_on(
        sensors, local_stack, monkeypatch):
    prefix, now = f"q-{uuid.uuid4().hex[:6]}", datetime.now(UTC)
    mock = mock_records(MockPlan(prefix, 1, 30, 600, now - timedelta(minutes=1), 0, 0, 0, seed=3))
    put(sensors, [(r.partition_key, r.data) for r in mock])  # one sensor: one shard
    (shard,) = [s for s in sensors.shards()
                if read_new(sensors.kinesis, sensors.stream, s, None, 1)]
    slow_down = ClientError({"Error": {"Code": "SlowDown"}, "ResponseMetadata": {"HTTPStatusCode": 503}}, "PutObject")
    unforeseen_on_raw_objects(monkeypatch, [slow_down, RuntimeError("unforeseen \ud800"), RuntimeError("again"),
                                            RuntimeError("and again")])
    queue = subscribe(local_stack)

    for expected in (ClientError, RuntimeError, RuntimeError):  # S3 slowing down is not the records' fault
        with pytest.raises(expected):
            pipeline.ingest_shard(sensors.kinesis, sensors.s3, sensors.checkpoints, sensors.bucket, sensors.stream,
                                  shard, 1000, "run")
    raw_before = s3_lines(sensors.s3, sensors.bucket, "raw/", sensors.stream)
    assert raw_before  # the tries left part of the batch in raw/ ...
    hours = sorted({line["timestamp"][:13] + ":00:00Z" for line in raw_before})
    pipeline.recompute_aggregates(sensors.s3, sensors.bucket, sensors.aggregates, hours)  # ... counted by another batch
    assert sensors.aggregates.get_item(Key={"sensor_id": f"{prefix}-001", "window_start": "overall"}).get("Item")

    operator = IngestShardOperator(task_id="ingest_shard", shard_id=shard)
    context = {"params": {"stream_name": sensors.stream}, "run_id": f"test__{prefix}"}
    batch = operator.run(context)  # the third counted try fails too: the batch is quarantined whole

    assert batch["batch_quarantined"]["records"] == len(mock) == batch["records"]
    assert s3_lines(sensors.s3, sensors.bucket, "raw/", sensors.stream) == []
    quarantined = s3_lines(sensors.s3, sensors.bucket, "quarantine/", sensors.stream)
    assert sorted(q["data"] for q in quarantined) == sorted(r.data.decode() for r in mock)
    assert {q["reason"] for q in quarantined} == {"batch_failed"} and "and again" in quarantined[0]["message"]
    message = local_stack.client("sqs").receive_message(QueueUrl=queue, WaitTimeSeconds=5)["Messages"][0]["Body"]
    assert f"{batch['first']}..{batch['last']}" in message and "quarantine/" in message
    pipeline.recompute_aggregates(sensors.s3, sensors.bucket, sensors.aggregates, batch["hours"], batch["withdrawn"])
    assert sensors.aggregates.get_item(Key={"sensor_id": f"{prefix}-001", "window_start": "overall"}).get("Item") is None

    assert pipeline.commit_batch(sensors.checkpoints, batch)  # the shard moves on
    later = mock_records(MockPlan(prefix, 1, 5, 60, now, 0, 0, 0, seed=4))
    put(sensors, [(r.partition_key, r.data) for r in later])
    assert pipeline.ingest_shard(sensors.kinesis, sensors.s3, sensors.checkpoints, sensors.bucket, sensors.stream,
                                 shard, 1000, "run")["readings"] == 5


def test_a_batch_whose_tries_died_without_a_word_is_quarantined_on_the_next(sensors, monkeypatch):
    prefix, now = f"k-{uuid.uuid4().hex[:6]}", datetime.now(UTC)
    put(sensors, [(r.partition_key, r.data) for r in mock_records(MockPlan(prefix, 1, 10, 60, now, 0, 0, 0, seed=5))])
    (shard,) = [s for s in sensors.shards() if read_new(sensors.kinesis, sensors.stream, s, None, 1)]
    killed = []
    monkeypatch.setattr(pipeline, "store_batch", lambda *args: killed.append(1) or (_ for _ in ()).throw(SystemExit))
    for _ in range(3):  # SystemExit stands for a kill: no except clause sees it
        with pytest.raises(SystemExit):
            pipeline.ingest_shard(sensors.kinesis, sensors.s3, sensors.checkpoints, sensors.bucket, sensors.stream,
                                  shard, 1000, "run")
    batch = pipeline.ingest_shard(sensors.kinesis, sensors.s3, sensors.checkpoints, sensors.bucket, sensors.stream,
                                  shard, 1000, "run")
    assert len(killed) == 3 and batch["batch_quarantined"]["records"] == 10
    assert "3 tries ended without storing the batch" in batch["batch_quarantined"]["error"]
