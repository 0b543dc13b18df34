"""Writing REMOVE records to S3: one object per deleted item, the dead-letter queue for a record
that still fails after `ATTEMPTS` tries.

The bucket is versioned: an item deleted, re-created and deleted again keeps one version per
deletion. Records of one key are written in stream order (so the newest deletion is the current
version); different keys are written in parallel. Each object carries its record's `eventID` in
its metadata: a record re-read after a crash is recognised and not written twice.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from archiveflow.dynamodb_archive.keys import object_key
from archiveflow.dynamodb_archive.records import archive_body, archive_document, removed_by_ttl

log = logging.getLogger(__name__)

ATTEMPTS = 3
WRITERS = 16
EVENT_ID_METADATA = "event-id"
SQS_MAX_BYTES = 256 * 1024


class InjectedFailure(Exception):
    """Raised for records matched by the failure switch (tests of the dead-letter path)."""


@dataclass
class TableOutcome:
    """What one run did for one table (JSON-able for XCom via `as_dict`)."""

    table: str
    records_read: int = 0
    removes: int = 0
    archived: int = 0
    already_archived: int = 0
    ttl_removes: int = 0
    dead_lettered: list[dict[str, str]] = field(default_factory=list)
    gaps: list[str] = field(default_factory=list)
    shards_read: int = 0
    shards_finished: int = 0
    stopped_early: bool = False

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class ArchiveTarget:
    table: str
    key_names: tuple[str, ...]
    stream_arn: str
    bucket: str


class RecordArchiver:
    """Writes batches of stream records for one table. `dead_letter(body)` sends one message to the
    dead-letter queue; `fail_keys` (a regular expression, the test switch) makes every write of a
    matching object key fail."""

    def __init__(self, s3_client, target: ArchiveTarget, dead_letter: Callable[[str], None],
                 fail_keys: str | None = None, retry_delay: float = 0.2):
        self.s3 = s3_client
        self.target = target
        self.dead_letter = dead_letter
        self.fail_keys = re.compile(fail_keys) if fail_keys else None
        self.retry_delay = retry_delay

    def write_batch(self, records: Sequence[Mapping[str, Any]], outcome: TableOutcome, recheck: bool) -> None:
        """Archive the batch's REMOVE records. `recheck`: the batch may have been written before (it
        was in flight when a run stopped), so an object already holding a record is not rewritten."""
        removes = [r for r in records if r.get("eventName") == "REMOVE"]
        outcome.records_read += len(records)
        outcome.removes += len(removes)
        outcome.ttl_removes += sum(1 for r in removes if removed_by_ttl(r))
        by_key: dict[str, list[Mapping[str, Any]]] = {}
        for record in removes:
            key = object_key(self.target.table, self.target.key_names, record["dynamodb"]["Keys"])
            by_key.setdefault(key, []).append(record)
        with ThreadPoolExecutor(max_workers=WRITERS) as pool:
            results = list(pool.map(lambda item: self._write_key(*item, recheck), by_key.items()))
        for archived, already, dead in results:
            outcome.archived += archived
            outcome.already_archived += already
            outcome.dead_lettered += dead

    def _write_key(self, key: str, records: list[Mapping[str, Any]], recheck: bool) -> tuple[int, int, list]:
        already = self._already_written(key, records) if recheck else 0
        archived, dead = 0, []
        for record in records[already:]:  # stream order: the last deletion ends up the current version
            error = self._write_with_retries(key, record)
            if error is None:
                archived += 1
            else:
                dead.append(self._dead_letter(key, record, error))
        return archived, already, dead

    def _already_written(self, key: str, records: list[Mapping[str, Any]]) -> int:
        """How many of the key's records (in stream order) an earlier attempt wrote: versions are
        written in stream order, so the current version names the last one written."""
        try:
            head = self.s3.head_object(Bucket=self.target.bucket, Key=key)
        except ClientError as err:
            if err.response["Error"]["Code"] in ("404", "NoSuchKey", "NotFound"):
                return 0
            raise
        current = head.get("Metadata", {}).get(EVENT_ID_METADATA)
        event_ids = [r["eventID"] for r in records]
        return event_ids.index(current) + 1 if current in event_ids else 0

    def _write_with_retries(self, key: str, record: Mapping[str, Any]) -> str | None:
        """None once written; the last error after ATTEMPTS failed tries."""
        document = archive_document(record, self.target.table, self.target.stream_arn, key)
        error = ""
        for attempt in range(1, ATTEMPTS + 1):
            try:
                self._put(key, document)
                return None
            except (ClientError, InjectedFailure, OSError) as err:
                error = f"{type(err).__name__}: {err}"
                log.warning("writing %s failed (attempt %d of %d): %s", key, attempt, ATTEMPTS, error)
                if attempt < ATTEMPTS:
                    time.sleep(self.retry_delay * attempt)
        return error

    def _put(self, key: str, document: Mapping[str, Any]) -> None:
        if self.fail_keys is not None and self.fail_keys.search(key):
            raise InjectedFailure(f"injected failure for {key} (failure switch is on)")
        self.s3.put_object(
            Bucket=self.target.bucket, Key=key, Body=archive_body(document), ContentType="application/json",
            Metadata={EVENT_ID_METADATA: document["eventID"], "removed-by": document["archiveflow"]["removedBy"]})

    def _dead_letter(self, key: str, record: Mapping[str, Any], error: str) -> dict[str, str]:
        document = archive_document(record, self.target.table, self.target.stream_arn, key)
        message = {"table": self.target.table, "bucket": self.target.bucket, "objectKey": key,
                   "attempts": ATTEMPTS, "error": error, "record": document}
        body = json.dumps(message, ensure_ascii=False)
        if len(body.encode()) > SQS_MAX_BYTES:
            # An item of up to 400 KB does not fit an SQS message: keep its keys, say what is missing.
            document["dynamodb"].pop("OldImage", None)
            message["note"] = "OldImage omitted: the record is larger than an SQS message"
            body = json.dumps(message, ensure_ascii=False)
            log.error("dead-lettering %s without its OldImage (too large for SQS)", key)
        self.dead_letter(body)
        log.error("dead-lettered %s (event %s) after %d attempts: %s", key, record["eventID"], ATTEMPTS, error)
        return {"object_key": key, "event_id": record["eventID"], "error": error}
