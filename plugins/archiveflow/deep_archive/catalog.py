"""The archive catalog: the `catalog` index mode, an Iceberg table in the Glue catalog on S3 with one
row per archived version of every file (the contract is ARCHITECTURE.md's "The archive catalog";
the columns are `include/sql/deep_archive/archive_catalog_table.sql`'s).

- **Written** by the packing worker with pyiceberg, one commit per bundle (`append_bundle`). A retry
  first looks for the bundle's rows (the partitions of its keys, then its ``archive_key``) and appends
  nothing if they are there, so a retried unit never adds a row twice; a commit that loses a race with
  another child is redone after that look (never re-applied by pyiceberg on its own: a unit running
  twice at once would then add its rows twice).
- **Read** through the `lakehouse_sql` engine (Athena on AWS, DuckDB locally) from the SQL files of
  `include/sql/deep_archive/` (`CatalogIndex`): the planner's "already archived?" check and the
  restore look-ups. `reader` hands the same questions to the DynamoDB index in the `dynamodb` mode.
- **Partitioned** by ``source_bucket`` and ``key_prefix`` (the key's first ``KEY_PREFIX_CHARS``
  characters, a stored column so both engines prune it without a transform): a look-up of a key or of
  a prefix of at least that length reads one partition's manifests; a bundle is a contiguous range
  of keys, so the Parquet ``source_key`` bounds of each file then leave about one file to read.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import PurePosixPath
from typing import Any

from archiveflow.deep_archive import index
from archiveflow.lakehouse.commit_conflicts import NO_BLIND_RETRIES, until_committed

log = logging.getLogger(__name__)

MODES = ("dynamodb", "catalog")
TABLE = "archive_catalog"
TABLE_SQL = "deep_archive/archive_catalog_table.sql"
KEY_PREFIX_CHARS = 8
# Athena takes at most 256 KB of query text: keys are sent in chunks well under it.
QUERY_KEYS_BYTES = 64 * 1024
TABLE_PROPERTIES = {
    "write.parquet.compression-codec": "zstd",
    # Manifests keep each file's exact source_key bounds (not the default 16-character prefix): a
    # key look-up then opens only the file whose key range holds it.
    "write.metadata.metrics.column.source_key": "full",
    # One commit per bundle would add one manifest each, and an engine reads every manifest of the
    # snapshot: appends merge small manifests so a look-up reads a few, however many bundles.
    "commit.manifest-merge.enabled": "true",
    "commit.manifest.min-count-to-merge": "8",
    **NO_BLIND_RETRIES,
}
# What a look-up returns, in both modes (`archiveflow.restore.lookup` builds an ArchivedFile of it).
FILE_COLUMNS = ("source_bucket", "source_key", "version", "source_etag", "size", "project_name", "archive_bucket",
                "archive_key", "archive_format", "storage_class", "member_name", "header_offset", "compressed_size",
                "crc32", "compression")

Select = Callable[[str, Mapping[str, Any]], list[dict]]


def key_prefix(key: str) -> str:
    """The ``key_prefix`` partition value of a key."""
    return key[:KEY_PREFIX_CHARS]


def _timestamp(iso: str) -> datetime:
    """An ISO time as the naive UTC timestamp Iceberg's ``timestamp`` holds."""
    moment = datetime.fromisoformat(iso)
    return (moment.astimezone(UTC) if moment.tzinfo else moment).replace(tzinfo=None)


def optional_int(item: Mapping[str, Any], name: str) -> int | None:
    """An index item's number (DynamoDB gives Decimal), or None where it is missing or null (catalog rows)."""
    return int(item[name]) if item.get(name) is not None else None


