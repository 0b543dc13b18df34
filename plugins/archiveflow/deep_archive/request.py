"""The `s3_deep_archive` request: the seed's `/archive` payload, plus where bundles go, approval,
dry run and source deletion. A monthly source entry (Variable or YAML file) is the same request.

`FIELDS` is the one definition: the DAG's Params come from it and `parse_request` checks the same
schemas. One rule depends on how the run started, which a Param cannot know: a triggered run must
name its source (`project_name`, `bucket_name`, `prefix`), while the scheduled run leaves them
empty and reads the monthly list (`parse_request(..., require_source=True)` says so).
Rules that need AWS (buckets exist, account and region match) are in `plan.check_access`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from archiveflow.deep_archive.cost import DEFAULT_RETENTION_MONTHS
from archiveflow.errors import BadRequest
from archiveflow.request_fields import Field, check_fields

# The trigger form's sections, titled for this DAG, in the order a person fills the form in.
SOURCE = "Source files"
WHAT = "Bundles"
DESTINATION = "Archive destination"
SAFETY = "Approval and deletion"

STORAGE_CLASSES = ("DEEP_ARCHIVE", "GLACIER", "GLACIER_IR", "STANDARD_IA", "ONEZONE_IA", "INTELLIGENT_TIERING")
MAX_FILE_COUNT = 100_000  # a zip entry costs ~100 bytes of worker memory until the bundle closes
MAX_ARCHIVE_SIZE_MIB = 102_400  # 100 GiB: ~20 min of upload for one Batch child
SOURCE_FIELDS = ("project_name", "bucket_name", "prefix")
MAX_RETENTION_MONTHS = 1200

_BUCKET = {"type": ["string", "null"], "pattern": r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$"}
# Key segments of safe characters, none empty, none `.` or `..`; a leading `_` is archiveflow's own
# (`_plans/` manifests expire after 30 days: bundles there would be deleted with them).
_OUTPUT_PREFIX = r"^(?!_)(?!(.*/)?\.\.?(/|$))[A-Za-z0-9!_.*'()=-]+(/[A-Za-z0-9!_.*'()=-]+)*/?$"
MAX_OUTPUT_PREFIX = 200  # leaves room in S3's 1,024-byte keys for the plan id and the bundle name

FIELDS: dict[str, Field] = {
    "project_name": Field(None, {"type": ["string", "null"], "pattern": r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"},
                          "Project", "Project the files belong to; restores look files up by it. Required when "
                          "triggered.", SOURCE),
    "bucket_name": Field(None, _BUCKET, "Source bucket", "Bucket holding the files. Required when triggered; "
                         "the monthly schedule reads its sources from the monthly list.", SOURCE),
    "prefix": Field(None, {"type": ["string", "null"], "minLength": 1}, "Source prefix",
                    "Key prefix to archive (not empty). Required when triggered.", SOURCE),
    "account": Field(None, {"type": ["string", "null"], "pattern": r"^[0-9]{12}$"}, "AWS account",
                     "12-digit AWS account id; must be the connection's (optional).", SOURCE),
    "region": Field(None, {"type": ["string", "null"], "pattern": r"^[a-z]{2}(-[a-z]+)+-[0-9]$"}, "AWS region",
                    "Must be the connection's and the buckets' region (optional).", SOURCE),
    "inventory_manifest": Field(
        None, {"type": ["string", "null"], "pattern": r"^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/(.+/)?manifest\.json$"},
        "S3 Inventory manifest", "s3:// URI of the `manifest.json` of an S3 Inventory report of the source bucket "
        "(CSV, Parquet or ORC; with Size, LastModifiedDate and ETag): the plan reads it instead of listing the "
        "bucket. Objects deleted since the report are reported missing when packing; those added since wait "
        "for the next run (optional).", SOURCE),
    "file_count": Field(50_000, {"type": "integer", "minimum": 1, "maximum": MAX_FILE_COUNT}, "Files per bundle",
                        "Most files in one bundle.", WHAT),
    "archive_size": Field(500, {"type": "integer", "minimum": 1, "maximum": MAX_ARCHIVE_SIZE_MIB},
                          "Bundle size cap (MiB)", "Largest bundle, in MiB; objects over an eighth of it are "
                          "archived on their own (so bundles can be computed by running sums, in SQL too).", WHAT),
    "storage_class": Field("DEEP_ARCHIVE", {"type": "string", "enum": list(STORAGE_CLASSES)}, "Storage class",
                           "Storage class of the bundles.", DESTINATION),
    "retention_months": Field(DEFAULT_RETENTION_MONTHS,
                              {"type": "integer", "minimum": 1, "maximum": MAX_RETENTION_MONTHS},
                              "Retention (months)", "How long the bundles will be kept. With the storage class it "
                              "chooses the deflate level: CPU paid once on Fargate against bytes stored every "
                              "month (the plan shows both).", DESTINATION),
    "archive_bucket": Field(None, _BUCKET, "Archive bucket",
                            "Destination bucket (default: the deployment's archive bucket). Must be one of the "
                            "deployment's archive buckets (the Variable archiveflow_deep_archive_archive_buckets).",
                            DESTINATION),
    "output_prefix": Field(None, {"type": ["string", "null"], "pattern": _OUTPUT_PREFIX,
                                  "maxLength": MAX_OUTPUT_PREFIX}, "Output prefix",
                           "Key prefix of the bundles in the archive bucket (default: project_name). At most "
                           f"{MAX_OUTPUT_PREFIX} characters; a first segment starting with `_` is reserved for "
                           "archiveflow (`_plans/`).", DESTINATION),
    "require_approval": Field(True, {"type": "boolean"}, "Require approval",
                              "Wait for a human to approve the plan before anything is written.", SAFETY),
    "dry_run": Field(False, {"type": "boolean"}, "Dry run", "Plan and report only; write nothing.", SAFETY),
    "delete_source": Field(False, {"type": "boolean"}, "Delete sources",
                           "Delete each source object once its bundle is uploaded, verified and indexed.", SAFETY),
}


@dataclass(frozen=True)
class ArchiveRequest:
    """One source to archive, with every default applied."""

    project_name: str
    bucket_name: str
    prefix: str
    file_count: int
    archive_size: int  # MiB
    archive_bucket: str
    output_prefix: str
    storage_class: str = "DEEP_ARCHIVE"
    retention_months: int = DEFAULT_RETENTION_MONTHS
    account: str | None = None
    region: str | None = None
    delete_source: bool = False
    inventory_manifest: str | None = None  # s3:// URI of an S3 Inventory report's manifest.json


@dataclass(frozen=True)
class RunOptions:
    """The fields that steer the run rather than describe a source."""

    require_approval: bool
    dry_run: bool


def parse_request(conf: Mapping[str, Any], archive_bucket: str, *, field_prefix: str = "") -> ArchiveRequest:
    """A source request (a triggered conf or one monthly entry); BadRequest names the field."""
    try:
        values = check_fields(FIELDS, conf)
    except BadRequest as err:
        raise BadRequest(field_prefix + err.field, err.reason) from None
    for name in SOURCE_FIELDS:
        if values[name] is None:
            raise BadRequest(field_prefix + name, "is required to name what to archive")
    return ArchiveRequest(
        project_name=values["project_name"], bucket_name=values["bucket_name"], prefix=values["prefix"],
        file_count=values["file_count"], archive_size=values["archive_size"],
        archive_bucket=values["archive_bucket"] or archive_bucket,
        output_prefix=(values["output_prefix"] or values["project_name"]).strip("/"),
        storage_class=values["storage_class"], retention_months=values["retention_months"],
        account=values["account"], region=values["region"],
        delete_source=values["delete_source"], inventory_manifest=values["inventory_manifest"])


def parse_options(conf: Mapping[str, Any]) -> RunOptions:
    values = check_fields({name: FIELDS[name] for name in ("require_approval", "dry_run")}, conf)
    return RunOptions(**values)


def parse_monthly_sources(sources: Any, archive_bucket: str, origin: str) -> list[ArchiveRequest]:
    """The monthly list (from `origin`: a Variable or a file), every entry checked like a conf."""
    if not isinstance(sources, list) or not all(isinstance(s, Mapping) for s in sources):
        raise BadRequest("sources", f"{origin} must hold a list of source mappings")
    return [parse_request(source, archive_bucket, field_prefix=f"{origin}: sources[{i}].")
            for i, source in enumerate(sources)]
