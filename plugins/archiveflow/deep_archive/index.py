"""The archive index: one DynamoDB item per archived source object, keyed ``bucket/key``.

Items are findable by ``project_name`` + ``file_name`` through the table's ``by-project-file``
index. Each bundle also gets a gzip JSON-lines copy of its items next to it (Standard class), so
the table can be rebuilt from S3 alone.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import PurePosixPath

from archiveflow.deep_archive.zipstream import DEFLATED, Entry

INDEX_SUFFIX = ".index.jsonl.gz"
BATCH_GET = 100
COMPRESSION = {DEFLATED: "deflate"}


def item_key(bucket: str, key: str) -> str:
    return f"{bucket}/{key}"


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _batch_get(dynamodb, table: str, keys: Sequence[str], attributes: str) -> list[dict]:
    """Items for ``keys`` (strongly consistent), retrying what DynamoDB left unprocessed."""
    found: list[dict] = []
    for start in range(0, len(keys), BATCH_GET):
        request = {table: {"Keys": [{"pk": k} for k in keys[start:start + BATCH_GET]],
                           "ProjectionExpression": attributes, "ConsistentRead": True}}
        while request:
            response = dynamodb.batch_get_item(RequestItems=request)
            found.extend(response["Responses"].get(table, []))
            request = response.get("UnprocessedKeys") or None
    return found


def indexed(dynamodb, table: str, keys: Sequence[str]) -> set[str]:
    """The subset of item keys already in the index."""
    return {item["pk"] for item in _batch_get(dynamodb, table, keys, "pk")}


def archive_keys(dynamodb, table: str, keys: Sequence[str]) -> dict[str, str]:
    """item key -> archive key it points to, for the keys that are indexed."""
    items = _batch_get(dynamodb, table, keys, "pk, archive_key")
    return {item["pk"]: item["archive_key"] for item in items}


def item(unit: dict, row: dict, archived_at: str) -> dict:
    """The index item of one source object (``row`` is its manifest line) archived by ``unit``."""
    return {
        "pk": item_key(unit["source_bucket"], row["key"]),
        "project_name": unit["project_name"],
        "file_name": PurePosixPath(row["key"]).name,
        "source_bucket": unit["source_bucket"],
        "source_key": row["key"],
        "source_etag": row["etag"],
        "source_last_modified": row["last_modified"],
        "archive_bucket": unit["archive_bucket"],
        "archive_key": unit["archive_key"],
        "archive_format": unit["kind"],
        "storage_class": unit["storage_class"],
        "plan_id": unit["plan_id"],
        "archived_at": archived_at,
        "size": row["size"],
    }


def member_item(unit: dict, row: dict, entry: Entry, archived_at: str) -> dict:
    """The index item of one zip member: where its bytes are inside the bundle."""
    return {
        **item(unit, row, archived_at),
        "member_name": entry.name,
        "header_offset": entry.offset,
        "compressed_size": entry.compressed_size,
        "size": entry.size,
        "crc32": entry.crc32,
        "compression": COMPRESSION.get(entry.method, "stored"),
    }


def write(table, items: Iterable[dict]) -> int:
    """Put items (idempotent: same key, same content on a retry); batch_writer resends unprocessed ones."""
    count = 0
    with table.batch_writer() as batch:
        for entry in items:
            batch.put_item(Item=entry)
            count += 1
    return count
