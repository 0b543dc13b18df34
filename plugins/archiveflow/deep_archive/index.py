"""The archive index: every archived version of every source object, in the `archive-index` table.

A file archived again after it was rewritten keeps its earlier archives: the index holds one
**version item** per archive of a file and one **newest item** per file, a copy of its newest
version. The table's key stays the single string ``pk``:

| item | ``pk`` | only on it | found through |
|---|---|---|---|
| newest | ``{bucket}/{key}`` | ``newest: true``, ``file_name`` | ``get_item``; GSI ``by-project-file`` (``project_name``, ``file_name``) |
| version | ``{bucket}#{version}/{key}`` | ``versions_of: {bucket}/{key}`` | GSI ``by-file-version`` (``versions_of``, ``version``) |

A bucket name holds no ``#``, so the two kinds never collide whatever the key. ``version`` is
``{source_last_modified}#{source_etag}`` (the source object as archived; sorts by time), so a
retried unit rewrites the same items. Every item also holds:

- ``item_kind`` (``newest`` | ``version``), ``project_name``, ``plan_id``, ``archived_at``;
- the source: ``source_bucket``, ``source_key`` (the original key), ``source_etag``,
  ``source_last_modified``, ``size`` (bytes);
- the archive: ``archive_bucket``, ``archive_key``, ``archive_format`` (``zip`` | ``object``),
  ``storage_class``;
- zip members only: ``member_name`` (the name in the zip, `archiveflow.deep_archive.names`),
  ``header_offset`` (of the local header), ``compressed_size``, ``crc32``, ``compression``
  (``deflate`` | ``stored``).

A restore takes the newest item unless asked for a version (`lookup`); `versions` lists them all.
Each bundle also gets a gzip JSON-lines copy of its version items next to it (Standard class), so
the table can be rebuilt from S3 alone. Items written before versions existed (one item per file,
no ``item_kind``) are migrated once by ``python -m archiveflow.deep_archive.migrate_index``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import PurePosixPath

from boto3.dynamodb.conditions import Key

from archiveflow.deep_archive.zipstream import DEFLATED, Entry

INDEX_SUFFIX = ".index.jsonl.gz"
BATCH_GET = 100
COMPRESSION = {DEFLATED: "deflate"}
BY_FILE_VERSION = "by-file-version"
BY_PROJECT_FILE = "by-project-file"
NEWEST, VERSION = "newest", "version"


def item_key(bucket: str, key: str) -> str:
    """The newest item's key of s3://bucket/key."""
    return f"{bucket}/{key}"


def version_of(last_modified: str, etag: str) -> str:
    return f"{last_modified}#{etag.strip(chr(34))}"


def version_key(bucket: str, key: str, version: str) -> str:
    return f"{bucket}#{version}/{key}"


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _batch_get(dynamodb, table: str, keys: Sequence[str], attributes: str | None = None) -> list[dict]:
    """Items for ``keys`` (strongly consistent; only ``attributes`` if given), retrying what DynamoDB
    left unprocessed."""
    found: list[dict] = []
    projection = {"ProjectionExpression": attributes} if attributes else {}
    for start in range(0, len(keys), BATCH_GET):
        request = {table: {"Keys": [{"pk": k} for k in keys[start:start + BATCH_GET]],
                           "ConsistentRead": True, **projection}}
        while request:
            response = dynamodb.batch_get_item(RequestItems=request)
            found.extend(response["Responses"].get(table, []))
            request = response.get("UnprocessedKeys") or None
    return found


def newest_etags(dynamodb, table: str, keys: Sequence[str]) -> dict[str, str]:
    """newest item key -> the source ETag it archived, for the keys that are indexed."""
    return {item["pk"]: item["source_etag"] for item in _batch_get(dynamodb, table, keys, "pk, source_etag")}


def archive_keys(dynamodb, table: str, keys: Sequence[str]) -> dict[str, str]:
    """item key -> archive key it points to, for the keys that are indexed."""
    items = _batch_get(dynamodb, table, keys, "pk, archive_key")
    return {item["pk"]: item["archive_key"] for item in items}


