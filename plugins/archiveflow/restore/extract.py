"""Member-only extraction: ranged GETs of exactly one member's bytes from a restored zip bundle,
inflated and checked (CRC-32 and size from the index) while they stream into the restore bucket.
A bundle is never downloaded whole.

The index knows a member's local header offset, name and compressed size, but not the length of
the header's extra field (the packer writes a 20-byte ZIP64 extra on streamed members only). So
the first GET takes header + name + compressed size; when the header shows an extra field, one
more GET takes the last `extra` bytes of the data. Bytes read = header + compressed size, exactly.
"""

from __future__ import annotations

import io
import mimetypes
import struct
import threading
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field

from boto3.s3.transfer import TransferConfig

from archiveflow.errors import SafetyRefusal
from archiveflow.restore.lookup import ArchivedFile
from archiveflow.units import MiB

LOCAL_HEADER = struct.Struct("<IHHHHHIIIHH")
LOCAL_HEADER_SIGNATURE = 0x04034B50
CHUNK = 1 * MiB
GiB = 1024 * MiB
# One PUT up to 64 MiB, parts of 64 MiB above; CopyObject (one request) up to S3's 5 GB limit.
UPLOAD = TransferConfig(multipart_threshold=64 * MiB, multipart_chunksize=64 * MiB, max_concurrency=4)
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


class VerifiedStream(io.RawIOBase):
    """A readable stream of the member's bytes that raises, instead of reaching its end, when the
    CRC-32 or the size differ from the index: the upload reading it is then abandoned (and a
    multipart one aborted), so a wrong file never lands in the restore bucket."""

    def __init__(self, chunks: Iterator[bytes], f: ArchivedFile):
        self._chunks, self._f = chunks, f
        self._buffer = b""
        self.crc32 = self.size = 0

    def readable(self) -> bool:
        return True

    def readinto(self, target) -> int:
        while not self._buffer:
            chunk = next(self._chunks, None)
            if chunk is None:
                self._verify()
                return 0
            self._buffer = chunk
            self.crc32 = zlib.crc32(chunk, self.crc32)
            self.size += len(chunk)
        count = min(len(target), len(self._buffer))
        target[:count] = self._buffer[:count]
        self._buffer = self._buffer[count:]
        return count

    def _verify(self) -> None:
        if (self.crc32, self.size) != (self._f.crc32, self._f.size):
            raise SafetyRefusal(f"{self._f.source}: extracted {self.size} bytes with CRC-32 {self.crc32:08x}, the "
                                f"index says {self._f.size} bytes, {self._f.crc32:08x}; not written")


def member_stream(s3, f: ArchivedFile, counter: ReadCounter) -> VerifiedStream:
    raw = compressed_bytes(s3, f, counter)
    return VerifiedStream(_inflate(raw) if f.compression == "deflate" else raw, f)


def destination_key(f: ArchivedFile, prefix: str) -> str:
    return prefix + f.source_key


def restore_file(s3, f: ArchivedFile, bucket: str, prefix: str, counter: ReadCounter) -> dict:
    """Write one archived file to `bucket` under `prefix` + its original key (an overwrite on a retry)."""
    key = destination_key(f, prefix)
    if f.archive_format == "zip":
        content_type = mimetypes.guess_type(f.source_key)[0] or "application/octet-stream"
        s3.upload_fileobj(member_stream(s3, f, counter), bucket, key, Config=UPLOAD,
                          ExtraArgs={"ContentType": content_type, "ChecksumAlgorithm": "CRC32"})
    else:
        s3.copy({"Bucket": f.archive_bucket, "Key": f.archive_key}, bucket, key, Config=COPY,
                ExtraArgs={"StorageClass": "STANDARD", "ChecksumAlgorithm": "CRC32"})
        stored = s3.head_object(Bucket=bucket, Key=key)["ContentLength"]
        if stored != f.size:
            s3.delete_object(Bucket=bucket, Key=key)
            raise SafetyRefusal(f"{f.source}: copied {stored} bytes, the index says {f.size}; copy removed")
    return {"source": f.source, "bucket": bucket, "key": key, "size": f.size}
