"""github_ingestion's tasks as a killable process: `python github_task.py ingest|silver HOUR RUN_ID`.

`ingest` is ingest_hour (the hour from the stack's gharchive_default connection into its Bronze
object, one multipart upload); `silver` is update_silver (`silver_table.sql` then the MERGE of
`silver_merge.sql`, DuckDB computing and pyiceberg committing, as the local lakehouse_sql
connection runs it). Each is the DAG's own operator, executed as its task would be.
"""

import json
import logging
import sys

from archiveflow import resources
from archiveflow.github_lakehouse.bronze import GhHour
from archiveflow.operators.github_lakehouse import SILVER_SQL, IngestHourOperator, silver_parameters
from archiveflow.operators.lakehouse_sql import LakehouseSqlOperator


def run(step: str, hour: GhHour, run_id: str):
    if step == "ingest":
        plan = {"hour": hour.name, "source_path": hour.source_path, "bucket": resources.bucket("lakehouse"),
                "key": hour.bronze_key}
        return IngestHourOperator(task_id="ingest_hour", plan=plan).execute(
            {"params": {"http_conn_id": "gharchive_default", "max_malformed_percent": 5}, "run_id": run_id})
    bronze = f"s3://{resources.bucket('lakehouse')}/{hour.bronze_key}"
    return LakehouseSqlOperator(task_id="update_silver", sql=SILVER_SQL,
                                parameters=silver_parameters(hour.ingest_dt, bronze)).execute({"run_id": run_id})


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(levelname)s %(name)s %(message)s")
    step, hour, run_id = sys.argv[1:4]
    print("RESULT " + json.dumps(run(step, GhHour.parse(hour), run_id), default=str), flush=True)
