"""A source's S3 Inventory report in place of a listing. Plain Python (boto3 client given, DuckDB local).

A report is a ``manifest.json`` naming data files (CSV gzip, Parquet or ORC) in a destination
bucket. The planner reads it instead of calling ListObjectsV2 on the source: the files are
downloaded to a temporary folder, DuckDB reads them (ORC through ``pyarrow.orc``, DuckDB has no ORC
reader) and `include/sql/deep_archive/inventory_objects.sql` streams the prefix's current objects in
key order, sorted by DuckDB (out of core), so memory stays bounded whatever the report's size.

An inventory is a snapshot: an object deleted since is reported missing by the packing worker, one
added since waits for the next run (or the next report).
"""

from __future__ import annotations

import json
import logging
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC
from pathlib import Path

from archiveflow.errors import BadRequest

log = logging.getLogger(__name__)

FIELD = "inventory_manifest"
FORMATS = ("CSV", "Parquet", "ORC")
SQL = "deep_archive/inventory_objects.sql"
VIEW = "inventory_files"  # the report as a table, locally
# DuckDB spills its sort to disk past this: the planner's memory stays bounded whatever the report.
DUCKDB_CONFIG = {"memory_limit": "512MB", "threads": 2}
PAGE = 1000  # objects per page, as a listing page: the index is asked about one page at a time
# CSV header names (the manifest's fileSchema) → the column names Parquet and ORC reports use.
CSV_COLUMNS = {"Bucket": "bucket", "Key": "key", "VersionId": "version_id", "IsLatest": "is_latest",
               "IsDeleteMarker": "is_delete_marker", "Size": "size", "LastModifiedDate": "last_modified_date",
               "ETag": "e_tag", "StorageClass": "storage_class"}
REQUIRED = ("key", "size", "last_modified_date", "e_tag")
# Absent from a current-versions-only report: every row is then a current object.
OPTIONAL = {"is_latest": "TRUE", "is_delete_marker": "FALSE", "storage_class": "'STANDARD'"}
# Parquet and ORC columns Athena's table types (by name; the others are never read, declared strings).
ATHENA_TYPES = {"size": "bigint", "last_modified_date": "timestamp", "is_latest": "boolean", "is_delete_marker": "boolean"}
_URI = re.compile(r"^s3://([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])/(.+)$")


@dataclass(frozen=True)
class Manifest:
    uri: str
    file_format: str
    columns: tuple[str, ...]   # the report's columns, Parquet/ORC names
    bucket: str                # where the data files are
    keys: tuple[str, ...]      # the data files


def split_uri(uri: str) -> tuple[str, str]:
    match = _URI.match(uri)
    if not match:
        raise BadRequest(FIELD, f"{uri!r} is not an s3://bucket/key URI")
    return match.group(1), match.group(2)


def _columns(file_format: str, schema: str) -> tuple[str, ...]:
    """The column names of a manifest's ``fileSchema``: a CSV header list, a Parquet message or an ORC struct."""
    if file_format == "CSV":
        return tuple(CSV_COLUMNS.get(name.strip(), name.strip().lower()) for name in schema.split(","))
    if file_format == "Parquet":
        return tuple(re.findall(r"\b(?:binary|int64|int32|boolean|int96)\s+(\w+)", schema))
    return tuple(re.findall(r"(\w+):", schema.removeprefix("struct<")))


def read_manifest(s3, uri: str, source_bucket: str) -> Manifest:
    """The report's manifest, checked: it is about ``source_bucket``, in a format we read, with the
    columns a plan needs. BadRequest names `inventory_manifest` (read only: before any side effect)."""
    bucket, key = split_uri(uri)
    try:
        document = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    except s3.exceptions.ClientError as err:
        raise BadRequest(FIELD, f"{uri} cannot be read ({err.response['Error']['Code']})") from err
    except ValueError as err:
        raise BadRequest(FIELD, f"{uri} is not a JSON manifest ({err})") from err
    if not isinstance(document, dict) or not isinstance(document.get("files"), list):
        raise BadRequest(FIELD, f"{uri} is not an S3 Inventory manifest (no files list)")
    if document.get("sourceBucket") != source_bucket:
        raise BadRequest(FIELD, f"{uri} is the inventory of bucket {document.get('sourceBucket')!r}, "
                                f"not of {source_bucket}")
    file_format = document.get("fileFormat")
    if file_format not in FORMATS:
        raise BadRequest(FIELD, f"{uri}: format {file_format!r} is not one of {', '.join(FORMATS)}")
    columns = _columns(file_format, str(document.get("fileSchema", "")))
    if missing := [name for name in REQUIRED if name not in columns]:
        raise BadRequest(FIELD, f"{uri}: the report lacks the fields {missing} (enable Size, "
                                "LastModifiedDate and ETag in the inventory configuration)")
    destination = str(document.get("destinationBucket", "")).removeprefix("arn:aws:s3:::") or bucket
    return Manifest(uri, file_format, columns, destination, tuple(f["key"] for f in document["files"]))


