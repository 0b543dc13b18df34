"""Helpers for deep-archive tests on the local stack: unique names, fast uploads, reading bundles back."""

from __future__ import annotations

import io
import uuid
import zipfile
from concurrent.futures import ThreadPoolExecutor

import pytest
from boto3.dynamodb.conditions import Key

from archiveflow import resources


@pytest.fixture
def aws(local_stack):
    """Clients on the emulator (the stack's aws_default runs Batch jobs in subprocesses)."""
    return Aws(local_stack)


@pytest.fixture(scope="module")
def catalog_index(local_stack):
    """The deployment's archive catalog, read through the lakehouse_sql connection (DuckDB here)."""
    from archiveflow.hooks.archive_catalog import ArchiveCatalogHook

    hook = ArchiveCatalogHook()
    hook.ensure_table()
    yield hook.index()
    hook.close()


class Aws:
    def __init__(self, local_stack):
        self.endpoint = local_stack.aws_endpoint
        self.s3 = local_stack.client("s3")
        self.dynamodb = local_stack.resource("dynamodb")
        self.source = resources.bucket("source")
        self.archive = resources.bucket("archive")
        self.index = self.dynamodb.Table(resources.dynamodb_table("archive-index"))

    @staticmethod
    def unique(name: str) -> str:
        return f"{name}-{uuid.uuid4().hex[:8]}"

    def upload(self, files: dict[str, bytes], bucket: str | None = None) -> None:
        def put(item):
            self.s3.put_object(Bucket=bucket or self.source, Key=item[0], Body=item[1])

        with ThreadPoolExecutor(16) as pool:
            list(pool.map(put, files.items()))

    def keys(self, bucket: str, prefix: str) -> list[str]:
        pages = self.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        return [obj["Key"] for page in pages for obj in page.get("Contents", [])]

    def index_items(self, project_name: str, attributes: tuple[str, ...] = ()) -> list[dict]:
        """The project's newest items, whole or only ``attributes``: the emulator spends ~3 ms of
        CPU serializing each whole item, a third of that for a few attributes."""
        query = {"IndexName": "by-project-file", "KeyConditionExpression": Key("project_name").eq(project_name)}
        if attributes:
            query |= {"ProjectionExpression": ", ".join(f"#a{i}" for i in range(len(attributes))),
                      "ExpressionAttributeNames": {f"#a{i}": name for i, name in enumerate(attributes)}}
        items = []
        while True:
            page = self.index.query(**query)
            items += page["Items"]
            if "LastEvaluatedKey" not in page:
                return items
            query["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def read_archived(self, key: str) -> bytes:
        """An archived object's bytes, restored first when its class needs it (instant on the emulator)."""
        head = self.s3.head_object(Bucket=self.archive, Key=key)
        if head.get("StorageClass") in ("GLACIER", "DEEP_ARCHIVE"):
            self.s3.restore_object(Bucket=self.archive, Key=key, RestoreRequest={"Days": 1})
        return self.s3.get_object(Bucket=self.archive, Key=key)["Body"].read()

    def open_bundle(self, key: str) -> zipfile.ZipFile:
        return zipfile.ZipFile(io.BytesIO(self.read_archived(key)))
