"""Stream one GH Archive hour into Bronze without ever holding it whole: HTTP body chunks →
gzip decode → one line at a time validated and reshaped into the Bronze row → gzip encode →
a write-only sink (an S3 multipart upload). Memory is bounded by the chunk, the longest line
(at most MAX_LINE), the encoder thread's backlog and the sink's parts, whatever the hour's size:
about 70 MiB over the process's resting size (the same for an 88 MiB and a 145 MiB hour with
lines of 2 MiB), measured by tests/integration/github_lakehouse/test_github_ingestion_dag.py.

Plain Python: the operator hands in the body's chunks and the sink.
"""

from __future__ import annotations

import gzip
import logging
import time
import zlib
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from archiveflow.github_lakehouse.bronze import MalformedEvent, bronze_line

log = logging.getLogger(__name__)

MIB = 1 << 20
MAX_DECODED_BLOCK = 4 * MIB   # most decoded bytes per decompress call (a gzip bomb stays bounded)
MAX_LINE = 16 * MIB           # a longer line is counted malformed and skipped, never buffered
WRITE_BATCH = 1 * MIB         # Bronze lines are handed to the gzip encoder in batches this big
ENCODER_BACKLOG = 2           # batches waiting for the encoder thread at most
MAX_SAMPLES = 5               # malformed lines quoted in the report
OVERSIZED = object()          # the line splitter's stand-in for a line longer than MAX_LINE


class CorruptSource(Exception):
    """The body is not a complete gzip stream (corrupt, truncated or empty)."""


@dataclass
class IngestStats:
    source_bytes: int = 0          # gzip bytes read from the source
    decoded_bytes: int = 0         # JSON-lines bytes after decoding
    lines: int = 0                 # lines in the source (blank lines included)
    written: int = 0               # Bronze lines written
    malformed: Counter = field(default_factory=Counter)   # reason -> lines
    samples: list[dict] = field(default_factory=list)     # the first few malformed lines
    days: set[str] = field(default_factory=set)           # the UTC days of the events written (created_at)

    @property
    def malformed_lines(self) -> int:
        return sum(self.malformed.values())

    def reject(self, number: int, reason: str, line: bytes) -> None:
        self.malformed[reason] += 1
        if len(self.samples) < MAX_SAMPLES:
            self.samples.append({"line": number, "reason": reason,
                                 "text": line[:200].decode("utf-8", "replace")})

    def as_dict(self) -> dict:
        return {"source_bytes": self.source_bytes, "decoded_bytes": self.decoded_bytes, "lines": self.lines,
                "written": self.written, "malformed_lines": self.malformed_lines,
                "malformed": dict(self.malformed), "malformed_samples": self.samples, "days": sorted(self.days)}


def gunzip(chunks: Iterable[bytes], stats: IngestStats) -> Iterator[bytes]:
    """Decode a gzip stream (several concatenated members too) in bounded blocks."""
    decoder = zlib.decompressobj(31)
    in_member = False
    for chunk in chunks:
        stats.source_bytes += len(chunk)
        pending = chunk
        while pending:
            in_member = True
            try:
                block = decoder.decompress(pending, MAX_DECODED_BLOCK)
            except zlib.error as err:
                raise CorruptSource(f"corrupt gzip after {stats.source_bytes:,} bytes: {err}") from None
            if block:
                stats.decoded_bytes += len(block)
                yield block
            if decoder.eof:
                pending, decoder, in_member = decoder.unused_data, zlib.decompressobj(31), False
            else:
                pending = decoder.unconsumed_tail
    if in_member or stats.source_bytes == 0:
        raise CorruptSource(f"gzip stream ends early after {stats.source_bytes:,} bytes (truncated or empty body)")


def split_lines(blocks: Iterable[bytes]) -> Iterator[bytes | object]:
    """Lines without their newline; OVERSIZED for a line longer than MAX_LINE (its bytes are dropped)."""
    buffer = bytearray()
    skipping = False
    for block in blocks:
        buffer += block
        start = 0
        while (end := buffer.find(b"\n", start)) >= 0:
            yield OVERSIZED if skipping else bytes(buffer[start:end])
            skipping, start = False, end + 1
        del buffer[:start]
        if len(buffer) > MAX_LINE:
            skipping = True
            buffer.clear()
    if skipping:
        yield OVERSIZED
    elif buffer:
        yield bytes(buffer)


def _bronze_lines(lines: Iterable[bytes | object], stats: IngestStats) -> Iterator[bytes]:
    for number, line in enumerate(lines, start=1):
        stats.lines = number
        if line is OVERSIZED:
            stats.reject(number, f"line longer than {MAX_LINE // MIB} MiB", b"")
        elif not line.strip():
            stats.reject(number, "blank line", line)
        else:
            try:
                row, day = bronze_line(line)
            except MalformedEvent as err:
                stats.reject(number, str(err), line)
                continue
            stats.days.add(day)
            stats.written += 1
            yield row


def stream_to_bronze(chunks: Iterable[bytes], sink: BinaryIO, stats: IngestStats | None = None,
                     progress: Callable[[IngestStats], None] | None = None, progress_every: float = 15.0,
                     compresslevel: int = 3) -> IngestStats:
    """Write the Bronze form of the gzip JSON-lines `chunks` to `sink` as one gzip stream.
    Raises CorruptSource when the body is not a complete gzip stream (the caller then discards the sink).

    The gzip encoder runs in a thread of its own (zlib releases the GIL), fed batches in order, at
    most ENCODER_BACKLOG waiting: encoding overlaps decoding and reshaping, memory stays bounded."""
    stats = stats or IngestStats()
    batch: list[bytes] = []
    batch_size = 0
    next_report = time.monotonic() + progress_every
    with gzip.GzipFile(fileobj=sink, mode="wb", compresslevel=compresslevel, mtime=0) as encoder, \
            _OrderedWriter(encoder.write) as write:
        for line in _bronze_lines(split_lines(gunzip(chunks, stats)), stats):
            batch.append(line)
            batch_size += len(line) + 1
            if batch_size >= WRITE_BATCH:
                write(b"\n".join(batch) + b"\n")
                batch, batch_size = [], 0
                if progress and time.monotonic() >= next_report:
                    progress(stats)
                    next_report = time.monotonic() + progress_every
        if batch:
            write(b"\n".join(batch) + b"\n")
    return stats


class _OrderedWriter:
    """Calls `write` with each buffer, in order, in one background thread; at most ENCODER_BACKLOG
    buffers wait. An error in `write` is raised in the caller (at its next call or on exit)."""

    def __init__(self, write: Callable[[bytes], Any]) -> None:
        self._write = write
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="bronze-gzip")
        self._pending: deque[Future] = deque()

    def __call__(self, data: bytes) -> None:
        while len(self._pending) >= ENCODER_BACKLOG or (self._pending and self._pending[0].done()):
            self._pending.popleft().result()
        self._pending.append(self._pool.submit(self._write, data))

    def __enter__(self) -> _OrderedWriter:
        return self

    def __exit__(self, *exc_info) -> None:
        try:
            while self._pending:
                self._pending.popleft().result()
        finally:
            self._pool.shutdown(wait=True, cancel_futures=True)
