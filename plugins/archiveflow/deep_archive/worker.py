"""The packing worker: ``python -m archiveflow.deep_archive.worker`` (the Batch job definition's command).

Environment: ``ARCHIVEFLOW_PLAN`` (s3:// URI of the plan object) and, as AWS Batch sets it for
array children, ``AWS_BATCH_JOB_ARRAY_INDEX``. Child ``i`` of an array of ``n`` takes units
``i, i+n, i+2n, ...`` of the plan. A unit that fails does not stop the child's other units: the
child runs them all, then exits non-zero naming every failed unit (Batch retries it; finished
units are skipped). For each unit, in this order (so a retry can resume anywhere):

1. skip packing if the unit's index object exists (the last thing written, so the unit is done);
2. stream the zip into a multipart upload (or copy an oversize object) in the storage class;
   on any error or SIGTERM the upload is aborted, and uploads a SIGKILL left behind are aborted
   before starting again; the bundle's key depends on its content, so a retry overwrites the
   same key and never leaves an orphan;
   members get safe, unique names (`archiveflow.deep_archive.names`), read from their own keys;
3. check the stored object against what was sent, write the index in the plan's index mode: the
   DynamoDB items (`archiveflow.deep_archive.index`: a version item per file, and the newest item)
   or one commit of the bundle's rows to the archive catalog (`archiveflow.deep_archive.catalog`,
   never twice), then the index object;
4. if asked, delete the sources, only if the index holds every file's version in this bundle.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
from datetime import datetime

import boto3
from botocore.config import Config

from archiveflow.deep_archive import catalog, cost, index
from archiveflow.deep_archive.names import member_names
from archiveflow.deep_archive.progress import Progress
from archiveflow.deep_archive.s3io import (
    MultipartUpload,
    S3Source,
    abort_stale_uploads,
    b64_crc32,
    exists,
    get_jsonl,
    get_parquet_rows,
    parse_uri,
    part_size_for,
    put_jsonl,
    utc_iso,
)
from archiveflow.deep_archive.zipstream import Member, pack
from archiveflow.errors import SafetyRefusal
from archiveflow.failpoints import failpoint

log = logging.getLogger("archiveflow.deep_archive.worker")
READ_THREADS = 16  # S3 GETs of small objects are latency-bound: more threads than cores
DELETE_BATCH = 1000
MISSING_CODES = frozenset({"404", "NoSuchKey"})  # a managed copy HEADs its source first: a bare 404
# The level of a Deep Archive request kept the default 7 years (each plan unit carries its own, from
# its request's storage class and retention): level 6, because over 84 months its 1.3% smaller
# output saves ~$0.0004 of storage per GiB for ~$0.0001 more Fargate CPU than level 2 (chosen
# for a year or less; the cost model is `cost.pack_level`); slower levels would pack at under 2x
# `zip -r`'s speed per core.
DEFLATE_LEVEL = cost.pack_level("DEEP_ARCHIVE", cost.DEFAULT_RETENTION_MONTHS)


def _manifest(s3, unit: dict, plan_bucket: str) -> list[dict]:
    """The bundle's rows in key order: the Python planner's one JSONL object, or the Parquet files the
    engine wrote for a SQL plan (`archiveflow.deep_archive.sql_plan`), checked against the unit's counts."""
    if "manifest" in unit:
        return get_jsonl(s3, plan_bucket, unit["manifest"])
    rows = sorted((row for key in unit["manifests"]
                   for row in get_parquet_rows(s3, plan_bucket, key, "position", *unit["positions"])),
                  key=lambda row: row["key"])
    if (len(rows), sum(row["size"] for row in rows)) != (unit["files"], unit["bytes"]):
        raise SafetyRefusal(f"unit {unit['unit']}: its manifests hold {len(rows)} files, {sum(r['size'] for r in rows)} "
                            f"bytes; the plan says {unit['files']}, {unit['bytes']}: plan again")
    return [{"key": row["key"], "size": row["size"], "etag": row["etag"], "last_modified": utc_iso(row["last_modified"])}
            for row in rows]


