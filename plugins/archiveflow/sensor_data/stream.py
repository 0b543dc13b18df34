"""Reading one shard of a Kinesis data stream with a boto3 client (the provider's KinesisHook.conn).

Two ways: a new batch (after the committed sequence number, at most `max_records`), and a replay of
a batch already decided (exactly `first`..`last`): a retry must see the very records the first
attempt saw, even if more arrived since.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from archiveflow.errors import SafetyRefusal
from archiveflow.sensor_data.readings import StreamRecord
from archiveflow.sensor_data.services import service_unavailable

log = logging.getLogger(__name__)

GET_RECORDS_LIMIT = 10_000
# Kinesis serves at most 5 GetRecords calls per second per shard.
GET_RECORDS_PAUSE_SECONDS = 0.2


def read_new(kinesis, stream: str, shard_id: str, after: str | None, max_records: int) -> list[StreamRecord]:
    """Records after `after` (from the oldest retained record when None), at most `max_records`."""
    position = {"ShardIteratorType": "TRIM_HORIZON"}
    if after is not None:
        position = {"ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "StartingSequenceNumber": after}
    try:
        iterator = kinesis.get_shard_iterator(StreamName=stream, ShardId=shard_id, **position)["ShardIterator"]
    except kinesis.exceptions.InvalidArgumentException:
        # The checkpoint is no longer a position of this shard (the stream was recreated, or the
        # record expired): everything the shard still holds is new to us.
        log.warning("%s/%s: checkpoint %s is not valid any more; reading from the oldest record", stream, shard_id,
                    after)
        iterator = kinesis.get_shard_iterator(StreamName=stream, ShardId=shard_id,
                                              ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    return _drain(kinesis, stream, shard_id, iterator, lambda records: len(records) >= max_records)[:max_records]


def read_range(kinesis, stream: str, shard_id: str, first: str, last: str) -> list[StreamRecord]:
    """Exactly the records `first`..`last`; SafetyRefusal if the stream no longer holds them all."""
    iterator = kinesis.get_shard_iterator(StreamName=stream, ShardId=shard_id, ShardIteratorType="AT_SEQUENCE_NUMBER",
                                          StartingSequenceNumber=first)["ShardIterator"]
    end = int(last)
    records = _drain(kinesis, stream, shard_id, iterator, lambda read: bool(read) and int(read[-1].sequence_number) >= end)
    records = [r for r in records if int(r.sequence_number) <= end]
    if not records or records[0].sequence_number != first or records[-1].sequence_number != last:
        raise SafetyRefusal(
            f"{stream}/{shard_id}: the batch {first}..{last} being processed is no longer in the stream (retention "
            "period passed?); its raw objects may be incomplete. Delete the pending_first/pending_last attributes of "
            "its item in the sensor-checkpoints table to go on from the oldest retained record.")
    return records


def _drain(kinesis, stream: str, shard_id: str, iterator: str | None,
           enough: Callable[[list[StreamRecord]], bool]) -> list[StreamRecord]:
    records: list[StreamRecord] = []
    while iterator and not enough(records):
        response = kinesis.get_records(ShardIterator=iterator, Limit=GET_RECORDS_LIMIT)
        records.extend(_record(stream, shard_id, r) for r in response["Records"])
        caught_up = not response["Records"] and response.get("MillisBehindLatest", 0) == 0
        if caught_up:
            break
        iterator = response.get("NextShardIterator")  # None once a closed shard is read to its end
        time.sleep(GET_RECORDS_PAUSE_SECONDS)
    return records


def _record(stream: str, shard_id: str, record: dict) -> StreamRecord:
    return StreamRecord(stream, shard_id, record["SequenceNumber"], record["PartitionKey"],
                        record["ApproximateArrivalTimestamp"], record["Data"])


def shard_ids(kinesis, stream: str) -> list[str]:
    shards = []
    for page in kinesis.get_paginator("list_shards").paginate(StreamName=stream):
        shards.extend(shard["ShardId"] for shard in page["Shards"])
    return shards


PUT_RECORDS_LIMIT = 500  # records per PutRecords call


def put_records(kinesis, stream: str, records: list[tuple[str, bytes]], attempts: int = 5,
                pause_seconds: float = 0.5) -> list[int]:
    """Put (partition key, data) records, at most PUT_RECORDS_LIMIT; the positions (in `records`) of
    those still not put after `attempts`. Only the records Kinesis refused (throttled) are put again,
    in order: a record it accepted is never put twice (its copy would get a new sequence number)."""
    pending = list(range(len(records)))
    for attempt in range(attempts):
        if attempt:
            time.sleep(pause_seconds * 2 ** (attempt - 1))
        try:
            response = kinesis.put_records(StreamName=stream,
                                           Records=[{"PartitionKey": records[i][0], "Data": records[i][1]} for i in pending])
        except Exception as error:
            if not service_unavailable(error):
                raise
            log.warning("%s: PutRecords failed (%s); %d records to put again", stream, error, len(pending))
            continue  # nothing of that call was put (or, after a dropped connection, unknowably: see aggregates.py)
        pending = [i for i, result in zip(pending, response["Records"], strict=True) if "ErrorCode" in result]
        if not pending:
            break
    return pending
