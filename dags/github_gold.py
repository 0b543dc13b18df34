"""github_gold (Airflow DAG): Gold daily aggregates of the GitHub events lakehouse, recomputed from Silver."""

from __future__ import annotations

from datetime import timedelta

from archiveflow.assets import GITHUB_EVENTS_GOLD, GITHUB_EVENTS_SILVER
from archiveflow.dag_builder import archiveflow_dag
from archiveflow.github_lakehouse.request import GOLD_FIELDS
from archiveflow.operators.github_gold import GOLD_SQL, PlanGoldDaysOperator
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

Gold tables (Iceberg, partitioned by `ingest_dt`, in the lakehouse Glue database):

| table | one row per |
|---|---|
| `github_events_gold_daily` | day, event type, repository: `events_count` (the seed's table) |
| `github_events_gold_top_repos` | day and rank (top 100): repository, events, distinct actors, pushes |
| `github_events_gold_hourly` | day, UTC hour, event type: events, distinct actors, distinct repositories |

| task | what it does |
|---|---|
| `plan_days` | the days to recompute: the conf's `days`, else the `extra.days` of the triggering Silver events and of those that arrived after the run's trigger point |
| `update_gold` | one mapped task per day: creates the Gold tables if needed, then one `MERGE` per table (`include/sql/github_lakehouse/gold_*_merge.sql`, Athena dialect) replaces the day's rows with the day's aggregates of Silver. A re-run writes the same figures. On Athena the task defers while each query runs; locally DuckDB computes and pyiceberg commits. Emits the `github_events_gold` Asset with `{"days": [day]}`. |

Example conf (manual run):

```json
{"days": ["2024-01-15", "2024-01-16"]}
```
"""

with archiveflow_dag("github_gold", GOLD_FIELDS, DOC,
                     description="Silver -> Gold daily aggregates (github_events_gold_daily, top repos, hourly) of the days Silver changed",
                     tags=["github", "lakehouse", "gold"], schedule=[GITHUB_EVENTS_SILVER],
                     retry_delay=timedelta(minutes=1)) as dag:
    plan = PlanGoldDaysOperator(task_id="plan_days", inlets=[GITHUB_EVENTS_SILVER])
    update_gold = LakehouseSqlOperator.partial(
        task_id="update_gold", sql=GOLD_SQL, outlets=[GITHUB_EVENTS_GOLD],
    ).expand_kwargs(plan.output)
