"""Benchmark (not a test): the rdbms_archival archive step vs raw COPY binary, at two sizes, read by
one connection and by two, and on a table of wide rows.

    .venv/bin/python benchmarks/rdbms_archival.py [--sizes 1000000 5000000] [--repeat 3] [--wide-mb 256]

The full run is `--sizes 1000000 5000000 --repeat 5 --wide-mb 2048` (the issue's ~2 GB wide table).
The default sizes measure throughput: each table also pays ~0.3-0.5 s of fixed cost (Glue
load, Parquet close and upload, the Iceberg commit on the emulator), which dominates a small
table (at 200k rows the ratio is ~0.25 for that reason alone; pass `--sizes 200000` to see it).

Generates a mixed-type table per size in database `archiveflow_bench` (`_N` with
ARCHIVEFLOW_TEST_STACK=N, whose emulator port is 5299 + N), starts its own AWS emulator unless
running, then for each size, in fresh subprocesses (so ru_maxrss is that step's peak memory):
- `copy`: `COPY (SELECT <every column> FROM <table>) TO STDOUT (FORMAT binary)` read to the end
  (psycopg), the baseline: the same rows in their own types;
- `archive`: `archive_table` as the DAG runs it: count + checksums, ADBC COPY (with the per-row
  digest) -> Arrow -> Parquet on the emulator's S3 -> one Iceberg commit in its Glue catalog, into
  a table dropped before (a first archive: every row is written);
- `archive2`: the same with `read_streams` 2 (two connections, one snapshot, two key ranges);
- `rerun`: the same table archived again by another run: every row is found archived unchanged
  (newest versions read back, digests compared) and skipped;
- `checksums`: the count + per-column checksum query alone (the archive runs it concurrently with
  the rows; on a 2-core machine hosting PostgreSQL too, the two mostly take turns).
Then `copy` and `archive` of a table of wide rows (1-8 KB text and jsonb, a 64 KB bytea; about
`--wide-mb` MB): the line with "wide" and the archive's peak RSS in MB.
Prints medians of rows/s, the archive/COPY ratio and peak RSS, each line after `uptime`'s load average.
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

_N = int(os.environ.get("ARCHIVEFLOW_TEST_STACK", "0"))  # helpers sharing a machine: one emulator each
_SUFFIX = f"_{_N}" if _N else ""
CONFIG = stack.StackConfig(REPO / ".stack" / f"bench{_SUFFIX}", 5299 + _N, 8299 + _N, f"archiveflow_bench{_SUFFIX}",
                           f"archiveflow_bench{_SUFFIX}")
SCHEMA = "bench"
DDL = """CREATE TABLE IF NOT EXISTS {table} (
    id bigint PRIMARY KEY, qty integer, price numeric(12, 2), score double precision, name text,
    active boolean, created_at timestamptz, day date, ref uuid, note varchar(40))"""
FILL = """INSERT INTO {table}
SELECT g, g %% 1000, (g %% 100000) / 100.0, g * 0.37, 'customer name ' || g, g %% 3 = 0,
       timestamptz '2020-01-01' + g * interval '1 second', date '2020-01-01' + (g %% 2000),
       md5(g::text)::uuid, 'note ' || (g %% 977)
FROM generate_series(1, %s) g"""


WIDE_DDL = "CREATE TABLE IF NOT EXISTS {table} (id bigint PRIMARY KEY, body text, doc jsonb, blob bytea)"
WIDE_FILL = """INSERT INTO {table}
SELECT g, repeat(md5(g::text), 32 + g %% 224),
       jsonb_build_object('id', g, 'pad', repeat(md5((g + 1)::text), 32 + (g * 7) %% 224)),
       decode(repeat(md5((g + 2)::text), 2048), 'hex')
