"""The `sensor_pipeline` request: which stream, how much per shard and run, which connection.

No conf is needed: the schedule runs it with the defaults (the deployment's `sensor-readings`
stream). Stream, bucket and tables are checked to exist by the first task.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from archiveflow.request_fields import Field, check_fields

# The trigger form's sections, titled for this DAG, in the order a person fills the form in.
SOURCE = "Stream"
WHAT = "How much to read"
CONNECTIONS = "Connections"

STREAM_NAME = {"type": ["string", "null"], "pattern": r"^[a-zA-Z0-9_.-]{1,128}$"}
CONN_ID = {"type": "string", "pattern": r"^[A-Za-z0-9_.-]{1,250}$"}

FIELDS: dict[str, Field] = {
    "stream_name": Field(None, STREAM_NAME, "Kinesis stream",
                         "Kinesis data stream to read; empty = the deployment's `sensor-readings` stream.", SOURCE),
    "max_records_per_shard": Field(
        50_000, {"type": "integer", "minimum": 1, "maximum": 1_000_000}, "Records per shard",
        "Most records one run takes from each shard; the rest waits for the next run.", WHAT),
    "aws_conn_id": Field("aws_default", CONN_ID, "AWS connection",
                         "Airflow connection for Kinesis, S3 and DynamoDB.", CONNECTIONS),
}


@dataclass(frozen=True)
class PipelineRequest:
    stream_name: str | None
    max_records_per_shard: int
    aws_conn_id: str


def parse_request(conf: Mapping[str, Any]) -> PipelineRequest:
    """The request, or BadRequest naming the first field that breaks its schema."""
    return PipelineRequest(**check_fields(FIELDS, conf))
