"""dynamodb_restore_items (Airflow DAG): put items archived by dynamodb_delete_archive back into a table."""

from __future__ import annotations

from archiveflow.dag_builder import archiveflow_dag
from archiveflow.dynamodb_archive.restore_request import FIELDS
from archiveflow.operators.dynamodb_archive import PlanRestoreOperator, RestoreItemsOperator

DOC = """
### Restore deleted DynamoDB items

Puts items archived by `dynamodb_delete_archive` back, from their `dynamodb.OldImage`: chosen by
key, everything under the table's prefix, or everything deleted within a time range. When a key
was deleted several times, the newest deletion (within the range) is restored.

```json
{"table": "archiveflow-tracked-items",
 "keys": [{"PK": "USER#123", "SK": "PROFILE"}],
 "deleted_after": null, "deleted_before": null,
 "target_table": null, "overwrite": false, "dry_run": false}
```

A number key may be given as `5`, `5.0` or `5e0`: it is normalised as DynamoDB stores numbers. An
item that exists is compared with its archive by typed value (sets in any order, numbers
normalised).

Everything deleted on one day: `{"table": "archiveflow-tracked-items", "deleted_after":
"2026-11-30T00:00:00Z", "deleted_before": "2026-12-01T00:00:00Z"}`.

| task | what it does |
|---|---|
| `plan_restore` | checks the target table (`target_table`, default `table`) and that each key given has an archive; picks the archive version of each item; writes the list to `s3://archiveflow-reports/dynamodb_restore_items/<run id>/plan.json`. Bad input fails here, naming the field. `dry_run` stops after this. |
| `restore_items` | puts each item back. An item that exists is never overwritten unless `overwrite`: one equal to its archive counts as already restored (re-running is safe), one with another value is left alone, listed, and fails the run once the others are restored. Recorded in the `runs` table and announced on SNS. |
"""

with archiveflow_dag("dynamodb_restore_items", FIELDS, DOC,
                     description="Put DynamoDB items archived by dynamodb_delete_archive back into a table",
                     tags=["dynamodb", "restore"]) as dag:
    PlanRestoreOperator(task_id="plan_restore") >> RestoreItemsOperator(task_id="restore_items")
