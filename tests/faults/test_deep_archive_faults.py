"""s3_deep_archive under faults: the packing worker as AWS Batch runs it (`python -m
archiveflow.deep_archive.worker`), killed (SIGKILL by pid) mid upload, between the upload and the
index, mid source deletion, or left without its AWS emulator (SIGSTOP/SIGCONT) longer than its
client's timeouts; then run again, as Batch retries the job.

After each: the bundle holds every file once and exactly its bytes, the index names every file,
no source is deleted that is not in the bundle and indexed, no multipart upload is left open, and
nothing else is written under the output prefix."""

from __future__ import annotations

import io
import os
import re
import time
import uuid
import zipfile
from concurrent.futures import ThreadPoolExecutor

import pytest
from boto3.dynamodb.conditions import Key
from harness import frozen, start_child

from archiveflow import resources
from archiveflow.deep_archive import plan as planner
from archiveflow.deep_archive.index import INDEX_SUFFIX
from archiveflow.deep_archive.request import parse_request

pytestmark = pytest.mark.integration
FILES = 400
DELETION_FILES = 1100  # two DeleteObjects batches (of at most 1000)
READ_TIMEOUT_S = 3  # the worker's S3/DynamoDB client timeouts in the freeze test (botocore: 60 s by default)
FREEZE_S = 10
# The worker with short client timeouts (Batch runs it with botocore's defaults; a freeze longer
# than those would cost minutes): everything else is the worker's own main().
WORKER_WITH_SHORT_TIMEOUTS = f"""
import sys
from archiveflow.deep_archive import worker
config = worker.Config
worker.Config = lambda **kw: config(connect_timeout={READ_TIMEOUT_S}, read_timeout={READ_TIMEOUT_S}, **kw)
sys.exit(worker.main())
"""


class Bundle:
    """One source prefix planned into one bundle, and what to check about it afterwards."""

    def __init__(self, local_stack, *, files: int = FILES, delete_source: bool = False):
        self.endpoint = local_stack.aws_endpoint
        self.s3, dynamodb = local_stack.client("s3"), local_stack.resource("dynamodb")
        self.index = dynamodb.Table(resources.dynamodb_table("archive-index"))
        self.source, self.archive = resources.bucket("source"), resources.bucket("archive")
        self.project = f"fault-{uuid.uuid4().hex[:8]}"
        prefix = self.project + "/"
        self.files = {f"{prefix}f{i:04d}.txt": os.urandom(64) + b"%d " % i * (i % 40) for i in range(files)}
        with ThreadPoolExecutor(16) as pool:
            list(pool.map(lambda kv: self.s3.put_object(Bucket=self.source, Key=kv[0], Body=kv[1]), self.files.items()))
        request = parse_request({"project_name": self.project, "bucket_name": self.source, "prefix": prefix,
                                 "file_count": 5000, "archive_size": 100, "output_prefix": f"faults/{self.project}",
                                 "delete_source": delete_source}, self.archive)
        self.plan = planner.plan(self.s3, dynamodb, [request], plan_id=self.project, plan_bucket=self.archive,
                                 index_table=self.index.name)
        (unit,) = self.plan["units"]
        self.key = unit["archive_key"]

    def start(self, *, failpoint: str | None = None, code: str | None = None):
        env = {"AWS_ENDPOINT_URL": self.endpoint, "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
               "AWS_DEFAULT_REGION": "us-east-1",
               "ARCHIVEFLOW_PLAN": f"s3://{self.archive}/{planner.plan_key(self.plan['plan_id'])}"}
        argv = ["-c", code] if code else ["-m", "archiveflow.deep_archive.worker"]
        return start_child(argv, failpoint=failpoint, env=env)

    def open_uploads(self) -> list[str]:
        return [u["Key"] for u in self.s3.list_multipart_uploads(Bucket=self.archive, Prefix=self.key).get("Uploads", [])]

    def source_keys(self) -> set[str]:
        pages = self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.source, Prefix=self.project + "/")
        return {o["Key"] for page in pages for o in page.get("Contents", [])}

    def indexed(self) -> set[str]:
        items, start = [], {}
        while True:
            page = self.index.query(IndexName="by-project-file", KeyConditionExpression=Key("project_name").eq(
                self.project), **start)
            items += page["Items"]
            if "LastEvaluatedKey" not in page:
                return {i["source_key"] for i in items if i.get("archive_key") == self.key}
            start = {"ExclusiveStartKey": page["LastEvaluatedKey"]}

    def bundled(self) -> dict[str, bytes]:
        """The bundle's members by source key (the index object maps member names to keys)."""
        self.s3.restore_object(Bucket=self.archive, Key=self.key, RestoreRequest={"Days": 1})
        body = self.s3.get_object(Bucket=self.archive, Key=self.key)["Body"].read()
        with zipfile.ZipFile(io.BytesIO(body)) as archive:
            assert archive.testzip() is None
            return {name: archive.read(name) for name in archive.namelist()}

    def check_complete(self, *, deleted: bool = False) -> str:
        """Every file once in the bundle with its bytes, indexed; nothing else left behind."""
        members = self.bundled()
        assert len(members) == len(self.files) and sorted(members.values()) == sorted(self.files.values())
        assert self.indexed() == set(self.files)
        out = self.s3.list_objects_v2(Bucket=self.archive, Prefix=f"faults/{self.project}").get("Contents", [])
        assert sorted(o["Key"] for o in out) == [self.key, self.key + INDEX_SUFFIX]
        assert self.open_uploads() == []
        assert self.source_keys() == (set() if deleted else set(self.files))
        files = len(self.files)
        return f"{files} files in 1 bundle, {files} index items, 0 uploads" + (", sources deleted" if deleted else "")

    def check_deleted_only_if_archived(self) -> int:
        """After a fault mid-deletion: every deleted source is in the bundle and indexed."""
        gone = set(self.files) - self.source_keys()
        assert gone <= self.indexed()
        assert len(self.bundled()) == len(self.files)
        return len(gone)


