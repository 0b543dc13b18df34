"""Benchmark: planning a deep archive of N objects (default 1M; the issue's figure is 10M) locally.

    .venv/bin/python benchmarks/deep_archive_plan.py [--objects 1000000] [--file-count 50000] [--archive-size 500]

Generates an S3 Inventory report (Parquet, as S3 writes it) of N objects in a temporary folder, then
plans them three ways, each in its own process (peak RSS is the process's own):

- ``listing``: today's planner (`archiveflow.deep_archive.plan.plan`, dry run) over a stubbed
  ListObjectsV2 paginator giving the same objects 1,000 a page (the emulator lists ~100 requests/s,
  which would measure the emulator);
- ``inventory``: the same planner reading the report (`inventory_manifest`), never listing;
- ``sql``: the SQL plan as `s3_deep_archive` runs it in the `catalog` index mode
  (`archiveflow.deep_archive.sql_plan`) on the local engine (`LocalLakehouse`, its DuckDB memory limit):
  `plan_units.sql` (the anti-join with the catalog, the shared bundling rule) and `plan_manifests.sql`
  (UNLOAD: DuckDB's COPY writes the manifests in at most 100 folders, here to the temporary folder), the work
  Athena does on AWS. Unlike the two others (dry runs), it writes every bundle's manifest.

The index holds nothing (every object is new): what is measured is listing/reading, sorting and bundling.
Prints seconds, CPU seconds (all threads), peak RSS and units per way, the ratios to ``listing``, the
load average, and an estimate for a billion objects on Athena from the bytes of the columns the
statements read, measured here.
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
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "plugins"), str(REPO)]

BUCKET, REPORTS = "bench-source", "bench-reports"
MODIFIED = datetime(2026, 1, 1, tzinfo=UTC)
PLANS = "bench-plans"
REPORT_COLUMNS = ("key", "size", "last_modified_date", "e_tag", "storage_class")  # inventory_current.sql's
CATALOG_COLUMNS = ("source_key", "source_etag", "size", "version")  # plan_candidates.sql's (partitions pruned)
CATALOG_SAMPLE = 1_000_000
ATHENA_USD_PER_TB = 5.0


def load() -> str:
    return "load average " + ", ".join(f"{v:.2f}" for v in os.getloadavg())


def _cpu_seconds() -> float:
    """This process's CPU time, all threads (DuckDB's too): less noisy than wall time on a loaded machine."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


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
        if Bucket == PLANS:
            yield from self.list_plans(Prefix)
            return
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

    def list_plans(self, Prefix: str):  # noqa: N803 - boto3's spelling
        """The SQL plan's manifests, written by DuckDB under the folder's plans/ (as under the plan bucket)."""
        root = self.folder / "plans"
        yield {"Contents": [{"Key": str(path.relative_to(root))} for path in sorted((root / Prefix).rglob("*"))
                            if path.is_file()]}

    def put_object(self, Bucket: str, Key: str, **_) -> None:  # noqa: N803 - the plan object
        assert Bucket == PLANS

    def get_object(self, Bucket: str, Key: str) -> dict:  # noqa: N803
        return {"Body": open(self.folder / "manifest.json", "rb")}  # noqa: SIM115 - read once by the caller

    def download_file(self, bucket: str, key: str, target: str) -> None:
        shutil.copy(self.folder / key.replace("/", "_"), target)


