"""A zip writer for unseekable outputs, and the parallel packing pipeline built on it.

Members are written strictly in order to ``out.write`` (an S3 multipart upload in production), so
nothing ever seeks back: small members are read and compressed ahead in a thread pool (libdeflate
and S3 reads release the GIL, so this uses every core), large members are streamed chunk by chunk
with a data descriptor. Small members go to the threads in batches, and a thread returns a batch
as one byte string of local headers and data: per-member Python work in the writing thread held
the GIL often enough to keep a core idle (a local header has no offset in it, so threads can
build it; only the central directory needs offsets, which the writing thread adds). Memory is bounded by ``inflight_bytes`` + one chunk, whatever the size of
the bundle; only the central directory (~100 bytes per member) grows with the member count.

Buffered members go through libdeflate (the `deflate` package: 2-3x zlib's speed for a smaller
output, but whole buffers only); streamed ones through zlib. Both write plain deflate (method 8),
which every unzip reads.
"""

from __future__ import annotations

import struct
import zlib
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import PurePosixPath
from typing import Protocol

import deflate

from archiveflow.units import MiB

STORED, DEFLATED = 0, 8
U32_MAX, U16_MAX = 0xFFFFFFFF, 0xFFFF

# Already-compressed formats: deflating them burns CPU for nothing.
COMPRESSED_SUFFIXES = frozenset(
    ".gz .tgz .bz2 .xz .zst .lz4 .br .snappy .zip .7z .rar .jar .whl .jpg .jpeg .png .gif .webp "
    ".heic .avif .mp3 .m4a .aac .ogg .flac .mp4 .m4v .mov .avi .mkv .webm .parquet .orc .docx "
    ".xlsx .pptx .odt .ods .epub".split()
)
# A quick level-1 deflate of this much tells whether the rest will compress: 4 KiB tells random
# bytes from text as well as 16 KiB did, for 7% less CPU on an all-text corpus (the probe is waste there).
PROBE_BYTES = 4 * 1024
PROBE_RATIO = 0.9
# One thread task packs consecutive small members up to this many bytes or members.
BATCH_BYTES = 1 * MiB
BATCH_MEMBERS = 64

_FLAG_DATA_DESCRIPTOR = 0x08
_FLAG_UTF8 = 0x800  # names are always UTF-8 (APPNOTE 4.4.4, bit 11)
_MADE_BY = (3 << 8) | 45  # UNIX, spec 4.5
_EXTERNAL_ATTR = (0o100644 << 16)


@dataclass(frozen=True)
class Member:
    """One object to pack: its name in the zip, expected size, modification time and, when the
    name is not the object's own (`archiveflow.deep_archive.names`), the key it is read from."""

    name: str
    size: int
    mtime: datetime
    key: str | None = None

    @property
    def source_key(self) -> str:
        return self.name if self.key is None else self.key


@dataclass(frozen=True)
class Entry:
    """What was written for one member: what the index and the central directory need."""

    name: str
    offset: int
    compressed_size: int
    size: int
    crc32: int
    method: int


class MemberMissing(Exception):
    """A source raises it for a member that no longer exists: `pack` leaves that member out."""


class Source(Protocol):
    """Where member bytes come from (S3 or local disk); a member gone raises `MemberMissing`."""

    def read(self, member: Member) -> bytes: ...

    def chunks(self, member: Member) -> Iterator[bytes]: ...


def _dos_datetime(moment: datetime) -> tuple[int, int]:
    year = min(max(moment.year, 1980), 2107)
    date = (year - 1980) << 9 | moment.month << 5 | moment.day
    time = moment.hour << 11 | moment.minute << 5 | moment.second // 2
    return time, date


def _wants_deflate(name: str, head: bytes) -> bool:
    if PurePosixPath(name).suffix.lower() in COMPRESSED_SUFFIXES:
        return False
    probe = head[:PROBE_BYTES]
    return len(deflate.deflate_compress(probe, 1)) < PROBE_RATIO * len(probe)


def compress(name: str, data: bytes, level: int) -> tuple[int, int, bytes | bytearray]:
    """(crc32, method, payload) for a whole member, at libdeflate ``level`` (1-12); stored when
    deflate would not pay."""
    crc = deflate.crc32(data)
    if _wants_deflate(name, data):
        payload = deflate.deflate_compress(data, level)
        if len(payload) < len(data):
            return crc, DEFLATED, payload
    return crc, STORED, data


