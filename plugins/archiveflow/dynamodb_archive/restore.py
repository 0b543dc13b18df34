"""Putting archived items back: choose the archive versions (by key, everything under the table's
prefix, or deleted within a time range; the newest deletion of a key wins), then put each item's
OldImage into the target table without overwriting an item that exists (unless told to).

Safe to repeat: an item already equal to its archive counts as restored; only an item that exists
with another value is refused.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from botocore.exceptions import ClientError

from archiveflow.dynamodb_archive.keys import object_key
from archiveflow.dynamodb_archive.records import deleted_at, item_from_archive
from archiveflow.dynamodb_archive.restore_request import RestoreRequest
from archiveflow.errors import BadRequest

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
            typed[name] = {"N": str(value)}
        elif kind == "S" and isinstance(value, str):
            typed[name] = {"S": value}
        else:
            raise BadRequest(f"{field}.{name}", f"the key attribute is of type {kind}; got {value!r}")
    return typed


def archive_versions(s3, bucket: str, table: str) -> dict[str, list[dict[str, Any]]]:
    """Every archived version under `<table>/`, per object key, newest first (S3 lists a key's
    versions newest first; LastModified, to the second, could not order two in one second)."""
    versions: dict[str, list[dict[str, Any]]] = {}
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=f"{table}/"):
        for version in page.get("Versions", []):
            versions.setdefault(version["Key"], []).append(version)
    return versions


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
    versions = archive_versions(s3, bucket, request.table)
    wanted = wanted_keys(request, key_names, key_types)
    if wanted is not None:
        for index, key in enumerate(wanted):
            if key not in versions:
                raise BadRequest(f"keys[{index}]", f"no archived item s3://{bucket}/{key}")
        versions = {key: versions[key] for key in dict.fromkeys(wanted)}
    chosen = ((key, choose_version(s3, bucket, entries, request)) for key, entries in versions.items())
    return [{"key": key, "version_id": version} for key, version in chosen if version is not None]


def _normalized(value: Any) -> Any:
    """An item for comparison: sets (SS, NS, BS) in any order are equal."""
    if isinstance(value, Mapping):
        return {k: sorted(map(repr, v)) if k in ("SS", "NS", "BS") else _normalized(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_normalized(v) for v in value]
    return value


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
            return entry["key"], "restored"
        except ClientError as err:
            if err.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
        key = {name: item[name] for name in self.key_names}
        existing = self.dynamodb.get_item(TableName=self.target, Key=key, ConsistentRead=True).get("Item")
        if existing is not None and _normalized(existing) == _normalized(item):
            return entry["key"], "already_present"
        log.warning("not overwriting %s in %s: it exists with another value", entry["key"], self.target)
        return entry["key"], "refused"
