"""python -m devstack {up,down,status,env,demo}: what `make up/down/status/env/demo` run."""

from __future__ import annotations

import argparse
import logging
import os
import shlex
import sys
import time

from devstack import stack
from devstack.airflow_api import AirflowApi

DEMO_DAG = "rdbms_archival"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack", description=__doc__)
    parser.add_argument("command", choices=["up", "down", "status", "env", "demo"])
    parser.add_argument("--no-airflow", action="store_true", help="up: only PostgreSQL and the AWS emulator")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    config = stack.StackConfig.default()

    if args.command == "up":
        started = time.monotonic()
        stack.up(config, airflow=not args.no_airflow)
        print(f"stack up in {time.monotonic() - started:.0f}s")
        _print_status(config)
    elif args.command == "down":
        stopped = stack.down(config)
        print("stopped: " + (", ".join(stopped) or "nothing was running"))
    elif args.command == "status":
        _print_status(config)
    elif args.command == "env":
        for key, value in stack.full_env(config).items():
            print(f"export {key}={shlex.quote(value)}")
    elif args.command == "demo":
        return demo(config)
    return 0


def _print_status(config: stack.StackConfig) -> None:
    for name, pid, where in stack.status(config):
        state = "stopped" if pid is None else ("running" if pid == 0 else f"running (pid {pid})")
        print(f"  {name:<14} {state:<22} {where}")
    print(f"  logs: {config.home / 'logs'}")


def demo(config: stack.StackConfig) -> int:
    """The main job end to end: archive the seeded demo tables with the Archive-IO sample payload."""
    from devstack.seed_rdbms_demo import DEMO_CONF

    stack.up(config)
    api = AirflowApi(config.api_url)
    api.wait_for_dag(DEMO_DAG)
    run_id = f"demo__{time.strftime('%Y%m%dT%H%M%S')}"
    response = api.trigger(DEMO_DAG, DEMO_CONF, run_id=run_id)
    response.raise_for_status()
    print(f"triggered {DEMO_DAG} run {run_id} with the Archive-IO sample payload; waiting…")
    run = api.wait_for_run(DEMO_DAG, run_id)
    for ti in sorted(api.task_instances(DEMO_DAG, run_id), key=lambda ti: ti["start_date"] or "~"):
        index = "" if ti["map_index"] < 0 else f"[{ti['map_index']}]"
        print(f"  {ti['task_id'] + index:<28} {ti['state']}")
    _print_archival_record(config, run_id)
    print(f"run {run_id}: {run['state']}")
    print(f"UI: {config.api_url}/dags/{DEMO_DAG}/runs/{run_id}  (login admin / admin)")
    print(f"logs: {config.home / 'logs'}   stop everything: make down")
    lakehouse_ok = _demo_lakehouse(api, config)
    archive_ok = _demo_archive_page(api, config)
    return 0 if run["state"] == "success" and lakehouse_ok and archive_ok else 1


DEMO_PROJECT = "demo-project"


def _demo_archive_page(api: AirflowApi, config: stack.StackConfig) -> bool:
    """A small project packed by s3_deep_archive into the archive catalog (the Variable set to the
    `catalog` index mode on this stack), so the archive page has files to show; prints its address."""
    import boto3

    from archiveflow import resources
    from archiveflow.hooks.archive_catalog import INDEX_MODE_VARIABLE

    variables = f"{api.base_url}/api/v2/variables"
    api.session.delete(f"{variables}/{INDEX_MODE_VARIABLE}", timeout=30)
    api.session.post(variables, json={"key": INDEX_MODE_VARIABLE, "value": "catalog"}, timeout=30).raise_for_status()
    s3 = boto3.client("s3", **config.boto_args())
    source = resources.bucket("source")
    for month in range(1, 7):
        for store in ("north", "south", "east"):
            key = f"{DEMO_PROJECT}/sales/2026-{month:02d}/{store}.csv"
            rows = "".join(f"2026-{month:02d}-{day:02d},{store},{(month * 37 + day * 11) % 500}\n" for day in range(1, 29))
            s3.put_object(Bucket=source, Key=key, Body=f"date,store,total\n{rows}".encode())
    s3.put_object(Bucket=source, Key=f"{DEMO_PROJECT}/contracts/README.txt", Body=b"Signed contracts, 2026.\n")
    conf = {"project_name": DEMO_PROJECT, "bucket_name": source, "prefix": f"{DEMO_PROJECT}/", "file_count": 8,
            "archive_size": 10, "output_prefix": DEMO_PROJECT, "storage_class": "DEEP_ARCHIVE",
            "require_approval": False}
    run_id = f"demo__{time.strftime('%Y%m%dT%H%M%S')}"
    api.wait_for_dag("s3_deep_archive")
    api.trigger("s3_deep_archive", conf, run_id=run_id).raise_for_status()
    print(f"\ntriggered s3_deep_archive run {run_id}: packing {DEMO_PROJECT} (19 files) into the archive catalog; waiting…")
    run = api.wait_for_run("s3_deep_archive", run_id)
    print(f"s3_deep_archive run {run_id}: {run['state']}")
    print(f"Archive page: {config.api_url}/plugin/archive  (in the Airflow UI's nav as \"Archive\"; "
          f"on its own: {config.api_url}/archive/?prefix={DEMO_PROJECT}/ ; admin / admin, or viewer / viewer)")
    return run["state"] == "success"


