"""What the whole fault suite may leave behind, looked at once before its first test and once after
its last (tests/faults/conftest.py): anything new at the end is a leftover and fails the suite.

- an open multipart upload, in any bucket;
- a stray object: a new object in a bucket whose layout is fixed by the DAGs that write it, at a
  key that layout does not have (the warehouse's Iceberg tables are checked by each rdbms test;
  sources, reports and Athena results have no fixed layout);
- an Iceberg data file no snapshot references, in the lakehouse's tables;
- a run left `running`: an item of the `runs` table, or a manual (or dag.test) run in either
  Airflow metadata database of the test stack.
"""

from __future__ import annotations

import datetime as dt
import os
import re

import psycopg

from archiveflow import resources
from archiveflow.deep_archive.index import INDEX_SUFFIX
from archiveflow.deep_archive.plan import PLANS_PREFIX
from devstack import postgres

DAY = r"\d{4}-\d{2}-\d{2}"
# Every key the DAGs write in these buckets (re.match).
LAYOUTS = {
    "stream-archive": [r"(~dead-letter/)?[A-Za-z0-9_.-]+/[^/]+(\.json|~sha256-[0-9a-f]{32})$"],
    "sensor-data": [rf"raw/date={DAY}/hour=\d{{2}}/[^/]+\.jsonl\.gz$", rf"quarantine/date={DAY}/[^/]+\.jsonl\.gz$"],
    "lakehouse": [rf"github/events/ingest_dt={DAY}/(gharchive-{DAY}-\d{{2}}|events-api-\d{{8}}T\d{{6}}Z)\.json\.gz$",
                  r"github/(silver|gold/[a-z_]+)/(data|metadata)/"],
    "archive": [rf".+\.zip({re.escape(INDEX_SUFFIX)})?$", f"{PLANS_PREFIX}/"],
    # <destination prefix><source bucket>/<version>/<key>, and the notification's manifest
    "restore": [r"(.*/)?[a-z0-9][a-z0-9.-]+[a-z0-9]/[A-Za-z0-9._-]+/.+", r"(.*/)?_restore-manifests/[^/]+\.json$"],
}
LAKEHOUSE_TABLES = ("github_events_silver", "github_events_gold_daily", "github_events_gold_hourly",
                    "github_events_gold_top_repos")


def look(local_stack, since: dt.datetime | None = None) -> dict[str, set]:
    """What is there now; with `since`, only the objects written since then are looked at for strays."""
    s3 = local_stack.client("s3")
    found: dict[str, set] = {"open uploads": set(), "stray objects": set(), "unreferenced files": set(),
                             "runs left running": set()}
    for bucket in (b["Name"] for b in s3.list_buckets()["Buckets"]):
        for page in s3.get_paginator("list_multipart_uploads").paginate(Bucket=bucket):
            found["open uploads"] |= {f"s3://{bucket}/{u['Key']}" for u in page.get("Uploads", [])}
    for logical, patterns in LAYOUTS.items():
        bucket = resources.bucket(logical)
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            found["stray objects"] |= {
                f"s3://{bucket}/{o['Key']}" for o in page.get("Contents", [])
                if (since is None or o["LastModified"] >= since) and not any(re.match(p, o["Key"]) for p in patterns)}
    found["unreferenced files"] = _unreferenced_lakehouse_files()
    pages = local_stack.client("dynamodb").get_paginator("scan").paginate(
        TableName=resources.dynamodb_table("runs"), FilterExpression="#s = :running",
        ExpressionAttributeNames={"#s": "status"}, ExpressionAttributeValues={":running": {"S": "running"}})
    found["runs left running"] = {f"runs table: {i['pk']['S']}" for page in pages for i in page["Items"]}
    found["runs left running"] |= _airflow_runs_running(local_stack.config)
    return found


def new_since(before: dict[str, set], after: dict[str, set]) -> dict[str, list]:
    return {what: sorted(after[what] - before[what]) for what in after if after[what] - before[what]}


def _unreferenced_lakehouse_files() -> set[str]:
    from iceberg_leftovers import leftovers
    from pyiceberg.exceptions import NoSuchTableError

    from archiveflow.hooks.iceberg import IcebergCatalogHook

    catalog = IcebergCatalogHook().get_catalog()
    found = set()
    for name in LAKEHOUSE_TABLES:
        try:
            table = catalog.load_table(f"{resources.glue_database('lakehouse')}.{name}")
        except NoSuchTableError:
            continue
        left = leftovers(table)
        found |= set(left["unreferenced_files"]) | {f"upload {key}" for key in left["open_uploads"]}
    return found


def _airflow_runs_running(config) -> set[str]:
    in_process = os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].rsplit("/", 1)[-1]  # dag.test's (tests/conftest.py)
    running = set()
    for database in (in_process, config.airflow_database):
        try:
            with psycopg.connect(postgres.dsn(database), autocommit=True) as conn:
                rows = conn.execute("SELECT dag_id, run_id FROM dag_run WHERE state = 'running' AND run_type = "
                                    "'manual'").fetchall()
        except (psycopg.OperationalError, psycopg.errors.UndefinedTable):
            continue  # that database was not made (or migrated) in this session
        running |= {f"{database}: {dag_id} {run_id}" for dag_id, run_id in rows}
    return running
