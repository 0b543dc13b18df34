"""Reading one table's streams from their checkpoints: shards in lineage order (parents first),
from TRIM_HORIZON the first time. Every record is archived (or dead-lettered) before the
checkpoint passes it, so a restart loses nothing; a batch in flight is re-checked, so it is not
written twice.

- A closed shard is read until GetRecords returns no `NextShardIterator`, however many empty
  pages come first (AWS: "it might take multiple calls to get to a portion of the shard that
  contains stream records"). An open shard is read until `EMPTY_READS_AT_TIP` empty pages in a row
  (its tip, for now). Where reading stops on an empty page, the iterator is kept in the checkpoint
  (it lasts 15 minutes): the next run goes on from there, not from the last record again.
- A table's older streams (a stream disabled and enabled again gets a new ARN; the old one stays
  readable for 24 h) are read to their end before its current one; the ones not yet read to their
  end are remembered (checkpoint `table:<table>` / `older-streams`), and one that leaves before is a GAP.

- An expired iterator (they last 15 minutes) is replaced by one after the last checkpointed record.
- A checkpoint older than the stream's 24 h retention (`TrimmedDataAccessException`) is a gap:
  records were lost before they could be read. It is reported loudly (`TableOutcome.gaps`, an
  ERROR log line, the run's notification) and reading continues from the oldest record.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

from botocore.exceptions import ClientError

from archiveflow.dynamodb_archive.archive import RecordArchiver, TableOutcome
from archiveflow.dynamodb_archive.checkpoints import CheckpointStore
from archiveflow.dynamodb_archive.shards import describe_shards, is_closed, lineage_order
from archiveflow.failpoints import failpoint

log = logging.getLogger(__name__)

BATCH_LIMIT = 1000  # GetRecords' maximum
EMPTY_READS_AT_TIP = 3  # an open shard caught up returns empty pages; a few in a row: done for now
ITERATOR_KEPT_FOR = dt.timedelta(minutes=14)  # a shard iterator expires 15 minutes after it was issued
OLDER_STREAMS = "older-streams"


def _error_code(err: ClientError) -> str:
    return err.response.get("Error", {}).get("Code", "")


def table_streams(streams_client, table: str, latest_arn: str) -> list[str]:
    """The table's readable streams, oldest first, ending with its current one (`latest_arn`)."""
    streams, kwargs = [], {"TableName": table}
    while True:
        page = streams_client.list_streams(**kwargs)
        streams += page.get("Streams", [])
        if not page.get("LastEvaluatedStreamArn"):
            break
        kwargs["ExclusiveStartStreamArn"] = page["LastEvaluatedStreamArn"]
    older = sorted((s for s in streams if s["StreamArn"] != latest_arn and s.get("TableName", table) == table),
                   key=lambda s: s.get("StreamLabel", ""))
    return [s["StreamArn"] for s in older] + [latest_arn]


def read_table_streams(streams_client, checkpoints: CheckpointStore, archiver_for: Callable[[str], RecordArchiver],
                       table: str, latest_arn: str, deadline: float,
                       clock: Callable[[], float] = time.monotonic) -> TableOutcome:
    """Archive every readable stream of `table`, older streams first; `archiver_for(stream_arn)`
    gives the archiver of one stream's records. An older stream that leaves (24 h after it was
    disabled) before it was read to its end is a GAP."""
    outcome = TableOutcome(table)
    ledger = f"table:{table}"  # not a stream: the table's older streams not yet read to their end
    remembered = checkpoints.for_stream(ledger).get(OLDER_STREAMS, {}).get("unfinished", [])
    listed = table_streams(streams_client, table, latest_arn)
    for stream_arn in sorted(set(remembered) - set(listed)):
        report_gap(outcome, f"the older stream {stream_arn} left before it was read to its end; its unread records "
                            "were never archived")
    read_to_end = set()
    for stream_arn in listed:
        if stream_arn != latest_arn:
            log.info("%s: reading the older stream %s (the stream was disabled and enabled again)", table, stream_arn)
        reader = StreamReader(streams_client, checkpoints, archiver_for(stream_arn), stream_arn, deadline, clock)
        reader.run(outcome)
        if reader.read_to_end:
            read_to_end.add(stream_arn)
        if outcome.stopped_early:
            break
    unfinished = [arn for arn in listed[:-1] if arn not in read_to_end]
    if remembered or unfinished:
        checkpoints.save(ledger, OLDER_STREAMS, unfinished=unfinished)
    return outcome


def report_gap(outcome: TableOutcome, message: str) -> None:
    message = f"{outcome.table}: GAP in the stream archive: {message}"
    log.error(message)
    outcome.gaps.append(message)


