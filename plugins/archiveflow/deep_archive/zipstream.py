"""A zip writer for unseekable outputs, and the parallel packing pipeline built on it.

Members are written strictly in order to ``out.write`` (an S3 multipart upload in production), so
nothing ever seeks back: small members are read and compressed ahead in a thread pool (libdeflate
and S3 reads release the GIL, so this uses every core), large members are streamed chunk by chunk
with a data descriptor. Memory is bounded by ``inflight_bytes`` + one chunk, whatever the size of
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
PROBE_BYTES = 16 * 1024  # a quick level-1 deflate of this much tells whether the rest will compress
PROBE_RATIO = 0.9
READ_AHEAD_MEMBERS = 512  # bounds the queue when members are tiny (inflight_bytes bounds it otherwise)

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


def compress(name: str, data: bytes, level: int) -> tuple[int, int, bytes]:
    """(crc32, method, payload) for a whole member, at libdeflate ``level`` (1-12); stored when
    deflate would not pay."""
    crc = deflate.crc32(data)
    if _wants_deflate(name, data):
        payload = deflate.deflate_compress(data, level)
        if len(payload) < len(data):
            return crc, DEFLATED, bytes(payload)
    return crc, STORED, data


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

    def _local_header(self, member: Member, flags: int, method: int, crc: int, csize: int, size: int,
                      extra: bytes) -> bytes:
        name = member.name.encode()
        time, date = _dos_datetime(member.mtime)
        version = 45 if extra else 20
        return struct.pack("<IHHHHHIIIHH", 0x04034B50, version, flags, method, time, date, crc, csize, size,
                           len(name), len(extra)) + name + extra

    def add(self, member: Member, crc: int, method: int, payload: bytes, size: int) -> Entry:
        """A member whose bytes are all known (sizes go in the local header)."""
        entry = Entry(member.name, self.offset, len(payload), size, crc, method)
        zip64 = size >= U32_MAX or len(payload) >= U32_MAX
        extra = struct.pack("<HHQQ", 1, 16, size, len(payload)) if zip64 else b""
        csize, usize = (U32_MAX, U32_MAX) if zip64 else (len(payload), size)
        self._write(self._local_header(member, _FLAG_UTF8, method, crc, csize, usize, extra))
        self._write(payload)
        return self._finish(member, entry, _FLAG_UTF8)

    def add_stream(self, member: Member, chunks: Iterable[bytes], level: int) -> Entry:
        """A member too big to buffer: ZIP64 data descriptor after the data (sizes unknown up front)."""
        chunks = iter(chunks)
        first = next(chunks, b"")
        deflated = _wants_deflate(member.name, first)
        method = DEFLATED if deflated else STORED
        flags = _FLAG_UTF8 | _FLAG_DATA_DESCRIPTOR
        offset = self.offset
        extra = struct.pack("<HHQQ", 1, 16, 0, 0)
        self._write(self._local_header(member, flags, method, 0, U32_MAX, U32_MAX, extra))
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
    at most ``inflight_bytes`` of them at a time; bigger ones are streamed in turn. A member the
    source says is missing is left out and handed to ``on_missing`` (without it, the error stands).
    """
    writer = ZipWriter(out)

    def load(member: Member) -> tuple[int, int, bytes, int]:
        data = source.read(member)
        return (*compress(member.name, data, level), len(data))

    pending: deque[tuple[Member, Future | None]] = deque()
    inflight = 0

    def write_oldest() -> None:
        nonlocal inflight
        member, future = pending.popleft()
        try:
            if future is None:  # the source is asked before any byte of the member is written
                on_member(writer.add_stream(member, source.chunks(member), level))
                return
            inflight -= member.size
            crc, method, payload, size = future.result()
        except MemberMissing:
            if on_missing is None:
                raise
            on_missing(member)
            return
        on_member(writer.add(member, crc, method, payload, size))

    pool = ThreadPoolExecutor(threads, thread_name_prefix="pack")
    try:
        for member in members:
            if member.size > buffer_limit:
                pending.append((member, None))
            else:
                pending.append((member, pool.submit(load, member)))
                inflight += member.size
            while pending and (inflight > inflight_bytes or len(pending) > READ_AHEAD_MEMBERS):
                write_oldest()
        while pending:
            write_oldest()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    return writer.close()