def retry(bundle: Bundle) -> str:
    worker = bundle.start()
    assert worker.finish() == 0, worker.output[-3000:]
    return worker.output


def test_kill_during_the_multipart_upload(local_stack, fault_table):
    bundle = Bundle(local_stack)
    worker = bundle.start()
    deadline = time.monotonic() + 60
    while not bundle.open_uploads():
        assert worker.process.poll() is None and time.monotonic() < deadline, worker.output[-3000:]
        time.sleep(0.05)
    assert worker.kill() < 0
    assert len(bundle.open_uploads()) == 1 and bundle.indexed() == set()
    assert "aborted 1 upload(s) left by an earlier attempt" in retry(bundle)
    fault_table("SIGKILL", "s3_deep_archive: worker mid multipart upload", "retry aborted the upload, packed once",
                bundle.check_complete())


def test_kill_between_the_upload_and_the_index(local_stack, fault_table):
    bundle = Bundle(local_stack)
    worker = bundle.start(failpoint="deep_archive.uploaded")
    worker.wait_for("failpoint deep_archive.uploaded reached")
    assert worker.kill() < 0
    assert bundle.indexed() == set()  # the bundle is stored, not yet indexed: nothing may count on it
    retry(bundle)
    fault_table("SIGKILL", "s3_deep_archive: after the upload, before the index write",
                "retry re-packed to the same key, indexed once", bundle.check_complete())


def test_kill_during_source_deletion(local_stack, fault_table):
    bundle = Bundle(local_stack, files=DELETION_FILES, delete_source=True)
    worker = bundle.start(failpoint="deep_archive.deleting")
    worker.wait_for("failpoint deep_archive.deleting reached")
    assert worker.kill() < 0
    gone = bundle.check_deleted_only_if_archived()
    assert 0 < gone < DELETION_FILES
    assert "already archived and indexed" in retry(bundle)
    fault_table("SIGKILL", "s3_deep_archive: between two source-deletion batches",
                f"{gone} deleted (all archived+indexed); retry deleted the rest",
                bundle.check_complete(deleted=True))


def test_frozen_aws_emulator_during_the_upload(local_stack, fault_table):
    bundle = Bundle(local_stack)
    worker = bundle.start(code=WORKER_WITH_SHORT_TIMEOUTS)
    deadline = time.monotonic() + 60
    while not bundle.open_uploads():
        assert worker.process.poll() is None and time.monotonic() < deadline, worker.output[-3000:]
        time.sleep(0.05)
    with frozen(local_stack.config.process("moto").pid(), FREEZE_S):
        pass
    if worker.finish() == 0:
        outcome = "worker retried through the freeze"
    else:
        assert re.search(r"timeout|timed out|unit .* failed", worker.output, re.I), worker.output[-3000:]
        outcome = "worker failed naming the timeout; retry packed once"
        retry(bundle)
    fault_table(f"SIGSTOP moto {FREEZE_S} s (> {READ_TIMEOUT_S} s timeouts)", "s3_deep_archive: worker mid upload",
                outcome, bundle.check_complete())