class ShardPosition:
    """Where a shard's reading stands: its iterator and the last record checkpointed."""

    def __init__(self, shard_id: str, checkpoint: Mapping[str, Any] | None, closed: bool = False):
        checkpoint = checkpoint or {}
        self.shard_id = shard_id
        self.closed = closed
        self.sequence_number: str | None = checkpoint.get("sequence_number")
        self.in_flight_through: str | None = checkpoint.get("in_flight_through")
        self.iterator: str | None = None
        valid_until = checkpoint.get("iterator_valid_until")
        fresh = valid_until is not None and dt.datetime.fromisoformat(valid_until) > dt.datetime.now(dt.UTC)
        self.kept_iterator: str | None = checkpoint.get("iterator") if fresh else None

    def iterator_request(self) -> dict[str, str]:
        if self.sequence_number is None:
            return {"ShardIteratorType": "TRIM_HORIZON"}
        return {"ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "SequenceNumber": self.sequence_number}

    def may_be_written(self, records: list[Mapping[str, Any]]) -> bool:
        """Whether some of these records were in flight when an earlier run stopped."""
        if self.in_flight_through is None or not records:
            return False
        return int(records[0]["dynamodb"]["SequenceNumber"]) <= int(self.in_flight_through)


class StreamReader:
    def __init__(self, streams_client, checkpoints: CheckpointStore, archiver: RecordArchiver,
                 stream_arn: str, deadline: float, clock: Callable[[], float] = time.monotonic):
        self.streams = streams_client
        self.checkpoints = checkpoints
        self.archiver = archiver
        self.stream_arn = stream_arn
        self.deadline = deadline
        self.clock = clock
        self.read_to_end = False  # every shard closed and read to its end (a disabled stream, done)

    def run(self, outcome: TableOutcome) -> TableOutcome:
        shards = lineage_order(describe_shards(self.streams, self.stream_arn))
        saved = self.checkpoints.for_stream(self.stream_arn)
        self._report_vanished_shards(saved, {s["ShardId"] for s in shards}, outcome)
        finished = {shard_id for shard_id, item in saved.items() if item.get("finished")}
        present = {s["ShardId"] for s in shards}
        for shard in shards:
            shard_id = shard["ShardId"]
            if shard_id in finished:
                continue
            parent = shard.get("ParentShardId")
            if parent in present and parent not in finished:
                log.info("shard %s waits for its parent %s to be read to its end", shard_id, parent)
                continue
            if self.clock() >= self.deadline:
                outcome.stopped_early = True
                log.info("time budget used: the next run continues from the checkpoints")
                break
            if self._read_shard(ShardPosition(shard_id, saved.get(shard_id), is_closed(shard)), outcome):
                finished.add(shard_id)
                outcome.shards_finished += 1
            outcome.shards_read += 1
        self.read_to_end = present <= finished
        return outcome

    def _report_vanished_shards(self, saved: Mapping[str, Mapping], present: set[str], outcome: TableOutcome) -> None:
        for shard_id, item in saved.items():
            if shard_id not in present and not item.get("finished") and not item.get("vanished"):
                report_gap(outcome, f"shard {shard_id} left the stream (24 h retention) before it was read to its end; "
                                   f"records after {item.get('sequence_number')} were never archived")
                self.checkpoints.save(self.stream_arn, shard_id, vanished=True)

    def _read_shard(self, position: ShardPosition, outcome: TableOutcome) -> bool:
        """Archive the shard's records from its checkpoint; True when it is closed and read to its end."""
        position.iterator = position.kept_iterator or self._iterator(position, outcome)
        empty_reads = 0
        while self.clock() < self.deadline:
            page = self._records(position, outcome)
            records = page.get("Records", [])
            if records:
                self._archive(position, records, outcome)
            position.iterator = page.get("NextShardIterator")
            if position.iterator is None:
                self.checkpoints.save(self.stream_arn, position.shard_id, finished=True, iterator=None,
                                      iterator_valid_until=None)
                log.info("shard %s is closed and read to its end", position.shard_id)
                return True
            empty_reads = 0 if records else empty_reads + 1
            if empty_reads >= EMPTY_READS_AT_TIP and not position.closed:
                break
        else:
            outcome.stopped_early = True
        # Keep the way past the empty pages read: the next run goes on from here.
        valid_until = dt.datetime.now(dt.UTC) + ITERATOR_KEPT_FOR
        self.checkpoints.save(self.stream_arn, position.shard_id, iterator=position.iterator,
                              iterator_valid_until=valid_until.isoformat())
        return False

    def _iterator(self, position: ShardPosition, outcome: TableOutcome) -> str:
        try:
            return self.streams.get_shard_iterator(
                StreamArn=self.stream_arn, ShardId=position.shard_id, **position.iterator_request())["ShardIterator"]
        except ClientError as err:
            if _error_code(err) != "TrimmedDataAccessException":
                raise
        report_gap(outcome, f"shard {position.shard_id}: records after {position.sequence_number} were trimmed "
                           "(older than 24 h) before this run could read them; continuing from the oldest record")
        position.sequence_number = None
        return self.streams.get_shard_iterator(
            StreamArn=self.stream_arn, ShardId=position.shard_id, ShardIteratorType="TRIM_HORIZON")["ShardIterator"]

    def _records(self, position: ShardPosition, outcome: TableOutcome) -> dict[str, Any]:
        try:
            return self.streams.get_records(ShardIterator=position.iterator, Limit=BATCH_LIMIT)
        except ClientError as err:
            code = _error_code(err)
            if code not in ("ExpiredIteratorException", "TrimmedDataAccessException"):
                raise
            log.info("shard %s: %s; asking for a new iterator from the checkpoint", position.shard_id, code)
        position.iterator = self._iterator(position, outcome)
        return self.streams.get_records(ShardIterator=position.iterator, Limit=BATCH_LIMIT)

    def _archive(self, position: ShardPosition, records: list[Mapping[str, Any]], outcome: TableOutcome) -> None:
        last = records[-1]["dynamodb"]["SequenceNumber"]
        recheck = position.may_be_written(records)
        # An earlier in-flight range may reach beyond this batch: keep it until it is passed.
        through = max(last, position.in_flight_through or last, key=int)
        self.checkpoints.save(self.stream_arn, position.shard_id, in_flight_through=through)
        self.archiver.write_batch(records, outcome, recheck)
        failpoint("dynamodb_archive.written")
        still_in_flight = through if int(through) > int(last) else None
        self.checkpoints.save(self.stream_arn, position.shard_id, sequence_number=last, in_flight_through=still_in_flight,
                              iterator=None, iterator_valid_until=None)
        position.sequence_number, position.in_flight_through = last, still_in_flight
        log.info("%s shard %s: %d records through %s; %d archived so far", outcome.table, position.shard_id,
                 len(records), last, outcome.archived)
