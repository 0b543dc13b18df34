"""github_events_api (Airflow DAG): poll the GitHub Events API every five minutes into Bronze, then Silver."""

from __future__ import annotations

from airflow.providers.standard.operators.python import ShortCircuitOperator

from archiveflow.dag_builder import archiveflow_dag
from archiveflow.github_lakehouse.request import EVENTS_API_FIELDS
from archiveflow.operators.github_lakehouse import (
    PollEventsApiOperator,
    RegisterBronzeTableOperator,
    update_silver_task,
    wrote_bronze,
)

DOC = """
### GitHub Events API → Bronze → Silver, every five minutes

The seed's live source: `GET /events` on the `http_conn_id` connection (https://api.github.com;
a token goes in the connection's extra as `{"Authorization": "Bearer <token>"}`), written to
the same Bronze table as `github_ingestion`, one object per run:
`s3://<lakehouse bucket>/github/events/ingest_dt=<run date>/events-api-<run time, YYYYMMDDTHHMMSSZ>.json.gz`.

| task | what it does |
|---|---|
| `register_bronze_table` | creates or updates `github_events_bronze` in the Glue catalog (as in `github_ingestion`) |
| `poll_events` | conditional GET with the last poll's `ETag` (`If-None-Match`: a 304 means nothing new and costs no rate limit); follows `Link: rel="next"` up to `max_pages`; keeps only events newer than the newest already ingested (event ids grow), so no event is written twice by this DAG; when `X-RateLimit-Remaining` is 0 (or a `Retry-After` comes) it waits deferred until the reset, then polls again. Where it stopped is kept in DynamoDB (`runs`, pk `github_events_api#state`). |

| `new_events` | skips `update_silver` when the poll wrote nothing (a 304, no event newer than the last poll) |
| `update_silver` | the poll's Bronze object into `github_events_silver`, as in `github_ingestion` (a `MERGE` inserting only event ids Silver does not hold); emits the `github_events_silver` Asset with `{"days": [<the days the events were created>]}`, which triggers `github_gold` |

Events that GH Archive also carries are written to Bronze by both sources, as the sources
published them; Silver holds each event id once, under the day and hour it was created (UTC),
whichever source brought it first: an event of 23:59:50 polled at 00:00:30 is in the next day's
Bronze partition and in its own day in Silver and Gold. Events a later layer could not read (an
unreadable `created_at`, an id beyond 64 bits) are counted and quoted in the poll's summary.

The DAG is created paused: unpause it to start polling (a manual run polls once).

Example conf (all optional):

```json
{"per_page": 100, "max_pages": 3, "max_rate_limit_wait_minutes": 60,
 "http_conn_id": "github_events_api_default"}
```
"""

with archiveflow_dag("github_events_api", EVENTS_API_FIELDS, DOC,
                     description="GitHub Events API poll -> Bronze (ETag, pagination, rate limits) -> Silver",
                     max_active_runs=1,  # each poll continues from where the previous one stopped
                     is_paused_upon_creation=True,  # polling spends the token's rate limit: unpause it deliberately
                     tags=["github", "lakehouse", "bronze"], schedule="*/5 * * * *") as dag:
    register = RegisterBronzeTableOperator(task_id="register_bronze_table")
    poll = PollEventsApiOperator(task_id="poll_events")
    new_events = ShortCircuitOperator(task_id="new_events", python_callable=wrote_bronze, op_args=[poll.output])
    register >> poll >> new_events >> update_silver_task("poll_events")
