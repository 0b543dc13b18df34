"""Listing fanned out over sub-prefixes gives the serial listing's pages' objects, in the same key order."""

from __future__ import annotations

import threading

from archiveflow.deep_archive import listing


class FakeS3:
    """ListObjectsV2 as S3 answers it (key order, Delimiter, pages of ``page`` entries); counts calls."""

    def __init__(self, keys: list[str], page: int = 3):
        self.keys, self.page, self.calls = sorted(keys), page, []

    def get_paginator(self, name: str):
        assert name == "list_objects_v2"
        return self

    def paginate(self, Bucket: str, Prefix: str, Delimiter: str | None = None):  # noqa: N803 - boto3's spelling
        self.calls.append((Prefix, Delimiter))
        entries: list[tuple[str, dict | None]] = []
        for key in self.keys:
            if not key.startswith(Prefix):
                continue
            rest = key[len(Prefix):]
            if Delimiter and Delimiter in rest:
                common = Prefix + rest[:rest.index(Delimiter) + 1]
                if not entries or entries[-1][0] != common:
                    entries.append((common, None))
            else:
                entries.append((key, {"Key": key, "Size": 1}))
        for start in range(0, len(entries), self.page):
            chunk = entries[start:start + self.page]
            yield {"Contents": [obj for _, obj in chunk if obj],
                   "CommonPrefixes": [{"Prefix": name} for name, obj in chunk if obj is None]}


KEYS = ["p/a.txt", "p/a/1", "p/a/2", "p/a/3/x", "p/a0", "p/b/1", "p/c", "p/d", "p/e", "p/f", "p/g/1", "p/g/2",
        "p/h/1", "q/other"] + [f"p/m/{i:03d}" for i in range(20)] + [f"p/z{i:02d}" for i in range(12)]


def test_the_fanned_out_listing_gives_every_key_once_in_key_order():
    s3 = FakeS3(KEYS)
    pages = list(listing.pages(s3, "b", "p/", workers=2, queued_pages=1))
    assert [obj["Key"] for page in pages for obj in page] == sorted(k for k in KEYS if k.startswith("p/"))
    assert ("p/", "/") in s3.calls and ("p/m/", None) in s3.calls  # discovered, then listed on its own


def test_a_reader_that_stops_early_leaves_no_listing_thread_behind():
    s3 = FakeS3(KEYS + [f"p/y{i}/k" for i in range(30)], page=1)
    before = threading.active_count()
    pages = listing.pages(s3, "b", "p/", workers=3, queued_pages=1)
    next(pages)
    pages.close()
    assert threading.active_count() == before
