"""Benchmark (not a test): the rdbms_archival archive step vs raw COPY binary, at two sizes.

    .venv/bin/python benchmarks/rdbms_archival.py [--sizes 1000000 5000000] [--repeat 5]

The default sizes measure throughput: each table also pays ~0.3-0.5 s of fixed cost (Glue
load, Parquet close and upload, the Iceberg commit on the emulator), which dominates a small
table (at 200k rows the ratio is ~0.25 for that reason alone; pass `--sizes 200000` to see it).

Generates a mixed-type table per size in database `archiveflow_bench`, starts its own AWS
emulator (port 5299) unless running, then for each size, in fresh subprocesses (so ru_maxrss is
that step's peak memory):
- `copy`: `COPY (SELECT <every column> FROM <table>) TO STDOUT (FORMAT binary)` read to the end
  (psycopg), the baseline: the same rows in their own types;
- `archive`: `archive_table` as the DAG runs it: count + checksums, ADBC COPY (with the per-row
  digest) -> Arrow -> Parquet on the emulator's S3 -> one Iceberg commit in its Glue catalog, into
  a table dropped before (a first archive: every row is written);
- `rerun`: the same table archived again by another run: every row is found archived unchanged
  (newest versions read back, digests compared) and skipped;
- `checksums`: the count + per-column checksum query alone (the archive runs it concurrently with
  the rows; on a 2-core machine hosting PostgreSQL too, the two mostly take turns).
Prints medians of rows/s, the archive/COPY ratio and peak RSS.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "plugins"), str(REPO)]

from psycopg import sql  # noqa: E402

from devstack import postgres, stack  # noqa: E402

CONFIG = stack.StackConfig(REPO / ".stack" / "bench", 5299, 8299, "archiveflow_bench", "archiveflow_bench")
SCHEMA = "bench"
DDL = """CREATE TABLE IF NOT EXISTS {table} (
    id bigint PRIMARY KEY, qty integer, price numeric(12, 2), score double precision, name text,
    active boolean, created_at timestamptz, day date, ref uuid, note varchar(40))"""
FILL = """INSERT INTO {table}
SELECT g, g %% 1000, (g %% 100000) / 100.0, g * 0.37, 'customer name ' || g, g %% 3 = 0,
       timestamptz '2020-01-01' + g * interval '1 second', date '2020-01-01' + (g %% 2000),
       md5(g::text)::uuid, 'note ' || (g %% 977)
FROM generate_series(1, %s) g"""


def table_name(rows: int) -> str:
    return f"mixed_{rows}"


def prepare(rows: int) -> None:
    import psycopg

    with psycopg.connect(postgres.dsn(CONFIG.source_database), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(SCHEMA)))
        table = sql.Identifier(SCHEMA, table_name(rows))
        conn.execute(sql.SQL(DDL).format(table=table))
        if conn.execute(sql.SQL("SELECT count(*) FROM {}").format(table)).fetchone()[0] != rows:
            conn.execute(sql.SQL("TRUNCATE {}").format(table))
            conn.execute(sql.SQL(FILL).format(table=table), (rows,))
            conn.execute(sql.SQL("VACUUM ANALYZE {}").format(table))
        conn.execute(sql.SQL("SELECT count(*) FROM {}").format(table))  # warm the cache, fetch nothing


def measure(step: str, rows: int, attempt: int) -> dict:
    """One measurement in this (fresh) process."""
    import psycopg

    from archiveflow.hooks.iceberg import IcebergCatalogHook
    from archiveflow.rdbms_archival.archive import archive_table
    from archiveflow.rdbms_archival.request import parse_request
    from archiveflow.rdbms_archival.source import SnapshotRead, plan_table

    dsn = postgres.dsn(CONFIG.source_database)
    request = parse_request({"source_schema": SCHEMA, "source_table": [{"table_name": table_name(rows)}]})
    catalog = IcebergCatalogHook().get_catalog()
    with psycopg.connect(dsn, autocommit=True) as conn:
        plan = plan_table(conn, request, 0, "archiveflow_archive")
        if step == "archive" and catalog.table_exists(plan.iceberg_table):
            catalog.drop_table(plan.iceberg_table)  # a first archive, not a re-run that skips every row
        started = time.perf_counter()
        if step == "copy":
            select = sql.SQL("SELECT {} FROM {}").format(
                sql.SQL(", ").join(sql.Identifier(c.name) for c in plan.columns), plan.source.qualified)
            with conn.cursor().copy(sql.SQL("COPY ({}) TO STDOUT (FORMAT binary)").format(select)) as copy:
                nbytes = sum(len(block) for block in copy)
            done = rows
        elif step == "checksums":
            with SnapshotRead(conn, dsn) as read:
                done, nbytes = read.figures(plan)["row_count"], 0
        else:
            result = archive_table(conn, dsn, catalog, plan, request,
                                   f"bench-{rows}-{attempt}-{time.time_ns()}")
            done, nbytes = result["rows_archived"] + result["rows_skipped"], 0
    elapsed = time.perf_counter() - started
    return {"rows": done, "seconds": elapsed, "rows_per_s": done / elapsed, "bytes": nbytes,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def run_child(step: str, rows: int, attempt: int) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", step, str(rows), str(attempt)], check=True,
                         capture_output=True, text=True, env={**os.environ, **stack.connection_env(CONFIG)})
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 5_000_000])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--child", nargs=3)
    args = parser.parse_args()
    if args.child:
        step, rows, attempt = args.child
        print(json.dumps(measure(step, int(rows), int(attempt))))
        return

    postgres.ensure_running()
    postgres.ensure_database(CONFIG.source_database)
    moto = CONFIG.process("moto")
    started_moto = moto.pid() is None
    stack.start_aws(CONFIG)
    try:
        print(f"{'rows':>9} {'COPY rows/s':>12} {'archive rows/s':>15} {'ratio':>6} {'re-run rows/s':>14} "
              f"{'checksums rows/s':>17} {'archive peak MB':>16} {'COPY peak MB':>13}")
        for rows in args.sizes:
            prepare(rows)
            copies, archives, reruns, checksums = [], [], [], []
            for i in range(args.repeat):  # interleaved, so a slow spell of the machine hits every step
                copies.append(run_child("copy", rows, i))
                archives.append(run_child("archive", rows, i))
                reruns.append(run_child("rerun", rows, i))
                checksums.append(run_child("checksums", rows, i))
            copy_rate = statistics.median(c["rows_per_s"] for c in copies)
            archive_rate = statistics.median(a["rows_per_s"] for a in archives)
            rerun_rate = statistics.median(r["rows_per_s"] for r in reruns)
            checksum_rate = statistics.median(c["rows_per_s"] for c in checksums)
            print(f"{rows:>9} {copy_rate:>12,.0f} {archive_rate:>15,.0f} {archive_rate / copy_rate:>6.2f} "
                  f"{rerun_rate:>14,.0f} {checksum_rate:>17,.0f} "
                  f"{max(a['peak_rss_mb'] for a in archives):>16,.0f} {max(c['peak_rss_mb'] for c in copies):>13,.0f}",
                  flush=True)
    finally:
        if started_moto:
            moto.stop()


if __name__ == "__main__":
    main()
