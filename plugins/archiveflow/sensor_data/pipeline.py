"""The steps of sensor_pipeline as plain functions over boto3 clients: take a shard's batch and store
it (raw + quarantine), recompute the aggregates of the hours it touched, commit the checkpoint.

Retry safety, step by step:
1. `ingest_shard` decides the batch and records it as pending in the checkpoint item *before*
   writing anything; a retry (or the next run) replays exactly that batch and rewrites the same
   objects (see checkpoints.py, storage.py), leaving out a reading the shard already stored (a
   copy a producer's retry put): the raw data holds each reading once.
2. `recompute_aggregates` overwrites each touched hour with numbers recomputed from all of the
   hour's raw objects (see aggregates.py): nothing is incremented, so nothing is counted twice.
3. `commit_batch` moves the checkpoint past the batch, once, with a conditional write.

No record stops a shard: each record becomes a reading or is quarantined with a reason (a check
that raises quarantines its record as `unexpected_error`). A batch whose storing still fails for a
reason nobody foresaw is quarantined whole (`batch_failed`) once MAX_TRIES tries failed: every
record to the batch's quarantine object, the raw objects an earlier try wrote deleted (their hours
recomputed), the summary's `batch_quarantined` for the operator to announce, and the shard moves
on at the commit. A service being unavailable does not count as a failed try.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from boto3.dynamodb.conditions import Key

from archiveflow.errors import TransientServiceError
from archiveflow.failpoints import failpoint
from archiveflow.s3_objects import delete_keys
from archiveflow.sensor_data.aggregates import OVERALL, hour_item, hour_of, hour_stats, overall_item
from archiveflow.sensor_data.checkpoints import Checkpoints
from archiveflow.sensor_data.readings import Reading, Rejected, StreamRecord, parse_reading, utc_text
from archiveflow.sensor_data.services import service_unavailable
from archiveflow.sensor_data.storage import (
    batch_name,
    batch_objects,
    hour_lines,
    hour_prefix,
    identity,
    put_objects,
    quarantine_batch_object,
    stored_by_shard,
)
from archiveflow.sensor_data.stream import read_new, read_range

log = logging.getLogger(__name__)

MAX_TRIES = 3


def ingest_shard(kinesis, s3, checkpoints: Checkpoints, bucket: str, stream: str, shard_id: str,
                 max_records: int, run_id: str) -> dict[str, Any]:
    """Store one batch of a shard in S3; a summary for XCom (which hours it touched)."""
    checkpoint = checkpoints.get(stream, shard_id)
    replayed = checkpoint.pending is not None
    if replayed:
        records = read_range(kinesis, stream, shard_id, *checkpoint.pending)
        tries = checkpoints.start_try(checkpoint)
    else:
        records = read_new(kinesis, stream, shard_id, checkpoint.sequence_number, max_records)
        if not records:
            return {"stream": stream, "shard_id": shard_id, "records": 0, "hours": []}
        checkpoint = checkpoints.hold(checkpoint, records[0].sequence_number, records[-1].sequence_number, run_id)
        tries = 1
    if tries > MAX_TRIES:  # the earlier tries failed, or died without a word
        error = checkpoint.error or f"{tries - 1} tries ended without storing the batch (killed?)"
        return _summary(records, replayed, quarantine_whole(s3, bucket, records, error))
    try:
        stored = store_batch(s3, bucket, records)
    except Exception as error:
        if service_unavailable(error):
            checkpoints.try_not_counted(checkpoint)
            raise
        text = printable(f"{type(error).__name__}: {error}")
        checkpoints.try_failed(checkpoint, text)
        if tries < MAX_TRIES:
            raise
        log.exception("%s/%s: try %d of %d at the batch failed; quarantining it whole", stream, shard_id, tries,
                      MAX_TRIES)
        return _summary(records, replayed, quarantine_whole(s3, bucket, records, text))
    failpoint("sensor_data.stored")
    checkpoints.try_stored(checkpoint)
    return _summary(records, replayed, stored)


def classify(record: StreamRecord) -> Reading | Rejected:
    """The record as a reading or a rejection; a check that raises rejects the record, not the batch."""
    try:
        return parse_reading(record.data, record.arrived_at)
    except Exception as error:
        log.exception("checking record %s of %s raised", record.sequence_number, record.shard_id)
        return Rejected("unexpected_error", printable(f"{type(error).__name__}: {error}"))


def store_batch(s3, bucket: str, records: list[StreamRecord]) -> dict[str, Any]:
    parsed = [(record, classify(record)) for record in records]
    readings = [outcome for _, outcome in parsed if isinstance(outcome, Reading)]
    stored = stored_by_shard(s3, bucket, records[0], {reading.hour for reading in readings})
    objects = batch_objects(parsed, stored)
    put_objects(s3, bucket, objects)
    new = len({identity(reading) for reading in readings} - stored)
    # readings stored, and copies of one the raw data already held (a producer put it again) left out
    return {"readings": new, "duplicates_dropped": len(readings) - new,
            "quarantined": dict(Counter(o.reason for _, o in parsed if isinstance(o, Rejected))),
            "hours": sorted({utc_text(reading.hour) for reading in readings}), "objects": sorted(objects)}


def quarantine_whole(s3, bucket: str, records: list[StreamRecord], error: str) -> dict[str, Any]:
    """Every record of the batch to its quarantine object (replacing the one a try may have written),
    then the raw objects earlier tries may have written deleted; their hours are to be recomputed."""
    key, body = quarantine_batch_object(records, Rejected("batch_failed", f"{MAX_TRIES} tries failed: {error}"))
    put_objects(s3, bucket, {key: body})
    if s3.head_object(Bucket=bucket, Key=key)["ContentLength"] != len(body):
        raise TransientServiceError(f"s3://{bucket}/{key}: the quarantined batch did not read back whole")
    # A raw object of the batch exists only for an hour of one of its readings (same checks, same hours).
    withdrawn: dict[str, set[str]] = defaultdict(set)
    for outcome in map(classify, records):
        if isinstance(outcome, Reading):
            withdrawn[utc_text(outcome.hour)].add(outcome.sensor_id)
    delete_keys(s3, bucket, [hour_prefix(hour_of(hour)) + batch_name(records[0]) for hour in sorted(withdrawn)])
    return {"readings": 0, "quarantined": {"batch_failed": len(records)}, "hours": sorted(withdrawn),
            "objects": [key], "batch_quarantined": {"records": len(records), "error": error, "object": key},
            # Sensors whose hour may have lost its last reading: recompute_aggregates deletes such an hour's item.
            "withdrawn": {hour: sorted(sensors) for hour, sensors in sorted(withdrawn.items())}}


def _summary(records: list[StreamRecord], replayed: bool, stored: dict[str, Any]) -> dict[str, Any]:
    first = records[0]
    return {"stream": first.stream, "shard_id": first.shard_id, "replayed": replayed,
            "first": first.sequence_number, "last": records[-1].sequence_number, "records": len(records), **stored}


def printable(text: str) -> str:
    """Text any store takes: an unpaired surrogate (from a record) becomes its escape."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def recompute_aggregates(s3, bucket: str, table, hours: Iterable[str],
                         withdrawn: Mapping[str, Iterable[str]] | None = None) -> dict[str, int]:
    """Overwrite the hourly items of `hours` (recomputed from S3), then the touched sensors' overall
    items. `withdrawn` (hour → sensors) names items that may have lost all their readings (a batch
    quarantined whole): those left without any are deleted."""
    sensors: set[str] = set()
    duplicates = unusable = 0
    hours = sorted(set(hours))
    with table.batch_writer(overwrite_by_pkeys=["sensor_id", "window_start"]) as writer:
        for hour_text in hours:
            hour = hour_of(hour_text)
            stats = hour_stats(hour_lines(s3, bucket, hour))
            for sensor_id, sensor_stats in stats.by_sensor.items():
                writer.put_item(Item=hour_item(sensor_id, hour, sensor_stats))
            for sensor_id in set((withdrawn or {}).get(hour_text, ())) - set(stats.by_sensor):
                writer.delete_item(Key={"sensor_id": sensor_id, "window_start": utc_text(hour)})
                sensors.add(sensor_id)
            sensors.update(stats.by_sensor)
            duplicates += stats.duplicates
            if stats.unusable:
                log.warning("%s: %d raw lines break the reading contract; left out", hour_text, stats.unusable)
                unusable += stats.unusable
    for sensor_id in sorted(sensors):
        if hourly := hourly_items(table, sensor_id):
            table.put_item(Item=overall_item(sensor_id, hourly))
        else:
            table.delete_item(Key={"sensor_id": sensor_id, "window_start": OVERALL})
    return {"hours": len(hours), "sensors": len(sensors), "duplicates": duplicates, "unusable_lines": unusable}


