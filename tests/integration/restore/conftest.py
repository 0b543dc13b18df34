"""Restore tests on the local stack: bundles are made by the packing planner and worker, as
s3_deep_archive makes them; the emulator's delayed-restore setting is switched on and off here."""

from __future__ import annotations

import io
import json
import urllib.request
import zipfile

import pytest
from tests.integration.deep_archive.conftest import Aws

from archiveflow.deep_archive import plan as planner
from archiveflow.deep_archive import worker
from archiveflow.deep_archive.request import parse_request
from archiveflow.restore import lookup


@pytest.fixture
def aws(local_stack):
    return Aws(local_stack)


def pack(aws, files: dict[str, bytes], project: str, *, storage_class: str = "GLACIER", file_count: int = 5000,
         archive_size: int = 100) -> dict:
    """Upload `files` (keys under `project/`) and archive them as s3_deep_archive does; return the plan."""
    aws.upload(files)
    request = parse_request(
        {"project_name": project, "bucket_name": aws.source, "prefix": f"{project}/", "file_count": file_count,
         "archive_size": archive_size, "output_prefix": f"tests/{project}", "storage_class": storage_class},
        aws.archive)
    document = planner.plan(aws.s3, aws.dynamodb, [request], plan_id=aws.unique(project), plan_bucket=aws.archive,
                            index_table=aws.index.name)
    for unit in document["units"]:
        worker.run_unit(aws.s3, aws.dynamodb, document, unit)
    return document


def zip_bundle(aws, project: str, members: dict[str, bytes]) -> list[lookup.ArchivedFile]:
    """A stored-member zip written straight to the archive bucket (STANDARD: no restore needed) and
    the index entries of its members: for tests of extraction alone, faster than the packer."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as bundle:
        for name, data in members.items():
            bundle.writestr(name, data)
        infos = [bundle.getinfo(name) for name in members]
    key = f"tests/{project}/bundle.zip"
    aws.s3.put_object(Bucket=aws.archive, Key=key, Body=buffer.getvalue())
    return [lookup.ArchivedFile(
        source_bucket=aws.source, source_key=info.filename, archive_bucket=aws.archive, archive_key=key,
        archive_format="zip", storage_class="STANDARD", size=info.file_size, version="2026-01-01T00:00:00+00:00#t",
        member_name=info.filename, header_offset=info.header_offset, compressed_size=info.compress_size,
        crc32=info.CRC, compression="stored") for info in infos]


def located(aws, project: str, keys: list[str]) -> list[lookup.ArchivedFile]:
    names = [f"{aws.source}/{key}" for key in keys]
    return lookup.locate(aws.dynamodb, aws.index.name, names, [f"files[{i}]" for i in range(len(names))],
                         project_name=project, version=None)


class RestoreDelay:
    """moto's global state manager for `s3::keyrestore` (STACK-NOTES.md): hold restores in progress."""

    def __init__(self, endpoint: str):
        self.endpoint = endpoint

    def _post(self, path: str, body: dict) -> None:
        request = urllib.request.Request(f"{self.endpoint}/moto-api/state-manager/{path}",
                                         data=json.dumps(body).encode(), method="POST",
                                         headers={"Content-Type": "application/json"})
        urllib.request.urlopen(request, timeout=10).close()

    def set(self, transition: dict) -> None:
        self._post("set-transition", {"model_name": "s3::keyrestore", "transition": transition})

    def unset(self) -> None:
        self._post("unset-transition", {"model_name": "s3::keyrestore"})

    def hold(self, s3, bucket: str, keys: list[str]) -> None:
        """Restore `keys` and keep them in progress until `unset` (the restore is requested here)."""
        self.set({"progression": "time", "seconds": 0})
        for key in keys:
            s3.restore_object(Bucket=bucket, Key=key, RestoreRequest={"Days": 1})
            s3.head_object(Bucket=bucket, Key=key)  # the first look moves it to "in progress"
        self.set({"progression": "manual", "times": 1_000_000_000})


@pytest.fixture
def restore_delay(local_stack):
    """The delayed-restore setting is global to the emulator: tests using it are marked
    `emulator_restore_state` (run one at a time) and always release it at the end."""
    delay = RestoreDelay(local_stack.aws_endpoint)
    try:
        yield delay
    finally:
        delay.unset()


@pytest.fixture
def topic_queue(local_stack, aws):
    """An SQS queue subscribed to a fresh topic: what the topic receives."""
    sns, sqs = local_stack.client("sns"), local_stack.client("sqs")
    topic = sns.create_topic(Name=aws.unique("restore-topic"))["TopicArn"]
    queue_url = sqs.create_queue(QueueName=aws.unique("restore-inbox"))["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn, Attributes={"RawMessageDelivery": "true"})

    def received() -> list[str]:
        return [m["Body"] for m in sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10,
                                                       WaitTimeSeconds=2).get("Messages", [])]

    return topic, received
