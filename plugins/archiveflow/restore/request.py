"""The `s3_restore` request: the seed's `/restore` payload (`project_name`, `filename`, `account`,
`region`, `retrieval_tier`, `sns_topic_arn`), plus several files, how long restored copies stay,
where they go, how long to wait, which archived version, and a dry run.

`FIELDS` is the one definition: the DAG's Params come from it and `parse_request` checks the same
schemas. Rules that need AWS or the index (the account and region are the connection's, the topic
is in that account, the files are archived, the tier exists for each bundle's class) are checked
by the look-up task, before any paid request.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from archiveflow.errors import BadRequest
from archiveflow.request_fields import Field, check_fields

# The trigger form's sections, titled for this DAG, in the order a person fills the form in.
SOURCE = "Where the files were archived"
WHAT = "Files to restore"
DESTINATION = "Where restored files go"
SAFETY = "Waiting and safety"

TIERS = ("Standard", "Bulk", "Expedited")
# A run restores at most this many files (one XCom list; above it, use several runs).
MAX_FILES = int(os.environ.get("ARCHIVEFLOW_RESTORE_MAX_FILES", "1000"))
MAX_RESTORE_DAYS = 30
RESTORE_BUCKETS_VARIABLE = "archiveflow_restore_buckets"  # a JSON list of more buckets restores may write to
MAX_WAIT_HOURS = 240  # Bulk from Deep Archive takes up to 48 h; 10 days is a generous ceiling
# A restored copy must outlive the longest wait plus the extraction after it.
EXTRACTION_HOURS = 24

_NAME = r"^[^\x00-\x1f]{1,1024}$"
_BUCKET = {"type": ["string", "null"], "pattern": r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$"}
_PREFIX = r"^(?!(.*/)?\.\.?(/|$))[A-Za-z0-9!_.*'()=-]+(/[A-Za-z0-9!_.*'()=-]+)*/?$"
TOPIC_ARN = r"^arn:aws[a-z-]*:sns:[a-z]{2}(-[a-z]+)+-[0-9]:[0-9]{12}:[A-Za-z0-9_-]{1,256}$"

FIELDS: dict[str, Field] = {
    "project_name": Field(None, {"type": ["string", "null"], "pattern": r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"},
                          "Project", "Project the files were archived under (needed to find a bare file name).",
                          SOURCE),
    "filename": Field(None, {"type": ["string", "null"], "pattern": _NAME}, "File",
                      "One file: a bare file name (`5000_20240517_003.csv`, looked up in the project) or the "
                      "archived object's full `bucket/key`.", WHAT),
    "files": Field([], {"type": "array", "items": {"type": "string", "pattern": _NAME}, "maxItems": MAX_FILES},
                   "Files", f"More files, each named like `filename` (at most {MAX_FILES} per run).", WHAT),
    "version": Field(None, {"type": ["integer", "string", "null"], "minimum": 1, "minLength": 1}, "Version",
                     "Which archive of each file, when it was archived again after a rewrite: 1 = the first, "
                     "2 = the next, ... or a version id from the index. Empty: the newest.", WHAT),
    "account": Field(None, {"type": ["string", "null"], "pattern": r"^[0-9]{12}$"}, "AWS account",
                     "12-digit AWS account id; must be the connection's (optional).", SOURCE),
    "region": Field(None, {"type": ["string", "null"], "pattern": r"^[a-z]{2}(-[a-z]+)+-[0-9]$"}, "AWS region",
                    "Must be the connection's region (optional).", SOURCE),
    "retrieval_tier": Field("Standard", {"type": "string", "enum": list(TIERS)}, "Retrieval tier",
                            "Glacier Flexible Retrieval: Expedited (1-5 min), Standard (3-5 h), Bulk (5-12 h). "
                            "Deep Archive: Standard (~12 h) or Bulk (~48 h).", WHAT),
    "restore_days": Field(7, {"type": "integer", "minimum": 1, "maximum": MAX_RESTORE_DAYS}, "Restore days",
                          "Days the restored bundle copies stay readable in the archive bucket; at least `max_wait` "
                          "plus a day of extraction.", WHAT),
    "restore_bucket": Field(None, _BUCKET, "Restore bucket",
                            "Where restored files are written (default: the deployment's restore bucket); one of "
                            "the deployment's restore buckets (more in the Variable archiveflow_restore_buckets).",
                            DESTINATION),
    "destination_prefix": Field(None, {"type": ["string", "null"], "pattern": _PREFIX}, "Destination prefix",
                                "Key prefix in the restore bucket; each file goes to `<prefix><source bucket>/"
                                "<version>/<original key>` (default: no prefix).", DESTINATION),
    "sns_topic_arn": Field(None, {"type": ["string", "null"], "pattern": TOPIC_ARN}, "SNS topic",
                           "Topic told when the restore is done (default: the deployment's notifications topic); "
                           "must be in the connection's account.", DESTINATION),
    "max_wait": Field(72, {"type": "number", "exclusiveMinimum": 0, "maximum": MAX_WAIT_HOURS},
                      "Longest wait (hours)", "Fail, naming the bundles still in progress, after this long.", SAFETY),
    "poll_interval": Field(600, {"type": "integer", "minimum": 1, "maximum": 3600}, "Poll interval (s)",
                           "Seconds between two checks of the restores (the wait holds no worker slot).", SAFETY),
    "overwrite": Field(False, {"type": "boolean"}, "Overwrite",
                       "Replace an object already at a file's destination that is not this file's restored copy "
                       "(default: such a file fails, the object is left as it is).", SAFETY),
    "dry_run": Field(False, {"type": "boolean"}, "Dry run", "Look the files up and price the restore; "
                     "request nothing.", SAFETY),
}


@dataclass(frozen=True)
class RestoreRequest:
    names: tuple[str, ...]  # as asked: bare file names or bucket/key
    name_fields: tuple[str, ...]  # the conf field that named each one (`filename`, `files[2]`)
    project_name: str | None
    version: int | str | None
    retrieval_tier: str
    restore_days: int
    restore_bucket: str
    destination_prefix: str
    sns_topic_arn: str | None
    account: str | None
    region: str | None
    max_wait_hours: float
    poll_interval: int
    overwrite: bool
    dry_run: bool


def parse_request(conf: Mapping[str, Any], *, restore_bucket: str, archive_bucket: str) -> RestoreRequest:
    values = check_fields(FIELDS, conf)
    named = ([(values["filename"], "filename")] if values["filename"] else []) + [
        (name, f"files[{i}]") for i, name in enumerate(values["files"])]
    names = [name for name, _ in named]
    if not names:
        raise BadRequest("filename", "name a file to restore (`filename`, or a list in `files`)")
    if len(names) > MAX_FILES:
        raise BadRequest("files", f"{len(names)} files; at most {MAX_FILES} per run")
    bare = [i for i, name in enumerate(names) if "/" not in name]
    if bare and not values["project_name"]:
        raise BadRequest("project_name", f"is required to find the bare file name {names[bare[0]]!r}")
    destination = values["restore_bucket"] or restore_bucket
    if destination == archive_bucket:
        raise BadRequest("restore_bucket", f"{destination} is the archive bucket; restored files go elsewhere")
    if values["restore_days"] * 24 < values["max_wait"] + EXTRACTION_HOURS:
        raise BadRequest("restore_days", f"{values['restore_days']} days is shorter than the longest wait "
                         f"(max_wait {values['max_wait']} h) plus {EXTRACTION_HOURS} h of extraction: a bundle restored "
                         "first could expire before it is extracted")
    prefix = (values["destination_prefix"] or "").strip("/")
    return RestoreRequest(
        names=tuple(names), name_fields=tuple(field for _, field in named), project_name=values["project_name"], version=values["version"],
        retrieval_tier=values["retrieval_tier"], restore_days=values["restore_days"], restore_bucket=destination,
        destination_prefix=f"{prefix}/" if prefix else "", sns_topic_arn=values["sns_topic_arn"],
        account=values["account"], region=values["region"], max_wait_hours=values["max_wait"],
        poll_interval=values["poll_interval"], overwrite=values["overwrite"], dry_run=values["dry_run"])


def check_restore_bucket(bucket: str, allowed: set[str], refused: set[str]) -> None:
    """BadRequest naming `restore_bucket` unless `bucket` is one of the deployment's restore buckets
    (`allowed`) and none of the buckets a restore must never write into (`refused`: the archive
    and every bucket s3_deep_archive reads, whatever the allow-list says)."""
    if bucket in refused:
        raise BadRequest("restore_bucket", f"{bucket} holds archived sources or bundles; a restore never writes "
                         "there (it could replace a live object with an old version)")
    if bucket not in allowed:
        raise BadRequest("restore_bucket", f"{bucket} is not one of the deployment's restore buckets "
                         f"({', '.join(sorted(allowed))}; more in the Variable {RESTORE_BUCKETS_VARIABLE})")

