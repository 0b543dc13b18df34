"""s3_restore under faults: the run's tasks in a child process, killed (SIGKILL by pid) while the
wait is deferred (its trigger polling a restore the emulator holds in progress) or mid-extraction
(a file written, the others not yet); then run again, as Airflow retries the task (a retried run
looks up, requests, waits, extracts and notifies again: each step must find the earlier try's work).

After each, from S3 and SNS themselves: every asked file is in the restore bucket once, at its
destination, byte-identical to its source; nothing else under the destination prefix and no open
multipart upload; one RestoreObject per bundle over all tries; one notification, naming each file once."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import restore_task
from harness import start_child
from tests.integration.restore.conftest import aws, located, pack, restore_delay, topic_queue  # noqa: F401

from archiveflow import resources
from archiveflow.restore.extract import destination_key

pytestmark = pytest.mark.integration
TASK = str(Path(restore_task.__file__))
FILES = 24  # in two bundles
RESTORE_DAYS = 7  # the request's default


class Restore:
    """FILES archived into two Deep Archive bundles; the conf restoring them all; what to check."""

    def __init__(self, aws, topic_queue, local_stack):  # noqa: F811
        self.aws = aws
        self.project = aws.unique("fault-restore")
        self.files = {f"{self.project}/{i % 2}/f{i:03d}.csv": b"%d," % i + os.urandom(200 + 37 * i)
                      for i in range(FILES)}
        pack(aws, self.files, self.project, storage_class="DEEP_ARCHIVE", file_count=FILES // 2)
        self.topic, self.received = topic_queue
        self.prefix = f"faults/{self.project}/"
        self.conf = {"project_name": self.project, "files": [f"{aws.source}/{key}" for key in self.files],
                     "retrieval_tier": "Bulk", "sns_topic_arn": self.topic, "destination_prefix": self.prefix,
                     "poll_interval": 1, "account": local_stack.client("sts").get_caller_identity()["Account"]}
        self.bucket = resources.bucket("restore")
        self.outputs: list[str] = []
        self.requested_here: list[str] = []  # restores the test requested itself

    def bundles(self) -> set[str]:
        return {f"{f.archive_bucket}/{f.archive_key}" for f in located(self.aws, self.project, list(self.files))}

    def start(self, failpoint: str | None = None):
        return start_child([TASK, json.dumps(self.conf), f"run-{self.project}"], failpoint=failpoint)

    def run(self) -> dict:
        task = self.start()
        assert task.finish() == 0, task.output[-3000:]
        self.outputs.append(task.output)
        return task.result()

    def restored_keys(self) -> list[str]:
        return self.aws.keys(self.bucket, self.prefix)

    def check_restored_once(self) -> str:
        destinations = {f.source_key: destination_key(f, self.prefix) for f in located(self.aws, self.project,
                                                                                        list(self.files))}
        assert sorted(self.restored_keys()) == sorted(destinations.values())
        for source, key in destinations.items():
            assert self.aws.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read() == self.files[source], source
        assert self.aws.s3.list_multipart_uploads(Bucket=self.bucket, Prefix=self.prefix).get("Uploads", []) == []
        requests = self.requested_here + [line.split()[1] for output in self.outputs for line in output.splitlines()
                                          if line.startswith("RestoreObject ")]
        bundles = self.bundles()
        assert sorted(requests) == sorted(bundles), f"restore requests {requests} for bundles {bundles}"
        messages = [json.loads(body) for body in self.received()] + [json.loads(body) for body in self.received()]
        assert len(messages) == 1, f"{len(messages)} notifications"
        sources = [r["source"] for r in messages[0]["restored"]]
        assert sorted(sources) == sorted(f"{self.aws.source}/{key}" for key in self.files)
        assert messages[0]["outcome"] == "succeeded" and messages[0]["failed"] == []
        return f"{FILES} files once, byte-identical; {len(requests)} restore requests for {len(bundles)} bundles; 1 notice"


@pytest.fixture
def restore(aws, topic_queue, local_stack):  # noqa: F811
    return Restore(aws, topic_queue, local_stack)


def test_kill_mid_extraction(restore, fault_table):
    task = restore.start(failpoint="restore.file_written")
    task.wait_for("failpoint restore.file_written reached")
    assert task.kill() < 0
    restore.outputs.append(task.output)
    written = len(restore.restored_keys())
    assert 0 < written < FILES
    restore.run()
    fault_table("SIGKILL", "s3_restore: extract after a file was written",
                f"retry kept the {written} verified copies, restored the rest, notified once",
                restore.check_restored_once())


@pytest.mark.emulator_restore_state
def test_kill_while_the_wait_is_deferred(restore, restore_delay, fault_table):  # noqa: F811
    # The restores requested as request_restores requests them, and held in progress by the emulator.
    restore.requested_here = sorted(restore.bundles())
    restore_delay.set({"progression": "time", "seconds": 0})
    for bundle in restore.requested_here:
        bucket, key = bundle.split("/", 1)
        restore.aws.s3.restore_object(Bucket=bucket, Key=key, RestoreRequest={
            "Days": RESTORE_DAYS, "GlacierJobParameters": {"Tier": restore.conf["retrieval_tier"]}})
        restore.aws.s3.head_object(Bucket=bucket, Key=key)  # the first look moves it to "in progress"
    restore_delay.set({"progression": "manual", "times": 1_000_000_000})
    task = restore.start()
    task.wait_for("deferred: the trigger polls")
    task.wait_for("still in progress")
    assert task.kill() < 0
    restore.outputs.append(task.output)
    assert restore.restored_keys() == []
    restore_delay.unset()  # S3 finishes the restores
    restore.run()
    fault_table("SIGKILL", "s3_restore: wait_for_restores deferred, its trigger polling",
                "retry found the restores made (none requested again), extracted, notified once",
                restore.check_restored_once())
