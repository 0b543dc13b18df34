"""Benchmark: restore look-ups in the archive catalog (the `catalog` index mode) among 10M rows, through
the same engine and SQL files `s3_restore` uses (DuckDB over Iceberg in the emulator's Glue + S3), on a
moto server started here (stopped by pid at the end).

    .venv/bin/python benchmarks/archive_catalog_lookup.py [--rows 10000000] [--bundle-rows 50000]

The table is filled as the packing worker fills it: one pyiceberg commit per bundle, each bundle a
contiguous range of keys (the planner bundles in key order) spread over 10 top-level prefixes.
Then it prints, with the load average:

- **the cold look-up**: one key looked up as `s3_restore`'s look-up task does it, in a new Python
  process (`archive_index` in the `catalog` mode, then `restore.lookup.locate`), timed after the
  process's imports (printed apart): its DuckDB connection, extensions, Glue client and first query
  are all new. Three processes, the median is the figure;
- in this process: rows, data bytes, seconds and bytes read over HTTP (DuckDB's HTTP log: the
  Content-Length of every response, its file cache off) for one key on a new connection (and what
  opening a connection alone takes), another key on the same connection (warm), the planner's check
  of a 1,000-key page, and a bare-name look-up (which neither partition nor bounds narrow) as the
  baseline the key look-up is compared with.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "plugins"))

from emulator import start_moto  # noqa: E402

TEAMS = ("billing", "clickstream", "finance", "iot", "logs", "marketing", "ml", "ops", "sales", "support")


def load() -> str:
    return "load average " + ", ".join(f"{v:.2f}" for v in os.getloadavg())


def connection_env(endpoint: str) -> dict[str, str]:
    aws = {"conn_type": "aws", "login": "test", "password": "test",
           "extra": {"endpoint_url": endpoint, "region_name": "us-east-1"}}
    return {"AIRFLOW_CONN_AWS_DEFAULT": json.dumps(aws),
            "AIRFLOW_CONN_LAKEHOUSE_SQL": json.dumps({"conn_type": "generic",
                                                      "extra": {"engine": "duckdb", "aws_conn_id": "aws_default"}}),
            "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_DEFAULT_REGION": "us-east-1"}


def key_of(n: int, total: int) -> str:
    """The n-th key in key order (10 teams, 12 months each): bundles are ranges of n."""
    team = TEAMS[n * len(TEAMS) // total]
    month = n * len(TEAMS) * 12 // total % 12 + 1
    # The file name does not follow key order (as a sensor's or a day's file names do not): a bare-name
    # look-up, which no partition narrows, cannot skip files by their bounds either.
    return f"{team}/2026/{month:02d}/{n:010d}/reading-{n * 7919 % total:010d}.csv"


def bundle_data(table, start: int, count: int, total: int, bundle: int):
    """One bundle's rows as the worker commits them (built column by column: 10M rows in Python dicts
    would take longer than the commits)."""
    import pyarrow as pa

    from archiveflow.deep_archive.catalog import key_prefix

    numbers = range(start, start + count)
    keys = [key_of(n, total) for n in numbers]
    archived = datetime(2026, 11, 10, 3, 0, 0)
    columns = {
        "source_bucket": ["source-bucket"] * count, "key_prefix": [key_prefix(k) for k in keys], "source_key": keys,
        "file_name": [k.rsplit("/", 1)[1] for k in keys],
        "version": [f"2026-10-01T00:00:00+00:00#{n:032x}" for n in numbers],
        "source_etag": [f'"{n:032x}"' for n in numbers], "source_last_modified": [archived] * count,
        "size": [1000 + n % 90_000 for n in numbers], "project_name": ["bench"] * count,
        "plan_id": ["bench-plan"] * count, "archive_bucket": ["archive-bucket"] * count,
        "archive_key": [f"bench/bench-plan-{bundle:06d}.zip"] * count, "archive_format": ["zip"] * count,
        "storage_class": ["DEEP_ARCHIVE"] * count, "member_name": keys,
        "header_offset": [(n - start) * 1100 for n in numbers], "compressed_size": [900] * count,
        "crc32": [n * 2654435761 % 2**32 for n in numbers], "compression": ["deflate"] * count,
        "archived_at": [archived] * count}
    schema = table.schema().as_arrow()
    return pa.Table.from_pydict({name: columns[name] for name in schema.names}, schema=schema)


def fill(table, total: int, per_bundle: int) -> None:
    """One commit per bundle, as the packing worker makes them (`catalog.append_bundle` without its
    look for an earlier commit: every bundle here is new)."""
    started = time.monotonic()
    for bundle, start in enumerate(range(0, total, per_bundle)):
        table.append(bundle_data(table, start, min(per_bundle, total - start), total, bundle))
        if bundle % 20 == 19:
            print(f"  {start + per_bundle:,} rows committed in {time.monotonic() - started:,.0f} s ({load()})",
                  flush=True)


def cold_lookup(key: str) -> dict:
    """In a new process (run with --cold-lookup): the restore task's look-up of one key, timed after the
    imports; then another look-up on the same index (warm)."""
    began = time.monotonic()
    from archiveflow.hooks.archive_catalog import archive_index
    from archiveflow.restore import lookup

    imported = time.monotonic()
    with archive_index() as (store, _):
        found = lookup.locate(store, "unused-in-the-catalog-mode", [f"source-bucket/{key}"], ["files[0]"],
                              project_name=None, version=None)
        cold = time.monotonic()
        lookup.locate(store, "unused-in-the-catalog-mode", [f"source-bucket/{key}"], ["files[0]"],
                      project_name=None, version=None)
        warm = time.monotonic()
    assert [f.source_key for f in found] == [key], found
    return {"imports": imported - began, "cold": cold - imported, "warm": warm - cold}


def cold_lookups(key: str, runs: int = 3) -> None:
    env = {**os.environ, "AIRFLOW_VAR_ARCHIVEFLOW_ARCHIVE_INDEX_MODE": "catalog"}
    figures = []
    for _ in range(runs):
        done = subprocess.run([sys.executable, __file__, "--cold-lookup", key], env=env, capture_output=True,
                              text=True, timeout=600, check=True)
        figures.append(json.loads(done.stdout.strip().splitlines()[-1]))
        print(f"  new process: imports {figures[-1]['imports']:.2f} s, then the look-up {figures[-1]['cold']:.2f} s "
              f"(the next one on the same index {figures[-1]['warm']:.2f} s) ({load()})", flush=True)
    print(f"COLD look-up of one key, as s3_restore's look-up task makes it (new process, after its imports): "
          f"median {statistics.median(f['cold'] for f in figures):.2f} s of {runs} "
          f"(warm, the next key on the same index: {statistics.median(f['warm'] for f in figures):.2f} s) ({load()})")


def data_bytes(table) -> tuple[int, int]:
    files = list(table.scan().plan_files())
    return len(files), sum(f.file.file_size_in_bytes for f in files)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--bundle-rows", type=int, default=50_000)
    parser.add_argument("--cold-lookup", metavar="KEY", help=argparse.SUPPRESS)  # the child process's part
    args = parser.parse_args()
    if args.cold_lookup:
        print(json.dumps(cold_lookup(args.cold_lookup)))
        return 0
    process, endpoint = start_moto()
    try:
        os.environ.update(connection_env(endpoint))
        import boto3

        from archiveflow import resources
        from archiveflow.hooks.archive_catalog import ArchiveCatalogHook, catalog_identifier

        boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket=resources.bucket("warehouse"))
        boto3.client("glue", endpoint_url=endpoint).create_database(
            DatabaseInput={"Name": resources.glue_database("archive")})

        class LoggedHook(ArchiveCatalogHook):
            """The engine of s3_restore's look-up, with DuckDB's HTTP log on."""

            def duckdb_connection(self):
                self.con = super().duckdb_connection()
                self.con.execute("CALL enable_logging('HTTP')")
                # Every look-up reads what it needs again: what a restore task, on a new connection, reads.
                self.con.execute("SET enable_external_file_cache = false")
                return self.con

            def http_bytes(self) -> tuple[int, int]:
                got = self.con.execute(
                    "SELECT count(*), coalesce(sum(TRY_CAST(response.headers['Content-Length'] AS BIGINT)), 0) "
                    "FROM duckdb_logs_parsed('HTTP') WHERE request.type = 'GET'").fetchone()
                self.con.execute("CALL truncate_duckdb_logs()")
                return got

        hook = LoggedHook()
        table = hook.ensure_table()
        print(f"filling {catalog_identifier()} with {args.rows:,} rows, {args.bundle_rows:,} a bundle ({load()})")
        started = time.monotonic()
        fill(table, args.rows, args.bundle_rows)
        files, size = data_bytes(table.refresh())
        print(f"filled in {time.monotonic() - started:,.0f} s: {files:,} data files, {size / 2**20:,.1f} MiB "
              f"({size / args.rows:,.1f} bytes a row)")

        index = hook.index()
        wanted = key_of(args.rows * 37 // 100, args.rows)
        other = key_of(args.rows * 81 // 100 + 5, args.rows)

        def measure(what: str, ask) -> tuple[float, int]:
            began = time.monotonic()
            found = ask()
            seconds = time.monotonic() - began
            gets, nbytes = hook.http_bytes()
            print(f"{what}: {seconds:.2f} s, {nbytes / 2**20:,.2f} MiB read in {gets} GETs, "
                  f"{sum(len(v) for v in found.values())} row(s) ({load()})")
            return seconds, nbytes

        cold_lookups(wanted)
        began = time.monotonic()
        hook.duckdb_connection().close()
        print(f"opening a DuckDB connection alone (extensions loaded, S3 secret set): "
              f"{time.monotonic() - began:.2f} s ({load()})")
        measure(f"key look-up, new connection in this process ({wanted})", lambda: index.files([f"source-bucket/{wanted}"], False))
        key_seconds, key_bytes = measure(f"key look-up, warm ({other})",
                                         lambda: index.files([f"source-bucket/{other}"], False))
        measure("planner check of a 1,000-key page", lambda: {"page": list(index.newest_etags(
            "source-bucket", [key_of(n, args.rows) for n in range(args.rows // 2, args.rows // 2 + 1000)]))})
        name_seconds, name_bytes = measure("bare-name look-up in the project (the baseline: no partition or bound narrows it)",
                                           lambda: index.files_named("bench", wanted.rsplit("/", 1)[1], False))
        print(f"key look-up vs bare name: {key_bytes / max(name_bytes, 1):.3f}x the bytes, "
              f"{key_seconds / max(name_seconds, 1e-9):.2f}x the time; vs the whole table: "
              f"{key_bytes / size:.4f}x the bytes")
        hook.close()
    finally:
        process.terminate()
        process.wait(timeout=30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
