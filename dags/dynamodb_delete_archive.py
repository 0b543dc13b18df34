"""dynamodb_delete_archive (Airflow DAG): archive every item deleted from DynamoDB tables (their streams' REMOVE
records) to S3, one object per item."""

from __future__ import annotations

from datetime import timedelta

from archiveflow.dag_builder import archiveflow_dag
from archiveflow.dynamodb_archive.request import FIELDS
from archiveflow.operators.dynamodb_archive import (
    ArchiveDeletedItemsOperator,
    PlanStreamArchiveOperator,
    RecordStreamArchiveOperator,
)

DOC = """
### DynamoDB deleted-item archive

Every item deleted from the tables is kept in S3: each table's stream (`NEW_AND_OLD_IMAGES`) is read
from where the last run stopped, its `REMOVE` records are kept, and each deleted item becomes
`s3://<bucket>/<table-name>/<key1>_<value1>[_<key2>_<value2>].json` (partition key first, e.g.
`PK_USER#123_SK_PROFILE.json`) holding the full stream record: `eventID`, `eventName`,
`dynamodb.Keys`, `dynamodb.OldImage`, `dynamodb.ApproximateCreationDateTime`, `userIdentity` (Time to
Live deletions), plus `archiveflow.removedBy` = `ttl` or `delete`. The bucket is versioned: an item
deleted, re-created and deleted again keeps both archives. Put items back with `dynamodb_restore_items`.

Runs every 5 minutes over the configured tables; trigger it with a conf to run it now or over other tables:

```json
{"tables": ["archiveflow-tracked-items"], "bucket": null, "time_budget_minutes": 10}
```

| task | what it does |
|---|---|
| `plan_tables` | the tables (conf `tables`, else the Airflow Variable `dynamodb_archive_tables`, a JSON list, else `include/dynamodb_archive/tables.yaml`); each must exist and stream its old images; the bucket must be versioned. Bad input fails here, naming the field, without retry. |
| `archive_table` (one per table) | reads the stream from its checkpoints (per stream ARN + shard id, table `archiveflow-stream-checkpoints`; first run from `TRIM_HORIZON`), parents before child shards, closed shards to their end; writes each deleted item, then moves the checkpoint. A restart loses and duplicates nothing. A write failing through an outage fails the task, the checkpoint before it. An expired iterator is renewed; a checkpoint older than the 24 h retention is reported as a **GAP** and reading continues from the oldest record. |
| `record_run` | the run in the `runs` table (`pk = dynamodb_delete_archive#<run id>`; dead letters counted, their full list is the `~dead-letter/` prefix); an SNS notice on the notifications topic when records were dead-lettered, a gap was found or a table failed. |

**Failures: no deletion lost to an outage.** A write S3 fails (throttling, 5xx, a dropped
connection, access denied) is tried 5 times over ~15 s (a write that timed out is looked for first:
it may have landed, and is not written a second time); then `archive_table` fails with the
table's checkpoint before the unwritten records (records of one batch already written are
recognised, not written twice). The task's 2 retries (30 s apart) and the next scheduled run
(5 minutes later) start from that checkpoint again, so each 5 minutes the archive tries again;
the stream keeps records 24 h, so an outage of up to ~23 h loses nothing (a longer one is
reported as a **GAP**). Only a record S3 refuses for itself (a request it can never take:
`KeyTooLongError`, `EntityTooLarge`, `InvalidArgument`, ... or the failure switch) is
dead-lettered: its full record goes to `s3://<bucket>/~dead-letter/<table>/<eventID>.json`, a
pointer to it to the SQS queue `archiveflow-dead-letter`, the run carries on and the notification
lists it. Once the cause is fixed, `dynamodb_dead_letter_redrive` writes them to their archive keys.

**Streams.** A closed shard is read until it has no next iterator, through any number of empty
pages; an open one until three empty pages in a row (its tip, for now), the iterator kept in the
checkpoint so the next run goes on from there. A stream disabled and enabled again has a new ARN:
the old one (readable 24 h) is read to its end first; one that leaves before is reported as a **GAP**. A run with another `bucket` reads with its
own checkpoints (`<stream ARN> -> s3://<bucket>`), never moving the deployment bucket's.

**Failure switch (tests only, off by default).** Set the Airflow Variable `dynamodb_archive_fail_keys`
to a regular expression (e.g. `BROKEN`): every write of an archive object whose key matches fails
for good, so those records are dead-lettered and announced. Delete the Variable to turn it off.

**Object keys.** Names and values are kept as they are except `%`, `_`, `/`, `\\`, `~` and control
characters, which are percent-encoded (`%2F`); a binary value is `~` + hex. A key longer than S3's
1,024 bytes is cut and ends with `~sha256-<32 hex>`; the full key is always in the record.
"""

with archiveflow_dag("dynamodb_delete_archive", FIELDS, DOC,
                     description="Archive items deleted from DynamoDB tables (stream REMOVE records) to S3",
                     max_active_runs=1,  # checkpoints are read and moved by one run at a time
                     tags=["dynamodb", "streams", "s3"], schedule=timedelta(minutes=5)) as dag:
    tables = PlanStreamArchiveOperator(task_id="plan_tables")
    archived = ArchiveDeletedItemsOperator.partial(
        task_id="archive_table", map_index_template="{{ task.table['table'] }}").expand(table=tables.output)
    archived >> RecordStreamArchiveOperator(task_id="record_run", trigger_rule="all_done")
