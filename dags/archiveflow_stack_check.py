"""archiveflow_stack_check: prove every service a deployment needs is reachable and configured."""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG, Param, task
from airflow.sdk.exceptions import AirflowFailException

from archiveflow.stack_check import CHECKS, Connections

DOC = """
### Stack check

Run this after `make up` or after deploying to MWAA. Each task does one small real round trip
through the connection the DAGs use and fails with a message naming the service:

| task | what it does | connection |
|---|---|---|
| `check_postgres` | `SELECT version()` | `postgres_default` |
| `check_s3` | put, get and delete an object in the reports bucket | `aws_default` |
| `check_dynamodb` | put, get and delete an item in the runs table | `aws_default` |
| `check_iceberg` | write and read the `stack_check` Iceberg table through the Glue catalog | `aws_default` |
| `check_sql_engine` | count that row with SQL on the lakehouse engine (Athena, or DuckDB locally) | `lakehouse_sql` |
| `check_sns` | publish to the notifications topic | `aws_default` |

`summary` fails the run when any check failed and lists which ones; read the failed task's log
for the reason. No conf is needed; to check other connections before pointing DAGs at them,
name them: `{"aws_conn_id": "aws_prod", "postgres_conn_id": "crm_db"}`. Nothing is left behind except the one-row `stack_check` table.
"""

with DAG(
    dag_id="archiveflow_stack_check",
    description="Touch every service archiveflow needs and name the one that is missing",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    doc_md=DOC,
    tags=["archiveflow", "diagnostics"],
    default_args={"owner": "archiveflow", "retries": 2, "retry_delay": timedelta(seconds=10)},
    params={
        "aws_conn_id": Param("aws_default", type="string", minLength=1,
                             description="AWS connection for S3, DynamoDB, Glue/Iceberg and SNS"),
        "postgres_conn_id": Param("postgres_default", type="string", minLength=1,
                                  description="PostgreSQL connection (the rdbms_archival source)"),
        "lakehouse_sql_conn_id": Param("lakehouse_sql", type="string", minLength=1,
                                       description="Lakehouse SQL connection (Athena, or DuckDB locally)"),
    },
) as dag:

    def make_check(name: str):
        @task(task_id=f"check_{name}")
        def check(run_id: str | None = None, params: dict | None = None) -> str:
            return CHECKS[name](run_id, Connections(**params))

        return check()

    checks = {name: make_check(name) for name in CHECKS}
    checks["iceberg"] >> checks["sql_engine"]

    @task(trigger_rule="all_done")
    def summary(**context) -> dict[str, str]:
        results = {
            name: context["ti"].xcom_pull(task_ids=f"check_{name}") for name in CHECKS
        }
        failed = [name for name, result in results.items() if result is None]
        for name, result in results.items():
            print(f"{name:<12} {'FAILED (see its log)' if result is None else 'ok: ' + result}")
        if failed:
            raise AirflowFailException(f"stack check failed for: {', '.join(failed)}")
        return results

    list(checks.values()) >> summary()