class LocalPlanEngine:
    """The SQL plan's engine as the local stack runs it (`archiveflow.lakehouse.local_engine.LocalLakehouse`:
    its DuckDB settings, COPY for UNLOAD) over the report's files and an empty archive catalog; the
    manifests go to the folder's plans/ instead of the plan bucket."""

    def __init__(self, folder: Path):
        import duckdb

        from archiveflow.hooks.lakehouse_sql import (
            _load_extensions,  # the wheels' extensions, as the hook loads them
        )
        from archiveflow.lakehouse.local_engine import LocalLakehouse

        def connect():
            con = duckdb.connect(config={"autoinstall_known_extensions": False, "autoload_known_extensions": False})
            _load_extensions(con)
            return con

        self.folder, self.seconds = folder, {}
        self.local = LocalLakehouse(connect, None, None, "bench")

    @contextmanager
    def inventory_table(self, s3, manifest, name: str):
        from archiveflow.deep_archive import inventory

        local = self.folder / "downloaded"
        local.mkdir(exist_ok=True)
        inventory.download(s3, manifest, local)
        self.local.define_view(name, lambda con: inventory.relation(con, manifest, local).create_view(name))
        self.local.define_view("archive_catalog", lambda con: con.execute(
            "CREATE TABLE archive_catalog (source_bucket VARCHAR, key_prefix VARCHAR, source_key VARCHAR, "
            "source_etag VARCHAR, size BIGINT, version VARCHAR)"))
        yield name

    def _run(self, sql_file: str, parameters: dict, variables: dict | None):
        from archiveflow.lakehouse.statements import load_statement

        location = parameters["location"].replace(f"s3://{PLANS}/", f"{self.folder / 'plans'}/")
        Path(location).parent.mkdir(parents=True, exist_ok=True)  # S3 has no folders to create
        result = self.local.run(load_statement(sql_file, {**parameters, "location": location}, variables))
        self.seconds[sql_file.split("/")[-1]] = result.seconds
        return result

    def select(self, sql_file: str, parameters: dict, variables: dict | None = None) -> list[dict]:
        result = self._run(sql_file, parameters, variables)
        return [dict(zip(result.columns, row, strict=True)) for row in result.rows]

    def unload(self, sql_file: str, parameters: dict, variables: dict | None = None) -> None:
        self._run(sql_file, parameters, variables)

    def close(self) -> None:
        self.local.close()


def sorted_objects(count: int, groups) -> Iterator[dict]:
    """The objects of ``groups`` in S3's (binary) key order, as a listing returns them, without holding them all."""
    for group in groups:
        for n in range(group, count, 100):
            yield {"key": f"data/{group:02d}/{n:010d}.bin", "size": 1024 * (1 + (n * 7919) % 1024)
                   if n % 1000 else 400 * 1024 * 1024, "e_tag": f"{n:032x}"}


def column_bytes(paths: list[Path], columns: tuple[str, ...]) -> int:
    """The compressed bytes of ``columns`` in Parquet files: what Athena scans (and bills) to read them."""
    import pyarrow.parquet as pq

    total = 0
    for path in paths:
        meta = pq.ParquetFile(path).metadata
        for group in range(meta.num_row_groups):
            row_group = meta.row_group(group)
            total += sum(row_group.column(c).total_compressed_size for c in range(row_group.num_columns)
                         if row_group.column(c).path_in_schema in columns)
    return total


