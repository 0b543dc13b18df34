"""sensor_mock_data's put step as a killable process: `python mock_task.py STREAM RUN_ID PREFIX END`.

The readings of 3 sensors x 40 (one chunk), generated as the DAG's task does (`mock_records`) with
a fixed seed, put by `put_mock_records` over boto3 clients of the emulator (AWS_ENDPOINT_URL) and the
deployment's `runs` table. Prints the number of records as JSON.
"""

import json
import logging
import sys
from datetime import datetime

import boto3

from archiveflow import resources
from archiveflow.sensor_data.mock import MockPlan, mock_records, put_mock_records

READINGS = 40  # per sensor, a minute apart


def plan(prefix: str, end: datetime) -> MockPlan:
    return MockPlan(prefix, 3, READINGS, 60, end, late_fraction=0.05, out_of_order_fraction=0.1, malformed_count=0, seed=7)


def run(stream: str, run_id: str, prefix: str, end: datetime) -> int:
    records = mock_records(plan(prefix, end))
    runs = boto3.resource("dynamodb").Table(resources.dynamodb_table("runs"))
    put_mock_records(boto3.client("kinesis"), stream, records, runs, run_id)
    return len(records)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(levelname)s %(name)s %(message)s")
    stream, run_id, prefix, end = sys.argv[1:5]
    print("RESULT " + json.dumps(run(stream, run_id, prefix, datetime.fromisoformat(end))), flush=True)
