"""Prefix search of the archive catalog, a page of files at a time (never the whole catalog).

A page is found by a cursor (the last file's bucket and key): `include/sql/deep_archive/catalog_search.sql`
returns every version of the files after it in (bucket, key, version) order, at most `row_limit(page_size)`
rows; the rows are grouped into files here. The last file of a full answer may have been cut short
by the limit: it is left for the next page, which starts after the last whole file.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from archiveflow.deep_archive.catalog import KEY_PREFIX_CHARS
from archiveflow.errors import BadRequest

SQL = "deep_archive/catalog_search.sql"
MAX_PAGE_SIZE = 200
DEFAULT_PAGE_SIZE = 50
# Rows fetched per file asked: files archived again after rewrites have several versions.
ROWS_PER_FILE = 4
# The greatest code point: its successor bounds a prefix that is empty or ends in it.
TOP = "\U0010ffff"
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_PROJECT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
QUERY_PARAMETERS = frozenset({"prefix", "bucket", "project_name", "storage_class", "page_size", "after"})
STORAGE_CLASSES = ("STANDARD", "STANDARD_IA", "ONEZONE_IA", "INTELLIGENT_TIERING", "GLACIER_IR", "GLACIER",
                   "DEEP_ARCHIVE")


@dataclass(frozen=True)
class Search:
    prefix: str
    bucket: str | None
    project_name: str | None
    storage_class: str | None
    after: tuple[str, str]  # (bucket, key) of the last file of the page before; ("", "") for the first
    page_size: int

    def parameters(self) -> dict[str, Any]:
        """The SQL file's parameters."""
        key_prefix = self.prefix[:KEY_PREFIX_CHARS]
        return {"prefix": self.prefix, "prefix_end": successor(self.prefix), "key_prefix": key_prefix,
                "key_prefix_end": successor(key_prefix), "bucket": self.bucket, "project_name": self.project_name,
                "storage_class": self.storage_class, "after_bucket": self.after[0], "after_key": self.after[1],
                "row_limit": row_limit(self.page_size)}


def successor(prefix: str) -> str:
    """The least string greater than every string that starts with ``prefix`` (code point order, which
    is UTF-8's byte order: both engines compare strings so)."""
    stripped = prefix.rstrip(TOP)
    if not stripped:
        return TOP * (len(prefix) + 1)
    return stripped[:-1] + chr(ord(stripped[-1]) + 1)


def row_limit(page_size: int) -> int:
    return page_size * ROWS_PER_FILE + 1


def parse_search(query: Mapping[str, str | None]) -> Search:
    """The search the query string asks for; BadRequest naming the parameter otherwise."""
    prefix = query.get("prefix") or ""
    if len(prefix.encode()) > 1024 or any(ord(c) < 0x20 for c in prefix):
        raise BadRequest("prefix", "a key prefix is at most 1,024 bytes, without control characters")
    bucket = query.get("bucket") or None
    if bucket is not None and not _BUCKET.match(bucket):
        raise BadRequest("bucket", f"{bucket!r} is not an S3 bucket name")
    project = query.get("project_name") or None
    if project is not None and not _PROJECT.match(project):
        raise BadRequest("project_name", f"{project!r} is not a project name (letters, digits, . _ -)")
    storage_class = query.get("storage_class") or None
    if storage_class is not None and storage_class not in STORAGE_CLASSES:
        raise BadRequest("storage_class", f"{storage_class!r}; expected one of {', '.join(STORAGE_CLASSES)}")
    raw_size = query.get("page_size") or str(DEFAULT_PAGE_SIZE)
    if not raw_size.isdigit() or not 1 <= int(raw_size) <= MAX_PAGE_SIZE:
        raise BadRequest("page_size", f"{raw_size!r}; a whole number from 1 to {MAX_PAGE_SIZE}")
    after = decode_cursor(query.get("after") or "")
    return Search(prefix, bucket, project, storage_class, after, int(raw_size))


def encode_cursor(bucket: str, key: str) -> str:
    return base64.urlsafe_b64encode(json.dumps([bucket, key]).encode()).decode()


def decode_cursor(cursor: str) -> tuple[str, str]:
    if not cursor:
        return ("", "")
    try:
        bucket, key = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except ValueError:
        raise BadRequest("after", "not a cursor this page gave") from None
    if not isinstance(bucket, str) or not isinstance(key, str):
        raise BadRequest("after", "not a cursor this page gave")
    return bucket, key


def _iso(value: Any) -> str | None:
    """A catalog timestamp (naive UTC from DuckDB, text from Athena) as ISO 8601 UTC."""
    if value is None:
        return None
    text = value.isoformat() if hasattr(value, "isoformat") else str(value).replace(" ", "T")
    return text if text.endswith("Z") or "+" in text[10:] else f"{text}Z"


def group_files(rows: Sequence[Mapping[str, Any]], search: Search) -> dict:
    """The page: files (each with its versions, oldest first) and the cursor of the next page (None at the end)."""
    files: list[dict] = []
    for row in rows:
        if not files or (files[-1]["bucket"], files[-1]["key"]) != (row["source_bucket"], row["source_key"]):
            files.append({"bucket": row["source_bucket"], "key": row["source_key"], "name": row["file_name"],
                          "project_name": row["project_name"], "versions": []})
        files[-1]["versions"].append({
            "version": row["version"], "size": int(row["size"]), "source_last_modified": _iso(row["source_last_modified"]),
            "archived_at": _iso(row["archived_at"]), "storage_class": row["storage_class"],
            "archive_format": row["archive_format"], "bundle": f"s3://{row['archive_bucket']}/{row['archive_key']}",
            "archive_bucket": row["archive_bucket"], "archive_key": row["archive_key"]})
    cut = len(rows) >= row_limit(search.page_size)
    if cut and len(files) > 1:
        files.pop()  # perhaps cut short by the limit: the next page starts with it
    more = cut or len(files) > search.page_size
    files = files[:search.page_size]
    after = encode_cursor(files[-1]["bucket"], files[-1]["key"]) if more and files else None
    return {"files": files, "next": after}
