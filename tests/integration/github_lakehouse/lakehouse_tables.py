"""Helpers of the lakehouse integration and e2e tests: a day of their own, a DAG from its file, a
task's XCom, a Gold/Silver table's rows of some days (read with pyiceberg, not through the
pipeline's own engine)."""

from __future__ import annotations

import datetime as dt
import random
import threading
from pathlib import Path

from archiveflow import resources

REPO = Path(__file__).resolve().parents[3]
FIRST_DAY, LAST_DAY = dt.date(2015, 1, 1), dt.date(2022, 12, 31)
_days_taken: set[dt.date] = set()
_days_lock = threading.Lock()


def unique_day() -> str:
    """A day no other test of the session uses, nor the day before or after: the tests share the
    Silver and Gold tables and count a day's rows, and a test's events may fall on its day's
    neighbours (an hour's repeats of the hour before midnight, an hour across midnight)."""
    span = (LAST_DAY - FIRST_DAY).days
    rng = random.SystemRandom()
    with _days_lock:
        while True:
            day = FIRST_DAY + dt.timedelta(days=rng.randint(1, span - 1))
            touched = {day + dt.timedelta(days=n) for n in (-1, 0, 1)}
            if not touched & _days_taken:
                _days_taken.update(touched)
                return day.isoformat()


def load_dag(dag_id: str):
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(REPO / "dags" / f"{dag_id}.py"))
    assert bag.import_errors == {}
    return bag.dags[dag_id]


def scan(table: str, days: list[str], *fields: str):
    from pyiceberg.expressions import In

    from archiveflow.hooks.iceberg import IcebergCatalogHook

    iceberg = IcebergCatalogHook().catalog.load_table(f"{resources.glue_database('lakehouse')}.{table}")
    return iceberg.scan(row_filter=In("ingest_dt", days), selected_fields=fields).to_arrow()


def task_result(run, task_id: str):
    return next(ti for ti in run.get_task_instances() if ti.task_id == task_id).xcom_pull(task_ids=task_id)
