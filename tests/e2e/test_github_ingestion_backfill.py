"""github_ingestion on real Airflow: a 6-hour backfill with `airflow backfill create`, then the same
6 hours again over REST (`POST /api/v2/backfills`, reprocessing completed runs), each followed by
the github_gold runs its Silver asset events trigger. With the expected figures from the
generator's own record (never from pipeline output):

    Bronze lines - malformed  =  Silver rows + duplicates removed  =  sum of Gold counts + duplicates removed

(the day's Silver and Gold without hour 0's repeats of the day before, filed under their own day)

and the second backfill changes no count in any layer."""

from __future__ import annotations

import datetime as dt
import subprocess
import time

import pytest
from tests.integration.github_lakehouse.lakehouse_tables import scan, unique_day

from archiveflow import resources
from archiveflow.github_lakehouse.bronze import GhHour, partition_prefix
from devstack import stack
from devstack.gharchive import generate_hour, read_record

pytestmark = pytest.mark.e2e

DAG_ID = "github_ingestion"


def runs_between(api, start: dt.datetime, end: dt.datetime) -> list[dict]:
    return api.get(f"/dags/{DAG_ID}/dagRuns", logical_date_gte=start.isoformat(),
                   logical_date_lte=end.isoformat(), limit=100)["dag_runs"]


def wait_for_runs(api, start, end, count: int, since: dt.datetime, timeout: float = 420) -> list[dict]:
    """The `count` runs in [start, end], once all of them ended after `since`."""
    deadline = time.monotonic() + timeout
    while True:
        runs = runs_between(api, start, end)
        ended = [r for r in runs if r["state"] in ("success", "failed") and r["end_date"]
                 and dt.datetime.fromisoformat(r["end_date"]) > since]
        if len(runs) == count and len(ended) == count:
            return runs
        if time.monotonic() > deadline:
            raise TimeoutError(f"runs not done after {timeout:.0f}s: {[(r['dag_run_id'], r['state']) for r in runs]}")
        time.sleep(1)


def wait_for_backfills_to_complete(api, timeout: float = 120) -> list[dict]:
    """The scheduler marks a backfill complete a little after its last run ends."""
    deadline = time.monotonic() + timeout
    while True:
        backfills = api.get("/backfills", dag_id=DAG_ID, limit=100)["backfills"]
        if all(b["completed_at"] for b in backfills):
            return backfills
        if time.monotonic() > deadline:
            raise TimeoutError(f"backfills still running after {timeout:.0f}s: {backfills}")
        time.sleep(1)


def bronze_counts(local_stack, day: str) -> dict[str, int]:
    import gzip

    s3, bucket = local_stack.client("s3"), resources.bucket("lakehouse")
    listing = s3.list_objects_v2(Bucket=bucket, Prefix=partition_prefix(day)).get("Contents", [])
    return {obj["Key"]: len(gzip.decompress(s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()).splitlines())
            for obj in listing}


def latest_silver_event(api, day: str) -> dt.datetime:
    events = api.get("/assets/events", source_dag_id=DAG_ID, order_by="-timestamp", limit=50)["asset_events"]
    return max(dt.datetime.fromisoformat(e["timestamp"]) for e in events
               if day in (e.get("extra") or {}).get("days", []))


def wait_for_gold_after(api, moment: dt.datetime, timeout: float = 420) -> list[dict]:
    """The github_gold runs started after `moment` (the latest Silver event: such a run includes it,
    triggered by it or reading it as a late event), once no github_gold run is queued or running."""
    deadline = time.monotonic() + timeout
    while True:
        runs = api.get("/dags/github_gold/dagRuns", order_by="-run_after", limit=50)["dag_runs"]
        later = [r for r in runs if r["start_date"] and dt.datetime.fromisoformat(r["start_date"]) > moment]
        if later and not [r for r in runs if r["state"] in ("queued", "running")]:
            return later
        if time.monotonic() > deadline:
            raise TimeoutError(f"github_gold not settled after the Silver event of {moment} within {timeout:.0f}s")
        time.sleep(1)


def table_figures(day: str) -> dict[str, int]:
    """Silver's rows (and distinct ids) and the Gold tables' sums for `day`, read with pyiceberg."""
    def column(table: str, name: str) -> list:
        return scan(table, [day], name).column(name).to_pylist()

    ids = column("github_events_silver", "id")
    return {"silver_rows": len(ids), "silver_ids": len(set(ids)),
            "gold_daily": sum(column("github_events_gold_daily", "events_count")),
            "gold_hourly": sum(column("github_events_gold_hourly", "events_count"))}


def test_six_hour_backfill_over_cli_then_rest(airflow_stack, local_stack, github_sources):
    config = local_stack.config
    day = unique_day()
    hours = [GhHour.parse(f"{day}-{h}") for h in range(6)]
    for hour in hours:
        generate_hour(config.gharchive_dir, hour, events=1500)
    record = read_record(config.gharchive_dir)
    expected = {hour.bronze_key: record[hour.name]["lines"] - record[hour.name]["malformed"] for hour in hours}
    # Each hour repeats a few events of the hour before; hour 0's come from an hour not ingested,
    # created the day before: Silver and Gold file them under that day (their own time).
    duplicates = sum(len(record[hour.name]["repeated_ids"]) for hour in hours[1:])
    unique = sum(expected.values()) - duplicates - len(record[hours[0].name]["repeated_ids"])
    figures = {"silver_rows": unique, "silver_ids": unique, "gold_daily": unique, "gold_hourly": unique}
    start, end = hours[0].start, hours[-1].start
    airflow_stack.wait_for_dag(DAG_ID)

    since = dt.datetime.now(dt.UTC)
    subprocess.run([str(stack.VENV_BIN / "airflow"), "backfill", "create", "--dag-id", DAG_ID,
                    "--from-date", start.isoformat(), "--to-date", end.isoformat(), "--max-active-runs", "6"],
                   env=stack.full_env(config, stack.base_env()), check=True, capture_output=True, timeout=120)
    runs = wait_for_runs(airflow_stack, start, end, 6, since)
    assert {r["state"] for r in runs} == {"success"} and {r["run_type"] for r in runs} == {"backfill"}
    assert bronze_counts(local_stack, day) == expected
    assert {r["state"] for r in wait_for_gold_after(airflow_stack, latest_silver_event(airflow_stack, day))} == {
        "success"}
    assert table_figures(day) == figures
    wait_for_backfills_to_complete(airflow_stack)

    since = dt.datetime.now(dt.UTC)
    response = airflow_stack.session.post(f"{airflow_stack.base_url}/api/v2/backfills", timeout=30, json={
        "dag_id": DAG_ID, "from_date": start.isoformat(), "to_date": end.isoformat(),
        "reprocess_behavior": "completed", "max_active_runs": 6, "dag_run_conf": {}})
    assert response.status_code == 200, response.text
    backfill_id = response.json()["id"]
    runs = wait_for_runs(airflow_stack, start, end, 6, since)
    assert {b["id"]: b["completed_at"] is not None for b in wait_for_backfills_to_complete(airflow_stack)}[backfill_id]
    assert {r["state"] for r in runs} == {"success"}
    assert bronze_counts(local_stack, day) == expected  # re-running the hours changed no count
    assert {r["state"] for r in wait_for_gold_after(airflow_stack, latest_silver_event(airflow_stack, day))} == {
        "success"}
    assert table_figures(day) == figures
