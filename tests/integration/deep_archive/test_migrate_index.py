"""The one-time migration of the archive index to versioned items, run as the README says (a module
entry point), on a table shaped and filled like a deployment's before versions existed."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from archiveflow.deep_archive import index

pytestmark = pytest.mark.integration


def old_item(bucket: str, key: str, archive_key: str) -> dict:
    """An index item as written before versions (one per file, keyed bucket/key)."""
    return {"pk": f"{bucket}/{key}", "project_name": "legacy", "file_name": key.rsplit("/", 1)[-1],
            "source_bucket": bucket, "source_key": key, "source_etag": '"0cc175b9c0f1b6a831c399e269772661"',
            "source_last_modified": "2026-10-10T03:00:00+00:00", "archive_bucket": "archive",
            "archive_key": archive_key, "archive_format": "zip", "storage_class": "DEEP_ARCHIVE",
            "plan_id": "old-plan", "archived_at": "2026-10-10T03:10:00+00:00", "size": 1,
            "member_name": key, "header_offset": 0, "compressed_size": 1, "crc32": 3904355907,
            "compression": "stored"}


def migrate(aws, table: str) -> str:
    env = {**os.environ, "AWS_ENDPOINT_URL": aws.endpoint, "AWS_ACCESS_KEY_ID": "test",
           "AWS_SECRET_ACCESS_KEY": "test", "AWS_DEFAULT_REGION": "us-east-1", "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run([sys.executable, "-m", "archiveflow.deep_archive.migrate_index", "--table", table],
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr


def test_existing_items_are_migrated_once_to_versioned_items(aws):
    client = aws.dynamodb.meta.client
    table = aws.unique("legacy-index")
    client.create_table(
        TableName=table, KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}], BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": a, "AttributeType": "S"} for a in ("pk", "project_name", "file_name")],
        GlobalSecondaryIndexes=[{"IndexName": "by-project-file", "Projection": {"ProjectionType": "ALL"},
                                 "KeySchema": [{"AttributeName": "project_name", "KeyType": "HASH"},
                                               {"AttributeName": "file_name", "KeyType": "RANGE"}]}])
    keys = [f"docs/f{i:03d}.txt" for i in range(120)] + ["odd#key/with a#hash"]
    with aws.dynamodb.Table(table).batch_writer() as batch:
        for key in keys:
            batch.put_item(Item=old_item("src", key, "old/bundle.zip"))

    assert "121 items migrated" in migrate(aws, table)
    gsis = client.describe_table(TableName=table)["Table"]["GlobalSecondaryIndexes"]
    assert sorted(g["IndexName"] for g in gsis) == ["by-file-version", "by-project-file"]
    for key in (keys[0], keys[-1]):
        newest = index.lookup(aws.dynamodb, table, "src", key)
        (version,) = index.versions(aws.dynamodb, table, "src", key)
        assert newest["newest"] is True and newest["version"] == version["version"]
        assert newest["source_key"] == version["source_key"] == key
        assert (version["archive_key"], version["member_name"], version["crc32"]) == ("old/bundle.zip", key, 3904355907)
        assert index.lookup(aws.dynamodb, table, "src", key, version=version["version"]) == version
    assert aws.dynamodb.Table(table).scan(Select="COUNT")["Count"] == 2 * len(keys)

    assert "0 items migrated" in migrate(aws, table)  # a second run finds nothing left
    assert aws.dynamodb.Table(table).scan(Select="COUNT")["Count"] == 2 * len(keys)

    # archived again after the migration: a second version, the newest moves to it
    row = {"key": keys[0], "size": 2, "etag": '"new"', "last_modified": "2026-11-10T03:00:00+00:00"}
    unit = {"source_bucket": "src", "project_name": "legacy", "archive_bucket": "archive", "archive_key": "new.zip",
            "kind": "object", "storage_class": "DEEP_ARCHIVE", "plan_id": "new-plan"}
    index.write(aws.dynamodb, table, [index.item(unit, row, index.now_iso())])
    assert [v["archive_key"] for v in index.versions(aws.dynamodb, table, "src", keys[0])] == [
        "old/bundle.zip", "new.zip"]
    assert index.lookup(aws.dynamodb, table, "src", keys[0])["archive_key"] == "new.zip"
    # an older version written late (an old plan retried) never becomes the newest
    late = index.item({**unit, "archive_key": "late.zip"},
                      {**row, "etag": '"old"', "last_modified": "2026-10-01T00:00:00+00:00"}, index.now_iso())
    index.write(aws.dynamodb, table, [late])
    assert index.lookup(aws.dynamodb, table, "src", keys[0])["archive_key"] == "new.zip"
    assert len(index.versions(aws.dynamodb, table, "src", keys[0])) == 3