def _pack_zip(s3, unit: dict, plan: dict) -> tuple[list[dict], list[str]]:
    """The bundle's index items, and the keys of members gone since the plan (left out)."""
    rows = _manifest(s3, unit, plan["plan_bucket"])
    names = member_names([row["key"] for row in rows])
    members = [Member(name, row["size"], datetime.fromisoformat(row["last_modified"]), row["key"])
               for name, row in zip(names, rows, strict=True)]
    source = S3Source(s3, unit["source_bucket"], {row["key"]: row["etag"] for row in rows})
    progress = Progress(log, f"unit {unit['unit']} packed", unit["files"], unit["bytes"])
    upload = MultipartUpload(s3, unit["archive_bucket"], unit["archive_key"], unit["storage_class"],
                             part_size_for(unit["bytes"]))
    missing: list[str] = []
    try:
        entries = pack(members, source, upload.write, threads=READ_THREADS,
                       level=unit.get("deflate_level", DEFLATE_LEVEL),
                       on_member=lambda entry: progress.add(1, entry.size),
                       on_missing=lambda member: missing.append(member.source_key))
        sent = upload.complete()
    except BaseException:
        log.warning("unit %s failed: aborting multipart upload of %s", unit["unit"], unit["archive_key"])
        upload.abort()
        raise
    progress.report()
    _check_stored(s3, unit, sent["size"], b64_crc32(sent["crc32"]))
    log.info("unit %s: %s bytes of zip in %s parts (%.0f%% of the sources)", unit["unit"], f"{sent['size']:,}",
             sent["parts"], 100 * sent["size"] / max(unit["bytes"], 1))
    archived_at = index.now_iso()
    gone = set(missing)
    packed = [row for row in rows if row["key"] not in gone]
    return [index.member_item(unit, row, entry, archived_at) for row, entry in zip(packed, entries, strict=True)], missing


def _copy_object(s3, unit: dict) -> tuple[list[dict], list[str]]:
    row = unit["object"]
    log.info("unit %s: copying %s (%s bytes) on its own", unit["unit"], row["key"], f"{row['size']:,}")
    try:
        s3.copy(
            CopySource={"Bucket": unit["source_bucket"], "Key": row["key"]}, Bucket=unit["archive_bucket"],
            Key=unit["archive_key"],
            ExtraArgs={"StorageClass": unit["storage_class"], "CopySourceIfMatch": row["etag"],
                       "ChecksumAlgorithm": "CRC32"},
        )
    except s3.exceptions.ClientError as err:
        if err.response["Error"]["Code"] not in MISSING_CODES:
            raise
        return [], [row["key"]]
    _check_stored(s3, unit, row["size"], None)
    return [index.item(unit, row, index.now_iso())], []


def _check_stored(s3, unit: dict, size: int, crc32: str | None) -> None:
    head = s3.head_object(Bucket=unit["archive_bucket"], Key=unit["archive_key"], ChecksumMode="ENABLED")
    checks = [("size", head["ContentLength"], size),
              ("storage class", head.get("StorageClass", "STANDARD"), unit["storage_class"])]
    if crc32 and "ChecksumCRC32" in head:
        checks.append(("CRC32", head["ChecksumCRC32"], crc32))
    problems = [f"{what}: stored {got!r}, expected {want!r}" for what, got, want in checks if got != want]
    if problems:
        raise RuntimeError(f"s3://{unit['archive_bucket']}/{unit['archive_key']} is not what was sent: {problems}")


def _indexed_here(store, plan: dict, unit: dict, rows: list[dict]) -> set[str]:
    """The version keys among ``rows`` (index object items) that the index points at this unit's bundle."""
    if plan.get("index_mode") == "catalog":
        found = catalog.bundle_rows(store.table(), unit["source_bucket"], [r["source_key"] for r in rows],
                                    unit["archive_bucket"], unit["archive_key"])
        return {index.version_key(unit["source_bucket"], r["source_key"], r["version"]) for r in found}
    pointing = index.archive_keys(store, plan["index_table"], [row["pk"] for row in rows])
    return {pk for pk, archive_key in pointing.items() if archive_key == unit["archive_key"]}


def _write_index(store, plan: dict, items: list[dict]) -> None:
    if plan.get("index_mode") == "catalog":
        catalog.append_bundle(store.table(), [catalog.row(item) for item in items])
    else:
        index.write(store, plan["index_table"], items)


