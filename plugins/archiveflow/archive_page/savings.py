"""What archiving saved, per month: what was archived (files, bytes, bundles, by storage class, from
`include/sql/deep_archive/catalog_monthly.sql`), what it would cost a month in S3 Standard and what it
costs packed (the bundles' class plus the catalog index: `archiveflow.deep_archive.cost.estimate`),
and what restores cost that month (the `s3_restore` runs' recorded estimates).

"Before" and "after" are the monthly storage bills of the files archived up to and including that
month, so the saving of a month is what the archive saves every month from then on.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from archiveflow.deep_archive import cost

SQL = "deep_archive/catalog_monthly.sql"
# Bundles are multipart uploads of this part size (the worker's); only the one-off cost depends on it.
PART_SIZE = 64 * 1024**2


def monthly(archived: Iterable[Mapping[str, Any]], restores: Iterable[Mapping[str, Any]]) -> dict:
    """``archived``: the SQL file's rows; ``restores``: `s3_restore` run items (``finished_at``, ``cost``)."""
    months: dict[str, dict] = {}

    def month(name: str) -> dict:
        return months.setdefault(name, {"month": name, "files": 0, "bytes": 0, "bundles": 0, "before_usd": 0.0,
                                        "after_usd": 0.0, "restore_usd": 0.0, "restores": 0})

    for row in archived:
        entry = month(row["month"])
        files, size, bundles = int(row["files"]), int(row["bytes"]), int(row["bundles"])
        priced = cost.estimate(row["storage_class"], files, size, bundles, PART_SIZE, index_mode="catalog")
        entry["files"] += files
        entry["bytes"] += size
        entry["bundles"] += bundles
        entry["before_usd"] += priced["monthly_before_usd"]
        entry["after_usd"] += priced["monthly_after_usd"]
    for run in restores:
        if not run.get("finished_at"):
            continue
        entry = month(str(run["finished_at"])[:7])
        entry["restores"] += 1
        entry["restore_usd"] += float((run.get("cost") or {}).get("total_usd") or 0)
    rows, before, after = [], 0.0, 0.0
    for name in sorted(months):
        entry = months[name]
        before += entry["before_usd"]
        after += entry["after_usd"]
        rows.append({**entry, "before_usd": round(entry["before_usd"], 4), "after_usd": round(entry["after_usd"], 4),
                     "restore_usd": round(entry["restore_usd"], 4),
                     "monthly_before_usd": round(before, 4), "monthly_after_usd": round(after, 4),
                     "monthly_saved_usd": round(before - after, 4)})
    return {"months": rows, "totals": {
        "files": sum(r["files"] for r in rows), "bytes": sum(r["bytes"] for r in rows),
        "bundles": sum(r["bundles"] for r in rows), "restore_usd": round(sum(r["restore_usd"] for r in rows), 4),
        "monthly_before_usd": round(before, 4), "monthly_after_usd": round(after, 4),
        "monthly_saved_usd": round(before - after, 4)},
        "prices": "us-east-1 list prices (archiveflow.deep_archive.cost); bundle sizes uncompressed, so 'after' is an upper bound"}
