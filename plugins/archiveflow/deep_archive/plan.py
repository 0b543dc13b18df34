"""Validate an archive request and plan its bundles.

The listing of a prefix can hold millions of keys, so it is streamed: page by page, objects
already in the index are dropped, the rest fill bundles in key order up to the count and size
caps, and each bundle's member list is written to S3 as soon as it is full. What stays in memory
(and goes to the plan object and XCom) is one small record per bundle.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterator
from dataclasses import asdict

from archiveflow.deep_archive import cost, index
from archiveflow.deep_archive.progress import Progress
from archiveflow.deep_archive.request import ArchiveRequest
from archiveflow.deep_archive.s3io import part_size_for, put_jsonl
from archiveflow.errors import BadRequest
from archiveflow.units import MiB

log = logging.getLogger(__name__)

# Source objects in these classes cannot be read without a restore: they are left alone.
UNREADABLE_CLASSES = frozenset({"GLACIER", "DEEP_ARCHIVE"})
PLANS_PREFIX = "_plans"
MAX_ARRAY_SIZE = 10_000  # AWS Batch's limit on array children; beyond it a child packs several units


def check_access(request: ArchiveRequest, s3, *, account: str, region: str, forbidden: set[str]) -> None:
    """Reads only: the buckets exist and may be used, and account and region match the connection."""
    if request.account and request.account != account:
        raise BadRequest("account", f"{request.account} is not the connection's account {account}")
    if request.region and request.region != region:
        raise BadRequest("region", f"{request.region} is not the connection's region {region}")
    if request.bucket_name in forbidden | {request.archive_bucket}:
        raise BadRequest("bucket_name", f"{request.bucket_name} is an archiveflow bucket, not a source")
    for field in ("bucket_name", "archive_bucket"):
        bucket = getattr(request, field)
        try:
            located = s3.get_bucket_location(Bucket=bucket)["LocationConstraint"] or "us-east-1"
        except s3.exceptions.ClientError as err:
            raise BadRequest(field, f"bucket {bucket} is missing or not accessible "
                                        f"({err.response['Error']['Code']})") from err
        if located != region:
            raise BadRequest(field, f"bucket {bucket} is in {located}, the run is in {region}")


def _objects(s3, request: ArchiveRequest, dynamodb, index_table: str, skipped: dict) -> Iterator[dict]:
    """The prefix's objects in key order, minus folder markers, unreadable and already indexed ones."""
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=request.bucket_name, Prefix=request.prefix)
    listed = Progress(log, f"listed s3://{request.bucket_name}/{request.prefix}")
    for page in pages:
        contents = page.get("Contents", [])
        listed.add(len(contents), sum(obj["Size"] for obj in contents))
        done = index.indexed(dynamodb, index_table, [index.item_key(request.bucket_name, o["Key"]) for o in contents])
        for obj in contents:
            if obj["Key"].endswith("/") and obj["Size"] == 0:
                continue
            reason = ("indexed" if index.item_key(request.bucket_name, obj["Key"]) in done
                      else "unreadable_class" if obj.get("StorageClass") in UNREADABLE_CLASSES else None)
            if reason:
                skipped[reason] += 1
                continue
            yield {"key": obj["Key"], "size": obj["Size"], "etag": obj["ETag"],
                   "last_modified": obj["LastModified"].isoformat()}
    listed.report()


def _digest(rows: list[dict]) -> str:
    """Names a bundle by its content, so a re-plan never overwrites a different bundle."""
    sha = hashlib.sha256()
    for row in rows:
        sha.update(f"{row['key']}\0{row['etag']}\n".encode())
    return sha.hexdigest()[:12]


