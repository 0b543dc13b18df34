"""The `dynamodb_dead_letter_redrive` request: whose dead-lettered records to write to their
archive keys, from which bucket. The bucket's existence and versioning are checked by the first task."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from archiveflow.dynamodb_archive.config import TABLE_NAME
from archiveflow.dynamodb_archive.request import BUCKET_NAME
from archiveflow.request_fields import Field, check_fields

# The trigger form's sections, in the order a person fills it in.
WHAT = "Records to redrive"
SOURCE = "Where they were dead-lettered"
SAFETY = "Safety"

FIELDS: dict[str, Field] = {
    "tables": Field(None, {"type": ["array", "null"], "minItems": 1, "maxItems": 100, "uniqueItems": True,
                           "items": {"type": "string", "pattern": TABLE_NAME}},
                    "Tables", "Redrive these tables' dead-lettered records only. Empty = every table's.", WHAT),
    "bucket": Field(None, {"type": ["string", "null"], "pattern": BUCKET_NAME}, "Archive bucket",
                    "Bucket the records were meant for (their dead-letter copies are in it); empty = the "
                    "deployment's stream-archive bucket.", SOURCE),
    "dry_run": Field(False, {"type": "boolean"}, "Dry run", "Only count and list the dead-lettered records.", SAFETY),
}


@dataclass(frozen=True)
class RedriveRequest:
    tables: tuple[str, ...] | None
    bucket: str | None
    dry_run: bool


def parse_request(conf: Mapping[str, Any]) -> RedriveRequest:
    """The request, or BadRequest naming the first field that breaks its schema."""
    values = check_fields(FIELDS, conf)
    values["tables"] = tuple(values["tables"]) if values["tables"] else None
    return RedriveRequest(**values)
