"""Archived documents: the stream record as-is (JSON-safe), TTL deletions marked, images back to items."""

import base64
import datetime as dt
import json

from archiveflow.dynamodb_archive.records import (
    archive_body,
    archive_document,
    deleted_at,
    item_from_archive,
    removed_by_ttl,
)

STREAM_ARN = "arn:aws:dynamodb:us-east-1:123456789012:table/Music/stream/2026-11-30T00:00:00.000"


def remove_record(user_identity=None) -> dict:
    """A REMOVE record as boto3's dynamodbstreams client returns it (AWS docs' shape)."""
    record = {
        "eventID": "c81e728d9d4c2f636f067f89cc14862c", "eventName": "REMOVE", "eventVersion": "1.1",
        "eventSource": "aws:dynamodb", "awsRegion": "us-east-1",
        "dynamodb": {
            "ApproximateCreationDateTime": dt.datetime(2026, 11, 30, 12, 0, 5, tzinfo=dt.UTC),
            "Keys": {"PK": {"S": "USER#123"}, "SK": {"S": "PROFILE"}},
            "OldImage": {"PK": {"S": "USER#123"}, "SK": {"S": "PROFILE"}, "blob": {"B": b"\x00\x01"},
                         "bins": {"BS": [b"a", b"b"]}, "n": {"N": "1.5"}, "ns": {"NS": ["1", "2"]},
                         "tags": {"SS": ["x"]}, "m": {"M": {"inner": {"B": b"\xff"}, "l": {"L": [{"NULL": True}]}}},
                         "ok": {"BOOL": False}, "expires": {"N": "1764500000"}},
            "SequenceNumber": "111", "SizeBytes": 120, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    }
    if user_identity:
        record["userIdentity"] = user_identity
    return record


def test_a_ttl_removal_is_marked():
    ttl = remove_record({"type": "Service", "principalId": "dynamodb.amazonaws.com"})
    document = archive_document(ttl, "Music", STREAM_ARN, "Music/PK_USER#123_SK_PROFILE.json")
    assert removed_by_ttl(ttl) and document["archiveflow"]["removedBy"] == "ttl"
    assert document["userIdentity"] == {"type": "Service", "principalId": "dynamodb.amazonaws.com"}


def test_a_delete_by_a_caller_is_not_marked_ttl():
    for record in (remove_record(), remove_record({"type": "Service", "principalId": "other.amazonaws.com"})):
        assert not removed_by_ttl(record)
        assert archive_document(record, "Music", STREAM_ARN, "k")["archiveflow"]["removedBy"] == "delete"


def test_the_document_is_the_full_record_in_the_seeds_format():
    document = json.loads(archive_body(archive_document(remove_record(), "Music", STREAM_ARN, "k")))
    assert {"eventID", "eventName", "eventVersion", "eventSource", "awsRegion", "dynamodb"} <= set(document)
    assert document["eventSourceARN"] == STREAM_ARN
    assert document["dynamodb"]["ApproximateCreationDateTime"] == 1796040005  # 2026-11-30T12:00:05Z in epoch seconds
    assert document["dynamodb"]["Keys"] == {"PK": {"S": "USER#123"}, "SK": {"S": "PROFILE"}}
    assert document["dynamodb"]["OldImage"]["blob"] == {"B": base64.b64encode(b"\x00\x01").decode()}
    assert deleted_at(document) == dt.datetime(2026, 11, 30, 12, 0, 5, tzinfo=dt.UTC)


def test_an_archived_image_comes_back_as_the_typed_item():
    record = remove_record()
    document = json.loads(archive_body(archive_document(record, "Music", STREAM_ARN, "k")))
    assert item_from_archive(document["dynamodb"]["OldImage"]) == record["dynamodb"]["OldImage"]
