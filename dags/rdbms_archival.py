"""rdbms_archival (Airflow DAG): archive PostgreSQL tables into Iceberg, validate, optionally purge, report."""

from __future__ import annotations

from archiveflow.dag_builder import archiveflow_dag
from archiveflow.operators.rdbms_archival import (
    ArchivalReportOperator,
    ArchiveTableOperator,
    FinishArchivalRunOperator,
    PurgeArchivedRowsOperator,
    ValidateArchivalRequestOperator,
    ValidateArchiveOperator,
    record_task_failure,
)
from archiveflow.rdbms_archival.request import FIELDS

DOC = """
### RDBMS archival (PostgreSQL → Iceberg)

Trigger with the Archive-IO payload as conf (UI "Trigger DAG w/ config", `airflow dags test
rdbms_archival -c '{...}'`, or `POST /api/v2/dags/rdbms_archival/dagRuns`):

```json
{"glue_connection": "postgres_default", "source_database": "archiveflow_demo",
 "source_schema": "postgres_test_schema", "legal_hold": false, "retention_policy": 6,
 "source_table": [{"table_name": "products", "condition": "Index < 20"}, {"table_name": "customers"}],
 "triggered_by": "Gokul", "triggered_by_email": "gokul@example.com", "purge": false, "dry_run": false}
```

| task | what it does |
|---|---|
| `validate_request` | connection, database, schema (never a system schema; within the connection extra's `archiveflow_allowed_sources` if set), tables, `condition`/`query` (parsed, allow-listed, literals bound as written, then `EXPLAIN`ed by PostgreSQL), purge prerequisites, Glue database. Bad input fails here, without retries, naming the field. Every source session runs with `search_path = pg_catalog, pg_temp`. |
| `archive_table` (one per table) | one REPEATABLE READ snapshot: count + per-column checksums, rows via `COPY … (FORMAT binary)` into Arrow → one Iceberg snapshot tagged with the run id (a retry never appends twice) |
| `validate_table` | schema, row count, checksums: source vs the files this run's snapshot added. A mismatch fails and blocks every purge |
| `purge_table` | opt-in (`purge`), never under `legal_hold`, `dry_run` only counts; by primary key in `batch_size` transactions |
| `write_report` | PDF at `s3://<reports bucket>/rdbms_archival/<run id>/report.pdf` |
| `finish_run` | run status in DynamoDB (`pk = rdbms_archival#<run id>`), SNS notification, fails the run if anything failed |

Iceberg tables: `<target_glue_database>.<database>__<schema>__<table>`, lower case, other
characters as `_`. Identifier case rules (`Index` vs `"Index"`) are in
`plugins/archiveflow/rdbms_archival/naming.py`.
"""

with archiveflow_dag("rdbms_archival", FIELDS, DOC,
                     description="Archive PostgreSQL tables into Iceberg (Glue), validate, optionally purge, report",
                     tags=["archival", "postgres", "iceberg"], max_active_tasks=4,
                     default_args={"on_failure_callback": record_task_failure}) as dag:
    tables = ValidateArchivalRequestOperator(task_id="validate_request")
    per_table = {"map_index_template": "{{ task.table['table'] }}"}  # the UI names each mapped task by its table
    archived = ArchiveTableOperator.partial(task_id="archive_table", **per_table).expand(table=tables.output)
    validated = ValidateArchiveOperator.partial(task_id="validate_table", **per_table).expand(table=archived.output)
    purged = PurgeArchivedRowsOperator.partial(task_id="purge_table", **per_table).expand(table=validated.output)
    report = ArchivalReportOperator(task_id="write_report", trigger_rule="all_done")
    finish = FinishArchivalRunOperator(task_id="finish_run", trigger_rule="all_done")
    purged >> report >> finish
