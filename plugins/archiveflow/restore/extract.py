"""Member-only extraction: ranged GETs of exactly one member's bytes from a restored zip bundle,
inflated and checked (CRC-32 and size from the index) while they stream into the restore bucket.
A bundle is never downloaded whole.

The index knows a member's local header offset, name and compressed size, but not the length of
the header's extra field (the packer writes a 20-byte ZIP64 extra on streamed members only). So
the first GET takes header + name + compressed size; when the header shows an extra field, one
more GET takes the last `extra` bytes of the data. Bytes read = header + compressed size, exactly.
"""

from __future__ import annotations

import hashlib
import mimetypes
import re
import struct
import threading
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError

from archiveflow.deep_archive.s3io import MultipartUpload, b64_crc32, head, part_size_for
from archiveflow.errors import BadRequest, SafetyRefusal
from archiveflow.failpoints import failpoint
from archiveflow.restore.lookup import ArchivedFile
from archiveflow.units import MiB

LOCAL_HEADER = struct.Struct("<IHHHHHIIIHH")
LOCAL_HEADER_SIGNATURE = 0x04034B50
CHUNK = 1 * MiB
GiB = 1024 * MiB
# A member in memory: the part being filled and one part in flight (MultipartUpload's copy of it).
MEMORY_PARTS = 3
MAX_KEY_BYTES = 1024
RESTORED_TAG = "archiveflow-restored"  # x-amz-meta-: which archived (bucket, key, version) this copy is
# CopyObject (one request) up to S3's 5 GB limit, a multipart copy above.
COPY = TransferConfig(multipart_threshold=5 * GiB, multipart_chunksize=512 * MiB, max_concurrency=4)


@dataclass
class ReadCounter:
    """Bytes and GET requests read from the archive (thread-safe): what the restore paid to read."""

    bytes: int = 0
    requests: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, nbytes: int) -> None:
        with self._lock:
            self.bytes += nbytes
            self.requests += 1


def _get(s3, f: ArchivedFile, first: int, length: int, counter: ReadCounter):
    response = s3.get_object(Bucket=f.archive_bucket, Key=f.archive_key, Range=f"bytes={first}-{first + length - 1}")
    counter.add(response["ContentLength"])
    return response["Body"]


def _read_exact(body, size: int, what: str) -> bytes:
    data = body.read(size)
    if len(data) != size:
        raise SafetyRefusal(f"{what}: the bundle ended {size - len(data)} bytes early")
    return data


def _chunks(body, size: int) -> Iterator[bytes]:
    remaining = size
    while remaining:
        chunk = body.read(min(CHUNK, remaining))
        if not chunk:
            raise SafetyRefusal(f"the bundle ended {remaining} bytes before the member's end")
        remaining -= len(chunk)
        yield chunk


def compressed_bytes(s3, f: ArchivedFile, counter: ReadCounter) -> Iterator[bytes]:
    """The member's compressed bytes, as stored in the bundle."""
    name = f.member_name.encode()
    start, data_guess = f.header_offset, LOCAL_HEADER.size + len(name)
    body = _get(s3, f, start, data_guess + f.compressed_size, counter)
    fields = LOCAL_HEADER.unpack(_read_exact(body, LOCAL_HEADER.size, f.source))
    signature, name_length, extra_length = fields[0], fields[9], fields[10]
    if signature != LOCAL_HEADER_SIGNATURE or name_length != len(name):
        raise SafetyRefusal(f"{f.source}: no local header of {f.member_name!r} at offset {start} of "
                            f"s3://{f.archive_bucket}/{f.archive_key}; the index does not match the bundle")
    _read_exact(body, name_length + extra_length, f.source)
    in_first = f.compressed_size - extra_length
    yield from _chunks(body, in_first)
    if extra_length:
        yield from _chunks(_get(s3, f, start + data_guess + extra_length + in_first, extra_length, counter),
                           extra_length)


def _inflate(chunks: Iterator[bytes]) -> Iterator[bytes]:
    engine = zlib.decompressobj(-zlib.MAX_WBITS)
    for chunk in chunks:
        data = chunk
        while data:
            out = engine.decompress(data, CHUNK)  # bounded output: a highly compressed member stays in bounds
            if out:
                yield out
            data = engine.unconsumed_tail
    if tail := engine.flush():
        yield tail


def verified(chunks: Iterator[bytes], f: ArchivedFile) -> Iterator[bytes]:
    """The member's bytes; raises, instead of ending, when the CRC-32 or the size differ from the
    index. The writer reads this to its end before it completes anything, so a wrong file never
    lands in the restore bucket (a multipart upload is aborted)."""
    crc32 = size = 0
    for chunk in chunks:
        crc32, size = zlib.crc32(chunk, crc32), size + len(chunk)
        yield chunk
    if (crc32, size) != (f.crc32, f.size):
        raise SafetyRefusal(f"{f.source}: extracted {size} bytes with CRC-32 {crc32:08x}, the index says "
                            f"{f.size} bytes, {f.crc32:08x}; not written")


