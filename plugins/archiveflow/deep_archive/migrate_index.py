"""One-time migration of the archive index to versioned items: ``python -m archiveflow.deep_archive.migrate_index``.

Before versions, the index held one item per file at ``pk = {bucket}/{key}`` (no ``item_kind``).
This step, run once per deployment after upgrading (safe to run again: it finds nothing left):

1. adds the ``by-file-version`` global index to the table if it is missing (DynamoDB builds it
   in the background; the step does not wait);
2. scans for items without ``item_kind`` and writes, for each, its version item
   (``{bucket}#{version}/{key}``) and then its newest item over the old one, with the same
   fields (`archiveflow.deep_archive.index` documents the layout).

Run it with the deployment's AWS credentials (``AWS_PROFILE``/``AWS_REGION`` or the default
chain; ``AWS_ENDPOINT_URL`` for the local stack) while no ``s3_deep_archive`` run is packing.
Per-bundle index objects in S3 written before keep the old layout: they still name each file's
key, bundle and member, which is all a rebuild from S3 needs.

**Between index modes** (`--to catalog` or `--to dynamodb`; ``archiveflow.hooks.archive_catalog``
says what the modes are): the index is rebuilt from the per-bundle index objects under
``--prefix`` of ``--archive-bucket`` (every bundle has one, in either mode), one bundle at a time:
into the archive catalog (created if missing; a bundle already there is not added twice) or into
the DynamoDB table (the same items the packing worker writes). Both ways leave the same set of
(bucket, key, version) rows. Then set the Variable ``archiveflow_archive_index_mode``. The index of
the old mode is left as it was (delete it when the new one has served a while).
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Iterator

import boto3
from boto3.dynamodb.conditions import Attr

from archiveflow import resources
from archiveflow.deep_archive import catalog, index
from archiveflow.deep_archive.progress import Progress
from archiveflow.deep_archive.s3io import get_jsonl

log = logging.getLogger("archiveflow.deep_archive.migrate_index")


def add_global_index(client, table: str, name: str, key: dict[str, str]) -> bool:
    """Create the global index ``name`` (hash, range = ``key``) on an existing on-demand table, unless
    it exists; True if created."""
    existing = client.describe_table(TableName=table)["Table"].get("GlobalSecondaryIndexes", [])
    if any(g["IndexName"] == name for g in existing):
        return False
    kinds = ("HASH", "RANGE")
    client.update_table(
        TableName=table, AttributeDefinitions=[{"AttributeName": a, "AttributeType": t} for a, t in key.items()],
        GlobalSecondaryIndexUpdates=[{"Create": {
            "IndexName": name, "KeySchema": [{"AttributeName": a, "KeyType": kinds[i]} for i, a in enumerate(key)],
            "Projection": {"ProjectionType": "ALL"}}}])
    return True


def version_item(old: dict) -> dict:
    """The version item of an item written before versions (same fields, new key)."""
    version = index.version_of(old["source_last_modified"], old["source_etag"])
    kept = {k: v for k, v in old.items() if k not in ("pk", "file_name")}
    return {**kept, "pk": index.version_key(old["source_bucket"], old["source_key"], version),
            "item_kind": index.VERSION, "versions_of": index.item_key(old["source_bucket"], old["source_key"]),
            "version": version}


# The key of the version index, as the CloudFormation template declares it (tests/unit/test_cloudformation.py).
VERSION_INDEX_KEY = {"versions_of": "S", "version": "S"}


def migrate(dynamodb, table: str) -> int:
    """Add the version index and rewrite every pre-version item; returns how many were migrated."""
    if add_global_index(dynamodb.meta.client, table, index.BY_FILE_VERSION, VERSION_INDEX_KEY):
        log.info("created the %s index on %s", index.BY_FILE_VERSION, table)
    migrated, start = 0, {}
    while True:
        page = dynamodb.Table(table).scan(FilterExpression=Attr("item_kind").not_exists(), ConsistentRead=True,
                                          **start)
        migrated += index.write(dynamodb, table, [version_item(old) for old in page["Items"]])
        if page["Items"]:
            log.info("%s: %s items migrated so far", table, migrated)
        if "LastEvaluatedKey" not in page:
            return migrated
        start = {"ExclusiveStartKey": page["LastEvaluatedKey"]}


def index_objects(s3, bucket: str, prefix: str) -> Iterator[str]:
    """Keys of the per-bundle index objects under ``prefix``."""
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        yield from (o["Key"] for o in page.get("Contents", []) if o["Key"].endswith(index.INDEX_SUFFIX))


def bundle_items(s3, bucket: str, key: str) -> list[dict]:
    """The version items of one index object (items written before versions are converted)."""
    items = get_jsonl(s3, bucket, key)[1:]  # the first line is the bundle's header
    return [item if "version" in item else version_item(item) for item in items]


def rebuild(s3, bucket: str, prefix: str, write) -> int:
    """Hand every bundle's version items under ``prefix`` to ``write``; how many files were handed."""
    done = Progress(log, f"rebuilt from s3://{bucket}/{prefix}")
    for key in index_objects(s3, bucket, prefix):
        if items := bundle_items(s3, bucket, key):
            write(items)
            done.add(len(items), sum(int(item["size"]) for item in items))
    done.report()
    return done.files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--to", choices=("versions", *catalog.MODES), default="versions",
                        help="versions: the one-time upgrade of DynamoDB items (default); catalog or dynamodb: "
                             "rebuild that index mode from the per-bundle index objects")
    parser.add_argument("--table", default=resources.dynamodb_table("archive-index"),
                        help="the DynamoDB archive index table (default: %(default)s)")
    parser.add_argument("--catalog-table", default=f"{resources.glue_database('archive')}.{catalog.TABLE}",
                        help="the archive catalog, database.table (default: %(default)s)")
    parser.add_argument("--archive-bucket", default=resources.bucket("archive"),
                        help="where the bundles and their index objects are (default: %(default)s)")
    parser.add_argument("--prefix", default="", help="only the bundles under this prefix (default: all)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    session = boto3.session.Session()
    if args.to == "versions":
        count = migrate(session.resource("dynamodb"), args.table)
        log.info("%s: %s items migrated to versioned items", args.table, count)
        return 0
    if args.to == "catalog":
        table = catalog.ensure_table(catalog.environment_catalog(), args.catalog_table,
                                     f"s3://{resources.bucket('warehouse')}/")
        count = rebuild(session.client("s3"), args.archive_bucket, args.prefix,
                        lambda items: catalog.append_bundle(table, [catalog.row(item) for item in items]))
    else:
        dynamodb = session.resource("dynamodb")
        count = rebuild(session.client("s3"), args.archive_bucket, args.prefix,
                        lambda items: index.write(dynamodb, args.table, items))
    log.info("%s files indexed in the %s mode from s3://%s/%s", count, args.to, args.archive_bucket, args.prefix)
    return 0


if __name__ == "__main__":
    sys.exit(main())
