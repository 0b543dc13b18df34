"""github_ingestion (Airflow DAG): one GH Archive hour per run into the lakehouse's Bronze table."""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import CronDataIntervalTimetable

from archiveflow.dag_builder import archiveflow_dag
from archiveflow.github_lakehouse.request import INGESTION_FIELDS
from archiveflow.operators.github_lakehouse import (
    IngestHourOperator,
    PlanHourOperator,
    RegisterBronzeTableOperator,
    update_silver_task,
)
from archiveflow.sensors.http_object import HttpObjectSensor

DOC = """
### GitHub events → Bronze, one GH Archive hour per run

Every hour, the run whose data interval is `[13:00, 14:00)` UTC ingests GH Archive's
`2024-01-15-13.json.gz` into the seed's Bronze table `github_events_bronze` (JSON lines, gzip):
`s3://<lakehouse bucket>/github/events/ingest_dt=2024-01-15/gharchive-2024-01-15-13.json.gz`.
One object per hour at a fixed key: re-running an hour replaces its object, never adds one.
Backfill any range with `airflow backfill create --dag-id github_ingestion --from-date ... --to-date ...`
or `POST /api/v2/backfills`.

| task | what it does |
|---|---|
| `plan_hour` | checks the conf and the `http_conn_id` connection; picks the hour (conf `hour`, else the data interval). Bad input fails here, without retries, naming the field. |
| `register_bronze_table` | creates or updates `github_events_bronze` in the lakehouse Glue database (location, partition projection on `ingest_dt`): Athena DDL `include/sql/github_lakehouse/bronze_table.sql` on AWS, the same definition through the Glue API locally |
| `wait_for_hour` | HEAD on the hour's file; if it is not published yet, waits deferred (no worker held), looking every minute, up to `wait_timeout_minutes`, then fails clearly |
| `ingest_hour` | streams the file: gzip decode → each line checked and reshaped into the Bronze row (`id, type, created_at, repo_id, repo_name, actor_id, actor_login, payload_raw`) → gzip → S3 multipart upload. Memory stays bounded (a few MiB buffers) whatever the hour's size. Malformed lines (not an event, or one a later layer could not read: see the README) are counted by reason, quoted in the log and recorded (DynamoDB `runs`, pk `github_ingestion#<run id>`); above `max_malformed_percent` nothing is written. Corrupt gzip, HTTP errors and truncated bodies fail (and are retried) with nothing written. |
| `update_silver` | the hour's Bronze object into the Iceberg table `github_events_silver` (typed, `year=/month=`): `include/sql/github_lakehouse/silver_table.sql` then `silver_merge.sql`, a `MERGE` that inserts only event ids Silver does not hold yet (re-running an hour inserts nothing). On Athena the task defers while the query runs; locally DuckDB computes and pyiceberg commits. Silver files each event under its own day and hour (`created_at`, UTC), not the hour's; lines whose `created_at` Bronze would refuse are skipped. Emits the `github_events_silver` Asset with `{"days": [<the days of the hour's events>]}`, which triggers `github_gold`. |

Example conf (all optional):

```json
{"hour": "2024-01-15-13", "max_malformed_percent": 1.0, "wait_timeout_minutes": 360,
 "http_conn_id": "gharchive_default"}
```
"""

with archiveflow_dag("github_ingestion", INGESTION_FIELDS, DOC,
                     description="GH Archive hour -> Bronze (JSONL gzip, ingest_dt=) in the GitHub events lakehouse",
                     tags=["github", "lakehouse", "bronze"],
                     schedule=CronDataIntervalTimetable("0 * * * *", timezone="UTC"), max_active_runs=4,
                     retry_delay=timedelta(minutes=2)) as dag:
    plan = PlanHourOperator(task_id="plan_hour")
    register = RegisterBronzeTableOperator(task_id="register_bronze_table")
    wait = HttpObjectSensor(
        task_id="wait_for_hour",
        endpoint="{{ ti.xcom_pull(task_ids='plan_hour')['source_path'] }}",
        http_conn_id="{{ params.http_conn_id }}",
        wait_timeout_minutes="{{ params.wait_timeout_minutes }}",
        poke_interval=60,
    )
    ingest = IngestHourOperator(task_id="ingest_hour", plan=plan.output)
    plan >> register >> wait >> ingest >> update_silver_task("ingest_hour")
