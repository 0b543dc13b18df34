"""Rough monthly storage and one-off request costs, to show at the approval step.

List prices of us-east-1 (USD, 2025); other regions differ by a few percent. Bundle sizes are
estimated uncompressed, so "after" is an upper bound.
"""

from __future__ import annotations

import math

GB = 1024**3
KB = 1024
STORAGE_PER_GB_MONTH = {
    "STANDARD": 0.023, "INTELLIGENT_TIERING": 0.023, "STANDARD_IA": 0.0125, "ONEZONE_IA": 0.01,
    "GLACIER_IR": 0.004, "GLACIER": 0.0036, "DEEP_ARCHIVE": 0.00099,
}
# PUT, COPY, multipart part and lifecycle-transition requests into each class, per 1,000.
WRITE_PER_1000 = {
    "STANDARD": 0.005, "INTELLIGENT_TIERING": 0.005, "STANDARD_IA": 0.01, "ONEZONE_IA": 0.01,
    "GLACIER_IR": 0.02, "GLACIER": 0.03, "DEEP_ARCHIVE": 0.05,
}
GET_PER_1000 = 0.0004
# Every GLACIER / DEEP_ARCHIVE object also bills 32 KB at its class rate and 8 KB at Standard.
ARCHIVE_OVERHEAD = {"GLACIER": 32 * KB, "DEEP_ARCHIVE": 32 * KB}
STANDARD_OVERHEAD = {"GLACIER": 8 * KB, "DEEP_ARCHIVE": 8 * KB}
# The IA classes and Glacier Instant Retrieval bill small objects as 128 KB.
MIN_BILLED = {"STANDARD_IA": 128 * KB, "ONEZONE_IA": 128 * KB, "GLACIER_IR": 128 * KB}
DYNAMODB_WRITE_PER_MILLION = 0.625
DYNAMODB_READ_PER_MILLION = 0.125
DYNAMODB_GB_MONTH = 0.25
INDEX_ITEM_BYTES = 600
# The `catalog` index mode (archiveflow.deep_archive.catalog): Parquet (zstd) rows in S3 Standard,
# measured by benchmarks/archive_catalog_lookup.py; each bundle's commit PUTs a data file per
# partition it touches (~1), a manifest, a manifest list and the table metadata, and updates Glue.
CATALOG_ROW_BYTES = 100
CATALOG_PUTS_PER_BUNDLE = 4
# Athena bills the bytes a query scans at $5 per TB, at least 10 MB a query; a look-up of one key
# scans far less than 10 MB (the benchmark), so it pays the minimum.
ATHENA_PER_TB = 5.0
ATHENA_MIN_BYTES = 10 * 1000**2


def _monthly(storage_class: str, objects: int, total_bytes: int) -> float:
    billed = max(total_bytes, objects * MIN_BILLED.get(storage_class, 0))
    class_bytes = billed + objects * ARCHIVE_OVERHEAD.get(storage_class, 0)
    standard_bytes = objects * STANDARD_OVERHEAD.get(storage_class, 0)
    return (class_bytes * STORAGE_PER_GB_MONTH[storage_class] + standard_bytes * STORAGE_PER_GB_MONTH["STANDARD"]) / GB


def athena_query_usd(bytes_scanned: int) -> float:
    """What Athena bills for one query that scanned ``bytes_scanned``."""
    return max(bytes_scanned, ATHENA_MIN_BYTES) / 1000**4 * ATHENA_PER_TB


# What one look-up of a file costs in each index mode: a strongly consistent read of one item, or one query.
LOOKUP_USD = {"dynamodb": DYNAMODB_READ_PER_MILLION / 1e6, "catalog": athena_query_usd(0)}


def index_costs(files: int, bundles: int) -> dict:
    """The index of ``files`` archived in ``bundles``, in each mode: monthly storage and one-off writes."""
    return {
        "index_monthly_dynamodb_usd": round(files * INDEX_ITEM_BYTES / GB * DYNAMODB_GB_MONTH, 4),
        "index_one_off_dynamodb_usd": round(
            files * math.ceil(INDEX_ITEM_BYTES / KB) / 1e6 * DYNAMODB_WRITE_PER_MILLION, 4),
        "index_monthly_catalog_usd": round(files * CATALOG_ROW_BYTES / GB * STORAGE_PER_GB_MONTH["STANDARD"], 4),
        "index_one_off_catalog_usd": round(bundles * CATALOG_PUTS_PER_BUNDLE / 1000 * WRITE_PER_1000["STANDARD"], 4),
    }


