"""Benchmark: planning a deep archive of N objects (default 1M; the issue's figure is 10M) locally.

    .venv/bin/python benchmarks/deep_archive_plan.py [--objects 1000000] [--file-count 50000] [--archive-size 500]

Generates an S3 Inventory report (Parquet, as S3 writes it) of N objects in a temporary folder, then
plans them three ways, each in its own process (peak RSS is the process's own):

- ``listing``: today's planner (`archiveflow.deep_archive.plan.plan`, dry run) over a stubbed
  ListObjectsV2 paginator giving the same objects 1,000 a page (the emulator lists ~100 requests/s,
  which would measure the emulator);
- ``inventory``: the same planner reading the report (`inventory_manifest`), never listing;
- ``sql``: the SQL plan: DuckDB runs `inventory_objects.sql` then `plan_bundles.sql` (the shared
  bundling rule) over the report and counts the bundles, the work Athena would do at scale.

The index holds nothing (every object is new): what is measured is listing/reading, sorting and bundling.
Prints seconds, peak RSS and bundles per way, the ratios to ``listing``, and the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "plugins"), str(REPO)]

BUCKET, REPORTS = "bench-source", "bench-reports"
MODIFIED = datetime(2026, 1, 1, tzinfo=UTC)
SQL_MEMORY = "900MB"


def load() -> str:
    return "load average " + ", ".join(f"{v:.2f}" for v in os.getloadavg())


def objects(count: int):
    """Deterministic objects, in key order, sizes 1 KiB - 1 MiB (a few big ones)."""
    for n in range(count):
        size = 1024 * (1 + (n * 7919) % 1024) if n % 1000 else 400 * 1024 * 1024
        yield {"key": f"data/{n % 100:02d}/{n:010d}.bin", "size": size, "e_tag": f"{n:032x}",
               "last_modified_date": MODIFIED, "storage_class": "STANDARD"}


class StubS3:
    """Only what the planner calls in a dry run: the paginator (today's listing), the report files."""

    class exceptions:  # noqa: N801 - boto3's spelling
        ClientError = OSError

    def __init__(self, folder: Path, count: int):
        self.folder, self.count = folder, count

    def get_paginator(self, name: str):
        assert name == "list_objects_v2"
        return self

    def paginate(self, Bucket: str, Prefix: str, Delimiter: str | None = None):  # noqa: N803 - boto3's spelling
        if Delimiter:  # the planner discovers data/00/ ... data/99/, then lists each
            yield {"CommonPrefixes": [{"Prefix": f"{Prefix}{group:02d}/"} for group in range(100)]}
            return
        groups = [int(Prefix.split("/")[1])] if Prefix.count("/") == 2 else range(100)
        page = []
        for obj in sorted_objects(self.count, groups):
            page.append({"Key": obj["key"], "Size": obj["size"], "ETag": f'"{obj["e_tag"]}"',
                         "LastModified": MODIFIED, "StorageClass": "STANDARD"})
            if len(page) == 1000:
                yield {"Contents": page}
                page = []
        if page:
            yield {"Contents": page}

    def get_object(self, Bucket: str, Key: str) -> dict:  # noqa: N803
        return {"Body": open(self.folder / "manifest.json", "rb")}  # noqa: SIM115 - read once by the caller

    def download_file(self, bucket: str, key: str, target: str) -> None:
        shutil.copy(self.folder / key.replace("/", "_"), target)


def sorted_objects(count: int, groups) -> Iterator[dict]:
    """The objects of ``groups`` in S3's (binary) key order, as a listing returns them, without holding them all."""
    for group in groups:
        for n in range(group, count, 100):
            yield {"key": f"data/{group:02d}/{n:010d}.bin", "size": 1024 * (1 + (n * 7919) % 1024)
                   if n % 1000 else 400 * 1024 * 1024, "e_tag": f"{n:032x}"}


def run_way(way: str, folder: Path, count: int, file_count: int, archive_size: int) -> dict:
    import duckdb  # imported before the clock starts, in every way (the inventory way uses it too)

    from archiveflow.deep_archive import inventory
    from archiveflow.deep_archive import plan as planner
    from archiveflow.deep_archive.bundling import SQL, alone_bytes
    from archiveflow.deep_archive.catalog import CatalogIndex
    from archiveflow.deep_archive.request import parse_request
    from archiveflow.lakehouse.statements import duckdb_sql, load_statement

    start = time.monotonic()
    if way == "report":
        from devstack.inventory_report import write_report

        manifest, _files = write_report(folder, BUCKET, REPORTS, objects(count), "Parquet", rows_per_file=250_000)
        (folder / "manifest.json").write_text(json.dumps(manifest))
        files, bundles = sum(f["size"] for f in manifest["files"]), 0  # the report's bytes, for the Athena estimate
    elif way == "sql":
        s3 = StubS3(folder, count)
        manifest = inventory.read_manifest(s3, f"s3://{REPORTS}/manifest.json", BUCKET)
        # DuckDB's window functions spill less than its sort: 512 MB runs out at 10M objects.
        con = duckdb.connect(config={**inventory.DUCKDB_CONFIG, "memory_limit": SQL_MEMORY,
                                     "preserve_insertion_order": False, "temp_directory": str(folder / "spill")})
        local = folder / "downloaded"
        local.mkdir(exist_ok=True)
        for number, key in enumerate(manifest.keys):  # as `inventory.pages` downloads them
            s3.download_file(manifest.bucket, key, str(local / f"{number:06d}"))
        inventory.relation(con, manifest, local).create_view("inventory_files")
        objects_sql = duckdb_sql(load_statement(inventory.SQL, {"prefix": "data/", "url_encoded": False}))
        con.execute(f"CREATE VIEW plan_objects AS {objects_sql}")
        cap = archive_size * 1024 * 1024
        bundles_sql = duckdb_sql(load_statement(SQL, {"alone_bytes": alone_bytes(cap),
                                                      "window_bytes": cap - alone_bytes(cap), "file_count": file_count}))
        files, units = con.execute(f"SELECT count(*), count(DISTINCT CASE WHEN bundle >= 0 THEN bundle END) "
                                   f"+ count(*) FILTER (WHERE bundle < 0) FROM ({bundles_sql})").fetchone()
        bundles = units
    else:
        conf = {"project_name": "bench", "bucket_name": BUCKET, "prefix": "data/", "file_count": file_count,
                "archive_size": archive_size}
        if way == "inventory":
            conf["inventory_manifest"] = f"s3://{REPORTS}/manifest.json"
        document = planner.plan(StubS3(folder, count), CatalogIndex(lambda sql, params: [], "bench"),
                                [parse_request(conf, "bench-archive")], plan_id="bench", plan_bucket="bench-plans",
                                index_table="", dry_run=True)
        files, bundles = document["totals"]["files"], document["totals"]["units"]
    seconds = time.monotonic() - start
    return {"way": way, "seconds": round(seconds, 1), "files": files, "units": bundles,
            "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--objects", type=int, default=1_000_000)
    parser.add_argument("--file-count", type=int, default=50_000)
    parser.add_argument("--archive-size", type=int, default=500)
    parser.add_argument("--ways", default="listing,inventory,sql", help="which ways to run (comma-separated)")
    parser.add_argument("--way", help=argparse.SUPPRESS)
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.way:  # a child: one way, figures as JSON
        print(json.dumps(run_way(args.way, Path(args.folder), args.objects, args.file_count, args.archive_size)))
        return

    with tempfile.TemporaryDirectory(prefix="plan-bench-") as folder:
        def child(way: str) -> dict:
            # Each way in its own process: Linux keeps a peak RSS across fork and exec, so the
            # parent stays small (the report is written by a child too).
            out = subprocess.run([sys.executable, __file__, "--way", way, "--folder", folder, "--objects",
                                  str(args.objects), "--file-count", str(args.file_count), "--archive-size",
                                  str(args.archive_size)], capture_output=True, text=True)
            if out.returncode:
                sys.exit(out.stderr)
            return json.loads(out.stdout.strip().splitlines()[-1])

        report = child("report")
        print(f"report of {args.objects:,} objects written in {report['seconds']:.1f}s: {report['files']:,} bytes of "
              f"Parquet, {report['files'] / args.objects:.1f} bytes an object ({load()})", flush=True)
        results = {}
        for way in args.ways.split(","):
            results[way] = child(way)
            print(f"{way:>9}: {results[way]['seconds']:>7.1f}s  peak RSS {results[way]['peak_rss_mib']:>6} MiB  "
                  f"{results[way]['files']:,} files in {results[way]['units']:,} units  ({load()})", flush=True)
        for way in ("inventory", "sql"):
            if way in results and "listing" in results:
                print(f"{way} / listing time: {results[way]['seconds'] / results['listing']['seconds']:.2f}")
        print(subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())


if __name__ == "__main__":
    main()
