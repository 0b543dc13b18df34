"""The steps of sensor_pipeline as plain functions over boto3 clients: take a shard's batch and store
it (raw + quarantine), recompute the aggregates of the hours it touched, commit the checkpoint.

Retry safety, step by step:
1. `ingest_shard` decides the batch and records it as pending in the checkpoint item *before*
   writing anything; a retry (or the next run) replays exactly that batch and rewrites the same
   objects (see checkpoints.py, storage.py).
2. `recompute_aggregates` overwrites each touched hour with numbers recomputed from all of the
   hour's raw objects (see aggregates.py): nothing is incremented, so nothing is counted twice.
3. `commit_batch` moves the checkpoint past the batch, once, with a conditional write.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

from boto3.dynamodb.conditions import Key

from archiveflow.sensor_data.aggregates import hour_item, hour_of, hour_stats, overall_item
from archiveflow.sensor_data.checkpoints import Checkpoints
from archiveflow.sensor_data.readings import Reading, Rejected, parse_reading, utc_text
from archiveflow.sensor_data.storage import batch_objects, hour_lines, put_objects
from archiveflow.sensor_data.stream import read_new, read_range


def ingest_shard(kinesis, s3, checkpoints: Checkpoints, bucket: str, stream: str, shard_id: str,
                 max_records: int, run_id: str) -> dict[str, Any]:
    """Store one batch of a shard in S3; a summary for XCom (which hours it touched)."""
    checkpoint = checkpoints.get(stream, shard_id)
    if checkpoint.pending:
        records = read_range(kinesis, stream, shard_id, *checkpoint.pending)
    else:
        records = read_new(kinesis, stream, shard_id, checkpoint.sequence_number, max_records)
        if not records:
            return {"stream": stream, "shard_id": shard_id, "records": 0, "hours": []}
        checkpoints.hold(checkpoint, records[0].sequence_number, records[-1].sequence_number, run_id)
    parsed = [(record, parse_reading(record.data, record.arrived_at)) for record in records]
    objects = batch_objects(parsed)
    put_objects(s3, bucket, objects)
    readings = [outcome for _, outcome in parsed if isinstance(outcome, Reading)]
    return {
        "stream": stream, "shard_id": shard_id, "replayed": checkpoint.pending is not None,
        "first": records[0].sequence_number, "last": records[-1].sequence_number,
        "records": len(records), "readings": len(readings),
        "quarantined": dict(Counter(o.reason for _, o in parsed if isinstance(o, Rejected))),
        "hours": sorted({utc_text(reading.hour) for reading in readings}),
        "objects": sorted(objects),
    }


def recompute_aggregates(s3, bucket: str, table, hours: Iterable[str]) -> dict[str, int]:
    """Overwrite the hourly items of `hours` (recomputed from S3), then the touched sensors' overall items."""
    sensors: set[str] = set()
    hours = sorted(set(hours))
    with table.batch_writer(overwrite_by_pkeys=["sensor_id", "window_start"]) as writer:
        for hour_text in hours:
            hour = hour_of(hour_text)
            stats = hour_stats(hour_lines(s3, bucket, hour))
            for sensor_id, sensor_stats in stats.items():
                writer.put_item(Item=hour_item(sensor_id, hour, sensor_stats))
            sensors.update(stats)
    for sensor_id in sorted(sensors):
        table.put_item(Item=overall_item(sensor_id, hourly_items(table, sensor_id)))
    return {"hours": len(hours), "sensors": len(sensors)}


def hourly_items(table, sensor_id: str, first: str = "0", last: str = "9") -> list[dict[str, Any]]:
    """A sensor's hourly items with window_start in [first, last] (all of them by default), in time order."""
    # Hours sort as text between "0" and "9"; OVERALL ("overall") sorts after them all, out of range.
    condition = Key("sensor_id").eq(sensor_id) & Key("window_start").between(first, last)
    items: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {
        "KeyConditionExpression": condition, "ConsistentRead": True,
        # Only what combining needs: a year of hours stays one or two pages. ("count" is a reserved word.)
        "ProjectionExpression": "window_start, #count, sum_temperature, min_temperature, max_temperature",
        "ExpressionAttributeNames": {"#count": "count"},
    }
    while True:
        page = table.query(**kwargs)
        items.extend(page["Items"])
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def commit_batch(checkpoints: Checkpoints, batch: dict[str, Any]) -> bool:
    if not batch["records"]:
        return False
    checkpoint = checkpoints.get(batch["stream"], batch["shard_id"])
    return checkpoints.commit(checkpoint, batch["first"], batch["last"])
