"""github_gold on real Airflow: an hour triggered over REST through github_ingestion updates Silver,
whose Asset event (extra.days) makes the scheduler run github_gold for that day. Gold's sum equals
the events the generator wrote."""

from __future__ import annotations

import time
import uuid

import pytest
from tests.integration.github_lakehouse.lakehouse_tables import unique_day

from archiveflow.github_lakehouse.bronze import GhHour
from devstack.gharchive import generate_hour, read_record

pytestmark = pytest.mark.e2e


def gold_run_for(api, day: str, since: str, timeout: float = 300) -> dict:
    """The first github_gold run queued after `since` triggered by a Silver event naming `day`."""
    deadline = time.monotonic() + timeout
    while True:
        runs = api.get("/dags/github_gold/dagRuns", order_by="-run_after", limit=10)["dag_runs"]
        for run in runs:
            if run["run_after"] >= since and run["state"] in ("success", "failed"):
                events = api.get(f"/dags/github_gold/dagRuns/{run['dag_run_id']}/upstreamAssetEvents")["asset_events"]
                if any(day in (event.get("extra") or {}).get("days", []) for event in events):
                    return run
        if time.monotonic() > deadline:
            raise TimeoutError(f"no github_gold run for {day} within {timeout:.0f}s: {runs}")
        time.sleep(1)


def test_silver_asset_event_runs_gold_for_its_day(airflow_stack, local_stack, github_sources):
    from pyiceberg.expressions import EqualTo

    from archiveflow.hooks.iceberg import IcebergCatalogHook

    hour = GhHour.parse(f"{unique_day()}-9")
    generate_hour(github_sources, hour, events=1500)
    expected = read_record(github_sources)[hour.name]["events"]   # its repeats' hour is never ingested
    airflow_stack.wait_for_dag("github_ingestion")
    airflow_stack.wait_for_dag("github_gold")

    run_id = f"e2e__{uuid.uuid4().hex[:8]}"
    assert airflow_stack.trigger("github_ingestion", {"hour": hour.name}, run_id=run_id).status_code == 200
    run = airflow_stack.wait_for_run("github_ingestion", run_id, timeout=400)
    assert run["state"] == "success"
    gold = gold_run_for(airflow_stack, hour.ingest_dt, run["start_date"][:19])
    assert gold["state"] == "success" and gold["run_type"] == "asset_triggered"

    table = IcebergCatalogHook().catalog.load_table("archiveflow_lakehouse.github_events_gold_daily")
    counts = table.scan(row_filter=EqualTo("ingest_dt", hour.ingest_dt), selected_fields=("events_count",)).to_arrow()
    assert sum(counts.column("events_count").to_pylist()) == expected
