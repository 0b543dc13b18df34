"""Benchmark (not a test): one generated GH Archive hour through Bronze + Silver + Gold locally.

    .venv/bin/python benchmarks/github_hour.py [--events 250000] [--day 2024-01-15]

1. Starts its own AWS emulator (moto) and GH Archive server on ports of its own (stopped by pid
   at the end), provisions the declared resources.
2. Prefills Silver with hours 0-22 of the day (--events each, event ids in the generator's
   scheme, so hour 23's repeats of hour 22 are real duplicates), written by DuckDB + pyiceberg
   as 23 hourly appends: deduplication runs against a full day. The prefill is synthetic (its
   payloads are short): only ids, partitions and counts matter to the measured hour.
3. Generates hour 23 with devstack.gharchive (--events events, a few large payloads, malformed
   lines and repeats of hour 22).
4. Measures, in a fresh process: `gzip -dc <hour> | wc -l` (the floor), then the hour through
   the DAGs' own operators: ingest_hour (HTTP → Bronze), update_silver (silver_table.sql +
   silver_merge.sql on DuckDB, pyiceberg commit) and update_gold (the three Gold MERGEs of the
   day). Prints seconds per step, events/s and the process's peak RSS.

Goal: under 10 s end to end, peak RSS under 1 GB.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "plugins"), str(REPO)]

from archiveflow.operators.github_gold import GOLD_SQL as GOLD  # noqa: E402
from archiveflow.operators.github_lakehouse import SILVER_SQL as SILVER  # noqa: E402
from devstack import stack  # noqa: E402

CONFIG = stack.StackConfig(REPO / ".stack" / "bench", 5095, 8095, "archiveflow_bench", "archiveflow_airflow_bench",
                           5096, 5097)

PREFILL_SQL = """
SELECT CAST({first_id} + (h.h + {base_hours}) * 1000000 + i.i AS VARCHAR) AS id,
       'PushEvent' AS event_type,
       TIMESTAMP '{day}' + to_hours(h.h) + to_seconds(i.i * 3600 // {events}) AS created_at,
       i.i % 900000000 AS repo_id, 'user' || (i.i % 50000) || '/repo-' || (i.i % 97) AS repo_name,
       i.i % 200000 AS actor_id, 'user' || (i.i % 50000) AS actor_login, 'opened' AS payload_action,
       '{{"action":"opened","number":' || i.i || '}}' AS payload_raw,
       DATE '{day}' AS ingest_dt, {year} AS year, {month} AS month
FROM range({hour}, {hour} + 1) h(h), range(0, {events}) i(i)
"""


def operator_context() -> dict:
    return {"params": {"http_conn_id": "gharchive_default", "max_malformed_percent": 1.0}, "run_id": "benchmark"}


def prefill_silver(day: dt.date, events: int) -> None:
    from archiveflow.operators.github_lakehouse import RegisterBronzeTableOperator
    from archiveflow.operators.lakehouse_sql import LakehouseSqlOperator
    from devstack.gharchive import FIRST_ID

    RegisterBronzeTableOperator(task_id="bronze_table").execute(operator_context())
    LakehouseSqlOperator(task_id="silver_table", sql=SILVER[0]).execute(operator_context())
    from archiveflow.hooks.iceberg import IcebergCatalogHook
    from archiveflow.hooks.lakehouse_sql import LakehouseSqlHook

    table = IcebergCatalogHook().catalog.load_table("archiveflow_lakehouse.github_events_silver")
    base_hours = int((dt.datetime.combine(day, dt.time()) - dt.datetime(2011, 2, 12)).total_seconds() // 3600)
    con = LakehouseSqlHook().duckdb_connection()
    for hour in range(23):
        sql = PREFILL_SQL.format(first_id=FIRST_ID, base_hours=base_hours, day=day.isoformat(), events=events,
                                 year=day.year, month=day.month, hour=hour)
        rows = con.execute(sql).fetch_arrow_table()
        table.append(rows.cast(table.schema().as_arrow()))
        print(f"  prefilled Silver hour {hour:2d}: {rows.num_rows:,} rows", flush=True)
    con.close()


def measure(hour_name: str) -> dict:
    """The measured part, run in a fresh process (its peak RSS is the figure)."""
    from archiveflow import resources
    from archiveflow.github_lakehouse.bronze import GhHour
    from archiveflow.operators.github_lakehouse import IngestHourOperator, silver_parameters
    from archiveflow.operators.lakehouse_sql import LakehouseSqlOperator

    hour = GhHour.parse(hour_name)
    bucket = resources.bucket("lakehouse")
    plan = {"hour": hour.name, "source_path": hour.source_path, "bucket": bucket, "key": hour.bronze_key}
    steps, started = {}, time.monotonic()
    bronze = IngestHourOperator(task_id="ingest_hour", plan=plan).execute(operator_context())
    steps["bronze"] = time.monotonic() - started
    mark = time.monotonic()
    silver = LakehouseSqlOperator(task_id="update_silver", sql=SILVER, parameters=silver_parameters(
        hour.ingest_dt, f"s3://{bucket}/{hour.bronze_key}")).execute(operator_context())
    steps["silver"] = time.monotonic() - mark
    mark = time.monotonic()
    gold = LakehouseSqlOperator(task_id="update_gold", sql=GOLD, parameters={"ingest_dt": hour.ingest_dt}).execute(
        operator_context())
    steps["gold"] = time.monotonic() - mark
    steps["total"] = time.monotonic() - started
    peak_kib = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
    statements = {r["sql"].rsplit("/", 1)[-1]: r["seconds"] for r in [*silver, *gold]}
    return {"steps": steps, "statements": statements, "peak_rss_mib": peak_kib / 1024, "bronze_written": bronze["written"],
            "malformed": bronze["malformed_lines"], "silver_inserted": silver[1]["rows_written"],
            "gold_rows": [g.get("rows_written") for g in gold[3:]]}


def floor_seconds(path: Path) -> tuple[float, int]:
    started = time.monotonic()
    out = subprocess.run(f"gzip -dc {path} | wc -l", shell=True, check=True, capture_output=True, text=True).stdout
    return time.monotonic() - started, int(out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=250_000)
    parser.add_argument("--day", default="2024-01-15")
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.environ.update(stack.connection_env(CONFIG))
    os.environ["AIRFLOW_HOME"] = str(CONFIG.airflow_home)
    if args.measure:
        print(json.dumps(measure(args.measure)))
        return 0

    from devstack.gharchive import generate_hour

    day = dt.date.fromisoformat(args.day)
    started = [name for name in ("moto", *stack.GITHUB_SOURCES) if CONFIG.process(name).pid() is None]
    try:
        stack.start_aws(CONFIG)
        # A clean emulator: the prefill below must be the only Silver there is.
        urllib.request.urlopen(urllib.request.Request(f"{CONFIG.aws_endpoint}/moto-api/reset", method="POST")).close()
        stack.provision(CONFIG.aws_endpoint, stack.REGION)
        stack.start_github_sources(CONFIG)
        print(f"prefilling Silver with hours 0-22 of {day} ({args.events:,} events each)…", flush=True)
        prefill_silver(day, args.events)
        hour_name = f"{day}-23"
        entry = generate_hour(CONFIG.gharchive_dir, hour_name, events=args.events)
        path = CONFIG.gharchive_dir / entry["file"]
        floor, lines = floor_seconds(path)
        result = subprocess.run([sys.executable, __file__, "--measure", hour_name, "--events", str(args.events)],
                                capture_output=True, text=True, env={**os.environ})
        if result.returncode:
            raise RuntimeError(f"the measured run failed:\n{result.stderr[-4000:]}")
        figures = json.loads(result.stdout.strip().splitlines()[-1])
        steps = figures["steps"]
        print(f"hour {hour_name}: {lines:,} lines, {entry['bytes'] / 2**20:.1f} MiB gzip; "
              f"gzip -dc | wc -l {floor:.2f} s (floor)")
        print("  " + ", ".join(f"{k} {v:.2f} s" for k, v in steps.items()))
        print("  statements: " + ", ".join(f"{k} {v:.2f} s" for k, v in figures["statements"].items()))
        print(f"  {figures['bronze_written']:,} events in {steps['total']:.2f} s = "
              f"{figures['bronze_written'] / steps['total']:,.0f} events/s; peak RSS {figures['peak_rss_mib']:.0f} MiB")
        print(f"  Silver inserted {figures['silver_inserted']:,} (repeats of hour 22 removed: "
              f"{figures['bronze_written'] - figures['silver_inserted']}); load average {os.getloadavg()}")
    finally:
        for name in started:
            CONFIG.process(name).stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
