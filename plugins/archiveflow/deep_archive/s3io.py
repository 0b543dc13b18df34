"""S3 plumbing for packing: objects as a zip source, a multipart upload as a write-only file, JSONL files."""

from __future__ import annotations

import base64
import gzip
import io
import json
import math
import threading
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime

import deflate

from archiveflow.deep_archive.zipstream import Member, MemberMissing
from archiveflow.s3_objects import abort_uploads
from archiveflow.units import MiB

MIN_PART = 16 * MiB
MAX_PARTS = 10_000
CHUNK = 4 * MiB


def part_size_for(expected_bytes: int) -> int:
    """Part size that keeps a bundle of about ``expected_bytes`` well under S3's 10,000 parts."""
    needed = math.ceil(expected_bytes * 1.1 / (MAX_PARTS - 100))
    return max(MIN_PART, math.ceil(needed / MiB) * MiB)


def b64_crc32(crc: int) -> str:
    return base64.b64encode(crc.to_bytes(4, "big")).decode()


class S3Source:
    """Reads members from one bucket, refusing any object changed since it was planned (If-Match ETag).
    ``etags`` maps each source key to its planned ETag."""

    def __init__(self, s3, bucket: str, etags: dict[str, str]):
        self._s3, self._bucket, self._etags = s3, bucket, etags

    def _get(self, member: Member):
        key = member.source_key
        try:
            return self._s3.get_object(Bucket=self._bucket, Key=key, IfMatch=self._etags[key])["Body"]
        except self._s3.exceptions.NoSuchKey as err:
            raise MemberMissing(key) from err

    def read(self, member: Member) -> bytes:
        return self._get(member).read()

    def chunks(self, member: Member) -> Iterator[bytes]:
        return self._get(member).iter_chunks(CHUNK)


class MultipartUpload:
    """A write-only file over one S3 multipart upload, in the given storage class.

    Parts go up in background threads (at most ``max_inflight`` buffered parts, so memory stays
    bounded); each part carries a CRC32 checksum and the completed object a full-object CRC32,
    so S3 rejects anything corrupted in transit. ``abort`` discards everything uploaded so far.
    """

    def __init__(self, s3, bucket: str, key: str, storage_class: str, part_size: int, max_inflight: int = 2,
                 content_type: str = "application/zip", metadata: dict[str, str] | None = None,
                 if_none_match: bool = False):
        self._s3, self.bucket, self.key, self._part_size = s3, bucket, key, part_size
        # Completing fails (412) if an object appeared at the key meanwhile: nothing is replaced.
        self._complete_args = {"IfNoneMatch": "*"} if if_none_match else {}
        self.upload_id = s3.create_multipart_upload(
            Bucket=bucket, Key=key, StorageClass=storage_class, ContentType=content_type,
            ChecksumAlgorithm="CRC32", ChecksumType="FULL_OBJECT", **({"Metadata": metadata} if metadata else {}),
        )["UploadId"]
        self._buffer = bytearray()
        self._parts: list[Future] = []
        self._slots = threading.BoundedSemaphore(max_inflight)
        self._pool = ThreadPoolExecutor(max_inflight, thread_name_prefix="upload")
        self.size = 0
        self.crc32 = 0

    def write(self, data: bytes) -> None:
        self._buffer += data
        self.size += len(data)
        self.crc32 = deflate.crc32(data, self.crc32)
        while len(self._buffer) >= self._part_size:
            with memoryview(self._buffer) as view:
                part = bytes(view[: self._part_size])  # one copy of the part, not two
            del self._buffer[: self._part_size]
            self._send(part)

    def _send(self, body: bytes) -> None:
        self._slots.acquire()
        number = len(self._parts) + 1
        self._parts.append(self._pool.submit(self._upload_part, number, body))

    def _upload_part(self, number: int, body: bytes) -> dict:
        checksum = b64_crc32(deflate.crc32(body))
        try:
            response = self._s3.upload_part(Bucket=self.bucket, Key=self.key, UploadId=self.upload_id,
                                            PartNumber=number, Body=body, ChecksumCRC32=checksum)
            return {"PartNumber": number, "ETag": response["ETag"], "ChecksumCRC32": checksum}
        finally:
            self._slots.release()

    def complete(self) -> dict:
        if self._buffer or not self._parts:
            self._send(bytes(self._buffer))
            self._buffer.clear()
        parts = [future.result() for future in self._parts]
        self._pool.shutdown()
        response = self._s3.complete_multipart_upload(
            Bucket=self.bucket, Key=self.key, UploadId=self.upload_id, MultipartUpload={"Parts": parts},
            ChecksumCRC32=b64_crc32(self.crc32), ChecksumType="FULL_OBJECT", **self._complete_args,
        )
        return {"etag": response["ETag"], "size": self.size, "crc32": self.crc32, "parts": len(parts)}

    def abort(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._s3.abort_multipart_upload(Bucket=self.bucket, Key=self.key, UploadId=self.upload_id)


def abort_stale_uploads(s3, bucket: str, key: str) -> int:
    """Abort multipart uploads left on ``key`` by a worker that was killed hard (SIGKILL)."""
    return abort_uploads(s3, bucket, key, lambda found: found == key)  # not those of keys it is a prefix of


def put_jsonl(s3, bucket: str, key: str, rows: Iterable[dict]) -> None:
    """A gzip JSON-lines object in the Standard class (manifests and per-bundle index objects)."""
    body = gzip.compress("".join(json.dumps(row, separators=(",", ":")) + "\n" for row in rows).encode(), 6)
    s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/gzip",
                  StorageClass="STANDARD", ChecksumAlgorithm="CRC32")