def hourly_items(table, sensor_id: str, first: str = "0", last: str = "9") -> list[dict[str, Any]]:
    """A sensor's hourly items with window_start in [first, last] (all of them by default), in time order."""
    # Hours sort as text between "0" and "9"; OVERALL ("overall") sorts after them all, out of range.
    condition = Key("sensor_id").eq(sensor_id) & Key("window_start").between(first, last)
    return query_all(
        table, KeyConditionExpression=condition,
        # Only what combining needs: a year of hours stays one or two pages. ("count" is a reserved word.)
        ProjectionExpression="window_start, #count, sum_temperature, min_temperature, max_temperature",
        ExpressionAttributeNames={"#count": "count"})


def query_all(table, **kwargs: Any) -> list[dict[str, Any]]:
    """Every item of a (consistent) query, page after page."""
    kwargs = {"ConsistentRead": True, **kwargs}
    items: list[dict[str, Any]] = []
    while True:
        page = table.query(**kwargs)
        items.extend(page["Items"])
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def commit_batch(checkpoints: Checkpoints, batch: dict[str, Any]) -> bool:
    """Move the shard's checkpoint past its batch (stored or quarantined whole); False if already done."""
    if not batch["records"]:
        return False
    checkpoint = checkpoints.get(batch["stream"], batch["shard_id"])
    failpoint("sensor_data.committing")
    return checkpoints.commit(checkpoint, batch["first"], batch["last"])
