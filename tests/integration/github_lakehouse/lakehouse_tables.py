"""Helpers of the lakehouse integration tests: a DAG from its file, a task's XCom, a Gold/Silver
table's rows of some days (read with pyiceberg, not through the pipeline's own engine)."""

from __future__ import annotations

from pathlib import Path

from archiveflow import resources

REPO = Path(__file__).resolve().parents[3]


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
