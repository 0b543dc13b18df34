"""github_events_api: poll the GitHub Events API every five minutes into the Bronze table."""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG

from archiveflow.github_lakehouse.request import EVENTS_API_FIELDS
from archiveflow.operators.github_lakehouse import PollEventsApiOperator, RegisterBronzeTableOperator
from archiveflow.params import dag_params

DOC = """
### GitHub Events API → Bronze, every five minutes

The seed's live source: `GET /events` on the `http_conn_id` connection (https://api.github.com;
a token goes in the connection's extra as `{"Authorization": "Bearer <token>"}`), written to
the same Bronze table as `github_ingestion`, one object per run:
`s3://<lakehouse bucket>/github/events/ingest_dt=<run date>/events-api-<run time, YYYYMMDDTHHMMSSZ>.json.gz`.

| task | what it does |
|---|---|
| `register_bronze_table` | creates or updates `github_events_bronze` in the Glue catalog (as in `github_ingestion`) |
| `poll_events` | conditional GET with the last poll's `ETag` (`If-None-Match`: a 304 means nothing new and costs no rate limit); follows `Link: rel="next"` up to `max_pages`; keeps only events newer than the newest already ingested (event ids grow), so no event is written twice by this DAG; when `X-RateLimit-Remaining` is 0 (or a `Retry-After` comes) it waits deferred until the reset, then polls again. Where it stopped is kept in DynamoDB (`runs`, pk `github_events_api#state`). |

Events that GH Archive also carries are written by both sources, as the sources published them;
Silver removes duplicates by event id.

The DAG is created paused: unpause it to start polling (a manual run polls once).

Example conf (all optional):

```json
{"per_page": 100, "max_pages": 3, "max_rate_limit_wait_minutes": 60,
 "http_conn_id": "github_events_api_default"}
```
"""

with DAG(
    dag_id="github_events_api",
    description="GitHub Events API poll -> Bronze (ETag, pagination, rate limits)",
    schedule="*/5 * * * *",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,  # each poll continues from where the previous one stopped
    is_paused_upon_creation=True,  # polling spends the token's rate limit: unpause it deliberately
    doc_md=DOC,
    tags=["archiveflow", "github", "lakehouse", "bronze"],
    default_args={"owner": "archiveflow", "retries": 2, "retry_delay": timedelta(seconds=30)},
    params=dag_params(EVENTS_API_FIELDS),
) as dag:
    register = RegisterBronzeTableOperator(task_id="register_bronze_table")
    poll = PollEventsApiOperator(task_id="poll_events")
    register >> poll