def estimate(storage_class: str, files: int, total_bytes: int, bundles: int, part_size: int,
             index_mode: str = "dynamodb") -> dict:
    """Costs of leaving ``files`` in Standard, transitioning each one (lifecycle), or bundling them
    (with the index in ``index_mode``; both modes' index costs are given too)."""
    parts = bundles + math.ceil(total_bytes / part_size)  # upper bound: every bundle may end on a short part
    index_bytes = files * INDEX_ITEM_BYTES
    index = index_costs(files, bundles)
    return {
        "monthly_before_usd": round(_monthly("STANDARD", files, total_bytes), 4),
        "monthly_lifecycle_usd": round(_monthly(storage_class, files, total_bytes), 4),
        "monthly_after_usd": round(
            _monthly(storage_class, bundles, total_bytes)
            + _monthly("STANDARD", bundles, index_bytes // 4)  # gzip index objects, ~4x smaller
            + index[f"index_monthly_{index_mode}_usd"], 4),
        "one_off_lifecycle_usd": round(files / 1000 * WRITE_PER_1000[storage_class], 4),
        "one_off_after_usd": round(
            files / 1000 * GET_PER_1000
            + (parts + 2 * bundles) / 1000 * WRITE_PER_1000[storage_class]
            + index[f"index_one_off_{index_mode}_usd"], 4),
        **index,
    }


# Packing compute: AWS Batch on Fargate bills the worker's vCPU and memory per second
# (`pack-bundle` in resources.yaml: 1 vCPU, 2 GiB), so a slower deflate level costs its extra CPU
# seconds once, while a smaller bundle saves storage every month it is kept.
FARGATE_VCPU_HOUR = 0.04048
FARGATE_GB_HOUR = 0.004445
PACK_WORKER_VCPUS, PACK_WORKER_GB = 1, 2
# Seven years, a common record-keeping period: the retention a request has unless it sets one, and
# so the one the worker's default deflate level is chosen for.
DEFAULT_RETENTION_MONTHS = 84
# What each class bills at the least, however early an object is deleted.
MIN_STORAGE_MONTHS = {"DEEP_ARCHIVE": 6, "GLACIER": 3, "GLACIER_IR": 3, "STANDARD_IA": 1, "ONEZONE_IA": 1}
# libdeflate level -> (CPU seconds per GiB of compressible input on one core, output / input), on
# the text corpus of `benchmarks/deep_archive_pack.py --levels`. Incompressible members are stored
# at any level, so only compressible bytes weigh here.
PACK_LEVELS = {
    1: (19.2, 0.4387), 2: (21.9, 0.4075), 3: (24.1, 0.4060), 4: (25.1, 0.4056), 5: (29.0, 0.4048),
    6: (31.0, 0.4023), 7: (40.0, 0.3998), 8: (64.9, 0.3985), 9: (86.3, 0.3983),
}
# Info-ZIP's `zip -r` (deflate 6) on the same corpus: 70 CPU s/GiB, output 0.428 of the input.
ZIP_R_CPU_SECONDS_PER_GIB = 70
# A Batch child has 1 vCPU and must pack at least twice as fast as `zip -r` (issue 31), so the
# slower levels are never chosen, however long the retention: at 7 years in Deep Archive level 7
# would cost ~$0.0001 per GiB less in all (0.25%), at 1.75x `zip -r`'s speed.
MIN_SPEEDUP_PER_CORE = 2


def _cpu_second_usd() -> float:
    return (PACK_WORKER_VCPUS * FARGATE_VCPU_HOUR + PACK_WORKER_GB * FARGATE_GB_HOUR) / 3600


def packing_usd(level: int, storage_class: str, retention_months: int, total_bytes: int) -> tuple[float, float]:
    """(compute once, storage over the retention) of packing ``total_bytes`` at ``level``, as if all compressible."""
    cpu_seconds, output = PACK_LEVELS[level]
    months = max(retention_months, MIN_STORAGE_MONTHS.get(storage_class, 0))
    gib = total_bytes / GB
    return (gib * cpu_seconds * _cpu_second_usd(),
            gib * output * STORAGE_PER_GB_MONTH[storage_class] * months)


def pack_level(storage_class: str, retention_months: int) -> int:
    """The deflate level with the lowest compute-once + storage-over-the-retention cost, among those
    fast enough."""
    fast_enough = [level for level, (cpu_seconds, _) in PACK_LEVELS.items()
                   if cpu_seconds * MIN_SPEEDUP_PER_CORE <= ZIP_R_CPU_SECONDS_PER_GIB]
    return min(fast_enough, key=lambda level: sum(packing_usd(level, storage_class, retention_months, GB)))


def packing(storage_class: str, retention_months: int, total_bytes: int) -> dict:
    """The level chosen and what it costs against the fastest one, for the approval step."""
    level, fastest = pack_level(storage_class, retention_months), min(PACK_LEVELS)
    compute, storage = packing_usd(level, storage_class, retention_months, total_bytes)
    fast_compute, fast_storage = packing_usd(fastest, storage_class, retention_months, total_bytes)
    return {"storage_class": storage_class, "deflate_level": level, "retention_months": retention_months,
            "compute_usd": round(compute, 4), "storage_usd": round(storage, 4),
            "extra_compute_usd": round(compute - fast_compute, 4),
            "storage_saved_usd": round(fast_storage - storage, 4)}