def row(item: Mapping[str, Any]) -> dict:
    """The catalog row of one version item (`archiveflow.deep_archive.index.item`/``member_item``)."""
    return {
        "source_bucket": item["source_bucket"], "key_prefix": key_prefix(item["source_key"]),
        "source_key": item["source_key"], "file_name": PurePosixPath(item["source_key"]).name,
        "version": item["version"], "source_etag": item["source_etag"],
        "source_last_modified": _timestamp(item["source_last_modified"]), "size": int(item["size"]),
        "project_name": item["project_name"], "plan_id": item["plan_id"], "archive_bucket": item["archive_bucket"],
        "archive_key": item["archive_key"], "archive_format": item["archive_format"],
        "storage_class": item["storage_class"], "member_name": item.get("member_name"),
        "header_offset": optional_int(item, "header_offset"),
        "compressed_size": optional_int(item, "compressed_size"), "crc32": optional_int(item, "crc32"), "compression": item.get("compression"),
        "archived_at": _timestamp(item["archived_at"]),
    }


# --- the table (pyiceberg) ---------------------------------------------------------------------------

def table_definition(warehouse: str):
    """The table as its SQL file defines it (`archiveflow.lakehouse.statements.IcebergTableDef`)."""
    from archiveflow.lakehouse.statements import iceberg_table_def, load_statement

    return iceberg_table_def(load_statement(TABLE_SQL, {}, {"warehouse": warehouse}))


def ensure_table(catalog, identifier: str, warehouse: str):
    """The catalog table ``identifier`` (``database.table``), created from the SQL file's definition if
    missing (what Athena's ``CREATE TABLE IF NOT EXISTS`` of the same file makes), with ``TABLE_PROPERTIES``."""
    if catalog.table_exists(identifier):
        table = catalog.load_table(identifier)
        if any(table.properties.get(k) != v for k, v in TABLE_PROPERTIES.items()):
            table = table.transaction().set_properties(TABLE_PROPERTIES).commit_transaction()
        return table
    definition = table_definition(warehouse)
    location = f"{warehouse}{identifier.split('.')[-1]}/"  # the SQL file's, for the table of its name
    log.info("creating the archive catalog %s at %s", identifier, location)
    return catalog.create_table_if_not_exists(
        identifier, schema=definition.schema(), location=location, partition_spec=definition.partition_spec(),
        properties=TABLE_PROPERTIES)


def _bundle_filter(source_bucket: str, key_prefixes: Iterable[str], archive_bucket: str, archive_key: str):
    from pyiceberg.expressions import And, EqualTo, In

    return And(EqualTo("source_bucket", source_bucket), In("key_prefix", set(key_prefixes)),
               EqualTo("archive_bucket", archive_bucket), EqualTo("archive_key", archive_key))


def bundle_rows(table, source_bucket: str, keys: Iterable[str], archive_bucket: str, archive_key: str) -> list[dict]:
    """The catalog rows (``source_key``, ``version``) that point at this bundle, among ``keys``' partitions."""
    scan = table.scan(row_filter=_bundle_filter(source_bucket, {key_prefix(k) for k in keys}, archive_bucket,
                                                archive_key),
                      selected_fields=("source_key", "version"))
    return scan.to_arrow().to_pylist()


def append_bundle(table, rows: Sequence[dict]) -> bool:
    """Commit one bundle's rows (all of one source bucket and one bundle) unless they are there; True
    if this call committed them. The look and the commit are on one snapshot: a commit that lost a
    race looks again on the new one."""
    first = rows[0]
    bundle = f"s3://{first['archive_bucket']}/{first['archive_key']}"
    data = _arrow(table, rows)

    def attempt() -> bool:
        table.refresh()
        if bundle_rows(table, first["source_bucket"], [r["source_key"] for r in rows], first["archive_bucket"],
                       first["archive_key"]):
            log.info("%s: its %s catalog rows are already committed", bundle, len(rows))
            return False
        table.append(data, snapshot_properties={"archiveflow.bundle": bundle})
        return True

    return until_committed(f"{'.'.join(table.name())} ({bundle})", attempt)


def _arrow(table, rows: Sequence[dict]):
    import pyarrow as pa

    schema = table.schema().as_arrow()
    return pa.Table.from_pylist([{name: r.get(name) for name in schema.names} for r in rows], schema=schema)


# --- reading: the same questions in both modes -------------------------------------------------------

