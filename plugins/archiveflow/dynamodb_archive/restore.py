"""Putting archived items back: choose the archive versions (by key, everything under the table's
prefix, or deleted within a time range; the newest deletion of a key wins), then put each item's
OldImage into the target table without overwriting an item that exists (unless told to).

A key's versions are looked up under its own object key; a whole table's are listed page by page,
one key at a time, never all at once.

Safe to repeat: an item already equal to its archive counts as restored; only an item that exists
with another value is refused.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from botocore.exceptions import ClientError

from archiveflow.dynamodb_archive.keys import object_key
from archiveflow.dynamodb_archive.records import (
    comparable_item,
    deleted_at,
    item_from_archive,
    normalized_number,
)
from archiveflow.dynamodb_archive.restore_request import RestoreRequest
from archiveflow.errors import BadRequest
from archiveflow.failpoints import failpoint

log = logging.getLogger(__name__)

WRITERS = 8


def typed_key(key: Mapping[str, Any], key_types: Mapping[str, str], field: str) -> dict[str, dict[str, Any]]:
    """A conf key (`{"PK": "USER#123", "SK": 5}`) as typed values, checked against the key schema."""
    if set(key) != set(key_types):
        raise BadRequest(field, f"give exactly the table's key attributes {sorted(key_types)}, not {sorted(key)}")
    typed = {}
    for name, kind in key_types.items():
        value = key[name]
        if kind == "B" and isinstance(value, Mapping):
            try:
                typed[name] = {"B": base64.b64decode(value["B"], validate=True)}
            except binascii.Error:
                raise BadRequest(f"{field}.{name}", "not base64") from None
        elif kind == "N" and isinstance(value, int | float) and not isinstance(value, bool):
            typed[name] = {"N": normalized_number(value)}  # 5.0 and 5 name the same item
        elif kind == "S" and isinstance(value, str):
            typed[name] = {"S": value}
        else:
            raise BadRequest(f"{field}.{name}", f"the key attribute is of type {kind}; got {value!r}")
    return typed


def archive_versions(s3, bucket: str, prefix: str) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """(object key, its versions newest first) for each key under `prefix`, as S3 lists them (keys
    in order, a key's versions newest first; LastModified, to the second, could not order two in
    one second). A key's versions may span two pages: it is given once its last one is read."""
    key, versions = None, []
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=prefix):
        for version in page.get("Versions", []):
            if version["Key"] != key and versions:
                yield key, versions
                versions = []
            key = version["Key"]
            versions.append(version)
    if versions:
        yield key, versions


def key_versions(s3, bucket: str, key: str) -> list[dict[str, Any]]:
    """The archived versions of one object key, newest first (keys that merely start with it are
    skipped)."""
    return next((versions for listed, versions in archive_versions(s3, bucket, key) if listed == key), [])


def wanted_keys(request: RestoreRequest, key_names: Sequence[str], key_types: Mapping[str, str]) -> list[str] | None:
    """The object keys the request names (None: all), in request order."""
    if request.keys is None:
        return None
    return [object_key(request.table, key_names, typed_key(k, key_types, f"keys[{i}]"))
            for i, k in enumerate(request.keys)]


def read_document(s3, bucket: str, key: str, version_id: str) -> dict[str, Any]:
    return json.loads(s3.get_object(Bucket=bucket, Key=key, VersionId=version_id)["Body"].read())


def _in_range(moment: dt.datetime, request: RestoreRequest) -> bool:
    return ((request.deleted_after is None or moment >= request.deleted_after)
            and (request.deleted_before is None or moment < request.deleted_before))


def choose_version(s3, bucket: str, versions: list[dict[str, Any]], request: RestoreRequest) -> str | None:
    """The version to restore: the newest deletion (within the time range when one is given)."""
    if request.deleted_after is None and request.deleted_before is None:
        return versions[0]["VersionId"]
    for version in versions:
        if request.deleted_after and version["LastModified"] < request.deleted_after:
            return None  # archived before the range began, so deleted before it too
        document = read_document(s3, bucket, version["Key"], version["VersionId"])
        if _in_range(deleted_at(document), request):
            return version["VersionId"]
    return None


def plan(s3, bucket: str, request: RestoreRequest, key_names: Sequence[str],
         key_types: Mapping[str, str]) -> list[dict[str, str]]:
    """[{key, version_id}] to restore. A requested key with no archive is a BadRequest naming it."""
    wanted = wanted_keys(request, key_names, key_types)
    if wanted is None:
        candidates: Iterable[tuple[str, list[dict[str, Any]]]] = archive_versions(s3, bucket, f"{request.table}/")
    else:
        unique = list(dict.fromkeys(wanted))
        with ThreadPoolExecutor(max_workers=WRITERS) as pool:
            found = dict(zip(unique, pool.map(lambda key: key_versions(s3, bucket, key), unique), strict=True))
        for index, key in enumerate(wanted):
            if not found[key]:
                raise BadRequest(f"keys[{index}]", f"no archived item s3://{bucket}/{key}")
        candidates = found.items()
    chosen = ((key, choose_version(s3, bucket, versions, request)) for key, versions in candidates)
    return [{"key": key, "version_id": version} for key, version in chosen if version is not None]


class ItemRestorer:
    """Puts archived items into `target` through a boto3 DynamoDB client."""

    def __init__(self, s3, dynamodb, bucket: str, target: str, key_names: Sequence[str], overwrite: bool):
        self.s3, self.dynamodb = s3, dynamodb
        self.bucket, self.target, self.key_names, self.overwrite = bucket, target, tuple(key_names), overwrite

    def restore_all(self, entries: Iterable[Mapping[str, str]]) -> dict[str, Any]:
        outcome: dict[str, Any] = {"restored": 0, "already_present": 0, "refused": []}
        with ThreadPoolExecutor(max_workers=WRITERS) as pool:
            for key, result in pool.map(self.restore_one, entries):
                if result == "refused":
                    outcome["refused"].append(key)
                else:
                    outcome[result] += 1
        return outcome

    def restore_one(self, entry: Mapping[str, str]) -> tuple[str, str]:
        document = read_document(self.s3, self.bucket, entry["key"], entry["version_id"])
        item = item_from_archive(document["dynamodb"]["OldImage"])
        condition = {} if self.overwrite else {
            "ConditionExpression": "attribute_not_exists(#pk)", "ExpressionAttributeNames": {"#pk": self.key_names[0]}}
        try:
            self.dynamodb.put_item(TableName=self.target, Item=item, **condition)
            failpoint("dynamodb_archive.item_restored")
            return entry["key"], "restored"
        except ClientError as err:
            if err.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
        key = {name: item[name] for name in self.key_names}
        existing = self.dynamodb.get_item(TableName=self.target, Key=key, ConsistentRead=True).get("Item")
        if existing is not None and comparable_item(existing) == comparable_item(item):
            return entry["key"], "already_present"
        log.warning("not overwriting %s in %s: it exists with another value", entry["key"], self.target)
        return entry["key"], "refused"
