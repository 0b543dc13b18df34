"""Validate an archive request and plan its bundles.

The listing of a prefix can hold millions of keys, so it is streamed: page by page, objects
whose current version is already archived are dropped (one rewritten since is archived again),
the rest make bundles in key order by the rule of `archiveflow.deep_archive.bundling` (the one
the SQL plan shares), and each bundle's member list is written to S3 as soon as it is full. What
stays in memory (and goes to the plan object and XCom) is one small record per bundle.

A source with an S3 Inventory report in the `catalog` index mode is planned in SQL instead, by the
`lakehouse_sql` engine, which writes the manifests itself (`archiveflow.deep_archive.sql_plan`).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import PurePosixPath

from archiveflow.deep_archive import bundling, catalog, cost, index, inventory, listing, sql_plan
from archiveflow.deep_archive.progress import Progress
from archiveflow.deep_archive.request import ArchiveRequest
from archiveflow.deep_archive.s3io import part_size_for, put_jsonl
from archiveflow.errors import BadRequest
from archiveflow.units import MiB

log = logging.getLogger(__name__)

# Source objects in these classes cannot be read without a restore: they are left alone.
UNREADABLE_CLASSES = frozenset({"GLACIER", "DEEP_ARCHIVE"})
PLANS_PREFIX = "_plans"
MAX_KEY_BYTES = 1024  # S3's limit on a key, in UTF-8 bytes
MAX_ARRAY_SIZE = 10_000  # AWS Batch's limit on array children; beyond it a child packs several units


def check_access(request: ArchiveRequest, s3, *, account: str, region: str, not_sources: set[str],
                 archive_buckets: set[str], not_archives: set[str]) -> None:
    """Reads only: the buckets exist and may be used, and account and region match the connection.

    ``not_sources``: buckets never archived (archiveflow's own); ``archive_buckets``: where bundles
    may go; ``not_archives``: buckets whose other uses could delete a bundle (warehouse, sources, ...).
    """
    if request.account and request.account != account:
        raise BadRequest("account", f"{request.account} is not the connection's account {account}")
    if request.region and request.region != region:
        raise BadRequest("region", f"{request.region} is not the connection's region {region}")
    if request.bucket_name in not_sources | archive_buckets:
        raise BadRequest("bucket_name", f"{request.bucket_name} is an archiveflow bucket, not a source")
    if request.archive_bucket in not_archives | {request.bucket_name}:
        raise BadRequest("archive_bucket", f"{request.archive_bucket} holds other data (sources, tables, "
                                           "reports) whose cleanup could delete bundles: never an archive bucket")
    if request.archive_bucket not in archive_buckets:
        raise BadRequest("archive_bucket", f"{request.archive_bucket} is not one of the deployment's archive "
                                           f"buckets ({', '.join(sorted(archive_buckets))})")
    for field in ("bucket_name", "archive_bucket"):
        _check_region(s3, field, getattr(request, field), region)
    if request.inventory_manifest:
        inventory.read_manifest(s3, request.inventory_manifest, request.bucket_name)


def _check_region(s3, field: str, bucket: str, region: str) -> None:
    try:
        located = s3.get_bucket_location(Bucket=bucket)["LocationConstraint"] or "us-east-1"
    except s3.exceptions.ClientError as err:
        raise BadRequest(field, f"bucket {bucket} is missing or not accessible "
                                f"({err.response['Error']['Code']})") from err
    if located != region:
        raise BadRequest(field, f"bucket {bucket} is in {located}, the run is in {region}")


def _objects(s3, request: ArchiveRequest, archive_index, counts: dict,
             planned_elsewhere: tuple[str, ...]) -> Iterator[dict]:
    """The prefix's objects in key order, minus folder markers, unreadable ones, those whose archived
    version is the current one, and those under ``planned_elsewhere`` (prefixes of other sources).
    ``counts`` gets what was skipped and why, and how many were rewritten since their last archive."""
    listed = Progress(log, f"listed s3://{request.bucket_name}/{request.prefix}"
                           f"{f' from the inventory {request.inventory_manifest}' if request.inventory_manifest else ''}")
    for page in _pages(s3, request):
        contents = [o for o in page if not _under(o["Key"], planned_elsewhere)]
        listed.add(len(contents), sum(obj["Size"] for obj in contents))
        archived = archive_index.newest_etags(request.bucket_name, [o["Key"] for o in contents])
        for obj in contents:
            if obj["Key"].endswith("/") and obj["Size"] == 0:
                continue
            reason = _skip_reason(obj, archived.get(obj["Key"]))
            counts[reason] += 1
            if reason in ("indexed", "unreadable_class"):
                continue
            yield {"key": obj["Key"], "size": obj["Size"], "etag": obj["ETag"],
                   "last_modified": obj["LastModified"].isoformat()}
    listed.report()


def _pages(s3, request: ArchiveRequest) -> Iterator[list[dict]]:
    """The prefix's objects in key order, a page at a time: from the source's S3 Inventory report
    when the request names one (the bucket is then never listed), else from ListObjectsV2 fanned
    out over the sub-prefixes (`archiveflow.deep_archive.listing`)."""
    if request.inventory_manifest:
        manifest = inventory.read_manifest(s3, request.inventory_manifest, request.bucket_name)
        yield from inventory.pages(s3, manifest, request.prefix)
    else:
        yield from listing.pages(s3, request.bucket_name, request.prefix)


def _under(key: str, prefixes: tuple[str, ...]) -> bool:
    return bool(prefixes) and key.startswith(prefixes)


def _skip_reason(obj: dict, archived_etag: str | None) -> str:
    """Why an object is skipped (``indexed``, ``unreadable_class``), else ``new`` or ``rewritten``
    (archived before, changed since: archived again as a new version)."""
    if archived_etag == obj["ETag"]:
        return "indexed"
    if obj.get("StorageClass") in UNREADABLE_CLASSES:
        return "unreadable_class"
    return "new" if archived_etag is None else "rewritten"


def _distinct(requests: list[ArchiveRequest]) -> list[ArchiveRequest]:
    """The requests with a repeated source (same bucket and prefix) dropped: the first one wins."""
    seen: dict[tuple[str, str], ArchiveRequest] = {}
    for request in requests:
        source = (request.bucket_name, request.prefix)
        if source in seen:
            log.warning("s3://%s/%s is listed twice: planned once, as the first entry says", *source)
        else:
            seen[source] = request
    return list(seen.values())


def _planned_elsewhere(request: ArchiveRequest, requests: list[ArchiveRequest]) -> tuple[str, ...]:
    """Prefixes inside ``request``'s that another source names: their files are that source's (the
    most specific entry wins), so no file is planned twice."""
    return tuple(other.prefix for other in requests if other.bucket_name == request.bucket_name
                 and other.prefix != request.prefix and other.prefix.startswith(request.prefix))


def _digest(rows: list[dict]) -> str:
    """Names a bundle by its content, so a re-plan never overwrites a different bundle."""
    sha = hashlib.sha256()
    for row in rows:
        sha.update(f"{row['key']}\0{row['etag']}\n".encode())
    return sha.hexdigest()[:12]


def plan(s3, dynamodb, requests: list[ArchiveRequest], *, plan_id: str, plan_bucket: str,
         index_table: str, dry_run: bool = False) -> dict:
    """Write every bundle's manifest and the plan object (unless ``dry_run``); return the plan.

    ``dynamodb``: a boto3 DynamoDB resource holding ``index_table`` (the `dynamodb` index mode), or a
    `archiveflow.deep_archive.catalog.CatalogIndex` (the `catalog` mode); the plan says which, and
    the packing worker writes that index."""
    archive_index = catalog.reader(dynamodb, index_table)
    units: list[dict] = []
    totals = {"files": 0, "bytes": 0, "indexed": 0, "unreadable_class": 0, "rewritten": 0}
    zipped_bytes: dict[tuple[str, int], int] = {}  # bundled bytes per (storage class, retention)

    def add_unit(request: ArchiveRequest, kind: str, files: int, nbytes: int, *, row: dict | None = None,
                 rows: list[dict] | None = None, manifests: list[str] | None = None,
                 positions: tuple[int, int] = (0, -1), digest: str = "") -> None:
        """``rows``: a Python-planned bundle (its manifest written here); ``manifests``: a SQL-planned
        one (written by the engine); ``row``: an object archived alone."""
        number = len(units)
        common = {
            "unit": number, "kind": kind, "plan_id": plan_id, "project_name": request.project_name,
            "source_bucket": request.bucket_name, "storage_class": request.storage_class,
            "archive_bucket": request.archive_bucket, "delete_source": request.delete_source,
            "files": files, "bytes": nbytes,
        }
        if kind == "object":
            units.append({**common, "archive_key": object_archive_key(request.output_prefix, plan_id, row["key"]),
                          "object": row})
        else:
            if rows is not None:
                where = {"manifest": f"{PLANS_PREFIX}/{plan_id}/bundles/{number:06d}.jsonl.gz"}
                if not dry_run:
                    put_jsonl(s3, plan_bucket, where["manifest"], rows)
                digest = _digest(rows)
            else:
                where = {"manifests": manifests, "positions": list(positions)}
            units.append({**common, **where,
                          "archive_key": f"{request.output_prefix}/{plan_id}-{number:06d}-{digest}.zip",
                          "deflate_level": cost.pack_level(request.storage_class, request.retention_months)})
            zipped = (request.storage_class, request.retention_months)
            zipped_bytes[zipped] = zipped_bytes.get(zipped, 0) + nbytes
        totals["files"] += files
        totals["bytes"] += nbytes

    requests = _distinct(requests)
    for request in requests:
        counts = {"indexed": 0, "unreadable_class": 0, "new": 0, "rewritten": 0}
        elsewhere = _planned_elsewhere(request, requests)
        if sql_plan.used_for(request, archive_index):
            skipped, planned = sql_plan.plan_source(
                archive_index.engine, s3, request, inventory.read_manifest(s3, request.inventory_manifest,
                                                                           request.bucket_name),
                plan_bucket=plan_bucket, plan_id=plan_id, elsewhere=elsewhere, dry_run=dry_run)
            for unit in planned:
                add_unit(request, unit.kind, unit.files, unit.bytes, row=unit.row, manifests=unit.manifests,
                         positions=unit.positions, digest=unit.digest)
                counts["rewritten"] += unit.rewritten
                counts["new"] += unit.files - unit.rewritten
            counts.update(skipped)
            log.info("s3://%s/%s planned in SQL by the lakehouse_sql engine from %s", request.bucket_name,
                     request.prefix, request.inventory_manifest)
        else:
            rows = _objects(s3, request, archive_index, counts, elsewhere)
            for kind, unit_rows in bundling.bundles(rows, request.file_count, request.archive_size * MiB):
                add_unit(request, kind, len(unit_rows), sum(row["size"] for row in unit_rows),
                         row=unit_rows[0], rows=unit_rows if kind == "zip" else None)
        for reason in ("indexed", "unreadable_class", "rewritten"):
            totals[reason] += counts[reason]
        log.info("s3://%s/%s: %s", request.bucket_name, request.prefix, counts)

    document = {
        "plan_id": plan_id,
        "plan_bucket": plan_bucket,
        "index_table": index_table,
        "index_mode": archive_index.mode,
        "catalog_table": archive_index.identifier if archive_index.mode == "catalog" else None,
        "requests": [asdict(request) for request in requests],
        "totals": {**totals, "units": len(units), "bundles": sum(u["kind"] == "zip" for u in units)},
        "cost": _cost(requests, units, archive_index.mode),
        "packing": [cost.packing(storage_class, months, nbytes)
                    for (storage_class, months), nbytes in sorted(zipped_bytes.items())],
        "array_size": min(len(units), MAX_ARRAY_SIZE),
        "units": units,
    }
    if not dry_run:
        s3.put_object(Bucket=plan_bucket, Key=plan_key(plan_id), Body=json.dumps(document).encode(),
                      ContentType="application/json", ChecksumAlgorithm="CRC32")
    return document


def _cost(requests: list[ArchiveRequest], units: list[dict], index_mode: str) -> dict:
    """Summed over storage classes (a scheduled run may mix them); the index in ``index_mode``."""
    total: dict[str, float] = {}
    for storage_class in {request.storage_class for request in requests}:
        chosen = [u for u in units if u["storage_class"] == storage_class]
        files, nbytes = sum(u["files"] for u in chosen), sum(u["bytes"] for u in chosen)
        part = part_size_for(max((u["bytes"] for u in chosen), default=0))
        for name, value in cost.estimate(storage_class, files, nbytes, len(chosen), part, index_mode).items():
            total[name] = round(total.get(name, 0.0) + value, 4)
    return total


def object_archive_key(output_prefix: str, plan_id: str, key: str) -> str:
    """Where an object archived on its own goes: under its own key, or, when that would pass S3's
    1,024-byte limit (with the index object's suffix), a name derived from it (the index keeps the key)."""
    archive_key = f"{output_prefix}/{plan_id}-objects/{key}"
    if len((archive_key + index.INDEX_SUFFIX).encode()) <= MAX_KEY_BYTES:
        return archive_key
    suffix = PurePosixPath(key).suffix
    suffix = suffix if len(suffix) <= 16 and suffix.isascii() and "/" not in suffix else ""
    return f"{output_prefix}/{plan_id}-objects/_long/{hashlib.sha256(key.encode()).hexdigest()}{suffix}"


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
        f"- skipped: {totals['indexed']:,} already archived, {totals['unreadable_class']:,} already in Glacier; "
        f"{totals.get('rewritten', 0):,} rewritten since their last archive are archived again\n"
        f"- monthly storage: ${costs.get('monthly_before_usd', 0):,.2f} in Standard today, "
        f"${costs.get('monthly_lifecycle_usd', 0):,.2f} if moved one by one (lifecycle), "
        f"${costs.get('monthly_after_usd', 0):,.2f} bundled\n"
        f"- one-off requests: ${costs.get('one_off_after_usd', 0):,.2f} bundled "
        f"(vs ${costs.get('one_off_lifecycle_usd', 0):,.2f} of lifecycle transitions)"
        + "".join(
            f"\n- packing for {p['retention_months']} months in {p['storage_class']}: deflate level "
            f"{p['deflate_level']}, ${p['compute_usd']:,.4f} of Fargate CPU once and ${p['storage_usd']:,.4f} of "
            f"storage over the retention (against the fastest level: ${p['extra_compute_usd']:,.4f} more CPU, "
            f"${p['storage_saved_usd']:,.4f} less storage)"
            for p in document.get("packing", []))
        + "\n" + _index_summary(document.get("index_mode", "dynamodb"), costs)
    )


def _index_summary(mode: str, costs: dict) -> str:
    """Both index modes side by side: the deployment's is in the figures above."""
    lines = [f"- index mode `{mode}` (included above); the index of these files in each mode:"]
    for name, where in (("dynamodb", "DynamoDB items"), ("catalog", "Iceberg catalog via Athena")):
        lines.append(f"  - `{name}` ({where}): ${costs.get(f'index_monthly_{name}_usd', 0):,.2f}/month, "
                     f"${costs.get(f'index_one_off_{name}_usd', 0):,.2f} to write, "
                     f"${cost.LOOKUP_USD[name]:.7f} per file look-up")
    return "\n".join(lines)


def index_usage_summary(usage: dict) -> str:
    """What the "already archived?" check asked of the index (`archiveflow.hooks.archive_catalog.archive_index`)."""
    if usage.get("index_mode") != "catalog":
        return "- the \"already archived?\" check read DynamoDB items (a batch read per 100 listed keys)"
    return (f"- the \"already archived?\" check ran {usage['queries']:,} catalog queries on {usage['engine']}"
            f" ({usage['bytes_scanned'] / MiB:,.1f} MiB scanned, ${usage['usd']:,.4f})")

