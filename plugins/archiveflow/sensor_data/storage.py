"""Where readings live in the sensor-data bucket, and how they are written.

    raw/date=YYYY-MM-DD/hour=HH/<stream>.<shard id>.<first sequence number>.jsonl.gz
    quarantine/date=YYYY-MM-DD/<stream>.<shard id>.<first sequence number>.jsonl.gz

Raw objects are partitioned by the reading's own hour (a late reading goes to the hour it was
measured in), quarantine objects by the day the batch arrived. One line per record: a raw line is
the reading as received (timestamp normalised to UTC) plus `_kinesis` (stream, shard, sequence
number, partition key, arrival); a quarantine line is `reason`, `message`, `_kinesis` and the
record's `data` (text, or `data_base64` when it is not UTF-8).

A reading is stored in raw once per shard: a batch leaves out a reading (sensor + timestamp, its
identity: aggregates.py) that an earlier record of the batch or another of the shard's objects of
that hour already holds (a producer's retry puts a copy with a new sequence number). Records of
one partition key go to one shard, whose batches are stored one at a time, and only the pending
one is ever rewritten, so exactly the first copy stays.

An object's name is fixed by its batch (stream, shard, first sequence number) and its bytes by the
batch's records and the shard's earlier objects (which no longer change), gzip without a
timestamp, so writing a batch again rewrites identical objects.
A batch quarantined whole (pipeline.py) writes every record to its quarantine object, under the
same name, and its raw objects are deleted: each record is still in exactly one place.
"""

from __future__ import annotations

import base64
import gzip
import json
from collections import defaultdict
from collections.abc import Iterable, Iterator, Set
from datetime import datetime
from typing import Any

from archiveflow.sensor_data.readings import Reading, Rejected, StreamRecord, utc_text

RAW_PREFIX = "raw/"
QUARANTINE_PREFIX = "quarantine/"


def hour_prefix(hour: datetime) -> str:
    return f"{RAW_PREFIX}date={hour:%Y-%m-%d}/hour={hour:%H}/"


def batch_name(first: StreamRecord) -> str:
    return f"{first.stream}.{first.shard_id}.{first.sequence_number}.jsonl.gz"


def quarantine_key(first: StreamRecord) -> str:
    return f"{QUARANTINE_PREFIX}date={first.arrived_at:%Y-%m-%d}/{batch_name(first)}"


def jsonl_gz(lines: Iterable[dict[str, Any]]) -> bytes:
    text = "".join(json.dumps(line, ensure_ascii=False, separators=(",", ":")) + "\n" for line in lines)
    return gzip.compress(text.encode("utf-8"), mtime=0)


def read_jsonl_gz(body: bytes) -> Iterator[dict[str, Any]]:
    # Lines end at "\n" only: str.splitlines() would also cut at U+0085, U+2028... inside a string.
    for line in gzip.decompress(body).decode("utf-8").split("\n"):
        if line:
            yield json.loads(line)


def raw_line(record: StreamRecord, reading: Reading) -> dict[str, Any]:
    return {**reading.fields, "_kinesis": record.source()}


def quarantine_line(record: StreamRecord, rejected: Rejected) -> dict[str, Any]:
    line: dict[str, Any] = {"reason": rejected.reason, "message": rejected.message, "_kinesis": record.source()}
    try:
        line["data"] = record.data.decode("utf-8")
    except UnicodeDecodeError:
        line["data_base64"] = base64.b64encode(record.data).decode("ascii")
    return line


def identity(reading: Reading) -> tuple[str, str]:
    """What makes a reading the same reading (a sensor measures once at a given instant)."""
    return reading.sensor_id, utc_text(reading.timestamp)


def batch_objects(parsed: list[tuple[StreamRecord, Reading | Rejected]],
                  stored: Set[tuple[str, str]] = frozenset()) -> dict[str, bytes]:
    """The objects of one batch, by key: one per reading hour, one for its quarantined records.
    A reading whose identity is in `stored`, or earlier in the batch, is left out."""
    if not parsed:
        return {}
    by_hour: dict[datetime, list[dict[str, Any]]] = defaultdict(list)
    quarantined = []
    seen = set(stored)
    for record, outcome in parsed:
        if isinstance(outcome, Reading):
            if identity(outcome) not in seen:
                seen.add(identity(outcome))
                by_hour[outcome.hour].append(raw_line(record, outcome))
        else:
            quarantined.append(quarantine_line(record, outcome))
    name = batch_name(parsed[0][0])
    objects = {hour_prefix(hour) + name: jsonl_gz(lines) for hour, lines in by_hour.items()}
    if quarantined:
        objects[quarantine_key(parsed[0][0])] = jsonl_gz(quarantined)
    return objects


def quarantine_batch_object(records: list[StreamRecord], rejected: Rejected) -> tuple[str, bytes]:
    """The quarantine object of a batch quarantined whole: (key, body)."""
    return quarantine_key(records[0]), jsonl_gz(quarantine_line(record, rejected) for record in records)


def put_objects(s3, bucket: str, objects: dict[str, bytes]) -> None:
    for key, body in objects.items():
        # No Content-Encoding: HTTP clients would otherwise unzip what is a .gz file.
        s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/gzip")


def hour_lines(s3, bucket: str, hour: datetime) -> Iterator[dict[str, Any]]:
    """Every raw line of one hour partition."""
    return _lines(s3, bucket, hour_prefix(hour))


def stored_by_shard(s3, bucket: str, first: StreamRecord, hours: Iterable[datetime]) -> set[tuple[str, str]]:
    """The identities of the readings the shard's other batches (not the one `first` starts) stored in `hours`."""
    shard = f"{first.stream}.{first.shard_id}."
    return {(line.get("sensor_id"), line.get("timestamp")) for hour in hours
            for line in _lines(s3, bucket, hour_prefix(hour) + shard, skip=hour_prefix(hour) + batch_name(first))}


def _lines(s3, bucket: str, prefix: str, skip: str | None = None) -> Iterator[dict[str, Any]]:
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            if item["Key"] != skip:
                yield from read_jsonl_gz(s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read())
