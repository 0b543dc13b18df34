"""The plan in SQL: a source with an S3 Inventory report, in the `catalog` index mode, is planned by the
`lakehouse_sql` engine (Athena on AWS, DuckDB locally), never by the Airflow worker row by row. Plain Python.

Used when the request names `inventory_manifest` and the deployment's index mode is `catalog`: the two
inputs are then tables the engine joins (the report, and the Iceberg `archive_catalog`). In the
`dynamodb` mode there is no table to join (the index is DynamoDB items): the Python planner streams the
same report against batched DynamoDB reads. Without a report the source must be listed, which the Python
planner does (fanned out over sub-prefixes).

Two statements of `include/sql/deep_archive/`, over the same inputs:

- `plan_units.sql`: what the plan object needs, one row per bundle, per object archived alone and per
  reason objects were skipped (new or rewritten since the catalog's newest version: `plan_candidates.sql`;
  bundles by the shared rule: `plan_bundles.sql`);
- `plan_manifests.sql`: the bundled objects' rows, written by the engine to S3 (`UNLOAD`; DuckDB's
  `COPY` locally) as Parquet sorted by position (the object's rank in key order), in at most 100
  folders of consecutive positions (``position_group=G/``: Athena's UNLOAD writes at most 100
  partitions) under a location unique to this attempt (UNLOAD wants an empty one). The folder is then
  listed (the plan bucket, never the source) to name each unit's files; a bundle is the rows between
  its first and last position: the packing worker reads only the row groups whose statistics overlap
  them (ranged GETs) and checks its rows against the unit's counts.
"""

from __future__ import annotations

import hashlib
import math
import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from archiveflow.deep_archive import bundling
from archiveflow.deep_archive.catalog import KEY_PREFIX_CHARS
from archiveflow.deep_archive.inventory import Manifest
from archiveflow.deep_archive.request import ArchiveRequest
from archiveflow.deep_archive.s3io import utc_iso
from archiveflow.units import MiB

UNITS_SQL = "deep_archive/plan_units.sql"
MANIFESTS_SQL = "deep_archive/plan_manifests.sql"
_GROUP_FOLDER = re.compile(r"/position_group=(\d+)/[^/]+$")
MAX_GROUPS = 100  # Athena: "the maximum number of partitions you can use with UNLOAD is 100"


class PlanEngine(Protocol):
    """What the SQL plan asks of the `lakehouse_sql` engine (`archiveflow.hooks.archive_catalog.ArchiveCatalogHook`)."""

    def inventory_table(self, s3, manifest: Manifest, name: str):
        """A context manager: the report readable as the table ``name`` while it is open."""

    def select(self, sql_file: str, parameters: dict, variables: dict | None = None) -> list[dict]: ...

    def unload(self, sql_file: str, parameters: dict, variables: dict | None = None) -> None: ...


@dataclass
class SqlUnit:
    kind: str           # "zip" or "object"
    files: int
    bytes: int
    rewritten: int
    row: dict           # "object": the object's manifest row; "zip": its first key
    manifests: list[str]                  # "zip": the Parquet files holding its rows (among others')
    positions: tuple[int, int] = (0, -1)  # "zip": its rows' first and last position in those files
    digest: str = ""                      # "zip": names the bundle by what it holds


def used_for(request: ArchiveRequest, archive_index) -> bool:
    """Whether ``request`` is planned in SQL: it names a report and the index is the catalog, read
    through an engine (`archiveflow.deep_archive.catalog.CatalogIndex` with its ``engine``)."""
    return bool(request.inventory_manifest) and getattr(archive_index, "engine", None) is not None


def elsewhere_pattern(prefixes: tuple[str, ...]) -> str:
    """A regular expression (RE2 and Java alike: ``\\Q...\\E`` quotes) matching keys under ``prefixes``; '' for none."""
    if not prefixes:
        return ""
    return "^(" + "|".join(r"\Q" + p.replace(r"\E", r"\E\\E\Q") + r"\E" for p in prefixes) + ")"


