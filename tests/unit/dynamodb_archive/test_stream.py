"""Stream reading on AWS-documented shapes the emulator cannot produce: shard lineage (splits,
closed shards, trimmed parents), iterator expiry, trimmed data (TrimmedDataAccessException),
restarts mid-batch, Time to Live removals, and the dead-letter path. The streams client, S3 and
the checkpoints table are in-memory fakes; the reader and the archiver are the real ones."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from botocore.exceptions import ClientError, ReadTimeoutError

from archiveflow.dynamodb_archive.archive import ArchiveTarget, RecordArchiver, TableOutcome
from archiveflow.dynamodb_archive.shards import lineage_order
from archiveflow.dynamodb_archive.stream import StreamReader
from archiveflow.errors import TransientServiceError

ARN = "arn:aws:dynamodb:us-east-1:123456789012:table/Orders/stream/2026-11-30T00:00:00.000"
TTL = {"type": "Service", "principalId": "dynamodb.amazonaws.com"}


def client_error(code: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": code}}, "op")


def record(seq: int, name: str = "REMOVE", pk: str | None = None, identity: dict | None = None) -> dict:
    pk = pk or f"order-{seq}"
    rec = {"eventID": f"ev{seq}", "eventName": name, "eventVersion": "1.1", "eventSource": "aws:dynamodb",
           "awsRegion": "us-east-1",
           "dynamodb": {"ApproximateCreationDateTime": dt.datetime(2026, 11, 30, tzinfo=dt.UTC),
                        "Keys": {"PK": {"S": pk}}, "OldImage": {"PK": {"S": pk}, "seq": {"N": str(seq)}},
                        "SequenceNumber": str(seq).zfill(21), "SizeBytes": 30,
                        "StreamViewType": "NEW_AND_OLD_IMAGES"}}
    if identity:
        rec["userIdentity"] = identity
    return rec


class FakeStreams:
    """DynamoDB Streams over shards {id: {"records": [...], "closed": bool, "parent": id | None}}.
    `trimmed_below`: sequence numbers below it are gone; `expire_after_reads`: get_records raises
    ExpiredIteratorException once, after that many successful reads."""

    def __init__(self, shards: dict, page: int = 2, trimmed_below: int = 0, expire_after_reads: int | None = None):
        self.shards, self.page, self.trimmed_below = shards, page, trimmed_below
        self.expire_after_reads, self.reads = expire_after_reads, 0

    def describe_stream(self, StreamArn):
        shards = []
        for shard_id, shard in self.shards.items():
            seqs = [int(r["dynamodb"]["SequenceNumber"]) for r in shard["records"]] or [0]
            rng = {"StartingSequenceNumber": str(min(seqs))}
            if shard["closed"]:
                rng["EndingSequenceNumber"] = str(max(seqs))
            shards.append({"ShardId": shard_id, "SequenceNumberRange": rng,
                           **({"ParentShardId": shard["parent"]} if shard.get("parent") else {})})
        return {"StreamDescription": {"StreamArn": StreamArn, "Shards": shards}}

    def _live(self, shard_id):
        return [r for r in self.shards[shard_id]["records"]
                if int(r["dynamodb"]["SequenceNumber"]) >= self.trimmed_below]

    def get_shard_iterator(self, StreamArn, ShardId, ShardIteratorType, SequenceNumber=None):
        if ShardIteratorType == "TRIM_HORIZON":
            return {"ShardIterator": f"{ShardId}|0"}
        if int(SequenceNumber) < self.trimmed_below - 1:
            raise client_error("TrimmedDataAccessException")
        live = self._live(ShardId)
        position = sum(1 for r in live if int(r["dynamodb"]["SequenceNumber"]) <= int(SequenceNumber))
        return {"ShardIterator": f"{ShardId}|{position}"}

    def get_records(self, ShardIterator, Limit):
        if self.expire_after_reads is not None and self.reads == self.expire_after_reads:
            self.expire_after_reads = None
            raise client_error("ExpiredIteratorException")
        self.reads += 1
        shard_id, position = ShardIterator.split("|")
        live, position = self._live(shard_id), int(position)
        records = live[position:position + min(Limit, self.page)]
        end = position + len(records)
        at_end = self.shards[shard_id]["closed"] and end >= len(live)
        return {"Records": records, **({} if at_end else {"NextShardIterator": f"{shard_id}|{end}"})}


class FakeCheckpoints:
    def __init__(self, items: dict | None = None):
        self.items = items or {}

    def for_stream(self, stream_arn):
        """Items of one stream (shard ids are unique across these tests); a table's ledger of older
        streams apart."""
        ledger = stream_arn.startswith("table:")
        return {k: dict(v) for k, v in self.items.items() if (k == "older-streams") == ledger}

    def save(self, stream_arn, shard_id, **attributes):
        item = self.items.setdefault(shard_id, {"shard_id": shard_id})
        for name, value in attributes.items():
            if value is None:
                item.pop(name, None)
            else:
                item[name] = value


class FakeS3:
    """Versioned: every put is kept, in order. `failing` keys fail every put."""

    def __init__(self, failing: str = "x^", error: str = "InternalError"):
        self.puts: list[tuple[str, dict]] = []
        self.failing, self.error = failing, error

    def put_object(self, Bucket, Key, Body, ContentType, Metadata=None):
        if self.failing in Key:
            raise client_error(self.error)
        self.puts.append((Key, {"body": json.loads(Body), "metadata": Metadata or {}}))

    def head_object(self, Bucket, Key):
        versions = [p for k, p in self.puts if k == Key]
        if not versions:
            raise client_error("404")
        return {"Metadata": versions[-1]["metadata"]}

    def keys(self) -> list[str]:
        return [k for k, _ in self.puts]


def read(streams, checkpoints=None, s3=None, deadline=float("inf"), dead=None):
    s3 = s3 or FakeS3()
    checkpoints = checkpoints or FakeCheckpoints()
    dead = dead if dead is not None else []
    archiver = RecordArchiver(s3, ArchiveTarget("Orders", ("PK",), ARN, "bucket"), dead.append, retry_delays=())
    outcome = StreamReader(streams, checkpoints, archiver, ARN, deadline).run(TableOutcome("Orders"))
    return outcome, s3, checkpoints


def test_lineage_order_puts_parents_before_children_on_awss_shapes():
    shards = [  # a split: the parent closed, two children; one child has split again; a root whose parent was trimmed
        {"ShardId": "shardId-c2", "ParentShardId": "shardId-p", "SequenceNumberRange": {"StartingSequenceNumber": "300"}},
        {"ShardId": "shardId-g1", "ParentShardId": "shardId-c1", "SequenceNumberRange": {"StartingSequenceNumber": "400"}},
        {"ShardId": "shardId-c1", "ParentShardId": "shardId-p",
         "SequenceNumberRange": {"StartingSequenceNumber": "200", "EndingSequenceNumber": "399"}},
        {"ShardId": "shardId-p", "ParentShardId": "shardId-trimmed",
         "SequenceNumberRange": {"StartingSequenceNumber": "100", "EndingSequenceNumber": "199"}},
    ]
    assert [s["ShardId"] for s in lineage_order(shards)] == ["shardId-p", "shardId-c1", "shardId-c2", "shardId-g1"]


def test_parent_shard_is_read_to_its_end_before_its_children():
    streams = FakeStreams({
        "child": {"records": [record(5), record(6)], "closed": False, "parent": "parent"},
        "parent": {"records": [record(1), record(2, "INSERT"), record(3)], "closed": True},
    })
    outcome, s3, checkpoints = read(streams)
    assert s3.keys() == ["Orders/PK_order-1.json", "Orders/PK_order-3.json", "Orders/PK_order-5.json",
                         "Orders/PK_order-6.json"]
    assert checkpoints.items["parent"]["finished"] is True
    assert checkpoints.items["child"]["sequence_number"] == str(6).zfill(21)
    assert (outcome.records_read, outcome.removes, outcome.archived, outcome.shards_finished) == (5, 4, 4, 1)


def test_a_child_waits_while_its_parent_is_unfinished():
    streams = FakeStreams({"parent": {"records": [record(1), record(2)], "closed": True},
                           "child": {"records": [record(5)], "closed": False, "parent": "parent"}})
    checkpoints = FakeCheckpoints({"parent": {"shard_id": "parent", "sequence_number": str(1).zfill(21)}})
    def clock():  # the budget runs out after the parent's first page
        return 10 if streams.reads else 0

    reader_outcome = TableOutcome("Orders")
    s3 = FakeS3()
    archiver = RecordArchiver(s3, ArchiveTarget("Orders", ("PK",), ARN, "b"), [].append, retry_delays=())
    StreamReader(streams, checkpoints, archiver, ARN, deadline=5, clock=clock).run(reader_outcome)
    assert s3.keys() == ["Orders/PK_order-2.json"]
    assert "child" not in checkpoints.items and reader_outcome.stopped_early


def test_finished_shards_are_not_read_again_and_a_second_run_writes_nothing():
    streams = FakeStreams({"parent": {"records": [record(1)], "closed": True},
                           "open": {"records": [record(2), record(3)], "closed": False, "parent": "parent"}})
    _, s3, checkpoints = read(streams)
    again, s3_again, _ = read(streams, checkpoints)
    assert len(s3.keys()) == 3 and s3_again.keys() == [] and again.records_read == 0


def test_an_expired_iterator_is_renewed_from_the_checkpoint_without_loss_or_duplicates():
    streams = FakeStreams({"s": {"records": [record(i) for i in range(1, 8)], "closed": True}}, expire_after_reads=2)
    outcome, s3, checkpoints = read(streams)
    assert s3.keys() == [f"Orders/PK_order-{i}.json" for i in range(1, 8)]
    assert checkpoints.items["s"]["finished"] is True and outcome.gaps == []


def test_a_checkpoint_older_than_the_retention_is_a_loud_gap_and_reading_goes_on(caplog):
    streams = FakeStreams({"s": {"records": [record(i) for i in range(1, 11)], "closed": False}}, trimmed_below=8)
    checkpoints = FakeCheckpoints({"s": {"shard_id": "s", "sequence_number": str(3).zfill(21)}})
    outcome, s3, _ = read(streams, checkpoints)
    assert s3.keys() == [f"Orders/PK_order-{i}.json" for i in (8, 9, 10)]
    [gap] = outcome.gaps
    assert "GAP" in gap and "trimmed" in gap and str(3).zfill(21) in gap
    assert any(r.levelname == "ERROR" and "GAP" in r.getMessage() for r in caplog.records)


def test_a_shard_that_left_the_stream_unfinished_is_reported_once():
    streams = FakeStreams({"new": {"records": [record(9)], "closed": False}})
    checkpoints = FakeCheckpoints({"old": {"shard_id": "old", "sequence_number": "5"}})
    outcome, _, _ = read(streams, checkpoints)
    assert len(outcome.gaps) == 1 and "old" in outcome.gaps[0]
    assert read(streams, checkpoints)[0].gaps == []


def test_a_restart_mid_batch_does_not_write_a_record_twice():
    """A run wrote some of a batch, then died before its checkpoint moved: the retry re-reads the
    batch and skips what is already in S3 (a re-created and re-deleted key still gets its version)."""
    streams = FakeStreams({"s": {"records": [record(1), record(2), record(3, pk="order-1")], "closed": True}}, page=10)
    s3 = FakeS3()
    first = RecordArchiver(s3, ArchiveTarget("Orders", ("PK",), ARN, "b"), [].append, retry_delays=())
    first.write_batch([record(1)], TableOutcome("Orders"), recheck=False)  # written before the crash
    checkpoints = FakeCheckpoints({"s": {"shard_id": "s", "in_flight_through": str(3).zfill(21)}})
    outcome, _, checkpoints = read(streams, checkpoints, s3)
    assert sorted(p["metadata"]["event-id"] for _, p in s3.puts) == ["ev1", "ev2", "ev3"]
    assert [p["metadata"]["event-id"] for k, p in s3.puts if k == "Orders/PK_order-1.json"] == ["ev1", "ev3"]
    assert (outcome.archived, outcome.already_archived) == (2, 1)


def test_a_restart_after_a_key_was_written_twice_keeps_its_newest_version_current():
    streams = FakeStreams({"s": {"records": [record(1), record(2)], "closed": True}}, page=10)
    s3 = FakeS3()
    first = RecordArchiver(s3, ArchiveTarget("Orders", ("PK",), ARN, "b"), [].append, retry_delays=())
    first.write_batch([record(1, pk="k"), record(2, pk="k")], TableOutcome("Orders"), recheck=False)
    streams.shards["s"]["records"] = [record(1, pk="k"), record(2, pk="k")]
    checkpoints = FakeCheckpoints({"s": {"shard_id": "s", "in_flight_through": str(2).zfill(21)}})
    outcome, _, _ = read(streams, checkpoints, s3)
    assert [p["metadata"]["event-id"] for _, p in s3.puts] == ["ev1", "ev2"]  # nothing rewritten
    assert (outcome.archived, outcome.already_archived) == (0, 2)
    assert "in_flight_through" not in checkpoints.items["s"]


def test_ttl_removals_are_counted_and_marked():
    streams = FakeStreams({"s": {"records": [record(1, identity=TTL), record(2)], "closed": False}})
    outcome, s3, _ = read(streams)
    assert outcome.ttl_removes == 1
    assert [p["body"]["archiveflow"]["removedBy"] for _, p in s3.puts] == ["ttl", "delete"]


def test_a_transient_s3_failure_fails_the_task_and_keeps_the_checkpoint_before_the_record():
    """An S3 outage (InternalError on every try) must not dead-letter the record and move on: the
    task fails, the checkpoint stays before the unwritten record, and the next run writes it."""
    streams = FakeStreams({"s": {"records": [record(1), record(2, pk="bad"), record(3)], "closed": False}}, page=1)
    dead: list[str] = []
    s3 = FakeS3(failing="bad")
    with pytest.raises(TransientServiceError, match="PK_bad.json could not be written after 5 attempts"):
        read(streams, s3=s3, dead=dead)
    checkpoints = FakeCheckpoints()
    with pytest.raises(TransientServiceError):
        read(streams, checkpoints, s3=s3, dead=dead)
    assert dead == [] and checkpoints.items["s"]["sequence_number"] == str(1).zfill(21)
    assert checkpoints.items["s"]["in_flight_through"] == str(2).zfill(21)

    s3.failing = "x^"  # the service is back
    outcome, _, _ = read(streams, checkpoints, s3=s3, dead=dead)
    assert sorted(set(s3.keys())) == ["Orders/PK_bad.json", "Orders/PK_order-1.json", "Orders/PK_order-3.json"]
    assert dead == [] and outcome.archived == 2


def test_only_a_record_s3_refuses_for_good_is_dead_lettered_with_its_full_record_in_s3():
    big = record(1, pk="bad")
    big["dynamodb"]["OldImage"]["blob"] = {"S": "x" * 390_000}  # a 400 KB item: larger than an SQS message
    streams = FakeStreams({"s": {"records": [big, record(2)], "closed": False}})
    dead: list[str] = []
    outcome, s3, checkpoints = read(streams, s3=FakeS3(failing="PK_bad", error="KeyTooLongError"), dead=dead)
    [message] = [json.loads(d) for d in dead]
    assert len(dead[0]) < 1024 and message["objectKey"] == "Orders/PK_bad.json" and "KeyTooLongError" in message["error"]
    held = dict(s3.puts)[message["deadLetterKey"]]["body"]
    assert message["deadLetterKey"] == "~dead-letter/Orders/ev1.json"
    assert held["record"]["dynamodb"]["OldImage"]["blob"]["S"] == "x" * 390_000  # the only copy, whole
    assert held["objectKey"] == "Orders/PK_bad.json"
    assert "Orders/PK_order-2.json" in s3.keys() and outcome.dead_lettered == 1
    assert outcome.dead_letter_sample[0]["object_key"] == "Orders/PK_bad.json"
    assert checkpoints.items["s"]["sequence_number"] == str(2).zfill(21)


def test_thousands_of_dead_letters_keep_the_outcome_small():
    outcome = TableOutcome("Orders")
    for i in range(5000):
        outcome.add_dead_letters([{"object_key": f"Orders/PK_{i}.json", "event_id": f"ev{i}", "error": "x" * 100}])
    assert outcome.dead_lettered == 5000 and len(json.dumps(outcome.as_dict())) < 8_000


class LandedButTimedOut(FakeS3):
    """The first put of each key is stored, then answers with a read timeout (the request was sent)."""

    def put_object(self, Bucket, Key, **kwargs):
        super().put_object(Bucket, Key, **kwargs)
        if self.keys().count(Key) == 1:
            raise ReadTimeoutError(endpoint_url=f"https://{Bucket}.s3.amazonaws.com/{Key}")


def test_a_write_that_timed_out_but_landed_is_not_written_again():
    streams = FakeStreams({"s": {"records": [record(1), record(2)], "closed": True}})
    outcome, s3, _ = read(streams, s3=LandedButTimedOut())
    assert s3.keys() == ["Orders/PK_order-1.json", "Orders/PK_order-2.json"] and outcome.archived == 2


def test_unexpected_stream_errors_are_raised_for_the_task_to_retry():
    class Throttled(FakeStreams):
        def get_records(self, ShardIterator, Limit):
            raise client_error("LimitExceededException")

    with pytest.raises(ClientError):
        read(Throttled({"s": {"records": [record(1)], "closed": False}}))


# --- On botocore's Stubber: a real DynamoDB Streams client answering AWS-documented shapes --------

PARENT = "shardId-00000001764460800000-0a1b2c3d"
CHILD = "shardId-00000001764475200000-1b2c3d4e"
CLOSED = "shardId-00000001764460800000-2c3d4e5f"
OPEN = "shardId-00000001764460800000-3d4e5f60"
OLD = "shardId-00000001764374400000-4e5f6071"
NEW = "shardId-00000001764460800000-5f607182"
OLD_ARN = "arn:aws:dynamodb:us-east-1:123456789012:table/Orders/stream/2026-11-29T00:00:00.000"


@pytest.fixture
def stubbed(stub):
    return stub("dynamodbstreams")


def shard(shard_id: str, start: int, end: int | None = None, parent: str | None = None) -> dict:
    rng = {"StartingSequenceNumber": str(start).zfill(21)}
    if end is not None:
        rng["EndingSequenceNumber"] = str(end).zfill(21)
    return {"ShardId": shard_id, "SequenceNumberRange": rng, **({"ParentShardId": parent} if parent else {})}


def describe(stubber, shards: list[dict], arn: str = ARN) -> None:
    stubber.add_response("describe_stream", {"StreamDescription": {"StreamArn": arn, "StreamStatus": "ENABLED",
                                                                   "Shards": shards}}, {"StreamArn": arn})


def iterator(stubber, shard_id: str, name: str, arn: str = ARN, **position) -> None:
    position = position or {"ShardIteratorType": "TRIM_HORIZON"}
    stubber.add_response("get_shard_iterator", {"ShardIterator": name},
                         {"StreamArn": arn, "ShardId": shard_id, **position})


def pages(stubber, first: str, contents: list[list[dict]], closed: bool) -> str:
    """get_records answers from iterator `first` on, one page per list; the shard's last page has
    no NextShardIterator when it is closed. Returns the iterator after the last page (open shard)."""
    current = first
    for index, records in enumerate(contents):
        following = f"{first}+{index + 1}"
        last = closed and index == len(contents) - 1
        stubber.add_response("get_records", {"Records": records, **({} if last else {"NextShardIterator": following})},
                             {"ShardIterator": current, "Limit": 1000})
        current = following
    return current


def stub_read(client, checkpoints=None, s3=None):
    s3, checkpoints = s3 or FakeS3(), checkpoints or FakeCheckpoints()
    archiver = RecordArchiver(s3, ArchiveTarget("Orders", ("PK",), ARN, "bucket"), [].append, retry_delays=())
    outcome = StreamReader(client, checkpoints, archiver, ARN, float("inf")).run(TableOutcome("Orders"))
    return outcome, s3, checkpoints


def test_a_closed_shard_is_followed_through_empty_pages_until_no_next_iterator(stubbed):
    client, stubber = stubbed
    describe(stubber, [shard(CLOSED, 1, 9)])
    iterator(stubber, CLOSED, "it")
    pages(stubber, "it", [[record(1)], [], [], [], [], [record(9)]], closed=True)
    outcome, s3, checkpoints = stub_read(client)
    assert s3.keys() == ["Orders/PK_order-1.json", "Orders/PK_order-9.json"]
    assert checkpoints.items[CLOSED]["finished"] is True and outcome.shards_finished == 1


def test_progress_through_empty_pages_is_kept_for_the_next_run(stubbed):
    client, stubber = stubbed
    describe(stubber, [shard(OPEN, 1)])
    iterator(stubber, OPEN, "it")
    tip = pages(stubber, "it", [[record(1)], [], [], []], closed=False)  # three empty pages: the tip, for now
    _, s3, checkpoints = stub_read(client)
    assert checkpoints.items[OPEN]["iterator"] == tip and s3.keys() == ["Orders/PK_order-1.json"]

    describe(stubber, [shard(OPEN, 1)])  # next run: on from the kept iterator, not from record 1 again
    pages(stubber, tip, [[record(2)], [], [], []], closed=False)
    _, s3, checkpoints = stub_read(client, checkpoints, s3)
    assert s3.keys() == ["Orders/PK_order-1.json", "Orders/PK_order-2.json"]


def test_an_expired_kept_iterator_falls_back_to_the_checkpointed_record(stubbed):
    client, stubber = stubbed
    checkpoints = FakeCheckpoints({OPEN: {"shard_id": OPEN, "sequence_number": str(1).zfill(21),
                                            "iterator": "stale", "iterator_valid_until": "2026-01-01T00:00:00+00:00"}})
    describe(stubber, [shard(OPEN, 1)])
    iterator(stubber, OPEN, "fresh", ShardIteratorType="AFTER_SEQUENCE_NUMBER", SequenceNumber=str(1).zfill(21))
    pages(stubber, "fresh", [[record(2)], [], [], []], closed=False)
    _, s3, _ = stub_read(client, checkpoints)
    assert s3.keys() == ["Orders/PK_order-2.json"]


def test_a_closed_parent_with_empty_pages_does_not_hold_its_child_back(stubbed):
    """Before, three empty pages ended the parent unfinished, run after run: its child waited until
    its oldest records left the stream's 24 h."""
    client, stubber = stubbed
    describe(stubber, [shard(PARENT, 1, 5), shard(CHILD, 6, parent=PARENT)])
    iterator(stubber, PARENT, "p")
    pages(stubber, "p", [[], [], [], [record(5)]], closed=True)
    iterator(stubber, CHILD, "c")
    pages(stubber, "c", [[record(6)], [], [], []], closed=False)
    _, s3, checkpoints = stub_read(client)
    assert s3.keys() == ["Orders/PK_order-5.json", "Orders/PK_order-6.json"]
    assert checkpoints.items[PARENT]["finished"] is True


