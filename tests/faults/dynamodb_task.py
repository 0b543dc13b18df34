"""dynamodb_delete_archive's archive_table as a killable process:
`python dynamodb_task.py TABLE STREAM_ARN KEY_NAMES [CLIENT_TIMEOUT_S]` (KEY_NAMES comma-separated,
partition key first).

The operator's own core (`read_table_streams` with a `RecordArchiver` per stream and the
deployment's checkpoint table) over boto3 clients of the emulator (AWS_ENDPOINT_URL); a timeout
shortens the S3 client's connect/read timeouts (a freeze longer than botocore's 60 s would cost
minutes). Progress is logged per batch; the outcome is printed as JSON at the end.
"""

import json
import logging
import sys
import time

import boto3
from botocore.config import Config

from archiveflow import resources
from archiveflow.dynamodb_archive.archive import WRITER_CLIENT_CONFIG, ArchiveTarget, RecordArchiver
from archiveflow.dynamodb_archive.checkpoints import CheckpointStore
from archiveflow.dynamodb_archive.stream import read_table_streams

BUDGET_S = 600


def no_dead_letters(body: str) -> None:
    raise AssertionError(f"no record of the fault suite may be dead-lettered: {body[:300]}")


def run(table: str, stream_arn: str, key_names: tuple[str, ...], timeout: float | None = None) -> dict:
    # Only the archive writes' client gets the short timeouts: the freeze is placed mid-batch, and
    # the stream and checkpoint calls keep botocore's 60 s (a loaded machine answers them slowly).
    timeouts = {"connect_timeout": timeout, "read_timeout": timeout} if timeout else {}
    s3 = boto3.client("s3", config=Config(**WRITER_CLIENT_CONFIG, **timeouts))  # as the operator's
    dynamodb = boto3.resource("dynamodb")
    streams = boto3.client("dynamodbstreams")
    bucket = resources.bucket("stream-archive")
    checkpoints = CheckpointStore(dynamodb.Table(resources.dynamodb_table("stream-checkpoints")), table)

    def archiver_for(arn: str) -> RecordArchiver:
        return RecordArchiver(s3, ArchiveTarget(table, key_names, arn, bucket), no_dead_letters)

    return read_table_streams(streams, checkpoints, archiver_for, table, stream_arn,
                              time.monotonic() + BUDGET_S).as_dict()


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(levelname)s %(name)s %(message)s")
    table, stream_arn, key_names = sys.argv[1:4]
    timeout = float(sys.argv[4]) if len(sys.argv) > 4 else None
    print("RESULT " + json.dumps(run(table, stream_arn, tuple(key_names.split(",")), timeout)), flush=True)