def plan(s3, dynamodb, requests: list[ArchiveRequest], *, plan_id: str, plan_bucket: str,
         index_table: str, dry_run: bool = False) -> dict:
    """Write every bundle's manifest and the plan object (unless ``dry_run``); return the plan."""
    units: list[dict] = []
    totals = {"files": 0, "bytes": 0, "indexed": 0, "unreadable_class": 0}

    def add_unit(request: ArchiveRequest, kind: str, rows: list[dict]) -> None:
        number = len(units)
        common = {
            "unit": number, "kind": kind, "plan_id": plan_id, "project_name": request.project_name,
            "source_bucket": request.bucket_name, "storage_class": request.storage_class,
            "archive_bucket": request.archive_bucket, "delete_source": request.delete_source,
            "files": len(rows), "bytes": sum(row["size"] for row in rows),
        }
        if kind == "object":
            (row,) = rows
            units.append({**common, "archive_key": f"{request.output_prefix}/{plan_id}-objects/{row['key']}",
                          "object": row})
        else:
            manifest = f"{PLANS_PREFIX}/{plan_id}/bundles/{number:06d}.jsonl.gz"
            if not dry_run:
                put_jsonl(s3, plan_bucket, manifest, rows)
            units.append({**common, "manifest": manifest,
                          "archive_key": f"{request.output_prefix}/{plan_id}-{number:06d}-{_digest(rows)}.zip"})
        totals["files"] += common["files"]
        totals["bytes"] += common["bytes"]

    for request in requests:
        cap = request.archive_size * MiB
        skipped = {"indexed": 0, "unreadable_class": 0}
        bundle: list[dict] = []
        bundle_bytes = 0
        for row in _objects(s3, request, dynamodb, index_table, skipped):
            if row["size"] > cap:
                add_unit(request, "object", [row])
                continue
            if bundle and (len(bundle) >= request.file_count or bundle_bytes + row["size"] > cap):
                add_unit(request, "zip", bundle)
                bundle, bundle_bytes = [], 0
            bundle.append(row)
            bundle_bytes += row["size"]
        if bundle:
            add_unit(request, "zip", bundle)
        for reason, count in skipped.items():
            totals[reason] += count
        log.info("s3://%s/%s: skipped %s", request.bucket_name, request.prefix, skipped)

    document = {
        "plan_id": plan_id,
        "plan_bucket": plan_bucket,
        "index_table": index_table,
        "requests": [asdict(request) for request in requests],
        "totals": {**totals, "units": len(units), "bundles": sum(u["kind"] == "zip" for u in units)},
        "cost": _cost(requests, units),
        "array_size": min(len(units), MAX_ARRAY_SIZE),
        "units": units,
    }
    if not dry_run:
        s3.put_object(Bucket=plan_bucket, Key=plan_key(plan_id), Body=json.dumps(document).encode(),
                      ContentType="application/json", ChecksumAlgorithm="CRC32")
    return document


def _cost(requests: list[ArchiveRequest], units: list[dict]) -> dict:
    """Summed over storage classes (a scheduled run may mix them)."""
    total: dict[str, float] = {}
    for storage_class in {request.storage_class for request in requests}:
        chosen = [u for u in units if u["storage_class"] == storage_class]
        files, nbytes = sum(u["files"] for u in chosen), sum(u["bytes"] for u in chosen)
        part = part_size_for(max((u["bytes"] for u in chosen), default=0))
        for name, value in cost.estimate(storage_class, files, nbytes, len(chosen), part).items():
            total[name] = round(total.get(name, 0.0) + value, 4)
    return total


def plan_key(plan_id: str) -> str:
    return f"{PLANS_PREFIX}/{plan_id}/plan.json"


def summary(document: dict) -> str:
    """The plan in a few Markdown lines, for the task log and the approval page."""
    totals, costs = document["totals"], document["cost"]
    sources = "\n".join(
        f"- `s3://{r['bucket_name']}/{r['prefix']}` ({r['project_name']}) -> "
        f"`s3://{r['archive_bucket']}/{r['output_prefix']}/` in {r['storage_class']}"
        f"{', sources deleted after archiving' if r['delete_source'] else ''}"
        for r in document["requests"]
    )
    return (
        f"**Plan {document['plan_id']}**\n\n{sources}\n\n"
        f"- {totals['files']:,} files, {totals['bytes'] / MiB:,.1f} MiB in {totals['bundles']:,} bundles "
        f"+ {totals['units'] - totals['bundles']:,} objects too big to bundle\n"
        f"- skipped: {totals['indexed']:,} already archived, {totals['unreadable_class']:,} already in Glacier\n"
        f"- monthly storage: ${costs.get('monthly_before_usd', 0):,.2f} in Standard today, "
        f"${costs.get('monthly_lifecycle_usd', 0):,.2f} if moved one by one (lifecycle), "
        f"${costs.get('monthly_after_usd', 0):,.2f} bundled\n"
        f"- one-off requests: ${costs.get('one_off_after_usd', 0):,.2f} bundled "
        f"(vs ${costs.get('one_off_lifecycle_usd', 0):,.2f} of lifecycle transitions)"
    )
