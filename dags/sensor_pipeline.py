"""sensor_pipeline (Airflow DAG): Kinesis sensor readings → raw S3 (by hour), quarantine, per-sensor aggregates in DynamoDB."""

from __future__ import annotations

from archiveflow.dag_builder import archiveflow_dag
from archiveflow.operators.sensor_data import (
    CheckSensorRequestOperator,
    CommitCheckpointsOperator,
    IngestShardOperator,
    UpdateSensorAggregatesOperator,
    record_pipeline_failure,
)
from archiveflow.sensor_data.request import FIELDS

DOC = """
### Sensor pipeline (Kinesis → S3 + DynamoDB)

Every 10 minutes (or when triggered) reads what is new in the `sensor-readings` Kinesis stream,
shard by shard from a checkpoint, and:

| task | what it does |
|---|---|
| `check_request` | conf, and the stream exists; lists its shards |
| `ingest_shard` (one per shard) | takes the records after the shard's checkpoint (at most `max_records_per_shard`) and records them as the shard's *pending batch* before writing anything; checks each record against the contract; writes valid readings to `s3://<sensor-data bucket>/raw/date=YYYY-MM-DD/hour=HH/` (JSON lines, gzip, by the reading's own hour) and malformed ones to `quarantine/date=<arrival day>/` with a `reason` and `message` |
| `update_aggregates` | for each hour the batches touched, recomputes count, sum, min, max and mean per sensor from **all** raw objects of that hour and overwrites the hour's item in the `sensor-aggregates` table; then recomputes each sensor's `overall` item from its hours |
| `commit_checkpoints` | moves each shard's checkpoint past its batch (conditional write); records the run in the `runs` table (`pk = sensor_pipeline#<run id>`; a failed task records itself there too) |

**Never counted twice.** Aggregates are recomputed from the raw data, never incremented. A retry,
or the next run after a failure, replays the shard's pending batch — exactly the same records —
and rewrites the same objects, so the recomputed numbers do not change. Re-running a finished run
finds nothing new and changes nothing.

**Contract** (records that break it are quarantined with a reason, whatever their bytes):
`{"sensor_id": str, "timestamp": ISO 8601 with a time zone, "temperature": number in °C,
...optional fields}`, temperature in [-273.15, 10000] °C kept to 6 decimals, timestamp from
2001-01-01T00:00:00Z to 15 minutes after the record's arrival, every string valid Unicode, every
number a finite double, nesting at most 32 deep (the README says why). Late readings update the
hour they were measured in. A reading is its sensor + timestamp: a copy put twice is stored and counted once.

**A poison batch never stops a shard.** A batch whose storing fails 3 tries for a reason nobody
foresaw (not a service outage) is quarantined whole (`batch_failed`): its raw objects are
withdrawn, the `notifications` topic is told, the run's `runs` item lists it, and the shard goes on.

The averages are served by `GET /sensors/{sensor_id}/average-temperature?from=…&to=…` on the
Airflow API server (see the README). Example conf: `{}` or
`{"max_records_per_shard": 10000, "stream_name": "archiveflow-sensor-readings"}`.
"""

with archiveflow_dag("sensor_pipeline", FIELDS, DOC,
                     description="Kinesis sensor readings → raw S3 by hour, quarantine, per-sensor aggregates in DynamoDB",
                     tags=["sensors", "kinesis", "dynamodb"], schedule="*/10 * * * *",
                     max_active_runs=1,  # one reader per shard checkpoint at a time
                     default_args={"on_failure_callback": record_pipeline_failure}) as dag:
    shards = CheckSensorRequestOperator(task_id="check_request")
    batches = IngestShardOperator.partial(task_id="ingest_shard", map_index_template="{{ task.shard_id }}").expand(
        shard_id=shards.output)
    aggregates = UpdateSensorAggregatesOperator(task_id="update_aggregates", batches=batches.output)
    CommitCheckpointsOperator(task_id="commit_checkpoints", batches=batches.output, aggregates=aggregates.output)
