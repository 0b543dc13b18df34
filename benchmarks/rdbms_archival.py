"""Benchmark (not a test): the rdbms_archival archive step vs raw COPY binary, at two sizes, read by
one connection and by two, and on a table of wide rows.

    .venv/bin/python benchmarks/rdbms_archival.py [--sizes 1000000 5000000] [--repeat 3] [--wide-mb 256]
                                                  [--acceptance]

The full run is `--sizes 1000000 5000000 --repeat 5 --wide-mb 2048` (the issue's ~2 GB wide table);
`--acceptance` measures only what issue 30's acceptance asks (no re-run, no checksums alone; the
wide rows and the Airflow task once).
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
Then `airflow`: the archive step as the DAG's task, through `dag.test()` (with `validate_request`,
its upstream) on the first size, in its own metadata database: the peak RSS of that process.
Prints medians of rows/s, the archive/COPY ratio and peak RSS, each line after `uptime`'s load
average, and per size the CPU seconds per 1M rows of each step (see `CpuMeter`)."""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import threading
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


_TICK = os.sysconf("SC_CLK_TCK")


def _cpu_seconds(pid: int | str) -> float | None:
    """utime + stime of a process (all its threads), from /proc."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rpartition(")")[2].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / _TICK


class CpuMeter:
    """CPU seconds a step costs, where it is spent: this process, the PostgreSQL backends of the
    benchmark's database (found by their process title, polled while they live: a backend's last
    ~0.1 s before it exits can be missed) and the emulator. The machine is shared: CPU seconds
    per row are the figure that load does not move much, unlike rows/s."""

    def __init__(self):
        self.database = f" {CONFIG.source_database} ".encode()
        self.emulator = CONFIG.process("moto").pid()
        self.backends: dict[str, list[float]] = {}  # pid -> [CPU when first seen, last seen]
        self.stopped = threading.Event()
        self.sampler_cpu = 0.0

    def _poll(self, scan: bool) -> None:
        if scan:
            for pid in os.listdir("/proc"):
                if pid.isdigit() and pid not in self.backends:
                    try:
                        with open(f"/proc/{pid}/cmdline", "rb") as f:
                            title = f.read()
                    except OSError:
                        continue
                    if title.startswith(b"postgres: ") and self.database in title:
                        cpu = _cpu_seconds(pid)
                        if cpu is not None:
                            self.backends[pid] = [cpu if self.started is None else 0.0, cpu]
        for pid, seen in self.backends.items():
            cpu = _cpu_seconds(pid)
            if cpu is not None:
                seen[1] = max(seen[1], cpu)

    def _run(self) -> None:
        ticks = 0
        while not self.stopped.wait(0.05):
            self._poll(scan=ticks % 5 == 0)
            ticks += 1
        self.sampler_cpu = time.thread_time()

    def __enter__(self) -> CpuMeter:
        self.started = None
        self._poll(scan=True)  # backends open before the step count from their CPU now
        self.started = time.perf_counter()
        self.own = resource.getrusage(resource.RUSAGE_SELF)
        self.emulator_cpu = _cpu_seconds(self.emulator) if self.emulator else None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        own = resource.getrusage(resource.RUSAGE_SELF)
        self.stopped.set()
        self.thread.join()
        self._poll(scan=True)
        self.client = (own.ru_utime + own.ru_stime - self.own.ru_utime - self.own.ru_stime) - self.sampler_cpu
        self.postgres = sum(last - first for first, last in self.backends.values())
        end = _cpu_seconds(self.emulator) if self.emulator else None
        self.emulator_s = end - self.emulator_cpu if end is not None and self.emulator_cpu is not None else 0.0


def measure(step: str, name: str, attempt: int) -> dict:
    """One measurement in this (fresh) process."""
    if step == "airflow":
        return measure_as_airflow_task(name, attempt)
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
        meter = CpuMeter().__enter__()
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
        meter.__exit__()
    return {"rows": done, "seconds": elapsed, "rows_per_s": done / elapsed, "bytes": nbytes,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "cpu_s": {"client": meter.client, "postgres": meter.postgres, "emulator": meter.emulator_s}}


AIRFLOW_DB = f"{CONFIG.airflow_database}_airflow"  # dag.test()'s metadata database


def airflow_env() -> dict[str, str]:
    env = {k: v for k, v in stack.full_env(CONFIG).items() if k != "PATH"}
    return {**env, "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": stack.sqlalchemy_url(AIRFLOW_DB)}


def measure_as_airflow_task(name: str, attempt: int) -> dict:
    """The archive step as the DAG's `archive_table` task (after `validate_request`, its upstream),
    run by `dag.test()` in this process: the peak RSS an Airflow task process reaches with it."""
    from airflow.dag_processing.dagbag import DagBag
    from airflow.utils.state import DagRunState

    from archiveflow import resources
    from archiveflow.hooks.iceberg import IcebergCatalogHook
    from archiveflow.rdbms_archival.naming import iceberg_table_name

    bag = DagBag(dag_folder=str(REPO / "dags" / "rdbms_archival.py"))
    dag = bag.dags["rdbms_archival"].partial_subset(task_ids=["archive_table"], include_upstream=True)
    catalog = IcebergCatalogHook().get_catalog()
    identifier = f"{resources.glue_database('archive')}.{iceberg_table_name(CONFIG.source_database, SCHEMA, name)}"
    if catalog.table_exists(identifier):
        catalog.drop_table(identifier)  # a first archive
    with open("/proc/self/status") as f:  # Airflow and the DAG loaded, nothing run yet
        before = next(int(line.split()[1]) for line in f if line.startswith("VmRSS:")) / 1024
    started = time.perf_counter()
    run = dag.test(run_conf={"source_schema": SCHEMA, "source_table": [{"table_name": name}], "purge": False,
                             "retention_policy": 6, "triggered_by": "benchmark",
                             "triggered_by_email": "benchmark@example.com"})
    elapsed = time.perf_counter() - started
    if run.state != DagRunState.SUCCESS:
        raise SystemExit(f"dag.test() ended {run.state}: {[(t.task_id, t.state) for t in run.get_task_instances()]}")
    return {"rows": 0, "seconds": elapsed, "rows_per_s": 0.0, "bytes": 0, "rss_before_mb": before,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def run_child(step: str, name: str, attempt: int) -> dict:
    env = {**os.environ, **stack.connection_env(CONFIG), **(airflow_env() if step == "airflow" else {})}
    out = subprocess.run([sys.executable, __file__, "--child", step, name, str(attempt)], check=True,
                         capture_output=True, text=True, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])


def medians(name: str, steps: tuple[str, ...], repeat: int) -> dict[str, dict]:
    """step -> {"rows_per_s": median, "peak_mb": max peak RSS, "cpu": median CPU s per 1M rows
    (client, postgres, emulator)}; the steps interleaved, so a slow spell of the machine hits every one."""
    runs: dict[str, list[dict]] = {step: [] for step in steps}
    for i in range(repeat):
        for step in steps:
            runs[step].append(run_child(step, name, i))
    result = {}
    for step, done in runs.items():
        cpu = {part: statistics.median(r["cpu_s"][part] * 1e6 / r["rows"] for r in done)
               for part in ("client", "postgres", "emulator")} if "cpu_s" in done[0] and done[0]["rows"] else {}
        result[step] = {"rows_per_s": statistics.median(r["rows_per_s"] for r in done),
                        "peak_mb": max(r["peak_rss_mb"] for r in done), "cpu": cpu}
    return result


def cpu_text(cpu: dict) -> str:
    return (f"{sum(cpu.values()):.2f} s (client {cpu['client']:.2f}, PostgreSQL {cpu['postgres']:.2f}, "
            f"emulator {cpu['emulator']:.2f})")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 5_000_000])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--wide-mb", type=int, default=256, help="about this much wide-row data (full run: 2048)")
    parser.add_argument("--acceptance", action="store_true",
                        help="only what issue 30's acceptance asks: COPY, N=1, N=2 at each size, the wide rows "
                             "(once), the Airflow task's peak RSS (once); no re-run, no checksums-alone step")
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
    steps = ("copy", "archive", "archive2") if args.acceptance else ("copy", "archive", "archive2", "rerun", "checksums")
    try:
        print(f"{'rows':>9} {'COPY rows/s':>12} {'archive rows/s':>15} {'ratio':>6} {'N=2 rows/s':>11} "
              f"{'N=2 ratio':>9} {'re-run rows/s':>14} {'checksums rows/s':>17} {'archive peak MB':>16} "
              f"{'N=2 peak MB':>12} {'COPY peak MB':>13}")
        for rows in args.sizes:
            prepare(rows)
            m = medians(table_name(rows), steps, args.repeat)
            copy = m["copy"]["rows_per_s"]
            extra = {step: f"{m[step]['rows_per_s']:,.0f}" if step in m else "-" for step in ("rerun", "checksums")}
            print(f"{rows:>9} {copy:>12,.0f} {m['archive']['rows_per_s']:>15,.0f} "
                  f"{m['archive']['rows_per_s'] / copy:>6.2f} {m['archive2']['rows_per_s']:>11,.0f} "
                  f"{m['archive2']['rows_per_s'] / copy:>9.2f} {extra['rerun']:>14} {extra['checksums']:>17} "
                  f"{m['archive']['peak_mb']:>16,.0f} {m['archive2']['peak_mb']:>12,.0f} {m['copy']['peak_mb']:>13,.0f}"
                  f"   ({load_average()})", flush=True)
            print(f"{'':>9} CPU per 1M rows: COPY {cpu_text(m['copy']['cpu'])}; archive {cpu_text(m['archive']['cpu'])}; "
                  f"N=2 {cpu_text(m['archive2']['cpu'])}", flush=True)
        if args.wide_mb:
            rows = max(1, args.wide_mb * 1024 * 1024 // WIDE_ROW_BYTES)
            prepare(rows, wide=True)
            m = medians(table_name(rows, wide=True), ("copy", "archive"), 1 if args.acceptance else args.repeat)
            print(f"wide rows (1-8 KB text and jsonb, 64 KB bytea; {rows:,} rows, ~{args.wide_mb} MB): COPY "
                  f"{m['copy']['rows_per_s']:,.0f} rows/s, archive {m['archive']['rows_per_s']:,.0f} rows/s (ratio "
                  f"{m['archive']['rows_per_s'] / m['copy']['rows_per_s']:.2f}), archive peak RSS "
                  f"{m['archive']['peak_mb']:,.0f} MB, COPY peak RSS {m['copy']['peak_mb']:,.0f} MB   "
                  f"({load_average()})", flush=True)
        rows = args.sizes[0]
        postgres.ensure_database(AIRFLOW_DB)
        subprocess.run([str(Path(sys.executable).parent / "airflow"), "db", "migrate"], check=True,
                       capture_output=True, env={**os.environ, **airflow_env()})
        task = run_child("airflow", table_name(rows), 0)
        print(f"as an Airflow task (dag.test(): validate_request then archive_table, one process, Airflow "
              f"included), {rows:,} rows: peak RSS {task['peak_rss_mb']:,.0f} MB (the process held "
              f"{task['rss_before_mb']:,.0f} MB before the run, Airflow and the DAG loaded), {task['seconds']:.1f} s   "
              f"({load_average()})", flush=True)
    finally:
        if started_moto:
            moto.stop()


if __name__ == "__main__":
    main()