def get_jsonl(s3, bucket: str, key: str) -> list[dict]:
    body = gzip.decompress(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    return [json.loads(line) for line in body.splitlines()]


def get_parquet_rows(s3, bucket: str, key: str, column: str, first: int, last: int) -> list[dict]:
    """The rows of a Parquet object whose ``column`` is between ``first`` and ``last`` (the SQL plan's
    manifests, sorted by it): only the footer and the row groups whose statistics overlap are read, by ranged GETs."""
    import pyarrow.parquet

    parquet = pyarrow.parquet.ParquetFile(S3File(s3, bucket, key))
    position = parquet.schema_arrow.get_field_index(column)
    groups = []
    for number in range(parquet.num_row_groups):
        stats = parquet.metadata.row_group(number).column(position).statistics
        if stats is None or not stats.has_min_max or (stats.min <= last and first <= stats.max):
            groups.append(number)
    if not groups:
        return []
    return [row for row in parquet.read_row_groups(groups).to_pylist() if first <= row[column] <= last]


class S3File(io.RawIOBase):
    """A read-only, seekable view of one S3 object through ranged GETs (what a Parquet reader seeks to)."""

    def __init__(self, s3, bucket: str, key: str):
        super().__init__()
        self._s3, self._bucket, self._key = s3, bucket, key
        self._size = s3.head_object(Bucket=bucket, Key=key)["ContentLength"]
        self._position = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        self._position = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self._size}[whence] + offset
        return self._position

    def readinto(self, buffer) -> int:
        end = min(self._position + len(buffer), self._size)
        if end <= self._position:
            return 0
        data = self._s3.get_object(Bucket=self._bucket, Key=self._key,
                                   Range=f"bytes={self._position}-{end - 1}")["Body"].read()
        buffer[:len(data)] = data
        self._position += len(data)
        return len(data)


def utc_iso(moment: datetime) -> str:
    """A time in ISO form with its UTC offset (a naive time is UTC, as engines give them)."""
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).isoformat()


def head(s3, bucket: str, key: str) -> dict | None:
    """The object's HEAD answer, or None when there is no such object (any other error is raised)."""
    try:
        return s3.head_object(Bucket=bucket, Key=key)
    except s3.exceptions.ClientError as err:
        if err.response["Error"]["Code"] in ("404", "NoSuchKey", "NotFound"):
            return None
        raise


def exists(s3, bucket: str, key: str) -> bool:
    return head(s3, bucket, key) is not None


def parse_uri(uri: str) -> tuple[str, str]:
    """``s3://bucket/key`` -> (bucket, key)."""
    if not uri.startswith("s3://") or "/" not in uri[5:]:
        raise ValueError(f"not an s3://bucket/key URI: {uri!r}")
    bucket, key = uri[5:].split("/", 1)
    return bucket, key