def test_a_re_enabled_stream_s_old_records_are_read_to_the_end_before_the_new_stream(stubbed):
    """Disabling and enabling a stream gives a new LatestStreamArn; the old stream stays readable
    for 24 h and its unread records are archived first."""
    from archiveflow.dynamodb_archive.stream import read_table_streams

    client, stubber = stubbed
    stubber.add_response("list_streams", {"Streams": [
        {"StreamArn": ARN, "TableName": "Orders", "StreamLabel": "2026-11-30T00:00:00.000"},
        {"StreamArn": OLD_ARN, "TableName": "Orders", "StreamLabel": "2026-11-29T00:00:00.000"}]},
        {"TableName": "Orders"})
    describe(stubber, [shard(OLD, 1, 3)], OLD_ARN)
    iterator(stubber, OLD, "o", OLD_ARN, ShardIteratorType="AFTER_SEQUENCE_NUMBER", SequenceNumber=str(1).zfill(21))
    pages(stubber, "o", [[record(2)], [record(3)]], closed=True)
    describe(stubber, [shard(NEW, 10)])
    iterator(stubber, NEW, "n")
    pages(stubber, "n", [[record(10)], [], [], []], closed=False)
    checkpoints = FakeCheckpoints({OLD: {"shard_id": OLD, "sequence_number": str(1).zfill(21)}})
    s3 = FakeS3()

    def archiver_for(stream_arn):
        return RecordArchiver(s3, ArchiveTarget("Orders", ("PK",), stream_arn, "b"), [].append, retry_delays=())

    outcome = read_table_streams(client, checkpoints, archiver_for, "Orders", ARN, float("inf"))
    assert s3.keys() == ["Orders/PK_order-2.json", "Orders/PK_order-3.json", "Orders/PK_order-10.json"]
    assert [body["body"]["eventSourceARN"] for _, body in s3.puts] == [OLD_ARN, OLD_ARN, ARN]
    assert outcome.archived == 3 and outcome.shards_finished == 1
    assert "older-streams" not in checkpoints.items  # the old stream is done: nothing left to remember


def test_an_older_stream_that_left_unfinished_is_a_loud_gap(stubbed, caplog):
    from archiveflow.dynamodb_archive.stream import read_table_streams

    client, stubber = stubbed
    stubber.add_response("list_streams", {"Streams": [{"StreamArn": ARN, "TableName": "Orders"}]},
                         {"TableName": "Orders"})
    describe(stubber, [shard(NEW, 10)])
    iterator(stubber, NEW, "n")
    pages(stubber, "n", [[], [], []], closed=False)
    checkpoints = FakeCheckpoints({"older-streams": {"shard_id": "older-streams", "unfinished": [OLD_ARN]}})
    archiver = RecordArchiver(FakeS3(), ArchiveTarget("Orders", ("PK",), ARN, "b"), [].append, retry_delays=())
    outcome = read_table_streams(client, checkpoints, lambda arn: archiver, "Orders", ARN, float("inf"))
    [gap] = outcome.gaps
    assert "GAP" in gap and OLD_ARN in gap and "before it was read to its end" in gap
    assert checkpoints.items["older-streams"]["unfinished"] == []  # reported once
