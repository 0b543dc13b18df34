"""dynamodb_delete_archive under faults: its archive_table code in a child process, killed (SIGKILL
by pid) between writing a batch's objects and moving the shard's checkpoint, or left without its
AWS emulator (SIGSTOP/SIGCONT) mid-batch longer than its clients' timeouts; then run again, as
Airflow retries the task (or the next scheduled run reads from the checkpoint).

After each, read from S3 and DynamoDB themselves: every deleted item has exactly one archived
version (none skipped, none written twice) holding its own key, no record is dead-lettered, the
checkpoint is past the last record with nothing in flight, and another run finds nothing to do."""

from __future__ import annotations

import json
import re
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path

import dynamodb_task
import pytest
from harness import aws_env, frozen, start_child

from archiveflow import resources
from archiveflow.dynamodb_archive.archive import DEAD_LETTER_PREFIX

pytestmark = pytest.mark.integration
TASK = str(Path(dynamodb_task.__file__))
ITEMS = 600  # 1,200 stream records: two GetRecords batches of at most 1,000, deletions in both
CHUNK = 100  # items put then deleted a chunk at a time: every batch holds REMOVE records
KEY = {"tenant": "S", "order_no": "N"}
CLIENT_TIMEOUT_S = 8  # botocore: 60 s; shorter than the freeze, longer than a loaded machine's slow answer
FREEZE_S = 20


class DeletedItems:
    """A table with a stream whose ITEMS items were all put and deleted; what to check afterwards."""

    def __init__(self, local_stack):
        self.local_stack = local_stack
        self.client = local_stack.client("dynamodb")
        self.s3 = local_stack.client("s3")
        self.bucket = resources.bucket("stream-archive")
        self.checkpoints = local_stack.resource("dynamodb").Table(resources.dynamodb_table("stream-checkpoints"))
        self.name = f"fault-ddb-{uuid.uuid4().hex[:8]}"
        self.client.create_table(
            TableName=self.name, BillingMode="PAY_PER_REQUEST",
            KeySchema=[{"AttributeName": n, "KeyType": k} for n, k in zip(KEY, ["HASH", "RANGE"], strict=True)],
            AttributeDefinitions=[{"AttributeName": n, "AttributeType": t} for n, t in KEY.items()],
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"})
        self.stream_arn = self.client.describe_table(TableName=self.name)["Table"]["LatestStreamArn"]
        table = local_stack.resource("dynamodb").Table(self.name)
        self.deleted = [(f"tenant-{i % 7}", i) for i in range(ITEMS)]
        for start in range(0, ITEMS, CHUNK):
            chunk = self.deleted[start:start + CHUNK]
            with table.batch_writer() as batch:
                for tenant, number in chunk:
                    batch.put_item(Item={"tenant": tenant, "order_no": Decimal(number), "payload": "x" * 50})
            with table.batch_writer() as batch:
                for tenant, number in chunk:
                    batch.delete_item(Key={"tenant": tenant, "order_no": Decimal(number)})

    def start(self, *, failpoint: str | None = None, timeout: float | None = None):
        argv = [TASK, self.name, self.stream_arn, ",".join(KEY), *([str(timeout)] if timeout else [])]
        return start_child(argv, failpoint=failpoint, env=aws_env(self.local_stack))

    def run(self) -> dict:
        task = self.start()
        assert task.finish() == 0, task.output[-3000:]
        return task.result()

    def versions(self, prefix: str) -> list[dict]:
        pages = self.s3.get_paginator("list_object_versions").paginate(Bucket=self.bucket, Prefix=prefix)
        return [v for page in pages for v in page.get("Versions", [])]

    def check_archived_once(self) -> str:
        """Every deleted item archived in exactly one version holding its key; the checkpoint past
        every record; another run archives nothing."""
        versions = self.versions(f"{self.name}/")

        def document(version: dict) -> dict:
            body = self.s3.get_object(Bucket=self.bucket, Key=version["Key"], VersionId=version["VersionId"])["Body"]
            return json.loads(body.read())

        with ThreadPoolExecutor(16) as pool:
            documents = list(pool.map(document, versions))
        archived = Counter((d["dynamodb"]["Keys"]["tenant"]["S"], int(d["dynamodb"]["Keys"]["order_no"]["N"]))
                           for d in documents)
        doubled = {k: n for k, n in archived.items() if n > 1}
        assert not doubled, f"archived more than once: {list(doubled.items())[:5]}"
        missing = set(self.deleted) - set(archived)
        assert not missing, f"{len(missing)} deletions never archived: {sorted(missing)[:5]}"
        assert set(archived) == set(self.deleted) and len(versions) == ITEMS
        assert len({d["eventID"] for d in documents}) == ITEMS
        assert all(d["eventName"] == "REMOVE" for d in documents)
        assert self.versions(f"{DEAD_LETTER_PREFIX}{self.name}/") == []
        (checkpoint,) = self.checkpoints.query(KeyConditionExpression="stream_arn = :a", ConsistentRead=True,
                                               ExpressionAttributeValues={":a": self.stream_arn})["Items"]
        assert checkpoint.get("sequence_number") and "in_flight_through" not in checkpoint, checkpoint
        again = self.run()
        assert again["archived"] == 0 and again["removes"] == 0, again
        return f"{ITEMS} deletions, {len(versions)} object versions, {ITEMS} event ids, 0 dead letters"

    def drop(self) -> None:
        self.client.delete_table(TableName=self.name)


@pytest.fixture
def deleted_items(local_stack):
    items = DeletedItems(local_stack)
    yield items
    items.drop()


def test_kill_between_the_objects_and_the_checkpoint(deleted_items, fault_table):
    task = deleted_items.start(failpoint="dynamodb_archive.written")
    task.wait_for("failpoint dynamodb_archive.written reached")
    written = len(deleted_items.versions(f"{deleted_items.name}/"))
    assert 0 < written < ITEMS  # the first batch's objects are written, its checkpoint not moved
    assert task.kill() < 0
    retried = deleted_items.run()
    assert retried["already_archived"] == written and retried["archived"] == ITEMS - written, retried
    fault_table("SIGKILL", "dynamodb_delete_archive: archive_table after a batch's objects, before its checkpoint",
                f"retry re-read the batch, recognised {written} objects, wrote the other {ITEMS - written}",
                deleted_items.check_archived_once())


def test_frozen_aws_emulator_mid_batch(deleted_items, local_stack, fault_table):
    task = deleted_items.start(timeout=CLIENT_TIMEOUT_S)
    deadline = time.monotonic() + 60
    while not deleted_items.versions(f"{deleted_items.name}/"):  # a batch is being written
        assert task.process.poll() is None and time.monotonic() < deadline, task.output[-3000:]
        time.sleep(0.05)
    with frozen(local_stack.config.process("moto").pid(), FREEZE_S):
        pass
    if task.finish() == 0:
        outcome = "task rode out the freeze (its write retries)"
    else:
        assert re.search(r"timeout|timed out|could not be written", task.output, re.I), task.output[-3000:]
        retried = deleted_items.run()
        outcome = (f"task failed naming the timeout; retry recognised {retried['already_archived']}, "
                   f"wrote {retried['archived']}")
    fault_table(f"SIGSTOP moto {FREEZE_S} s (> {CLIENT_TIMEOUT_S} s timeouts)",
                "dynamodb_delete_archive: archive_table mid batch", outcome, deleted_items.check_archived_once())
