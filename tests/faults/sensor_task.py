"""sensor_pipeline's tasks as a killable process: `python sensor_task.py STREAM RUN_ID`.

One run of the DAG, task after task as the operators call the core: `ingest_shard` for each shard,
`update_aggregates` over the hours the batches touched, `commit_checkpoints`; over boto3 clients of
the emulator (AWS_ENDPOINT_URL) and the deployment's bucket and tables. Prints the batches as JSON.
"""

import json
import logging
import sys

import boto3

from archiveflow import resources
from archiveflow.sensor_data.checkpoints import Checkpoints
from archiveflow.sensor_data.pipeline import commit_batch, ingest_shard, recompute_aggregates
from archiveflow.sensor_data.stream import shard_ids

MAX_RECORDS = 10_000  # the request's default max_records_per_shard


def run(stream: str, run_id: str) -> list[dict]:
    kinesis, s3, dynamodb = boto3.client("kinesis"), boto3.client("s3"), boto3.resource("dynamodb")
    bucket = resources.bucket("sensor-data")
    checkpoints = Checkpoints(dynamodb.Table(resources.dynamodb_table("sensor-checkpoints")))
    batches = [ingest_shard(kinesis, s3, checkpoints, bucket, stream, shard, MAX_RECORDS, run_id)
               for shard in shard_ids(kinesis, stream)]
    withdrawn: dict[str, set[str]] = {}
    for batch in batches:
        for hour, sensors in (batch.get("withdrawn") or {}).items():
            withdrawn.setdefault(hour, set()).update(sensors)
    recompute_aggregates(s3, bucket, dynamodb.Table(resources.dynamodb_table("sensor-aggregates")),
                         sorted({hour for batch in batches for hour in batch["hours"]}), withdrawn)
    for batch in batches:
        commit_batch(checkpoints, batch)
    return batches


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(levelname)s %(name)s %(message)s")
    print("RESULT " + json.dumps(run(*sys.argv[1:3])), flush=True)
