"""What a killed write can leave in the warehouse bucket under an Iceberg table."""

from __future__ import annotations

import boto3

from archiveflow.hooks.client_settings import AwsClientSettings


def leftovers(table) -> dict[str, list[str]]:
    """Open multipart uploads, and data files no snapshot of the table references."""
    s3 = boto3.client("s3", **_boto_args())
    bucket, _, path = table.location().removeprefix("s3://").partition("/")
    prefix = f"{path.rstrip('/')}/data/"
    uploads = s3.list_multipart_uploads(Bucket=bucket, Prefix=prefix).get("Uploads", [])
    stored = {f"s3://{bucket}/{o['Key']}" for page in s3.get_paginator("list_objects_v2").paginate(
        Bucket=bucket, Prefix=prefix) for o in page.get("Contents", [])}
    referenced = set(table.inspect.all_data_files()["file_path"].to_pylist())
    return {"open_uploads": [u["Key"] for u in uploads], "unreferenced_files": sorted(stored - referenced)}


def _boto_args() -> dict:
    settings = AwsClientSettings.from_connection("aws_default")
    return {"endpoint_url": settings.s3_endpoint_url, "region_name": settings.region,
            "aws_access_key_id": settings.access_key, "aws_secret_access_key": settings.secret_key}
