"""Helpers of every pyiceberg writer that names its data files with a write id, the same in every
attempt of one write (the rdbms archival sink, the local lakehouse engine's MERGE): a retry finds
what a killed attempt left uncommitted (open multipart uploads, data files no snapshot references)
by that id and removes it before writing again. Plain Python over the table's own S3 settings."""

from __future__ import annotations

import functools
import uuid

from pyiceberg.table import Table

from archiveflow.s3_objects import abort_uploads, delete_keys


def run_write_id(run_id: str, source: str) -> uuid.UUID:
    """The write id in the data file names of a run's append to one table: the same in every attempt."""
    return uuid.uuid5(uuid.NAMESPACE_URL, f"archiveflow:{run_id}:{source}")


def discard_uncommitted(table: Table, write_id: uuid.UUID) -> dict[str, int]:
    """Abort the multipart uploads and delete the data files named with `write_id` (call it only
    while no snapshot of that write exists: then none of them is referenced)."""
    (bucket, prefix), mark, s3 = _bucket_and_prefix(table), str(write_id), _s3_client(table.io.properties)
    aborted = abort_uploads(s3, bucket, prefix, lambda key: mark in key)
    files = [o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
             for o in page.get("Contents", []) if mark in o["Key"]]
    delete_keys(s3, bucket, files)
    return {"uploads_aborted": aborted, "files_deleted": len(files)}


def abort_open_uploads(table: Table, write_id: uuid.UUID) -> int:
    """Abort the multipart uploads named with `write_id` still open once every writer of that write
    has closed its files. The S3 client sends a CreateMultipartUpload again when the first gets no
    answer in time; a server that was slow, not gone, then opens every one of them, and the writer
    completes only the one it heard of (seen with the emulator frozen mid-write)."""
    (bucket, prefix), s3 = _bucket_and_prefix(table), _s3_client(table.io.properties)
    return abort_uploads(s3, bucket, prefix, lambda key: str(write_id) in key)


def _bucket_and_prefix(table: Table) -> tuple[str, str]:
    """The bucket of the table's files and the prefix of its data files."""
    bucket, _, path = table.location().removeprefix("s3://").removeprefix("s3a://").partition("/")
    return bucket, f"{path.rstrip('/')}/data/"


def _s3_client(properties: dict[str, str]):
    """A boto3 S3 client on the same endpoint and credentials as the table's FileIO (one per
    distinct settings: creating one costs ~0.2 s of CPU, paid per table otherwise)."""
    keys = ("s3.endpoint", "s3.region", "s3.access-key-id", "s3.secret-access-key", "s3.session-token")
    return _s3_client_for(*(properties.get(k) for k in keys))


@functools.lru_cache(maxsize=8)
def _s3_client_for(endpoint: str | None, region: str | None, key_id: str | None, secret: str | None,
                   token: str | None):
    import boto3

    return boto3.client("s3", endpoint_url=endpoint, region_name=region, aws_access_key_id=key_id,
                        aws_secret_access_key=secret, aws_session_token=token)
