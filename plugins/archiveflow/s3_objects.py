"""S3 housekeeping every family does the same way, over a boto3 client: abort open multipart uploads,
delete keys in batches. Plain Python."""

from __future__ import annotations

from collections.abc import Callable, Sequence

DELETE_OBJECTS_LIMIT = 1000  # keys per DeleteObjects call


def abort_uploads(s3, bucket: str, prefix: str, key_matches: Callable[[str], bool]) -> int:
    """Abort every open multipart upload under `prefix` whose key `key_matches`, every page of the
    listing (1000 uploads a page); how many were aborted."""
    uploads = [upload for page in s3.get_paginator("list_multipart_uploads").paginate(Bucket=bucket, Prefix=prefix)
               for upload in page.get("Uploads", []) if key_matches(upload["Key"])]
    for upload in uploads:
        s3.abort_multipart_upload(Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"])
    return len(uploads)


def delete_keys(s3, bucket: str, keys: Sequence[str]) -> None:
    """Delete the keys (a missing one is no error); RuntimeError naming the first failures."""
    for start in range(0, len(keys), DELETE_OBJECTS_LIMIT):
        chunk = keys[start:start + DELETE_OBJECTS_LIMIT]
        response = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in chunk], "Quiet": True})
        if response.get("Errors"):
            raise RuntimeError(f"s3://{bucket}: could not delete {response['Errors'][:3]}")