FROM generate_series(1, %s) g"""
WIDE_ROW_BYTES = 64 * 1024 + 2 * 4500  # the bytea, and the text and jsonb values' mean


def table_name(rows: int, wide: bool = False) -> str:
    return f"{'wide' if wide else 'mixed'}_{rows}"


def prepare(rows: int, wide: bool = False) -> None:
    import psycopg

    with psycopg.connect(postgres.dsn(CONFIG.source_database), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(SCHEMA)))
        table = sql.Identifier(SCHEMA, table_name(rows, wide))
        conn.execute(sql.SQL(WIDE_DDL if wide else DDL).format(table=table))
        if conn.execute(sql.SQL("SELECT count(*) FROM {}").format(table)).fetchone()[0] != rows:
            conn.execute(sql.SQL("TRUNCATE {}").format(table))
            conn.execute(sql.SQL(WIDE_FILL if wide else FILL).format(table=table), (rows,))
            conn.execute(sql.SQL("VACUUM ANALYZE {}").format(table))
        conn.execute(sql.SQL("SELECT count(*) FROM {}").format(table))  # warm the cache, fetch nothing


def load_average() -> str:
    with open("/proc/loadavg") as f:
        return "load average " + ", ".join(f.read().split()[:3])


def measure(step: str, name: str, attempt: int) -> dict:
    """One measurement in this (fresh) process."""
    import psycopg

    from archiveflow.hooks.iceberg import IcebergCatalogHook
    from archiveflow.rdbms_archival.archive import archive_table
    from archiveflow.rdbms_archival.request import parse_request
    from archiveflow.rdbms_archival.source import SnapshotRead, plan_table

    dsn = postgres.dsn(CONFIG.source_database)
    streams = {"read_streams": 2, "parallel_read_min_mb": 0} if step == "archive2" else {}
    request = parse_request({"source_schema": SCHEMA, "source_table": [{"table_name": name}], **streams})
    catalog = IcebergCatalogHook().get_catalog()
    with psycopg.connect(dsn, autocommit=True) as conn:
        plan = plan_table(conn, request, 0, "archiveflow_archive")
        if step in ("archive", "archive2") and catalog.table_exists(plan.iceberg_table):
            catalog.drop_table(plan.iceberg_table)  # a first archive, not a re-run that skips every row
        count = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(plan.source.qualified)).fetchone()[0]
        started = time.perf_counter()
        if step == "copy":
            select = sql.SQL("SELECT {} FROM {}").format(
                sql.SQL(", ").join(sql.Identifier(c.name) for c in plan.columns), plan.source.qualified)
            with conn.cursor().copy(sql.SQL("COPY ({}) TO STDOUT (FORMAT binary)").format(select)) as copy:
                nbytes = sum(len(block) for block in copy)
            done = count
        elif step == "checksums":
            with SnapshotRead(conn, dsn) as read:
                done, nbytes = read.figures(plan)["row_count"], 0
        else:
            result = archive_table(conn, dsn, catalog, plan, request,
                                   f"bench-{name}-{attempt}-{time.time_ns()}")
            done, nbytes = result["rows_archived"] + result["rows_skipped"], 0
    elapsed = time.perf_counter() - started
    return {"rows": done, "seconds": elapsed, "rows_per_s": done / elapsed, "bytes": nbytes,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def run_child(step: str, name: str, attempt: int) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", step, name, str(attempt)], check=True,
                         capture_output=True, text=True, env={**os.environ, **stack.connection_env(CONFIG)})
    return json.loads(out.stdout.strip().splitlines()[-1])


def medians(name: str, steps: tuple[str, ...], repeat: int) -> dict[str, tuple[float, float]]:
    """step -> (median rows/s, peak RSS MB of its runs); the steps interleaved, so a slow spell of
    the machine hits every one."""
    runs: dict[str, list[dict]] = {step: [] for step in steps}
    for i in range(repeat):
        for step in steps:
            runs[step].append(run_child(step, name, i))
    return {step: (statistics.median(r["rows_per_s"] for r in done), max(r["peak_rss_mb"] for r in done))
            for step, done in runs.items()}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 5_000_000])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--wide-mb", type=int, default=256, help="about this much wide-row data (full run: 2048)")
    parser.add_argument("--child", nargs=3)
    args = parser.parse_args()
    if args.child:
        step, name, attempt = args.child
        print(json.dumps(measure(step, name, int(attempt))))
        return

    postgres.ensure_running()
    postgres.ensure_database(CONFIG.source_database)
    moto = CONFIG.process("moto")
    started_moto = moto.pid() is None
    stack.start_aws(CONFIG)
    try:
        print(f"{'rows':>9} {'COPY rows/s':>12} {'archive rows/s':>15} {'ratio':>6} {'N=2 rows/s':>11} "
              f"{'N=2 ratio':>9} {'re-run rows/s':>14} {'checksums rows/s':>17} {'archive peak MB':>16} "
              f"{'N=2 peak MB':>12} {'COPY peak MB':>13}")
        for rows in args.sizes:
            prepare(rows)
            m = medians(table_name(rows), ("copy", "archive", "archive2", "rerun", "checksums"), args.repeat)
            copy = m["copy"][0]
            print(f"{rows:>9} {copy:>12,.0f} {m['archive'][0]:>15,.0f} {m['archive'][0] / copy:>6.2f} "
                  f"{m['archive2'][0]:>11,.0f} {m['archive2'][0] / copy:>9.2f} {m['rerun'][0]:>14,.0f} "
                  f"{m['checksums'][0]:>17,.0f} {m['archive'][1]:>16,.0f} {m['archive2'][1]:>12,.0f} "
                  f"{m['copy'][1]:>13,.0f}   ({load_average()})", flush=True)
        if args.wide_mb:
            rows = max(1, args.wide_mb * 1024 * 1024 // WIDE_ROW_BYTES)
            prepare(rows, wide=True)
            m = medians(table_name(rows, wide=True), ("copy", "archive"), args.repeat)
            print(f"wide rows (1-8 KB text and jsonb, 64 KB bytea; {rows:,} rows, ~{args.wide_mb} MB): COPY "
                  f"{m['copy'][0]:,.0f} rows/s, archive {m['archive'][0]:,.0f} rows/s (ratio "
                  f"{m['archive'][0] / m['copy'][0]:.2f}), archive peak RSS {m['archive'][1]:,.0f} MB, COPY peak RSS "
                  f"{m['copy'][1]:,.0f} MB   ({load_average()})", flush=True)
    finally:
        if started_moto:
            moto.stop()


if __name__ == "__main__":
    main()