def _delete_sources(s3, store, plan: dict, unit: dict) -> None:
    """Delete the sources of a finished unit, but only if the index holds each one's archived version
    in this unit's bundle."""
    rows = get_jsonl(s3, unit["archive_bucket"], unit["archive_key"] + index.INDEX_SUFFIX)[1:]
    indexed = _indexed_here(store, plan, unit, rows)
    unsafe = [row["source_key"] for row in rows if row["pk"] not in indexed]
    if unsafe:
        raise SafetyRefusal(f"unit {unit['unit']}: {len(unsafe)} members are not indexed to this bundle "
                            f"(first: {unsafe[0]}); no source deleted")
    for start in range(0, len(rows), DELETE_BATCH):
        # ETag: S3 deletes an object only if it is still the version that was archived (a rewritten
        # one comes back as a PreconditionFailed error and is kept). The emulator ignores it.
        objects = [{"Key": row["source_key"], "ETag": row["source_etag"]} for row in rows[start:start + DELETE_BATCH]]
        response = s3.delete_objects(Bucket=unit["source_bucket"], Delete={"Objects": objects, "Quiet": True})
        if response.get("Errors"):
            raise RuntimeError(f"unit {unit['unit']}: could not delete {response['Errors'][:3]}")
        failpoint("deep_archive.deleting")
    log.info("unit %s: deleted %s source objects from s3://%s", unit["unit"], len(rows), unit["source_bucket"])


def run_unit(s3, store, plan: dict, unit: dict) -> None:
    """``store``: the index the plan's ``index_mode`` names: the boto3 DynamoDB resource, or a
    `archiveflow.deep_archive.catalog.CatalogIndex` that can open the catalog table."""
    index_key = unit["archive_key"] + index.INDEX_SUFFIX
    if exists(s3, unit["archive_bucket"], index_key):
        log.info("unit %s: s3://%s/%s is already archived and indexed", unit["unit"], unit["archive_bucket"],
                 unit["archive_key"])
    else:
        stale = abort_stale_uploads(s3, unit["archive_bucket"], unit["archive_key"])
        if stale:
            log.info("unit %s: aborted %s upload(s) left by an earlier attempt", unit["unit"], stale)
        items, missing = _pack_zip(s3, unit, plan) if unit["kind"] == "zip" else _copy_object(s3, unit)
        if missing:
            log.warning("unit %s: %s source objects are gone since the plan (deleted after the inventory?), "
                        "left out: %s", unit["unit"], len(missing), missing[:10])
        failpoint("deep_archive.uploaded")
        if items:
            _write_index(store, plan, items)
        header = {"archive_bucket": unit["archive_bucket"], "archive_key": unit["archive_key"],
                  "plan_id": plan["plan_id"], "files": len(items), "kind": unit["kind"], "missing": missing}
        put_jsonl(s3, unit["archive_bucket"], index_key, [header, *items])
        log.info("unit %s: indexed %s files of s3://%s/%s", unit["unit"], len(items), unit["archive_bucket"],
                 unit["archive_key"])
    if unit["delete_source"]:
        _delete_sources(s3, store, plan, unit)


def _stop(signum: int, _frame) -> None:
    # Batch sends SIGTERM before SIGKILL: turn it into an exception so the upload gets aborted.
    raise SystemExit(128 + signum)


def main() -> int:
    logging.basicConfig(level=logging.INFO, stream=sys.stdout,
                        format="%(asctime)s %(levelname)s [pack] %(message)s")
    signal.signal(signal.SIGTERM, _stop)
    config = Config(max_pool_connections=READ_THREADS + 8, retries={"mode": "standard", "max_attempts": 8})
    session = boto3.session.Session()
    s3 = session.client("s3", config=config)
    bucket, key = parse_uri(os.environ["ARCHIVEFLOW_PLAN"])
    plan = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    if plan.get("index_mode") == "catalog":
        store = catalog.CatalogIndex(None, plan["catalog_table"], catalog.environment_catalog)
    else:
        store = session.resource("dynamodb", config=config)
    child = int(os.environ.get("AWS_BATCH_JOB_ARRAY_INDEX", "0"))
    stride = plan["array_size"]
    mine = plan["units"][child::stride]
    log.info("plan %s: child %s of %s packs %s of %s units", plan["plan_id"], child, stride, len(mine),
             len(plan["units"]))
    failed = [failure for unit in mine if (failure := _run_or_report(s3, store, plan, unit))]
    if failed:
        log.error("%s of %s units failed (the others are archived): %s", len(failed), len(mine), "; ".join(failed))
        return 1
    return 0


def _run_or_report(s3, store, plan: dict, unit: dict) -> str | None:
    """Run one unit; on failure, say which and why instead of stopping the child's other units."""
    try:
        run_unit(s3, store, plan, unit)
    except Exception as err:  # any failure of one unit: reported, and the child exits non-zero at the end
        log.exception("unit %s (s3://%s/%s) failed", unit["unit"], unit["archive_bucket"], unit["archive_key"])
        return f"unit {unit['unit']} ({unit['archive_key']}): {type(err).__name__}: {err}"
    return None


if __name__ == "__main__":
    sys.exit(main())
