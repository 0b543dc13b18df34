"""Listing a prefix without an inventory: fanned out over its sub-prefixes, in key order, bounded memory.

One ListObjectsV2 with ``Delimiter="/"`` discovers the sub-prefixes (and the objects directly under
the prefix); each sub-prefix is then listed by its own paginator, ``workers`` of them at a time,
each at most ``queued_pages`` pages ahead of the reader. Pages come out in key order (a sub-prefix
sorts where its keys do: a key outside it is before all of them or after all of them), so the
planner's bundles are the same as with one serial listing. Memory: at most
``workers × (queued_pages + 1)`` pages of 1,000 keys, whatever the number of keys.
"""

from __future__ import annotations

import queue
import threading
from collections import deque
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

WORKERS = 8
QUEUED_PAGES = 4
PAGE = 1000
_DONE = object()


def _discovered(s3, bucket: str, prefix: str) -> Iterator[tuple[str, object]]:
    """("object", obj) and ("prefix", sub-prefix) directly under ``prefix``, in key order, lazily."""
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix, Delimiter="/"):
        entries = [(obj["Key"], "object", obj) for obj in page.get("Contents", [])]
        entries += [(common["Prefix"], "prefix", common["Prefix"]) for common in page.get("CommonPrefixes", [])]
        for _name, kind, value in sorted(entries, key=lambda entry: entry[0]):
            yield kind, value


def _put(out: queue.Queue, item, stop: threading.Event) -> bool:
    """Put unless the reader has gone (then False)."""
    while not stop.is_set():
        try:
            out.put(item, timeout=1)
            return True
        except queue.Full:
            continue
    return False


def _list_into(s3, bucket: str, sub_prefix: str, out: queue.Queue, stop: threading.Event) -> None:
    try:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=sub_prefix):
            if not _put(out, page.get("Contents", []), stop):
                return
        _put(out, _DONE, stop)
    except BaseException as err:  # handed to the reader, which raises it
        _put(out, err, stop)


class _Ahead:
    """What comes next in key order: pages of loose objects, and queues of sub-prefixes being listed."""

    def __init__(self, s3, bucket: str, prefix: str, pool: ThreadPoolExecutor, stop: threading.Event,
                 workers: int, queued_pages: int):
        self.s3, self.bucket, self.pool, self.stop = s3, bucket, pool, stop
        self.workers, self.queued_pages = workers, queued_pages
        self.discovered = _discovered(s3, bucket, prefix)
        self.entries: deque[list[dict] | queue.Queue] = deque()
        self.prefixes = self.loose = 0
        self.exhausted = False

    def fill(self) -> None:
        """Look ahead: at most ``workers`` sub-prefixes being listed, ``queued_pages`` pages of loose objects."""
        while not self.exhausted and self.prefixes < self.workers and self.loose < self.queued_pages:
            entry = next(self.discovered, None)
            if entry is None:
                self.exhausted = True
            elif entry[0] == "prefix":
                out: queue.Queue = queue.Queue(self.queued_pages)
                self.pool.submit(_list_into, self.s3, self.bucket, entry[1], out, self.stop)
                self.entries.append(out)
                self.prefixes += 1
            else:
                if not self.entries or not isinstance(self.entries[-1], list) or len(self.entries[-1]) >= PAGE:
                    self.entries.append([])
                    self.loose += 1
                self.entries[-1].append(entry[1])

    def next_pages(self) -> Iterator[list[dict]] | None:
        self.fill()
        if not self.entries:
            return None
        source = self.entries.popleft()
        if isinstance(source, list):
            self.loose -= 1
            return iter([source])
        self.prefixes -= 1
        return _drain(source)


def _drain(source: queue.Queue) -> Iterator[list[dict]]:
    while (page := source.get()) is not _DONE:
        if isinstance(page, BaseException):
            raise page
        yield page


def pages(s3, bucket: str, prefix: str, *, workers: int = WORKERS,
          queued_pages: int = QUEUED_PAGES) -> Iterator[list[dict]]:
    """The objects under ``prefix`` in key order, a listing page at a time."""
    stop = threading.Event()
    with ThreadPoolExecutor(workers, thread_name_prefix="list") as pool:
        try:
            ahead = _Ahead(s3, bucket, prefix, pool, stop, workers, queued_pages)
            while (next_pages := ahead.next_pages()) is not None:
                yield from next_pages
        finally:
            stop.set()
