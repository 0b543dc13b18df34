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
DYNAMODB_GB_MONTH = 0.25
INDEX_ITEM_BYTES = 600


def _monthly(storage_class: str, objects: int, total_bytes: int) -> float:
    billed = max(total_bytes, objects * MIN_BILLED.get(storage_class, 0))
    class_bytes = billed + objects * ARCHIVE_OVERHEAD.get(storage_class, 0)
    standard_bytes = objects * STANDARD_OVERHEAD.get(storage_class, 0)
    return (class_bytes * STORAGE_PER_GB_MONTH[storage_class] + standard_bytes * STORAGE_PER_GB_MONTH["STANDARD"]) / GB


def estimate(storage_class: str, files: int, total_bytes: int, bundles: int, part_size: int) -> dict:
    """Costs of leaving ``files`` in Standard, transitioning each one (lifecycle), or bundling them."""
    parts = bundles + math.ceil(total_bytes / part_size)  # upper bound: every bundle may end on a short part
    index_bytes = files * INDEX_ITEM_BYTES
    return {
        "monthly_before_usd": round(_monthly("STANDARD", files, total_bytes), 4),
        "monthly_lifecycle_usd": round(_monthly(storage_class, files, total_bytes), 4),
        "monthly_after_usd": round(
            _monthly(storage_class, bundles, total_bytes)
            + _monthly("STANDARD", bundles, index_bytes // 4)  # gzip index objects, ~4x smaller
            + index_bytes / GB * DYNAMODB_GB_MONTH, 4),
        "one_off_lifecycle_usd": round(files / 1000 * WRITE_PER_1000[storage_class], 4),
        "one_off_after_usd": round(
            files / 1000 * GET_PER_1000
            + (parts + 2 * bundles) / 1000 * WRITE_PER_1000[storage_class]
            + files * math.ceil(INDEX_ITEM_BYTES / KB) / 1e6 * DYNAMODB_WRITE_PER_MILLION, 4),
    }
