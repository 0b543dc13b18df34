"""The `dynamodb_delete_archive` request. Rules needing AWS (each table exists and streams its old
images, the bucket is versioned) are checked by the first task."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from archiveflow.dynamodb_archive.config import TABLE_NAME, VARIABLE
from archiveflow.request_fields import Field, check_fields

# The trigger form's sections, titled for this DAG, in the order a person fills the form in.
WHAT = "Tables to archive"
DESTINATION = "Archive bucket"
SAFETY = "Limits"

BUCKET_NAME = r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$"

FIELDS: dict[str, Field] = {
    "tables": Field(
        None, {"type": ["array", "null"], "minItems": 1, "maxItems": 100, "uniqueItems": True,
               "items": {"type": "string", "pattern": TABLE_NAME}},
        "Tables", f"DynamoDB tables whose deleted items are archived. Empty = the deployment's list: the Airflow "
        f"Variable `{VARIABLE}` (a JSON list), else `include/dynamodb_archive/tables.yaml`.", WHAT),
    "bucket": Field(None, {"type": ["string", "null"], "pattern": BUCKET_NAME}, "Archive bucket",
                    "Versioned S3 bucket for the archived items; empty = the deployment's stream-archive bucket.",
                    DESTINATION),
    "time_budget_minutes": Field(
        10, {"type": "integer", "minimum": 1, "maximum": 120}, "Time budget (minutes)",
        "Stop reading a table's stream after this long; the next run continues from the checkpoints.", SAFETY),
}


@dataclass(frozen=True)
class ArchiveRequest:
    tables: tuple[str, ...] | None
    bucket: str | None
    time_budget_minutes: int


def parse_request(conf: Mapping[str, Any]) -> ArchiveRequest:
    """The request, or BadRequest naming the first field that breaks its schema."""
    values = check_fields(FIELDS, conf)
    values["tables"] = tuple(values["tables"]) if values["tables"] else None
    return ArchiveRequest(**values)
