"""The redrive on an in-memory versioned S3: a dead-lettered record is archived once, its
dead-letter copy removed, and a later deletion of the same key stays the current version."""

from __future__ import annotations

import io
import json

from botocore.exceptions import ClientError

from archiveflow.dynamodb_archive.archive import dead_letter_key
from archiveflow.dynamodb_archive.records import archive_body
from archiveflow.dynamodb_archive.redrive import Redriver, dead_letter_keys


class VersionedS3:
    def __init__(self):
        self.versions: dict[str, list[tuple[str, bytes, dict]]] = {}  # key -> [(version id, body, metadata)], oldest first

    def put_object(self, Bucket, Key, Body, ContentType, Metadata=None):
        history = self.versions.setdefault(Key, [])
        history.append((f"v{sum(map(len, self.versions.values()))}", Body, Metadata or {}))

    def _version(self, key, version_id=None):
        history = self.versions.get(key) or []
        found = [v for v in history if version_id in (None, v[0])]
        if not found:
            raise ClientError({"Error": {"Code": "404"}}, "HeadObject")
        return found[-1]

    def head_object(self, Bucket, Key):
        version_id, _, metadata = self._version(Key)
        return {"VersionId": version_id, "Metadata": metadata}

    def get_object(self, Bucket, Key, VersionId=None):
        return {"Body": io.BytesIO(self._version(Key, VersionId)[1])}

    def copy_object(self, Bucket, Key, CopySource):
        _, body, metadata = self._version(CopySource["Key"], CopySource["VersionId"])
        self.put_object(Bucket, Key, body, "application/json", metadata)

    def delete_object(self, Bucket, Key):
        self.versions.pop(Key)

    def get_paginator(self, name):
        s3 = self

        class Paginator:
            def paginate(self, Bucket, Prefix):
                yield {"Contents": [{"Key": k} for k in sorted(s3.versions) if k.startswith(Prefix)]}

        return Paginator()

    def current(self, key) -> dict:
        return json.loads(self._version(key)[1])


def document(event_id: str, seconds: int, value: str) -> dict:
    return {"eventID": event_id, "eventName": "REMOVE",
            "dynamodb": {"ApproximateCreationDateTime": seconds, "Keys": {"PK": {"S": "k"}},
                         "OldImage": {"PK": {"S": "k"}, "v": {"S": value}}},
            "archiveflow": {"table": "Orders", "objectKey": "Orders/PK_k.json", "removedBy": "delete"}}


def dead_letter(s3, doc: dict) -> str:
    held = dead_letter_key("Orders", doc["eventID"])
    s3.put_object("b", held, archive_body({"objectKey": "Orders/PK_k.json", "error": "x", "record": doc}), "")
    return held


def test_a_redriven_older_deletion_is_archived_and_the_newer_one_stays_current():
    s3 = VersionedS3()
    newer = document("ev2", 2_000, "second")
    s3.put_object("b", "Orders/PK_k.json", archive_body(newer), "", {"event-id": "ev2"})
    held = dead_letter(s3, document("ev1", 1_000, "first"))
    assert list(dead_letter_keys(s3, "b", ["Orders"])) == [held]

    assert Redriver(s3, "b").redrive(held) == "archived"
    values = [json.loads(body)["dynamodb"]["OldImage"]["v"]["S"] for _, body, _ in s3.versions["Orders/PK_k.json"]]
    assert values == ["second", "first", "second"]  # both deletions kept, the newest current
    assert s3.current("Orders/PK_k.json")["eventID"] == "ev2" and list(dead_letter_keys(s3, "b", None)) == []


def test_a_record_already_archived_is_not_written_twice():
    s3 = VersionedS3()
    doc = document("ev1", 1_000, "first")
    s3.put_object("b", "Orders/PK_k.json", archive_body(doc), "", {"event-id": "ev1"})
    assert Redriver(s3, "b").redrive(dead_letter(s3, doc)) == "already_archived"
    assert len(s3.versions["Orders/PK_k.json"]) == 1
