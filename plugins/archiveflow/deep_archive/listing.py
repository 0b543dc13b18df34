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


def pages(s3, bucket: str, prefix: str, *, workers: int = WORKERS, queued_pages: int = QUEUED_PAGES) -> Iterator[list[dict]]:
    """The objects under ``prefix`` in key order, a listing page at a time."""
    stop = threading.Event()

    def put(out: queue.Queue, item) -> bool:
        while not stop.is_set():
            try:
                out.put(item, timeout=1)
                return True
            except queue.Full:
                continue
        return False

    def list_into(sub_prefix: str, out: queue.Queue) -> None:
        try:
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=sub_prefix):
                if not put(out, page.get("Contents", [])):
                    return
            put(out, _DONE)
        except BaseException as err:  # handed to the reader, which raises it
            put(out, err)

    discovered = _discovered(s3, bucket, prefix)
    ahead: deque[list[dict] | queue.Queue] = deque()  # loose objects (one page each) or a sub-prefix's pages
    counts = {"prefixes": 0, "loose": 0}
    exhausted = False

    def fill(pool: ThreadPoolExecutor) -> None:
        """Look ahead: at most ``workers`` sub-prefixes being listed, ``queued_pages`` pages of loose objects."""
        nonlocal exhausted
        while not exhausted and counts["prefixes"] < workers and counts["loose"] < queued_pages:
            entry = next(discovered, None)
            if entry is None:
                exhausted = True
            elif entry[0] == "prefix":
                out: queue.Queue = queue.Queue(queued_pages)
                pool.submit(list_into, entry[1], out)
                ahead.append(out)
                counts["prefixes"] += 1
            else:
                if not ahead or not isinstance(ahead[-1], list) or len(ahead[-1]) >= PAGE:
                    ahead.append([])
                    counts["loose"] += 1
                ahead[-1].append(entry[1])

    with ThreadPoolExecutor(workers, thread_name_prefix="list") as pool:
        try:
            while True:
                fill(pool)
                if not ahead:
                    return
                source = ahead.popleft()
                if isinstance(source, list):
                    counts["loose"] -= 1
                    yield source
                    continue
                counts["prefixes"] -= 1
                while (page := source.get()) is not _DONE:
                    if isinstance(page, BaseException):
                        raise page
                    yield page
        finally:
            stop.set()
