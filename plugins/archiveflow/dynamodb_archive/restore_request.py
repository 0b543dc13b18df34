"""The `dynamodb_restore_items` request: which archived items to put back, and where. Rules
needing AWS (the target table exists, each key has an archive) are checked by the first task."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from archiveflow.dynamodb_archive.config import TABLE_NAME
from archiveflow.dynamodb_archive.request import BUCKET_NAME
from archiveflow.errors import BadRequest
from archiveflow.request_fields import Field, check_fields

# The trigger form's sections, titled for this DAG, in the order a person fills the form in.
SOURCE = "Archived items"
WHAT = "Items to restore"
DESTINATION = "Target table"
SAFETY = "Safety"

OPTIONAL_TIME = {"type": ["string", "null"], "format": "date-time"}
KEY_VALUE = {"anyOf": [{"type": "string"}, {"type": "number"},
                       {"type": "object", "required": ["B"], "additionalProperties": False,
                        "properties": {"B": {"type": "string", "contentEncoding": "base64"}}}]}

FIELDS: dict[str, Field] = {
    "table": Field(None, {"type": "string", "pattern": TABLE_NAME}, "Archived table",
                   "The table the items were deleted from (their archive's prefix in the bucket).", SOURCE),
    "bucket": Field(None, {"type": ["string", "null"], "pattern": BUCKET_NAME}, "Archive bucket",
                    "Bucket holding the archive; empty = the deployment's stream-archive bucket.", SOURCE),
    "keys": Field(None, {"type": ["array", "null"], "minItems": 1, "maxItems": 10_000,
                         "items": {"type": "object", "minProperties": 1, "maxProperties": 2,
                                   "additionalProperties": KEY_VALUE}},
                  "Item keys", 'Restore these items only: [{"PK": "USER#123", "SK": "PROFILE"}] (a number key as a '
                  'number, a binary key as {"B": "<base64>"}). Empty = every archived item (within the time range).',
                  WHAT),
    "deleted_after": Field(None, OPTIONAL_TIME, "Deleted after",
                           "Only items deleted at or after this time (ISO 8601, e.g. 2026-11-30T00:00:00Z).", WHAT),
    "deleted_before": Field(None, OPTIONAL_TIME, "Deleted before",
                            "Only items deleted before this time (ISO 8601).", WHAT),
    "target_table": Field(None, {"type": ["string", "null"], "pattern": TABLE_NAME}, "Target table",
                          "Table to put the items in; empty = the archived table. Same key schema.", DESTINATION),
    "overwrite": Field(False, {"type": "boolean"}, "Overwrite existing items",
                       "Replace an item that exists in the target with a different value. Off: such items are "
                       "left as they are and listed, and the run fails after restoring the others.", SAFETY),
    "dry_run": Field(False, {"type": "boolean"}, "Dry run", "Plan only: list what would be restored.", SAFETY),
}


@dataclass(frozen=True)
class RestoreRequest:
    table: str
    bucket: str | None
    keys: tuple[dict[str, Any], ...] | None
    deleted_after: dt.datetime | None
    deleted_before: dt.datetime | None
    target_table: str | None
    overwrite: bool
    dry_run: bool

    @property
    def target(self) -> str:
        return self.target_table or self.table


def _time(field: str, value: str | None) -> dt.datetime | None:
    if value is None:
        return None
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError as err:
        raise BadRequest(field, str(err)) from None
    if moment.tzinfo is None:
        raise BadRequest(field, "give a time zone (e.g. 2026-11-30T00:00:00Z)")
    try:
        return moment.astimezone(dt.UTC)
    except OverflowError:  # 0001-01-01T00:00:00+01:00 is before the first instant UTC holds
        raise BadRequest(field, f"{value} is outside the date-times UTC can hold") from None


def parse_request(conf: Mapping[str, Any]) -> RestoreRequest:
    """The request, or BadRequest naming the first field that breaks its schema."""
    values = check_fields(FIELDS, conf)
    values["keys"] = tuple(values["keys"]) if values["keys"] else None
    for name in ("deleted_after", "deleted_before"):
        values[name] = _time(name, values[name])
    if values["deleted_after"] and values["deleted_before"] and values["deleted_after"] >= values["deleted_before"]:
        raise BadRequest("deleted_before", "must be later than deleted_after")
    return RestoreRequest(**values)
