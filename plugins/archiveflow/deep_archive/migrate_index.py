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
"""

from __future__ import annotations

import argparse
import logging
import sys

import boto3
from boto3.dynamodb.conditions import Attr

from archiveflow import resources
from archiveflow.deep_archive import index

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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--table", default=resources.dynamodb_table("archive-index"),
                        help="the archive index table (default: %(default)s)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    count = migrate(boto3.session.Session().resource("dynamodb"), args.table)
    log.info("%s: %s items migrated to versioned items", args.table, count)
    return 0


if __name__ == "__main__":
    sys.exit(main())
