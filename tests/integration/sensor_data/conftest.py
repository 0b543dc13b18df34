"""A Kinesis stream of its own per test (so checkpoints start fresh), on the local stack's emulator."""

from __future__ import annotations

import uuid

import pytest

from archiveflow import resources
from archiveflow.sensor_data.checkpoints import Checkpoints


class SensorStack:
    def __init__(self, local_stack, stream: str):
        self.stream = stream
        self.kinesis = local_stack.client("kinesis")
        self.s3 = local_stack.client("s3")
        dynamodb = local_stack.resource("dynamodb")
        self.bucket = resources.bucket("sensor-data")
        self.aggregates = dynamodb.Table(resources.dynamodb_table("sensor-aggregates"))
        self.checkpoints = Checkpoints(dynamodb.Table(resources.dynamodb_table("sensor-checkpoints")))

    def shards(self) -> list[str]:
        from archiveflow.sensor_data.stream import shard_ids

        return shard_ids(self.kinesis, self.stream)

    def listing(self) -> dict[str, str]:
        """Every object this stream's batches wrote, with its ETag."""
        objects = {}
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket):
            for item in page.get("Contents", []):
                if f"/{self.stream}." in item["Key"]:
                    objects[item["Key"]] = item["ETag"]
        return objects


@pytest.fixture
def sensors(local_stack):
    stream = f"test-sensors-{uuid.uuid4().hex[:8]}"
    kinesis = local_stack.client("kinesis")
    kinesis.create_stream(StreamName=stream, ShardCount=2)
    kinesis.get_waiter("stream_exists").wait(StreamName=stream, WaiterConfig={"Delay": 1})
    yield SensorStack(local_stack, stream)
    kinesis.delete_stream(StreamName=stream)


@pytest.fixture
def sensors_api(local_stack):
    """The /sensors app as the API server mounts it, reading the emulator's aggregates table through
    the aws_default connection; the auth manager's check is left out (tests/e2e covers it)."""
    from fastapi.testclient import TestClient

    from archiveflow.api.sensors import aggregates_table, create_app

    aggregates_table.cache_clear()  # the connection of this stack
    app = create_app()
    (route,) = [r for r in app.routes if getattr(r, "path", "") == "/{sensor_id}/average-temperature"]
    auth = route.dependencies[0].dependency
    app.dependency_overrides[auth] = lambda: None
    try:
        with TestClient(app) as client:
            yield client
    finally:
        app.dependency_overrides.clear()
        aggregates_table.cache_clear()