class CatalogIndex:
    """The archive index's questions answered by the catalog through the `lakehouse_sql` engine.

    ``select(sql_file, parameters)`` runs one SELECT of `include/sql/` and returns its rows as dicts
    (`archiveflow.hooks.archive_catalog.ArchiveCatalogHook.select`)."""

    mode = "catalog"

    def __init__(self, select: Select | None, identifier: str, open_catalog: Callable[[], Any] | None = None,
                 engine: Any = None) -> None:
        """``open_catalog``: gives the pyiceberg catalog holding ``identifier``, for writing (the packing worker);
        ``engine``: runs the SQL plan (`archiveflow.deep_archive.sql_plan.PlanEngine`), for the planner."""
        self.select, self.identifier, self.open_catalog, self.engine = select, identifier, open_catalog, engine
        self._table = None

    def table(self):
        """The pyiceberg table (loaded once; `append_bundle` refreshes it before each commit)."""
        if self._table is None:
            self._table = self.open_catalog().load_table(self.identifier)
        return self._table

    def newest_etags(self, bucket: str, keys: Sequence[str]) -> dict[str, str]:
        """key -> the ETag of its newest archived version, for ``keys`` (in key order) that are archived."""
        if not keys:
            return {}
        first, last = min(keys), max(keys)
        rows = self.select("deep_archive/catalog_newest_etags.sql", {
            "bucket": bucket, "first_key": first, "last_key": last,
            "first_prefix": key_prefix(first), "last_prefix": key_prefix(last)})
        wanted = set(keys)
        return {r["source_key"]: r["source_etag"] for r in rows if r["source_key"] in wanted}

    def files(self, names: Sequence[str], with_versions: bool) -> dict[str, list[dict]]:
        """``bucket/key`` -> its archived versions, oldest first (all of them: one query answers both)."""
        found: dict[str, list[dict]] = {}
        by_bucket: dict[str, list[str]] = {}
        for name in sorted(set(names)):
            bucket, key = name.split("/", 1)
            by_bucket.setdefault(bucket, []).append(key)
        for bucket, keys in by_bucket.items():
            for chunk in _chunks(keys):
                rows = self.select("deep_archive/catalog_files.sql", {
                    "bucket": bucket, "keys": chunk, "key_prefixes": sorted({key_prefix(k) for k in chunk})})
                for r in rows:
                    found.setdefault(index.item_key(r["source_bucket"], r["source_key"]), []).append(r)
        return found

    def files_named(self, project_name: str, name: str, with_versions: bool) -> dict[str, list[dict]]:
        """``bucket/key`` -> archived versions (oldest first) of the project's files called ``name``."""
        found: dict[str, list[dict]] = {}
        for r in self.select("deep_archive/catalog_file_name.sql", {"project_name": project_name, "name": name}):
            found.setdefault(index.item_key(r["source_bucket"], r["source_key"]), []).append(r)
        return found


def _chunks(keys: Sequence[str]) -> Iterable[list[str]]:
    chunk: list[str] = []
    size = 0
    for key in keys:
        if chunk and size + len(key.encode()) > QUERY_KEYS_BYTES:
            yield chunk
            chunk, size = [], 0
        chunk.append(key)
        size += len(key.encode()) + 4
    if chunk:
        yield chunk


def environment_catalog():
    """The Glue catalog of the process's AWS environment (the packing worker's Batch role;
    ``AWS_ENDPOINT_URL`` for the local stack)."""
    import boto3
    from pyiceberg.catalog.glue import GlueCatalog

    session = boto3.session.Session()
    properties = {"s3.region": session.region_name or "us-east-1"}
    if endpoint := os.environ.get("AWS_ENDPOINT_URL"):
        properties["s3.endpoint"] = endpoint
    return GlueCatalog("archiveflow", client=session.client("glue"), **properties)


def reader(store, table: str | None = None):
    """The index to ask: ``store`` itself when it is a `CatalogIndex`, else the DynamoDB table ``table``
    of ``store`` (a boto3 DynamoDB resource)."""
    return store if isinstance(store, CatalogIndex) else index.DynamoDbIndex(store, table)