def _demo_lakehouse(api: AirflowApi, config: stack.StackConfig) -> bool:
    """One GH Archive hour through Bronze → Silver (github_ingestion), then Gold (github_gold, run by
    the Silver Asset), and Gold's top rows with the example queries."""
    import datetime as dt

    from archiveflow.github_lakehouse.bronze import GhHour
    from devstack.gharchive import generate_hour
    from devstack.lakehouse_query import format_rows, run_query

    hour = GhHour.of(dt.datetime.now(dt.UTC) - dt.timedelta(hours=1))
    if not (config.gharchive_dir / hour.source_path).exists():   # `make up` seeded the hours before it
        generate_hour(config.gharchive_dir, hour, events=2000)
    run_id = f"demo__{time.strftime('%Y%m%dT%H%M%S')}"
    api.wait_for_dag("github_gold")
    api.trigger("github_ingestion", {"hour": hour.name}, run_id=run_id).raise_for_status()
    print(f"\ntriggered github_ingestion run {run_id} for GH Archive hour {hour.name}; waiting…")
    if api.wait_for_run("github_ingestion", run_id)["state"] != "success":
        print("github_ingestion failed: see the UI")
        return False
    gold = _wait_for_gold_after(api, run_id)
    print(f"github_gold run {gold['dag_run_id']} (triggered by the Silver Asset): {gold['state']}")
    # The queries run here, on the stack's connections and Airflow home (not ~/airflow).
    os.environ.update({k: v for k, v in stack.full_env(config).items() if k != "PATH"})
    for name in ("top_event_types", "top_repositories"):
        print(f"\n{name} for {hour.ingest_dt}:\n{format_rows(*run_query(name, hour.ingest_dt))}")
    return gold["state"] == "success"


def _wait_for_gold_after(api: AirflowApi, ingestion_run_id: str, timeout: float = 300) -> dict:
    started = api.get(f"/dags/github_ingestion/dagRuns/{ingestion_run_id}")["start_date"]
    deadline = time.monotonic() + timeout
    while True:
        runs = api.get("/dags/github_gold/dagRuns", order_by="-run_after", limit=5)["dag_runs"]
        done = [r for r in runs if r["run_after"] >= started[:19] and r["state"] in ("success", "failed")]
        if done:
            return done[0]
        if time.monotonic() > deadline:
            raise TimeoutError(f"no github_gold run ended within {timeout:.0f}s of the Silver update")
        time.sleep(3)


def _print_archival_record(config: stack.StackConfig, run_id: str) -> None:
    """What the run recorded in DynamoDB: rows per table, Iceberg snapshot, report location."""
    import boto3
    from boto3.dynamodb.conditions import Key

    from archiveflow import resources
    from archiveflow.rdbms_archival import metadata

    dynamodb = boto3.resource("dynamodb", **config.boto_args())
    items = dynamodb.Table(resources.dynamodb_table("runs")).query(
        KeyConditionExpression=Key("pk").eq(metadata.run_pk(run_id)))["Items"]
    for item in sorted(items, key=lambda i: i["sk"]):
        if item["sk"].startswith("table#"):
            print(f"  {item['table']:<40} {item.get('rows_archived', '?'):>6} rows -> "
                  f"{item.get('iceberg_table')} snapshot {item.get('snapshot_id')}")
        elif item["sk"] == metadata.RUN_SK:
            print(f"  report: {item.get('report_key', '-')}   run status: {item.get('status')}")


if __name__ == "__main__":
    sys.exit(main())
