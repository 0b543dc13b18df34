"""Writing dead-lettered records to their archive keys once the cause is fixed
(`dynamodb_dead_letter_redrive`). The full records are under `~dead-letter/<table>/` in the
archive bucket (the S3 copy outlives the queue's 4 days); the queue's messages point at them and
are deleted once their record is archived.

A redriven record is usually older than what its key holds now (the item was deleted again since):
the newer deletion is then copied back on top, so the current version stays the newest deletion,
which is what a restore without a time range puts back.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from archiveflow.deep_archive.s3io import head
from archiveflow.dynamodb_archive.archive import (
    DEAD_LETTER_PREFIX,
    DEAD_LETTER_SOURCE,
    EVENT_ID_METADATA,
    put_archive_object,
)
from archiveflow.dynamodb_archive.records import deleted_at
from archiveflow.failpoints import failpoint

log = logging.getLogger(__name__)

RECEIVE_TIMEOUT = 30  # seconds a received message stays hidden while it is checked


def dead_letter_keys(s3, bucket: str, tables: Sequence[str] | None) -> Iterator[str]:
    """The dead-lettered records' object keys, of `tables` (None: every table)."""
    prefixes = [f"{DEAD_LETTER_PREFIX}{t}/" for t in tables] if tables else [DEAD_LETTER_PREFIX]
    for prefix in prefixes:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            yield from (o["Key"] for o in page.get("Contents", []))



class Redriver:
    def __init__(self, s3, bucket: str):
        self.s3, self.bucket = s3, bucket

    def redrive(self, held_key: str) -> str:
        """Archive one dead-lettered record, then remove its dead-letter copy: "archived", or
        "already_archived" when its key's current version is that record."""
        held = json.loads(self.s3.get_object(Bucket=self.bucket, Key=held_key)["Body"].read())
        key, document = held["objectKey"], held["record"]
        current = head(self.s3, self.bucket, key)
        if current and current.get("Metadata", {}).get(EVENT_ID_METADATA) == document["eventID"]:
            result = "already_archived"
        else:
            put_archive_object(self.s3, self.bucket, key, document)
            if current and self._deleted_later(key, current["VersionId"], document):
                self.s3.copy_object(Bucket=self.bucket, Key=key,
                                    CopySource={"Bucket": self.bucket, "Key": key, "VersionId": current["VersionId"]})
            result = "archived"
        failpoint("dynamodb_archive.redriven")
        self.s3.delete_object(Bucket=self.bucket, Key=held_key)
        log.info("%s: %s (event %s) from s3://%s/%s", result, key, document["eventID"], self.bucket, held_key)
        return result

    def _deleted_later(self, key: str, version_id: str, document: Mapping[str, Any]) -> bool:
        body = self.s3.get_object(Bucket=self.bucket, Key=key, VersionId=version_id)["Body"].read()
        return deleted_at(json.loads(body)) > deleted_at(document)


def settle_messages(sqs, queue_url: str, s3) -> int:
    """Delete the queue's dead-letter pointers whose record has been archived (its dead-letter copy
    is gone); others (still dead-lettered, or another producer's) are left. Returns how many."""
    deleted, seen = 0, set()
    while True:
        messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10,
                                       VisibilityTimeout=RECEIVE_TIMEOUT).get("Messages", [])
        fresh = [m for m in messages if m["MessageId"] not in seen]
        if not fresh:
            return deleted
        for message in fresh:
            seen.add(message["MessageId"])
            try:
                pointer = json.loads(message["Body"])
            except json.JSONDecodeError:
                pointer = None
            settled = (isinstance(pointer, dict) and pointer.get("source") == DEAD_LETTER_SOURCE
                       and head(s3, pointer["bucket"], pointer["deadLetterKey"]) is None)
            if settled:
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
                deleted += 1
            else:  # visible again at once for whoever handles it
                sqs.change_message_visibility(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"],
                                              VisibilityTimeout=0)
