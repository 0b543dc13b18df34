"""archiveflow_stack_check (Airflow DAG): prove every service a deployment needs is reachable and configured."""

from __future__ import annotations

from datetime import timedelta

from archiveflow.dag_builder import archiveflow_dag
from archiveflow.operators.stack_check import ServiceCheckOperator, StackCheckSummaryOperator
from archiveflow.stack_check.checks import CHECKS
from archiveflow.stack_check.request import FIELDS

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
| `check_kinesis` | the sensor-readings stream is active (read only) | `aws_default` |

`summary` fails the run when any check failed and lists which ones; read the failed task's log
for the reason. No conf is needed; to check other connections before pointing DAGs at them,
name them: `{"aws_conn_id": "aws_prod", "postgres_conn_id": "crm_db"}`. Nothing is left behind except the one-row `stack_check` table.
"""

with archiveflow_dag("archiveflow_stack_check", FIELDS, DOC,
                     description="Touch every service archiveflow needs and name the one that is missing",
                     tags=["diagnostics"], retry_delay=timedelta(seconds=10)) as dag:
    checks = {name: ServiceCheckOperator(service=name) for name in CHECKS}
    checks["iceberg"] >> checks["sql_engine"]  # the SQL engine reads the table the Iceberg check wrote
    list(checks.values()) >> StackCheckSummaryOperator(task_id="summary", trigger_rule="all_done")