def catalog_bytes_per_object(folder: Path, count: int) -> float:
    """The archive catalog's columns the SQL plan reads, per archived object, from a sample written as
    the catalog writes its data files (Parquet, zstd, in key order)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [{"source_key": o["key"], "source_etag": f'"{o["e_tag"]}"', "size": o["size"],
             "version": f"{MODIFIED.isoformat()}#\"{o['e_tag']}\""} for o in objects(count)]
    path = folder / "catalog-sample.parquet"
    pq.write_table(pa.Table.from_pylist(rows), path, compression="zstd")
    return column_bytes([path], CATALOG_COLUMNS) / count


# Athena (Trino) inlines a WITH query at each reference, scanning its tables again each time:
# plan_units.sql reads the candidates 3 times (plan_bundles.sql's two references to plan_objects, the
# skipped counts), plan_manifests.sql twice.
CANDIDATE_SCANS = 3 + 2


def athena_estimate(report: dict, count: int, objects_estimated: int = 10**9) -> str:
    """Data scanned and cost of the SQL plan of ``objects_estimated`` objects on Athena, from the bytes
    measured here (each scan of the candidates reads the report's columns and the catalog's)."""
    report_bytes = report["report_read_bytes"] / count * objects_estimated
    catalog_bytes = report["catalog_read_bytes_per_object"] * objects_estimated  # every object archived once
    scanned = CANDIDATE_SCANS * (report_bytes + catalog_bytes)
    return (f"Athena, {objects_estimated:,} objects (estimate from the bytes measured here): the report's "
            f"{', '.join(REPORT_COLUMNS)} are {report['report_read_bytes'] / count:.1f} bytes an object "
            f"({report_bytes / 1e9:,.1f} GB), the catalog's {', '.join(CATALOG_COLUMNS)} "
            f"{report['catalog_read_bytes_per_object']:.1f} bytes an archived object ({catalog_bytes / 1e9:,.1f} GB "
            f"once all are archived); the two statements read both {CANDIDATE_SCANS} times in all: "
            f"{scanned / 1e9:,.1f} GB scanned, ${scanned / 1e12 * ATHENA_USD_PER_TB:,.2f} at ${ATHENA_USD_PER_TB}/TB. "
            f"Synthetic keys compress well: real ones (longer, less regular) can be 3-5x this.")


def run_way(way: str, folder: Path, count: int, file_count: int, archive_size: int) -> dict:
    import duckdb  # noqa: F401 - imported before the clock starts, in every way (all use it)

    from archiveflow.deep_archive import plan as planner
    from archiveflow.deep_archive.catalog import CatalogIndex
    from archiveflow.deep_archive.request import parse_request

    extra: dict = {}
    engine = LocalPlanEngine(folder) if way == "sql" else None  # its imports (Airflow's hook) before the clock
    start, cpu_start = time.monotonic(), _cpu_seconds()
    if way == "report":
        from devstack.inventory_report import write_report

        manifest, paths = write_report(folder, BUCKET, REPORTS, objects(count), "Parquet", rows_per_file=250_000)
        (folder / "manifest.json").write_text(json.dumps(manifest))
        files, bundles = sum(f["size"] for f in manifest["files"]), 0  # the report's bytes
        extra = {"report_read_bytes": column_bytes(list(paths.values()), REPORT_COLUMNS),
                 "catalog_read_bytes_per_object": catalog_bytes_per_object(folder, min(count, CATALOG_SAMPLE))}
    elif way == "sql":
        conf = {"project_name": "bench", "bucket_name": BUCKET, "prefix": "data/", "file_count": file_count,
                "archive_size": archive_size, "inventory_manifest": f"s3://{REPORTS}/manifest.json"}
        try:
            document = planner.plan(StubS3(folder, count), CatalogIndex(engine.select, "bench", engine=engine),
                                    [parse_request(conf, "bench-archive")], plan_id="bench", plan_bucket=PLANS,
                                    index_table="")
        finally:
            engine.close()
        files, bundles = document["totals"]["files"], document["totals"]["units"]
        written = sum(1 for _ in (folder / "plans").rglob("*.parquet"))
        extra = {"manifest_files": written, "queries": engine.seconds}
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
    return {"way": way, "seconds": round(seconds, 1), "cpu_seconds": round(_cpu_seconds() - cpu_start, 1),
            "files": files, "units": bundles,
            "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024), **extra}


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
            print(f"{way:>9}: {results[way]['seconds']:>7.1f}s ({results[way]['cpu_seconds']:.1f} CPU s)  peak RSS {results[way]['peak_rss_mib']:>6} MiB  "
                  f"{results[way]['files']:,} files in {results[way]['units']:,} units  ({load()})", flush=True)
        for way in ("inventory", "sql"):
            if way in results and "listing" in results:
                print(f"{way} / listing: time {results[way]['seconds'] / results['listing']['seconds']:.2f}, "
                      f"CPU {results[way]['cpu_seconds'] / results['listing']['cpu_seconds']:.2f}")
        if "sql" in results:
            print(f"sql: {results['sql']['manifest_files']:,} manifest files written by DuckDB; seconds per statement "
                  f"{results['sql']['queries']}; peak RSS {results['sql']['peak_rss_mib']} MiB "
                  f"({'under' if results['sql']['peak_rss_mib'] < 1024 else 'OVER'} 1 GiB)")
        print(athena_estimate(report, args.objects))
        print(subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())


if __name__ == "__main__":
    main()
