"""s3_restore (Airflow DAG): restore archived files from their Deep Archive / Glacier bundles on demand."""

from __future__ import annotations

from datetime import timedelta

from archiveflow.dag_builder import archiveflow_dag
from archiveflow.operators.restore import (
    ExtractFilesOperator,
    LookUpFilesOperator,
    NotifyRestoreOperator,
    RequestRestoresOperator,
    WaitForRestoresOperator,
)
from archiveflow.restore.request import FIELDS

DOC = """
### On-demand restore

A user asks for one file or a few; the zip bundles that `s3_deep_archive` wrote hold them in Deep
Archive or Glacier. This DAG restores only the bundles needed, waits without holding a worker slot,
extracts just the requested members into the restore bucket and tells an SNS topic.

| task | what it does |
|---|---|
| `look_up` | checks the conf (account, region and topic are the connection's), finds each file in the archive index (`by-project-file` for a bare name, the key for `bucket/key`; newest version unless `version`), checks the tier against each bundle's storage class, prices the restore. An unknown or ambiguous name, a tier the class does not offer (no `Expedited` in Deep Archive) fails here, naming the field, before any paid request. `dry_run` stops here. |
| `request_restores` | one `RestoreObject` per bundle that shows no restore; one already in progress or done is left alone (a retry never pays twice), except a restored copy that would expire before `max_wait` + a day of extraction: a new request extends it (S3 charges no second retrieval). Bundles in `GLACIER_IR`, `STANDARD_IA`, `ONEZONE_IA`, `INTELLIGENT_TIERING` (frequent tiers) need none. |
| `wait_for_restores` | deferred to the triggerer (`S3RestoreTrigger`, no worker slot), polls `HeadObject` every `poll_interval` s; after `max_wait` hours fails naming the bundles still in progress (no retry). A bundle that shows no restore (its copy expired) is requested again by this task, which waits on until the same deadline |
| `extract` | ranged GETs of exactly each member's bytes (never a whole bundle), inflated, CRC-32 and size checked against the index, written to `<destination_prefix><source bucket>/<version>/<original key>` in the restore bucket (never over another object unless `overwrite`); objects archived on their own are copied. Each file has its own outcome: a timeout or throttling retries the task, which redoes only the files whose verified copy is not in the restore bucket yet; a refused or corrupt file is reported |
| `notify` | one SNS message listing the files with presigned URLs (and when they expire) and any failure (a manifest link above 256 KB); the run and its cost in the `runs` table |

The seed's `/restore` payload works as conf (UI *Trigger* → JSON, or REST
`POST /api/v2/dags/s3_restore/dagRuns` with `{"logical_date": null, "conf": {...}}`), with
`account`, `region` and `sns_topic_arn` set to your deployment's:

```json
{"project_name": "amazon", "filename": "5000_20240517_003.csv", "account": "123456789012",
 "region": "us-east-1", "retrieval_tier": "Expedited",
 "sns_topic_arn": "arn:aws:sns:us-east-1:123456789012:archiveflow-notifications"}
```

Over REST, as the seed's `curl … /restore` (token from `POST /auth/token`):

```bash
curl -X POST "$AIRFLOW_URL/api/v2/dags/s3_restore/dagRuns" -H "Authorization: Bearer $TOKEN" \
  -H 'Content-Type: application/json' -d '{"logical_date": null, "conf": {"project_name": "amazon",
  "filename": "5000_20240517_003.csv", "account": "123456789012", "region": "us-east-1",
  "retrieval_tier": "Expedited", "sns_topic_arn": "arn:aws:sns:us-east-1:123456789012:archiveflow-notifications"}}'
```

`Expedited` exists for Glacier Flexible Retrieval only; Deep Archive takes `Standard` (~12 h) or
`Bulk` (~48 h). More files: `"files": ["a.csv", "archiveflow-source/reports/b.csv"]`.
"""

with archiveflow_dag("s3_restore", FIELDS, DOC,
                     description="Restore archived files from Deep Archive / Glacier bundles: only the members asked for",
                     tags=["s3", "deep-archive", "restore"], retry_delay=timedelta(minutes=1)) as dag:
    plan = LookUpFilesOperator(task_id="look_up").output
    waiting = RequestRestoresOperator(task_id="request_restores", plan=plan).output
    waited = WaitForRestoresOperator(task_id="wait_for_restores", plan=plan, objects=waiting)
    extract = ExtractFilesOperator(task_id="extract", plan=plan)
    waited >> extract
    NotifyRestoreOperator(task_id="notify", plan=plan, extracted=extract.output)
