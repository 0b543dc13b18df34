"""Silver on the local stack: github_ingestion's `update_silver` merges each hour's Bronze object
into the Iceberg table github_events_silver on DuckDB + pyiceberg. Expected figures come from the
generator's record, never from the pipeline."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from archiveflow.github_lakehouse.bronze import GhHour
from devstack.gharchive import generate_hour, read_record

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def dag():
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(REPO / "dags" / "github_ingestion.py"))
    assert bag.import_errors == {}
    return bag.dags["github_ingestion"]


def silver_ids(days: list[str]) -> list[str]:
    from pyiceberg.expressions import In

    from archiveflow.hooks.iceberg import IcebergCatalogHook

    table = IcebergCatalogHook().catalog.load_table("archiveflow_lakehouse.github_events_silver")
    rows = table.scan(row_filter=In("ingest_dt", days), selected_fields=("id",)).to_arrow()
    return rows.column("id").to_pylist()


def test_hours_across_midnight_dedup_by_event_id_and_reruns_change_nothing(lake, airflow_db, dag):
    day = dt.date.fromisoformat(lake.unique_day())
    first = GhHour(dt.datetime.combine(day, dt.time(22), tzinfo=dt.UTC))
    hours = [GhHour(first.start + dt.timedelta(hours=n)) for n in range(3)]   # 22:00, 23:00, 00:00 next day
    for hour in hours:
        generate_hour(lake.dir, hour, events=400, repeats=5)
    record = read_record(lake.dir)
    # Each hour repeats events of the hour before; the first hour's repeats come from an hour never ingested.
    duplicates = sum(len(record[h.name]["repeated_ids"]) for h in hours[1:])
    expected_rows = sum(record[h.name]["lines"] - record[h.name]["malformed"] for h in hours) - duplicates
    days = sorted({h.ingest_dt for h in hours})

    for hour in [*hours, hours[1], hours[2]]:   # the last two hours run twice
        run = dag.test(run_conf={"hour": hour.name, "max_malformed_percent": 5})
        assert run.state == "success", hour
    ids = silver_ids(days)
    assert len(ids) == len(set(ids)) == expected_rows

    extra = {ti.task_id: ti.xcom_pull(task_ids=ti.task_id) for ti in run.get_task_instances()}["update_silver"]
    assert [step["sql"] for step in extra] == ["github_lakehouse/silver_table.sql", "github_lakehouse/silver_merge.sql"]
    assert extra[1]["rows_written"] == 0   # a re-run inserts nothing
