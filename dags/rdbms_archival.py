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
| `archive_table` (one per table) | one REPEATABLE READ snapshot: count + per-column checksums, rows and a per-row digest via `COPY … (FORMAT binary)` into Arrow (with `read_streams` > 1, a table of at least `parallel_read_min_mb` with a single integer key is read by that many connections in the same exported snapshot, by key ranges); rows whose newest archived version has the same key and digest are skipped, the others are appended as new versions in one Iceberg snapshot tagged with the run id (a retry never appends twice). Sets or keeps the legal hold on the Iceberg table (`release_legal_hold` lifts it) |
| `validate_table` | schema, row count, checksums: source vs the files this run's snapshot added plus the rows skipped as archived unchanged. Lists the table's triggers and cascading foreign keys. A mismatch fails, blocks every purge and withdraws the run's rows from the table's current state |
| `purge_table` | opt-in (`purge`), never while the Iceberg table is under a legal hold, `dry_run` only counts (also the rows a cascade would change); deletes by primary key in `batch_size` transactions only rows that still match the condition and are identical to their newest archived version (digest compared inside the DELETE); changed rows are kept and counted. Plain tables: `ONLY` the table (not inheritance children); partitioned tables: all partitions |
| `write_report` | PDF at `s3://<reports bucket>/rdbms_archival/<run id, escaped>/report.pdf`: totals on page 1, per-column checksums, purge figures; its SHA-256 in the run's metadata |
| `finish_run` | run status in DynamoDB (`pk = rdbms_archival#<run id>`), SNS notification, fails the run if anything failed |

A purge of a table that other tables reference with `ON DELETE CASCADE` / `SET NULL` / `SET
DEFAULT` is refused in `validate_request` unless `allow_purge_cascade` is set; a `query` that
leaves out columns cannot be purged.

Iceberg tables: `<target_glue_database>.<database>__<schema>__<table>`, lower case, other
characters as `_`, a history of row versions (`archiveflow_row_digest`, `archiveflow_run_id`,
`archiveflow_archived_at`: the newest version of a key is its current row). Identifier case rules (`Index` vs `"Index"`) are in
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