def item(unit: dict, row: dict, archived_at: str) -> dict:
    """The version item of one source object (``row`` is its manifest line) archived by ``unit``."""
    version = version_of(row["last_modified"], row["etag"])
    return {
        "pk": version_key(unit["source_bucket"], row["key"], version),
        "item_kind": VERSION,
        "versions_of": item_key(unit["source_bucket"], row["key"]),
        "version": version,
        "project_name": unit["project_name"],
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
    """The version item of one zip member: where its bytes are inside the bundle."""
    return {
        **item(unit, row, archived_at),
        "member_name": entry.name,
        "header_offset": entry.offset,
        "compressed_size": entry.compressed_size,
        "size": entry.size,
        "crc32": entry.crc32,
        "compression": COMPRESSION.get(entry.method, "stored"),
    }


def newest_item(version_item: dict) -> dict:
    """The newest item that a version item makes (a copy, keyed by the file)."""
    newest = {k: v for k, v in version_item.items() if k != "versions_of"}
    return {**newest, "pk": version_item["versions_of"], "item_kind": NEWEST, "newest": True,
            "file_name": PurePosixPath(version_item["source_key"]).name}


def write(dynamodb, table: str, version_items: Sequence[dict]) -> int:
    """Put the version items, then the newest item of each file whose newest archive they are.

    Idempotent: a retry writes the same items. An older version (an earlier plan retried late)
    never replaces a newer one as the newest.
    """
    files = [v["versions_of"] for v in version_items]
    current = {i["pk"]: i.get("version", "") for i in _batch_get(dynamodb, table, files, "pk, version")}
    newer = [newest_item(v) for v in version_items if v["version"] >= current.get(v["versions_of"], "")]
    _put(dynamodb.Table(table), version_items)
    _put(dynamodb.Table(table), newer)
    return len(version_items)


def _put(table, items: Iterable[dict]) -> None:
    with table.batch_writer() as batch:  # resends what DynamoDB left unprocessed
        for entry in items:
            batch.put_item(Item=entry)


def lookup(dynamodb, table: str, bucket: str, key: str, version: str | None = None) -> dict | None:
    """The index item of s3://bucket/key: its newest archive, or the given ``version``."""
    pk = item_key(bucket, key) if version is None else version_key(bucket, key, version)
    return dynamodb.Table(table).get_item(Key={"pk": pk}, ConsistentRead=True).get("Item")


def versions(dynamodb, table: str, bucket: str, key: str) -> list[dict]:
    """Every archived version of s3://bucket/key, oldest first."""
    pages, start = [], {}
    while True:
        page = dynamodb.Table(table).query(IndexName=BY_FILE_VERSION,
                                           KeyConditionExpression=Key("versions_of").eq(item_key(bucket, key)),
                                           **start)
        pages += page["Items"]
        if "LastEvaluatedKey" not in page:
            return pages
        start = {"ExclusiveStartKey": page["LastEvaluatedKey"]}


class DynamoDbIndex:
    """The archive index's questions (as `archiveflow.deep_archive.catalog.CatalogIndex` asks them)
    answered by the DynamoDB table: the `dynamodb` index mode."""

    mode = "dynamodb"

    def __init__(self, dynamodb, table: str) -> None:
        self.dynamodb, self.table = dynamodb, table

    def newest_etags(self, bucket: str, keys: Sequence[str]) -> dict[str, str]:
        """key -> the ETag of its newest archived version, for ``keys`` that are archived."""
        found = newest_etags(self.dynamodb, self.table, [item_key(bucket, k) for k in keys])
        return {pk[len(bucket) + 1:]: etag for pk, etag in found.items()}

    def files(self, names: Sequence[str], with_versions: bool) -> dict[str, list[dict]]:
        """``bucket/key`` -> its newest item, or all its version items (oldest first) ``with_versions``."""
        newest = {item["pk"]: item for item in _batch_get(self.dynamodb, self.table, sorted(set(names)))}
        return {pk: self._versions(item) if with_versions else [item] for pk, item in newest.items()}

    def files_named(self, project_name: str, name: str, with_versions: bool) -> dict[str, list[dict]]:
        """``bucket/key`` -> newest item (or version items) of the project's files called ``name``."""
        found: dict[str, list[dict]] = {}
        query = {"IndexName": BY_PROJECT_FILE,
                 "KeyConditionExpression": Key("project_name").eq(project_name) & Key("file_name").eq(name)}
        while True:
            page = self.dynamodb.Table(self.table).query(**query)
            for item in page["Items"]:
                found[item["pk"]] = self._versions(item) if with_versions else [item]
            if "LastEvaluatedKey" not in page:
                return found
            query["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def _versions(self, newest: dict) -> list[dict]:
        return versions(self.dynamodb, self.table, newest["source_bucket"], newest["source_key"])
