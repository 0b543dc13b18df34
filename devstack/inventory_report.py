"""S3 Inventory reports written as S3 writes them, for tests and benchmarks (the emulator stores
inventory configurations but never writes a report).

`write_report` writes the data files (CSV gzip with URL-encoded keys and every field quoted, Parquet
or ORC with the snake_case columns) and returns the ``manifest.json`` document naming them; the
caller uploads both (or serves them from the folder).
"""

from __future__ import annotations

import csv
import gzip
import io
import json
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote_plus

import pyarrow as pa

CSV_SCHEMA = "Bucket, Key, Size, LastModifiedDate, ETag, StorageClass"
ARROW_SCHEMA = pa.schema([("bucket", pa.string()), ("key", pa.string()), ("size", pa.int64()),
                          ("last_modified_date", pa.timestamp("ms", tz="UTC")), ("e_tag", pa.string()),
                          ("storage_class", pa.string())])
PARQUET_SCHEMA = ("message s3.inventory { required binary bucket (UTF8); required binary key (UTF8); "
                  "optional int64 size; optional int64 last_modified_date (TIMESTAMP_MILLIS); "
                  "optional binary e_tag (UTF8); optional binary storage_class (UTF8);}")
ORC_SCHEMA = "struct<bucket:string,key:string,size:bigint,last_modified_date:timestamp,e_tag:string,storage_class:string>"
SUFFIX = {"CSV": ".csv.gz", "Parquet": ".parquet", "ORC": ".orc"}


def objects_of_listing(s3, bucket: str, prefix: str = "") -> list[dict]:
    """The bucket's objects as a report holds them (a test's "snapshot now")."""
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return [{"key": o["Key"], "size": o["Size"], "e_tag": o["ETag"].strip('"'), "last_modified_date": o["LastModified"],
             "storage_class": o.get("StorageClass", "STANDARD")} for page in pages for o in page.get("Contents", [])]


def write_report(folder: Path, source_bucket: str, destination_bucket: str, objects: Iterable[dict], file_format: str,
                 *, rows_per_file: int = 1_000_000, prefix: str = "inventory") -> tuple[dict, dict[str, Path]]:
    """Write ``objects`` (dicts with key, size, e_tag unquoted, last_modified_date, storage_class) as a
    report's data files in ``folder``; return the manifest and {data file key: local path}."""
    folder.mkdir(parents=True, exist_ok=True)
    files: dict[str, Path] = {}
    batch: list[dict] = []

    def flush() -> None:
        key = f"{prefix}/{source_bucket}/data/{len(files):05d}{SUFFIX[file_format]}"
        path = folder / key.replace("/", "_")
        _write(path, source_bucket, batch, file_format)
        files[key] = path
        batch.clear()

    for obj in objects:
        batch.append(obj)
        if len(batch) >= rows_per_file:
            flush()
    if batch or not files:
        flush()
    schema = {"CSV": CSV_SCHEMA, "Parquet": PARQUET_SCHEMA, "ORC": ORC_SCHEMA}[file_format]
    manifest = {"sourceBucket": source_bucket, "destinationBucket": f"arn:aws:s3:::{destination_bucket}",
                "version": "2016-11-30", "creationTimestamp": str(int(datetime.now(UTC).timestamp() * 1000)),
                "fileFormat": file_format, "fileSchema": schema,
                "files": [{"key": key, "size": path.stat().st_size, "MD5checksum": ""} for key, path in files.items()]}
    return manifest, files


def _write(path: Path, bucket: str, rows: list[dict], file_format: str) -> None:
    if file_format == "CSV":
        text = io.StringIO()
        writer = csv.writer(text, quoting=csv.QUOTE_ALL, lineterminator="\n")
        for row in rows:
            modified = row["last_modified_date"].astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
            writer.writerow([bucket, quote_plus(row["key"], safe="/"), row["size"], modified, row["e_tag"],
                             row["storage_class"]])
        path.write_bytes(gzip.compress(text.getvalue().encode(), compresslevel=1))
        return
    table = pa.Table.from_pylist([{**row, "bucket": bucket} for row in rows], schema=ARROW_SCHEMA)
    if file_format == "Parquet":
        import pyarrow.parquet

        pyarrow.parquet.write_table(table, path)
    else:
        import pyarrow.orc

        pyarrow.orc.write_table(table, path)


def upload_report(s3, bucket: str, manifest_key: str, manifest: dict, files: dict[str, Path]) -> str:
    """Upload a report to ``bucket``; returns the manifest's s3:// URI."""
    for key, path in files.items():
        s3.upload_file(str(path), bucket, key)
    s3.put_object(Bucket=bucket, Key=manifest_key, Body=json.dumps(manifest).encode())
    return f"s3://{bucket}/{manifest_key}"
