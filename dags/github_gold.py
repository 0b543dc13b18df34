"""github_gold (Airflow DAG): Gold daily aggregates of the GitHub events lakehouse, recomputed from Silver."""

from __future__ import annotations

from datetime import timedelta

from archiveflow.assets import GITHUB_EVENTS_GOLD, GITHUB_EVENTS_SILVER
from archiveflow.dag_builder import archiveflow_dag
from archiveflow.github_lakehouse.request import GOLD_FIELDS
from archiveflow.operators.github_gold import PlanGoldDaysOperator, SilverToEventTimeOperator
from archiveflow.operators.lakehouse_sql import LakehouseSqlOperator

DOC = """
### GitHub events: Silver → Gold, the days Silver changed

Runs whenever `github_events_silver` is updated (the `github_events_silver` Asset, emitted by the
`update_silver` task of `github_ingestion` and `github_events_api`), and recomputes the days named
in the Asset events' `extra.days` (Silver updates that arrive together share one run). A manual run
recomputes the conf's `days`.

Runs of the same day may overlap (a backfill updates Silver several times a minute): each commit is
checked against the Gold snapshot its figures were computed on, and one that lost the race to
another run is recomputed on the newer Silver. In Airflow 3.3 a Silver event that arrives between
a run's trigger point and the run's creation triggers nothing until a later event comes
(apache/airflow#56050, worse under `max_active_runs=1`, which this DAG therefore does not set):
`plan_days` also reads the Silver events newer than its run's trigger point and recomputes their
days, so the last hours of a backfill are not left out of Gold.

Every layer after Bronze files an event under its own time: a day of Gold counts the events
*created* that day (UTC), whichever source delivered them and whenever they arrived (an event of
23:59:50 polled at 00:00:30 the next day counts on its own day).

Gold tables (Iceberg, partitioned by `ingest_dt` = the events' day, in the lakehouse Glue database):

| table | one row per |
|---|---|
| `github_events_gold_daily` | day, event type, repository: `events_count` (the seed's table) |
| `github_events_gold_top_repos` | day and rank (top 100): repository, events, distinct actors, pushes |
| `github_events_gold_hourly` | day, UTC hour, event type: events, distinct actors, distinct repositories |

| task | what it does |
|---|---|
| `plan_days` | the days to recompute: the conf's `days`, else the `extra.days` of the triggering Silver events and of those that arrived after the run's trigger point |
| `silver_to_event_time` | only with `recompute_event_time` (tables written before events were filed under their own time): moves every Silver row whose `ingest_dt` is not its `created_at` day (UTC) to that day (`include/sql/github_lakehouse/silver_event_time_merge.sql`); does nothing otherwise |
| `update_gold` | one mapped task per day (with `recompute_event_time`: `days` and the day after each, whose Gold rows are deleted first, `gold_*_clear.sql`): creates the Gold tables if needed, then one `MERGE` per table (`include/sql/github_lakehouse/gold_*_merge.sql`, Athena dialect) replaces the day's rows with the day's aggregates of Silver. A re-run writes the same figures. On Athena the task defers while each query runs; locally DuckDB computes and pyiceberg commits. Emits the `github_events_gold` Asset with `{"days": [day]}`. |

Example conf (manual run):

```json
{"days": ["2024-01-15", "2024-01-16"]}
```

Moving tables written before event-time filing (once, every day they hold):

```json
{"days": ["2024-01-01", "2024-01-02", "2024-01-03"], "recompute_event_time": true}
```
"""

with archiveflow_dag("github_gold", GOLD_FIELDS, DOC,
                     description="Silver -> Gold daily aggregates (github_events_gold_daily, top repos, hourly) of the days Silver changed",
                     tags=["github", "lakehouse", "gold"], schedule=[GITHUB_EVENTS_SILVER],
                     retry_delay=timedelta(minutes=1)) as dag:
    plan = PlanGoldDaysOperator(task_id="plan_days", inlets=[GITHUB_EVENTS_SILVER])
    silver_to_event_time = SilverToEventTimeOperator(task_id="silver_to_event_time")
    update_gold = LakehouseSqlOperator.partial(
        task_id="update_gold", outlets=[GITHUB_EVENTS_GOLD],
    ).expand_kwargs(plan.output)
    plan >> silver_to_event_time >> update_gold
