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
in the Asset events' `extra.days` (several Silver updates queued while Gold ran are handled by one
run). A manual run recomputes the conf's `days`.

Gold tables (Iceberg, partitioned by `ingest_dt`, in the lakehouse Glue database):

| table | one row per |
|---|---|
| `github_events_gold_daily` | day, event type, repository: `events_count` (the seed's table) |
| `github_events_gold_top_repos` | day and rank (top 100): repository, events, distinct actors, pushes |
| `github_events_gold_hourly` | day, UTC hour, event type: events, distinct actors, distinct repositories |

| task | what it does |
|---|---|
| `plan_days` | the days to recompute: the conf's `days`, else the triggering Silver events' `extra.days` |
| `update_gold` | one mapped task per day: creates the Gold tables if needed, then one `MERGE` per table (`include/sql/github_lakehouse/gold_*_merge.sql`, Athena dialect) replaces the day's rows with the day's aggregates of Silver. A re-run writes the same figures. On Athena the task defers while each query runs; locally DuckDB computes and pyiceberg commits. Emits the `github_events_gold` Asset with `{"days": [day]}`. |

Example conf (manual run):

```json
{"days": ["2024-01-15", "2024-01-16"]}
```
"""

with archiveflow_dag("github_gold", GOLD_FIELDS, DOC,
                     description="Silver -> Gold daily aggregates (github_events_gold_daily, top repos, hourly) of the days Silver changed",
                     tags=["github", "lakehouse", "gold"], schedule=[GITHUB_EVENTS_SILVER], max_active_runs=1,
                     retry_delay=timedelta(minutes=1)) as dag:
    plan = PlanGoldDaysOperator(task_id="plan_days")
    update_gold = LakehouseSqlOperator.partial(
        task_id="update_gold", sql=GOLD_SQL, outlets=[GITHUB_EVENTS_GOLD],
    ).expand_kwargs(plan.output)
