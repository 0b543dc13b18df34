"""dynamodb_dead_letter_redrive (Airflow DAG): write the records dynamodb_delete_archive dead-lettered to
their archive keys, once the cause is fixed."""

from __future__ import annotations

from archiveflow.dag_builder import archiveflow_dag
from archiveflow.dynamodb_archive.redrive_request import FIELDS
from archiveflow.operators.dynamodb_archive import PlanRedriveOperator, RedriveDeadLettersOperator

DOC = """
### Redrive dead-lettered DynamoDB deletions

`dynamodb_delete_archive` dead-letters only a record S3 refuses for good (a transient failure fails
its run instead, and the next run writes the record). Each dead-lettered record is kept whole at
`s3://<bucket>/~dead-letter/<table>/<eventID>.json` (with its archive key and the error) and a
pointer to it goes to the SQS queue `archiveflow-dead-letter`. Once the cause is fixed, this DAG
writes each one to its archive key, exactly as the archive would have.

```json
{"tables": null, "bucket": null, "dry_run": false}
```

| task | what it does |
|---|---|
| `plan_redrive` | checks the conf and the bucket (it must be versioned); counts the dead-lettered records. `dry_run` stops after this. |
| `redrive_records` | writes each record to its archive key (a record already there is not written twice; when the key holds a later deletion, that one is copied back on top so it stays the current version), then deletes its dead-letter copy; deletes the queue's pointers to records now archived; records the run in the `runs` table. A record that still fails fails the task (retried); re-running is safe. |
"""

with archiveflow_dag("dynamodb_dead_letter_redrive", FIELDS, DOC,
                     description="Write records dynamodb_delete_archive dead-lettered to their archive keys",
                     max_active_runs=1, tags=["dynamodb", "s3", "dead-letter"]) as dag:
    PlanRedriveOperator(task_id="plan_redrive") >> RedriveDeadLettersOperator(task_id="redrive_records")
