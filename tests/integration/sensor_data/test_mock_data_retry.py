"""sensor_mock_data's put step on the emulator: a retry puts only the chunks not put yet."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from archiveflow import resources
from archiveflow.operators.sensor_data import PutMockSensorReadingsOperator
from archiveflow.sensor_data.mock import MockPlan, mock_records, put_mock_records
from devstack import template as cfn

pytestmark = pytest.mark.integration


def stream_size(kinesis, stream: str) -> int:
    total = 0
    for shard in kinesis.list_shards(StreamName=stream)["Shards"]:
        iterator = kinesis.get_shard_iterator(StreamName=stream, ShardId=shard["ShardId"],
                                              ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        total += len(kinesis.get_records(ShardIterator=iterator, Limit=10_000)["Records"])
    return total


def test_a_retry_puts_only_the_chunks_an_earlier_try_did_not(sensors, local_stack):
    runs = local_stack.resource("dynamodb").Table(resources.dynamodb_table("runs"))
    run_id = f"test__{uuid.uuid4().hex[:8]}"
    records = mock_records(MockPlan("retry", 6, 200, 60, datetime.now(UTC), 0.05, 0.1, 3, seed=5))
    assert len(records) == 1203  # three chunks of at most 500
    runs.put_item(Item={"pk": f"sensor_mock_data#{run_id}", "sk": "chunk#00000", "records": 500})  # try 1 got this far

    put_mock_records(sensors.kinesis, sensors.stream, records, runs, run_id)
    assert stream_size(sensors.kinesis, sensors.stream) == 1203 - 500

    put_mock_records(sensors.kinesis, sensors.stream, records, runs, run_id)  # a further retry: nothing left to put
    assert stream_size(sensors.kinesis, sensors.stream) == 1203 - 500


def test_an_unknown_stream_is_refused_naming_the_field_before_anything_is_put(local_stack):
    from archiveflow.errors import BadRequest
    from archiveflow.operators.sensor_data import CheckSensorRequestOperator

    context = {"params": {"stream_name": f"no-such-stream-{uuid.uuid4().hex[:6]}"}, "run_id": "test"}
    for operator in (CheckSensorRequestOperator(task_id="check_request"),
                     PutMockSensorReadingsOperator(task_id="put_readings")):
        with pytest.raises(BadRequest) as err:
            operator.run({**context, "dag_run": None})
        assert err.value.field == "stream_name"


def test_the_declared_stream_is_provisioned_with_its_shards(local_stack):
    from archiveflow.operators.sensor_data import CheckSensorRequestOperator

    shards = CheckSensorRequestOperator(task_id="check_request").run({"params": {}, "run_id": "test"})
    template = cfn.raw()["Resources"]["SensorReadingsStream"]["Properties"]
    assert len(shards) == template["ShardCount"]


class Throttling:
    """The emulator's Kinesis behind a PutRecords that refuses every third record it is given
    (ProvisionedThroughputExceededException in the result, as Kinesis does under load) for as long
    as `throttled` is true; the others are really put."""

    def __init__(self, kinesis):
        self.kinesis, self.throttled = kinesis, True

    def __getattr__(self, name):
        return getattr(self.kinesis, name)

    def put_records(self, StreamName, Records):
        refused = {i for i in range(len(Records)) if self.throttled and i % 3 == 0}
        accepted = iter(self.kinesis.put_records(
            StreamName=StreamName, Records=[r for i, r in enumerate(Records) if i not in refused])["Records"]
            if len(refused) < len(Records) else [])
        return {"Records": [{"ErrorCode": "ProvisionedThroughputExceededException", "ErrorMessage": "Rate exceeded"}
                            if i in refused else next(accepted) for i in range(len(Records))]}


def stream_data(kinesis, stream: str) -> list[bytes]:
    data = []
    for shard in kinesis.list_shards(StreamName=stream)["Shards"]:
        iterator = kinesis.get_shard_iterator(StreamName=stream, ShardId=shard["ShardId"],
                                              ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        data += [r["Data"] for r in kinesis.get_records(ShardIterator=iterator, Limit=10_000)["Records"]]
    return data


def test_a_chunk_partly_put_then_given_up_on_is_completed_by_the_retry_without_a_copy(sensors, local_stack,
                                                                                     monkeypatch):
    from archiveflow.errors import TransientServiceError

    monkeypatch.setattr("archiveflow.sensor_data.stream.time.sleep", lambda seconds: None)
    runs = local_stack.resource("dynamodb").Table(resources.dynamodb_table("runs"))
    run_id = f"test__{uuid.uuid4().hex[:8]}"
    records = mock_records(MockPlan("throttled", 3, 200, 60, datetime.now(UTC), 0.05, 0.1, 3, seed=6))
    kinesis = Throttling(sensors.kinesis)

    with pytest.raises(TransientServiceError):  # try 1: Kinesis keeps refusing a third of what it is given
        put_mock_records(kinesis, sensors.stream, records, runs, run_id)
    assert 0 < len(stream_data(sensors.kinesis, sensors.stream)) < 500  # most of the first chunk is in
    kinesis.throttled = False
    put_mock_records(kinesis, sensors.stream, records, runs, run_id)  # try 2

    assert sorted(stream_data(sensors.kinesis, sensors.stream)) == sorted(r.data for r in records)  # each once