def _local_header(member: Member, flags: int, method: int, crc: int, csize: int, size: int, extra: bytes) -> bytes:
    name = member.name.encode()
    time, date = _dos_datetime(member.mtime)
    version = 45 if extra else 20
    return struct.pack("<IHHHHHIIIHH", 0x04034B50, version, flags, method, time, date, crc, csize, size,
                       len(name), len(extra)) + name + extra


def _buffered_header(member: Member, crc: int, method: int, csize: int, size: int) -> bytes:
    """The local header of a member whose sizes are known (ZIP64 extra only if they need it)."""
    if size >= U32_MAX or csize >= U32_MAX:
        return _local_header(member, _FLAG_UTF8, method, crc, U32_MAX, U32_MAX,
                             struct.pack("<HHQQ", 1, 16, size, csize))
    return _local_header(member, _FLAG_UTF8, method, crc, csize, size, b"")


# A member a thread packed: (its position in the batch's bytes, crc32, method, compressed size, size),
# or None when the source said it is missing.
Packed = tuple[int, int, int, int, int] | None


def pack_batch(source: Source, members: list[Member], level: int) -> tuple[bytes, list[Packed]]:
    """Read and compress ``members`` (in a pool thread): their local headers and data as one byte
    string, and where each one is in it."""
    parts: list[bytes | bytearray] = []
    packed: list[Packed] = []
    at = 0
    for member in members:
        try:
            data = source.read(member)
        except MemberMissing:
            packed.append(None)
            continue
        crc, method, payload = compress(member.name, data, level)
        header = _buffered_header(member, crc, method, len(payload), len(data))
        parts += (header, payload)
        packed.append((at, crc, method, len(payload), len(data)))
        at += len(header) + len(payload)
    return b"".join(parts), packed


def _stream_level(level: int) -> int:
    """zlib's nearest level (1-9) to libdeflate's ``level`` (1-12), for streamed members."""
    return min(level, 9)


class ZipWriter:
    """Writes local headers and data in order, then the central directory on ``close``."""

    def __init__(self, out: Callable[[bytes], object]):
        self._out = out
        self.offset = 0
        self.entries: list[Entry] = []
        self._central: list[bytes] = []

    def _write(self, data: bytes) -> None:
        self._out(data)
        self.offset += len(data)

    def add_batch(self, members: list[Member], blob: bytes, packed: list[Packed]) -> list[Entry]:
        """Members `pack_batch` packed (the missing ones, None in ``packed``, are left out)."""
        base = self.offset
        self._write(blob)
        return [self._finish(member, Entry(member.name, base + done[0], done[3], done[4], done[1], done[2]),
                             _FLAG_UTF8)
                for member, done in zip(members, packed, strict=True) if done is not None]

    def add_stream(self, member: Member, chunks: Iterable[bytes], level: int) -> Entry:
        """A member too big to buffer: ZIP64 data descriptor after the data (sizes unknown up front)."""
        chunks = iter(chunks)
        first = next(chunks, b"")
        deflated = _wants_deflate(member.name, first)
        method = DEFLATED if deflated else STORED
        flags = _FLAG_UTF8 | _FLAG_DATA_DESCRIPTOR
        offset = self.offset
        extra = struct.pack("<HHQQ", 1, 16, 0, 0)
        self._write(_local_header(member, flags, method, 0, U32_MAX, U32_MAX, extra))
        engine = zlib.compressobj(_stream_level(level), zlib.DEFLATED, -15) if deflated else None
        crc = size = 0
        start = self.offset
        for chunk in _prepend(first, chunks):
            crc = deflate.crc32(chunk, crc)
            size += len(chunk)
            self._write(engine.compress(chunk) if engine else chunk)
        if engine:
            self._write(engine.flush())
        csize = self.offset - start
        self._write(struct.pack("<IIQQ", 0x08074B50, crc, csize, size))
        return self._finish(member, Entry(member.name, offset, csize, size, crc, method), flags)

    def _finish(self, member: Member, entry: Entry, flags: int) -> Entry:
        name = member.name.encode()
        time, date = _dos_datetime(member.mtime)
        # ZIP64 extra carries, in this order, only the fields too big for 32 bits.
        wide = [v for v in (entry.size, entry.compressed_size, entry.offset) if v >= U32_MAX]
        extra = struct.pack(f"<HH{len(wide)}Q", 1, 8 * len(wide), *wide) if wide else b""
        self._central.append(
            struct.pack(
                "<IHHHHHHIIIHHHHHII", 0x02014B50, _MADE_BY, 45 if wide else 20, flags, entry.method, time,
                date, entry.crc32, min(entry.compressed_size, U32_MAX), min(entry.size, U32_MAX), len(name),
                len(extra), 0, 0, 0, _EXTERNAL_ATTR, min(entry.offset, U32_MAX),
            ) + name + extra
        )
        self.entries.append(entry)
        return entry

    def close(self) -> list[Entry]:
        start = self.offset
        for record in self._central:
            self._write(record)
        count, size = len(self._central), self.offset - start
        if count >= U16_MAX or size >= U32_MAX or start >= U32_MAX:
            zip64_end = self.offset
            self._write(struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, _MADE_BY, 45, 0, 0, count, count, size, start))
            self._write(struct.pack("<IIQI", 0x07064B50, 0, zip64_end, 1))
        self._write(struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, min(count, U16_MAX), min(count, U16_MAX),
                                min(size, U32_MAX), min(start, U32_MAX), 0))
        return self.entries


