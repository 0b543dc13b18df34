"""Writing REMOVE records to S3: one object per deleted item.

The bucket is versioned: an item deleted, re-created and deleted again keeps one version per
deletion. Records of one key are written in stream order (so the newest deletion is the current
version); different keys are written in parallel. Each object carries its record's `eventID` in
its metadata: a record re-read after a crash is recognised and not written twice.

A write that fails is tried `ATTEMPTS` times over about 15 s. A failure that may pass (throttling,
an S3 outage, a dropped connection, access denied) then fails the task with
`TransientServiceError`: the checkpoint stays before the unwritten records, and the next try
(or run) writes them. Only a record S3 refuses for itself (`PERMANENT_ERRORS`, or the failure
switch) is dead-lettered: its full record goes to `~dead-letter/<table>/<eventID>.json` in the
same bucket, and a pointer to it to the dead-letter queue; `dynamodb_dead_letter_redrive` writes
it to its archive key once the cause is fixed.
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

from botocore.exceptions import BotoCoreError, ClientError

from archiveflow.dynamodb_archive.keys import object_key
from archiveflow.dynamodb_archive.records import archive_body, archive_document, removed_by_ttl
from archiveflow.errors import TransientServiceError

log = logging.getLogger(__name__)

ATTEMPTS = 5
RETRY_DELAYS = (1.0, 2.0, 4.0, 8.0)  # seconds before attempts 2..5: a short S3 blip passes within the task
WRITERS = 16
# The archive writes' S3 client: a pooled connection per writer, and no retry of botocore's own. A
# write that timed out may still land (the request was sent): every retry goes through
# `_with_retries`, which first looks whether it did, so a record never gets a second version.
WRITER_CLIENT_CONFIG = {"max_pool_connections": 2 * WRITERS, "retries": {"total_max_attempts": 1}}
EVENT_ID_METADATA = "event-id"
DEAD_LETTER_PREFIX = "~dead-letter/"  # `~` never starts a table name: no table's archive lists it
DEAD_LETTER_SOURCE = "dynamodb_delete_archive"
SAMPLE = 20  # dead-lettered records named in a run's outcome; all of them are under DEAD_LETTER_PREFIX
# S3 errors about the request itself: the same record fails the same way however often it is retried.
PERMANENT_ERRORS = frozenset({"KeyTooLongError", "EntityTooLarge", "MetadataTooLarge", "InvalidArgument",
                              "InvalidObjectName"})


class InjectedFailure(Exception):
    """Raised for records matched by the failure switch (tests of the dead-letter path)."""


def dead_letter_key(table: str, event_id: str) -> str:
    return f"{DEAD_LETTER_PREFIX}{table}/{event_id}.json"


def is_permanent(error: Exception) -> bool:
    if isinstance(error, InjectedFailure):
        return True
    return isinstance(error, ClientError) and error.response.get("Error", {}).get("Code") in PERMANENT_ERRORS


def put_archive_object(s3, bucket: str, key: str, document: Mapping[str, Any]) -> None:
    """Write one archived record at its object key, its event id in the metadata."""
    s3.put_object(Bucket=bucket, Key=key, Body=archive_body(document), ContentType="application/json",
                  Metadata={EVENT_ID_METADATA: document["eventID"], "removed-by": document["archiveflow"]["removedBy"]})


@dataclass
class TableOutcome:
    """What one run did for one table (JSON-able for XCom via `as_dict`; bounded in size: the
    dead-lettered records are counted, a few named, all kept in S3)."""

    table: str
    records_read: int = 0
    removes: int = 0
    archived: int = 0
    already_archived: int = 0
    ttl_removes: int = 0
    dead_lettered: int = 0
    dead_letter_sample: list[dict[str, str]] = field(default_factory=list)
    gaps: list[str] = field(default_factory=list)
    shards_read: int = 0
    shards_finished: int = 0
    stopped_early: bool = False

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    def add_dead_letters(self, entries: list[dict[str, str]]) -> None:
        self.dead_lettered += len(entries)
        self.dead_letter_sample += entries[:SAMPLE - len(self.dead_letter_sample)]


@dataclass(frozen=True)
class ArchiveTarget:
    table: str
    key_names: tuple[str, ...]
    stream_arn: str
    bucket: str


class RecordArchiver:
    """Writes batches of stream records for one table. `dead_letter(body)` sends one message to the
    dead-letter queue; `fail_keys` (a regular expression, the test switch) makes every write of a
    matching object key fail for good."""

    def __init__(self, s3_client, target: ArchiveTarget, dead_letter: Callable[[str], None],
                 fail_keys: str | None = None, retry_delays: Sequence[float] | None = None):
        self.s3 = s3_client
        self.target = target
        self.dead_letter = dead_letter
        self.fail_keys = re.compile(fail_keys) if fail_keys else None
        self.retry_delays = tuple(RETRY_DELAYS if retry_delays is None else retry_delays)

    def write_batch(self, records: Sequence[Mapping[str, Any]], outcome: TableOutcome, recheck: bool) -> None:
        """Archive the batch's REMOVE records. `recheck`: the batch may have been written before (it
        was in flight when a run stopped), so an object already holding a record is not rewritten.
        Raises TransientServiceError when a record could not be written nor dead-lettered: the
        caller must not move its checkpoint past the batch."""
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
            outcome.add_dead_letters(dead)

    def _write_key(self, key: str, records: list[Mapping[str, Any]], recheck: bool) -> tuple[int, int, list]:
        already = self._already_written(key, records) if recheck else 0
        archived, dead = 0, []
        for record in records[already:]:  # stream order: the last deletion ends up the current version
            document = archive_document(record, self.target.table, self.target.stream_arn, key)
            try:
                self._with_retries(key, lambda document=document: self._put(key, document),
                                   written=lambda event_id=document["eventID"]: self._current_event_id(key) == event_id)
                archived += 1
            except (InjectedFailure, ClientError) as err:
                if not is_permanent(err):
                    raise
                dead.append(self._dead_letter(key, document, f"{type(err).__name__}: {err}"))
        return archived, already, dead

    def _already_written(self, key: str, records: list[Mapping[str, Any]]) -> int:
        """How many of the key's records (in stream order) an earlier attempt wrote: versions are
        written in stream order, so the current version names the last one written."""
        current = self._current_event_id(key)
        event_ids = [r["eventID"] for r in records]
        return event_ids.index(current) + 1 if current in event_ids else 0

    def _current_event_id(self, key: str) -> str | None:
        """The event id of the key's current version (None when there is none)."""
        try:
            head = self.s3.head_object(Bucket=self.target.bucket, Key=key)
        except ClientError as err:
            if err.response["Error"]["Code"] in ("404", "NoSuchKey", "NotFound"):
                return None
            raise
        return head.get("Metadata", {}).get(EVENT_ID_METADATA)

    def _with_retries(self, what: str, write: Callable[[], None], written: Callable[[], bool] | None = None) -> None:
        """Run `write` up to ATTEMPTS times; before each retry, `written()` says whether the failed
        attempt landed after all. A permanent error is raised at once; a transient one, still failing
        after the last attempt, becomes TransientServiceError."""
        for attempt in range(1, ATTEMPTS + 1):
            try:
                if attempt == 1 or written is None or not written():
                    write()
                return
            except (ClientError, BotoCoreError, InjectedFailure, OSError) as err:
                if is_permanent(err):
                    raise
                log.warning("writing %s failed (attempt %d of %d): %s: %s", what, attempt, ATTEMPTS,
                            type(err).__name__, err)
                if attempt == ATTEMPTS:
                    raise TransientServiceError(
                        f"s3://{self.target.bucket}/{what} could not be written after {ATTEMPTS} attempts "
                        f"({type(err).__name__}: {err}); the checkpoint stays before it and the next try "
                        "writes it") from err
                time.sleep(self.retry_delays[min(attempt, len(self.retry_delays)) - 1] if self.retry_delays else 0)

    def _put(self, key: str, document: Mapping[str, Any]) -> None:
        if self.fail_keys is not None and self.fail_keys.search(key):
            raise InjectedFailure(f"injected failure for {key} (failure switch is on)")
        put_archive_object(self.s3, self.target.bucket, key, document)

    def _dead_letter(self, key: str, document: Mapping[str, Any], error: str) -> dict[str, str]:
        """Keep the full record under the dead-letter prefix, then point the queue at it (a message
        holds 256 KB, an item up to 400 KB)."""
        held = dead_letter_key(self.target.table, document["eventID"])
        body = archive_body({"objectKey": key, "error": error, "record": document})
        self._with_retries(held, lambda: self.s3.put_object(Bucket=self.target.bucket, Key=held, Body=body,
                                                           ContentType="application/json"))
        self.dead_letter(json.dumps({
            "source": DEAD_LETTER_SOURCE, "table": self.target.table, "bucket": self.target.bucket,
            "objectKey": key, "eventID": document["eventID"], "error": error, "deadLetterKey": held}))
        log.error("dead-lettered %s (event %s): %s; full record at s3://%s/%s", key, document["eventID"], error,
                  self.target.bucket, held)
        return {"object_key": key, "event_id": document["eventID"], "error": error, "dead_letter_key": held}