def athena_columns(manifest: Manifest) -> str:
    """The column list of Athena's table of the report: the report's columns (CSV by position, all
    strings), then the optional ones it lacks (null in every row)."""
    names = list(manifest.columns) + [name for name in OPTIONAL if name not in manifest.columns]
    if manifest.file_format == "CSV":
        return ", ".join(f"`{name}` string" for name in names)
    return ", ".join(f"`{name}` {ATHENA_TYPES.get(name, 'string')}" for name in names)


def download(s3, manifest: Manifest, folder: Path) -> None:
    """The report's data files into ``folder``, as `relation` reads them (the local engine)."""
    for number, key in enumerate(manifest.keys):
        s3.download_file(manifest.bucket, key, str(folder / f"{number:06d}"))


def relation(con, manifest: Manifest, folder: Path):
    """The report's rows as DuckDB relation `inventory_files`, optional columns filled in."""
    paths = [str(folder / f"{n:06d}") for n in range(len(manifest.keys))]
    if manifest.file_format == "CSV":
        relation = con.read_csv(paths, header=False, names=list(manifest.columns), all_varchar=True,
                                compression="gzip", quotechar='"')
    elif manifest.file_format == "Parquet":
        relation = con.read_parquet(paths)
    else:
        import pyarrow.orc
        import pyarrow.parquet

        for path in paths:  # one file at a time: ORC → Parquet, so DuckDB reads it lazily like the others
            pyarrow.parquet.write_table(pyarrow.orc.read_table(path), path + ".parquet")
        relation = con.read_parquet([path + ".parquet" for path in paths])
    if manifest.file_format != "CSV" and "TIME ZONE" in str(relation.types[relation.columns.index("last_modified_date")]):
        # UTC instants (Parquet's isAdjustedToUTC) as naive UTC times, as Athena's table types them: from
        # the epoch, 3x cheaper than the statements' CAST, which goes through the time zone.
        relation = relation.project("* REPLACE (make_timestamp(epoch_us(last_modified_date)) AS last_modified_date)")
    for name, default in OPTIONAL.items():
        if name not in relation.columns:
            relation = relation.project(f"*, {default} AS {name}")
    return relation


def pages(s3, manifest: Manifest, prefix: str, *, page: int = PAGE) -> Iterator[list[dict]]:
    """The current objects under ``prefix`` in key order, as listing pages (``Key``, ``Size``, quoted
    ``ETag``, ``LastModified``, ``StorageClass``): what ListObjectsV2 would give, from the report."""
    import duckdb

    from archiveflow.lakehouse.statements import duckdb_sql, load_statement

    with tempfile.TemporaryDirectory(prefix="inventory-") as folder:
        download(s3, manifest, Path(folder))
        con = duckdb.connect(config={**DUCKDB_CONFIG, "temp_directory": str(Path(folder) / "spill")})
        try:
            relation(con, manifest, Path(folder)).create_view(VIEW)
            query = duckdb_sql(load_statement(SQL, {"prefix": prefix, "url_encoded": manifest.file_format == "CSV"},
                                              {"inventory": VIEW}))
            result = con.execute(query)
            while rows := result.fetchmany(page):
                yield [{"Key": key, "Size": size, "ETag": etag if etag.startswith('"') else f'"{etag}"',
                        "LastModified": modified.replace(tzinfo=UTC), "StorageClass": storage_class}
                       for key, size, etag, modified, storage_class in rows]
        finally:
            con.close()