def _prepend(first: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    if first:
        yield first
    yield from rest


def pack(
    members: Iterable[Member],
    source: Source,
    out: Callable[[bytes], object],
    *,
    threads: int = 8,
    level: int = 6,
    buffer_limit: int = 8 * MiB,
    inflight_bytes: int = 64 * MiB,
    on_member: Callable[[Entry], None] = lambda entry: None,
    on_missing: Callable[[Member], None] | None = None,
) -> list[Entry]:
    """Write ``members`` (in order) as a zip to ``out``; returns the entries written.

    Members up to ``buffer_limit`` bytes are read and compressed ahead in ``threads`` threads,
    in batches of consecutive members, at most ``inflight_bytes`` of them at a time; bigger ones
    are streamed in turn. A member the source says is missing is left out and handed to
    ``on_missing`` (without it, the error stands).
    """
    pool = ThreadPoolExecutor(threads, thread_name_prefix="pack")
    pipeline = _Pipeline(ZipWriter(out), source, pool, level, 2 * threads, inflight_bytes, on_member, on_missing)
    try:
        batch: list[Member] = []
        batch_bytes = 0
        for member in members:
            if member.size > buffer_limit:
                pipeline.submit(batch, batch_bytes)
                pipeline.stream(member)
                batch, batch_bytes = [], 0
                continue
            batch.append(member)
            batch_bytes += member.size
            if batch_bytes >= BATCH_BYTES or len(batch) >= BATCH_MEMBERS:
                pipeline.submit(batch, batch_bytes)
                batch, batch_bytes = [], 0
        pipeline.submit(batch, batch_bytes)
        pipeline.drain()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    return pipeline.writer.close()


class _Pipeline:
    """`pack`'s queue: batches being packed in the pool and members to stream, written in order."""

    def __init__(self, writer: ZipWriter, source: Source, pool: ThreadPoolExecutor, level: int, max_pending: int,
                 inflight_bytes: int, on_member: Callable[[Entry], None],
                 on_missing: Callable[[Member], None] | None):
        self.writer, self._source, self._pool, self._level = writer, source, pool, level
        self._max_pending, self._inflight_bytes = max_pending, inflight_bytes
        self._on_member, self._on_missing = on_member, on_missing
        # (members, their bytes, the future of their pack_batch), or ([member], 0, None) to stream it.
        self._pending: deque[tuple[list[Member], int, Future | None]] = deque()
        self._inflight = 0

    def submit(self, batch: list[Member], size: int) -> None:
        if batch:
            self._pending.append((batch, size, self._pool.submit(pack_batch, self._source, batch, self._level)))
            self._inflight += size
        # Bounds memory (bytes in flight) and the queue when members are tiny (its length).
        while self._pending and (self._inflight > self._inflight_bytes or len(self._pending) > self._max_pending):
            self._write_oldest()

    def stream(self, member: Member) -> None:
        self._pending.append(([member], 0, None))

    def drain(self) -> None:
        while self._pending:
            self._write_oldest()

    def _missing(self, member: Member) -> None:
        if self._on_missing is None:
            raise MemberMissing(member.source_key)
        self._on_missing(member)

    def _write_oldest(self) -> None:
        batch, size, future = self._pending.popleft()
        if future is None:
            try:  # the source is asked before any byte of the member is written
                entry = self.writer.add_stream(batch[0], self._source.chunks(batch[0]), self._level)
            except MemberMissing:
                self._missing(batch[0])
            else:
                self._on_member(entry)
            return
        self._inflight -= size
        blob, packed = future.result()
        for member, done in zip(batch, packed, strict=True):
            if done is None:
                self._missing(member)
        for entry in self.writer.add_batch(batch, blob, packed):
            self._on_member(entry)
