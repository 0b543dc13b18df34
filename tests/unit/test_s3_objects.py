"""The shared S3 housekeeping (archiveflow.s3_objects) over a client that pages its answers as S3 does."""

from __future__ import annotations

import pytest

from archiveflow.deep_archive.s3io import abort_stale_uploads
from archiveflow.s3_objects import abort_uploads, delete_keys


class PagedUploads:
    """Open multipart uploads listed `page` at a time (S3 lists at most 1000 a call)."""

    def __init__(self, keys: list[str], page: int = 2):
        self.uploads = [{"Key": key, "UploadId": f"u{i}"} for i, key in enumerate(keys)]
        self.page, self.aborted, self.deleted = page, [], []

    def _pages(self, prefix: str):
        listed = [u for u in self.uploads if u["Key"].startswith(prefix)]
        return [listed[i:i + self.page] for i in range(0, len(listed), self.page)] or [[]]

    def list_multipart_uploads(self, Bucket, Prefix):  # one page, as S3 answers one call
        first, *rest = self._pages(Prefix)
        return {"Uploads": first, "IsTruncated": bool(rest)}

    def get_paginator(self, name):
        assert name == "list_multipart_uploads"
        pages = self._pages

        class Paginator:
            def paginate(self, Bucket, Prefix):
                return [{"Uploads": page} for page in pages(Prefix)]

        return Paginator()

    def abort_multipart_upload(self, Bucket, Key, UploadId):
        self.aborted.append((Key, UploadId))

    def delete_objects(self, Bucket, Delete):
        self.deleted.append([o["Key"] for o in Delete["Objects"]])
        return {"Errors": [{"Key": "bad"}]} if "bad" in self.deleted[-1] else {}


def test_every_page_of_uploads_on_one_key_is_aborted_and_no_other_key():
    s3 = PagedUploads(["a/bundle.zip"] * 5 + ["a/bundle.zip.part2", "a/other.zip"])
    assert abort_stale_uploads(s3, "b", "a/bundle.zip") == 5  # three pages of them
    assert {key for key, _ in s3.aborted} == {"a/bundle.zip"}


def test_uploads_under_a_prefix_chosen_by_their_key():
    s3 = PagedUploads([f"t/data/{i}-w1.parquet" for i in range(3)] + ["t/data/0-w2.parquet", "u/data/9-w1.parquet"])
    assert abort_uploads(s3, "b", "t/data/", lambda key: "w1" in key) == 3
    assert sorted(key for key, _ in s3.aborted) == [f"t/data/{i}-w1.parquet" for i in range(3)]


def test_keys_are_deleted_a_thousand_a_call_and_a_refusal_is_an_error():
    s3 = PagedUploads([])
    delete_keys(s3, "b", [f"k{i}" for i in range(2500)])
    assert [len(call) for call in s3.deleted] == [1000, 1000, 500]
    with pytest.raises(RuntimeError, match="could not delete"):
        delete_keys(s3, "b", ["ok", "bad"])
