"""Operators of `sensor_mock_data` and `sensor_pipeline`: they open the provider's Kinesis, S3 and
DynamoDB hooks and hand the clients to the plain-Python core in `archiveflow.sensor_data`.

The pipeline reads the stream with plain GetRecords calls from a scheduled run, not with the
provider's `KinesisTrigger` (event-driven scheduling through an AssetWatcher). That trigger moves
its own cursor when it *emits* an event, carries the records base64-encoded in the event through
the metadata database, and is best-effort by its own documentation (records may repeat or be lost
around a triggerer restart). Aggregates that must never count a record twice need the cursor to
move only after the data is stored, in the same place as the batch being processed: the
`sensor-checkpoints` table (see sensor_data/checkpoints.py).
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

from archiveflow import resources
from archiveflow.errors import BadRequest
from archiveflow.failpoints import failpoint
from archiveflow.operators.base import ArchiveflowOperator


def _kinesis(aws_conn_id: str):
    from airflow.providers.amazon.aws.hooks.kinesis import KinesisHook

    return KinesisHook(aws_conn_id=aws_conn_id).conn


def _s3(aws_conn_id: str):
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook

    return S3Hook(aws_conn_id=aws_conn_id).conn


def _table(aws_conn_id: str, logical: str):
    from airflow.providers.amazon.aws.hooks.dynamodb import DynamoDBHook

    name = resources.dynamodb_table(logical)
    return DynamoDBHook(aws_conn_id=aws_conn_id, table_name=name).conn.Table(name)


def _stream_name(requested: str | None) -> str:
    return requested or resources.kinesis_stream("sensor-readings")


def _check_stream(kinesis, stream: str) -> None:
    try:
        kinesis.describe_stream_summary(StreamName=stream)
    except kinesis.exceptions.ResourceNotFoundException:
        raise BadRequest("stream_name", f"no Kinesis stream {stream!r} for this connection") from None


def _checkpoints(aws_conn_id: str):
    from archiveflow.sensor_data.checkpoints import Checkpoints

    return Checkpoints(_table(aws_conn_id, "sensor-checkpoints"))


# --- sensor_mock_data -------------------------------------------------------------------------

class PutMockSensorReadingsOperator(ArchiveflowOperator):
    """Generate the run's readings (deterministic for the run) and put them into the stream in
    chunks; each chunk put is recorded in the `runs` table, so a retry puts only what is missing."""

    def run(self, context) -> dict[str, Any]:
        from archiveflow.sensor_data.mock import mock_records, put_mock_records
        from archiveflow.sensor_data.mock_request import FIELDS, parse_request

        request = parse_request(context["params"])
        self.warn_unknown_fields(FIELDS, context["params"])
        kinesis = _kinesis(request.aws_conn_id)
        stream = _stream_name(request.stream_name)
        _check_stream(kinesis, stream)
        plan = self.plan(request, context)
        records = mock_records(plan)
        put_mock_records(kinesis, stream, records, _table(request.aws_conn_id, "runs"), context["run_id"])
        kinds: dict[str, int] = {}
        for record in records:
            kinds[record.kind] = kinds.get(record.kind, 0) + 1
        self.log.info("put %d records into %s: %s", len(records), stream, kinds)
        return {"stream": stream, "records": len(records), "kinds": kinds, "seed": plan.seed,
                "end": plan.end.isoformat(), "sensors": plan.sensor_count}

    @staticmethod
    def plan(request, context):
        from archiveflow.sensor_data.mock import MockPlan
        from archiveflow.sensor_data.readings import parse_instant

        end = context["dag_run"].run_after
        if request.end_time is not None:
            end = parse_instant(request.end_time)
            if end is None:
                raise BadRequest("end_time", f"{request.end_time!r} is not an ISO 8601 date-time with a time zone")
        seed = request.seed
        if seed is None:  # the run id fixes the readings: a retry regenerates the same ones
            seed = int(hashlib.sha256(context["run_id"].encode()).hexdigest()[:12], 16)
        return MockPlan(request.sensor_prefix, request.sensor_count, request.readings_per_sensor,
                        request.interval_seconds, end.astimezone(UTC), request.late_fraction,
                        request.out_of_order_fraction, request.malformed_count, seed)


# --- sensor_pipeline --------------------------------------------------------------------------

class CheckSensorRequestOperator(ArchiveflowOperator):
    """Check the conf and that the stream exists; return its shards, to map the ingestion over."""

    def run(self, context) -> list[str]:
        from archiveflow.sensor_data.request import FIELDS, parse_request
        from archiveflow.sensor_data.stream import shard_ids

        request = parse_request(context["params"])
        self.warn_unknown_fields(FIELDS, context["params"])
        kinesis = _kinesis(request.aws_conn_id)
        stream = _stream_name(request.stream_name)
        _check_stream(kinesis, stream)
        shards = shard_ids(kinesis, stream)
        self.log.info("%s: %d shards %s", stream, len(shards), shards)
        return shards


class IngestShardOperator(ArchiveflowOperator):
    """One shard: take its batch (or replay the pending one), store raw readings by hour and
    malformed records in quarantine."""

    def __init__(self, *, shard_id: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.shard_id = shard_id

    def run(self, context) -> dict[str, Any]:
        from archiveflow.hooks.sns import announce
        from archiveflow.sensor_data.pipeline import MAX_TRIES, ingest_shard
        from archiveflow.sensor_data.request import parse_request

        request = parse_request(context["params"])
        conn = request.aws_conn_id
        batch = ingest_shard(_kinesis(conn), _s3(conn), _checkpoints(conn), resources.bucket("sensor-data"),
                             _stream_name(request.stream_name), self.shard_id, request.max_records_per_shard,
                             context["run_id"])
        if not batch["records"]:
            self.log.info("%s: nothing new", self.shard_id)
        elif quarantined := batch.get("batch_quarantined"):
            self.log.error("%s: records %s..%s QUARANTINED WHOLE after %d failed tries (%s) in %s", self.shard_id,
                           batch["first"], batch["last"], MAX_TRIES, quarantined["error"], quarantined["object"])
            announce(request.aws_conn_id, f"sensor_pipeline: a batch of {self.shard_id} was quarantined whole",
                     f"sensor_pipeline run {context['run_id']}, shard {self.shard_id} of {batch['stream']}: records "
                     f"{batch['first']}..{batch['last']} ({quarantined['records']}) failed {MAX_TRIES} tries and are "
                     f"in s3://{resources.bucket('sensor-data')}/{quarantined['object']} (reason batch_failed); "
                     f"the shard went on.\nLast error: {quarantined['error']}", self.log)
        else:
            self.log.info("%s: records %s..%s%s: %d readings in %d hours (%d copies of stored ones left out), "
                          "quarantined %s", self.shard_id, batch["first"], batch["last"],
                          " (replayed pending batch)" if batch["replayed"] else "", batch["readings"],
                          len(batch["hours"]), batch["duplicates_dropped"], batch["quarantined"] or "none")
        return batch


class UpdateSensorAggregatesOperator(ArchiveflowOperator):
    """Recompute the hourly aggregates of every hour the batches touched, then the sensors' overall ones."""

    template_fields = ("batches",)  # resolves the ingest tasks' XComs

    def __init__(self, *, batches: list[dict], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.batches = batches

    def run(self, context) -> dict[str, int]:
        from archiveflow.sensor_data.pipeline import recompute_aggregates
        from archiveflow.sensor_data.request import parse_request

        request = parse_request(context["params"])
        hours = sorted({hour for batch in self.batches for hour in batch["hours"]})
        withdrawn: dict[str, set[str]] = {}
        for batch in self.batches:
            for hour, sensors in (batch.get("withdrawn") or {}).items():
                withdrawn.setdefault(hour, set()).update(sensors)
        self.log.info("recomputing %d hours: %s", len(hours), hours[:24])
        result = recompute_aggregates(_s3(request.aws_conn_id), resources.bucket("sensor-data"),
                                      _table(request.aws_conn_id, "sensor-aggregates"), hours, withdrawn)
        self.log.info("aggregates written: %s", result)
        return result


class CommitCheckpointsOperator(ArchiveflowOperator):
    """Move each shard's checkpoint past its batch, then record the run in the `runs` table."""

    template_fields = ("batches", "aggregates")

    def __init__(self, *, batches: list[dict], aggregates: dict, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.batches = batches
        self.aggregates = aggregates

    def run(self, context) -> dict[str, Any]:
        from archiveflow.sensor_data.pipeline import commit_batch
        from archiveflow.sensor_data.request import parse_request

        request = parse_request(context["params"])
        failpoint("sensor_pipeline.aggregated")
        checkpoints = _checkpoints(request.aws_conn_id)
        batches = list(self.batches)
        for batch in batches:
            if commit_batch(checkpoints, batch):
                self.log.info("%s: checkpoint moved to %s", batch["shard_id"], batch["last"])
        quarantined: dict[str, int] = {}
        for batch in batches:
            for reason, count in (batch.get("quarantined") or {}).items():
                quarantined[reason] = quarantined.get(reason, 0) + count
        summary = {"records": sum(b["records"] for b in batches), "readings": sum(b.get("readings", 0) for b in batches),
                   "duplicates_dropped": sum(b.get("duplicates_dropped", 0) for b in batches),
                   "quarantined": quarantined, **self.aggregates,
                   "batches_quarantined_whole": [{"shard_id": b["shard_id"], "first": b["first"], "last": b["last"],
                                                  **b["batch_quarantined"]} for b in batches if b.get("batch_quarantined")]}
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook

        from archiveflow.run_items import put_run_item

        put_run_item(_table(request.aws_conn_id, "runs"), S3Hook(aws_conn_id=request.aws_conn_id).get_conn(),
                     resources.bucket("reports"), {
                         "pk": f"sensor_pipeline#{context['run_id']}", "sk": "run", "status": "succeeded",
                         "stream": _stream_name(request.stream_name), **summary,
                         "finished_at": datetime.now(UTC).isoformat()})
        self.log.info("run summary: %s", summary)
        return summary


def record_pipeline_failure(context) -> None:
    """on_failure_callback of sensor_pipeline: the run's item in the `runs` table says which task failed and why."""
    ti = context["ti"]
    _table(context["params"].get("aws_conn_id") or "aws_default", "runs").put_item(Item={
        "pk": f"sensor_pipeline#{context['run_id']}", "sk": "run", "status": "failed",
        "failed_task": ti.task_id, "map_index": ti.map_index,
        "reason": str(context.get("exception") or "unknown error")[:2000],
        "finished_at": datetime.now(UTC).isoformat()})