def parameters(request: ArchiveRequest, manifest: Manifest, elsewhere: tuple[str, ...], location: str = "") -> dict:
    cap = request.archive_size * MiB
    alone = bundling.alone_bytes(cap)
    return {"bucket": request.bucket_name, "prefix": request.prefix, "partition_prefix": request.prefix[:KEY_PREFIX_CHARS],
            "url_encoded": manifest.file_format == "CSV", "elsewhere": elsewhere_pattern(elsewhere),
            "alone_bytes": alone, "window_bytes": cap - alone, "file_count": request.file_count,
            "range_chars": bundling.range_chars(request.prefix), "location": location}


def plan_source(engine: PlanEngine, s3, request: ArchiveRequest, manifest: Manifest, *, plan_bucket: str,
                plan_id: str, elsewhere: tuple[str, ...], dry_run: bool) -> tuple[dict, list[SqlUnit]]:
    """(counts of skipped objects by reason, the units in key order of their first object). Unless
    ``dry_run``, the engine has written every bundle's manifest."""
    folder = f"_plans/{plan_id}/manifests/{uuid.uuid4().hex[:12]}/"
    table = f"inventory_{plan_id.replace('-', '_').lower()}_{uuid.uuid4().hex[:8]}"
    with engine.inventory_table(s3, manifest, table):
        values = parameters(request, manifest, elsewhere, f"s3://{plan_bucket}/{folder}")
        variables = {"inventory": table}
        rows = engine.select(UNITS_SQL, values, variables)
        bundled = sum(int(row["files"]) for row in rows if row["skipped"] is None and not _true(row["alone"]))
        per_group = max(1, math.ceil(bundled / MAX_GROUPS))
        if not dry_run and bundled:
            engine.unload(MANIFESTS_SQL, {**values, "rows_per_group": per_group}, variables)
    manifests = {} if dry_run else _manifests(s3, plan_bucket, folder)
    skipped = {row["skipped"]: row["files"] for row in rows if row["skipped"] is not None}
    units = sorted((_unit(row, manifests, per_group, dry_run) for row in rows if row["skipped"] is None),
                   key=lambda unit: unit.row["key"])
    return skipped, units


def _manifests(s3, bucket: str, folder: str) -> dict[int, list[str]]:
    """position group -> its manifest files, listed once under the plan's folder."""
    found: dict[int, list[str]] = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=folder):
        for obj in page.get("Contents", []):
            if match := _GROUP_FOLDER.search(obj["Key"]):
                found.setdefault(int(match.group(1)), []).append(obj["Key"])
    return found


def _iso(moment) -> str:
    """A time as the Python planner writes it: engines give naive UTC timestamps (Athena as text)."""
    return utc_iso(datetime.fromisoformat(moment) if isinstance(moment, str) else moment)


def _unit(row: dict, manifests: dict[int, list[str]], per_group: int, dry_run: bool) -> SqlUnit:
    files, nbytes, rewritten = int(row["files"]), int(row["bytes"]), int(row["rewritten"])
    if _true(row["alone"]):
        obj = {"key": row["first_key"], "size": nbytes, "etag": row["e_tag"], "last_modified": _iso(row["last_modified"])}
        return SqlUnit("object", files, nbytes, rewritten, obj, [])
    first, last = int(row["first_position"]), int(row["last_position"])
    groups = range(first // per_group, last // per_group + 1)
    if not dry_run and any(group not in manifests for group in groups):
        # The statements saw different snapshots (a catalog commit in between): a retry plans again.
        raise RuntimeError(f"the engine wrote no manifest for the bundle from {row['first_key']}")
    identity = f"{row['first_key']}\0{row['last_key']}\0{files}\0{nbytes}\0{_iso(row['last_modified'])}"
    return SqlUnit("zip", files, nbytes, rewritten, {"key": row["first_key"]},
                   sorted(key for group in groups for key in manifests.get(group, [])), (first, last),
                   hashlib.sha256(identity.encode()).hexdigest()[:12])


def _true(value) -> bool:
    """A boolean column's value (Athena returns text)."""
    return value is True or value == "true"