def member_chunks(s3, f: ArchivedFile, counter: ReadCounter) -> Iterator[bytes]:
    raw = compressed_bytes(s3, f, counter)
    return verified(_inflate(raw) if f.compression == "deflate" else raw, f)


def version_segment(version: str) -> str:
    """A version id (`{last_modified}#{etag}`) as one plain key segment."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", version).strip("-")


def destination_key(f: ArchivedFile, prefix: str) -> str:
    """One key per archived (bucket, key, version): two files with one key in two buckets, or two
    versions of one file, never land on the same object."""
    return f"{prefix}{f.source_bucket}/{version_segment(f.version)}/{f.source_key}"


def check_destinations(files: Sequence[ArchivedFile], prefix: str) -> None:
    """BadRequest naming `destination_prefix` when a file's destination key exceeds S3's 1,024 bytes."""
    for f in files:
        if len(destination_key(f, prefix).encode()) > MAX_KEY_BYTES:
            raise BadRequest("destination_prefix", f"{f.source}: its destination key would exceed S3's "
                             f"{MAX_KEY_BYTES} bytes; use a shorter prefix")


def restored_tag(f: ArchivedFile) -> str:
    """The metadata a restored copy carries: which archived (bucket, key, version) it is (a hash:
    S3 metadata is ASCII, keys need not be)."""
    return hashlib.sha256(f"{f.source}\n{f.version}".encode()).hexdigest()[:32]



def _write_member(s3, f: ArchivedFile, bucket: str, key: str, counter: ReadCounter, overwrite: bool) -> None:
    """Stream one member into `bucket`: one PUT up to a part's size, a multipart upload above (any
    size up to S3's 5 TiB in 10,000 parts). Memory per file: at most MEMORY_PARTS parts of
    `part_size_for(size)` (16 MiB up to ~140 GiB members), whatever the member's size."""
    args = {"ContentType": mimetypes.guess_type(f.source_key)[0] or "application/octet-stream",
            "metadata": {RESTORED_TAG: restored_tag(f)}, "if_none_match": not overwrite}
    part_size = part_size_for(f.size)
    chunks = member_chunks(s3, f, counter)
    if f.size <= part_size:
        body = b"".join(chunks)  # verified before the PUT starts
        s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType=args["ContentType"], Metadata=args["metadata"],
                      ChecksumCRC32=b64_crc32(f.crc32), **({"IfNoneMatch": "*"} if not overwrite else {}))
        return
    upload = MultipartUpload(s3, bucket, key, "STANDARD", part_size, max_inflight=1,
                             content_type=args["ContentType"], metadata=args["metadata"],
                             if_none_match=args["if_none_match"])
    try:
        for chunk in chunks:
            upload.write(chunk)
        upload.complete()
    except BaseException:
        upload.abort()
        raise


def restore_file(s3, f: ArchivedFile, bucket: str, prefix: str, counter: ReadCounter, *,
                 overwrite: bool = False) -> dict:
    """Write one archived file to `bucket` at `destination_key`. A copy this file already has there
    (an earlier try or run) is kept and reported; any other object there is never replaced unless
    `overwrite` (the write is conditional, so one appearing meanwhile is not replaced either)."""
    key = destination_key(f, prefix)
    outcome = {"source": f.source, "version": f.version, "bucket": bucket, "key": key, "size": f.size}
    existing = head(s3, bucket, key)
    if existing is not None:
        if existing.get("Metadata", {}).get(RESTORED_TAG) == restored_tag(f) and existing["ContentLength"] == f.size:
            return {**outcome, "already_restored": True}
        if not overwrite:
            raise SafetyRefusal(f"{f.source}: s3://{bucket}/{key} already holds another object; not overwritten "
                                "(set overwrite to replace it)")
    try:
        if f.archive_format == "zip":
            _write_member(s3, f, bucket, key, counter, overwrite)
        else:
            _copy_object(s3, f, bucket, key)
    except ClientError as err:
        if err.response["Error"]["Code"] == "PreconditionFailed":
            raise SafetyRefusal(f"{f.source}: an object appeared at s3://{bucket}/{key} during the restore; "
                                "not overwritten") from err
        raise
    failpoint("restore.file_written")
    return outcome


def _copy_object(s3, f: ArchivedFile, bucket: str, key: str) -> None:
    s3.copy({"Bucket": f.archive_bucket, "Key": f.archive_key}, bucket, key, Config=COPY,
            ExtraArgs={"StorageClass": "STANDARD", "ChecksumAlgorithm": "CRC32", "MetadataDirective": "REPLACE",
                       "Metadata": {RESTORED_TAG: restored_tag(f)}})
    stored = s3.head_object(Bucket=bucket, Key=key)["ContentLength"]
    if stored != f.size:
        s3.delete_object(Bucket=bucket, Key=key)
        raise SafetyRefusal(f"{f.source}: copied {stored} bytes, the index says {f.size}; copy removed")
