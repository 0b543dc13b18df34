"""Run metadata in DynamoDB (the `runs` table: pk/sk strings).

pk = `rdbms_archival#{run_id}`; sk = `run` for the run, `table#{schema}.{table}` per table,
`failure#{task_id}#{map_index}` per failed task attempt. Each step sets only its own attributes
(update_item), so steps and retries never overwrite each other's figures.
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Any

RUN_SK = "run"


def run_pk(run_id: str) -> str:
    return f"rdbms_archival#{run_id}"


def table_sk(label: str) -> str:
    return f"table#{label}"


def failure_sk(task_id: str, map_index: int) -> str:
    return f"failure#{task_id}#{map_index}"


def _dynamodb_value(value: Any) -> Any:
    """DynamoDB takes Decimal, not float."""
    return json.loads(json.dumps(value, default=str), parse_float=Decimal)


class RunRecorder:
    """Over a boto3 DynamoDB Table resource (the operators get it from the provider's DynamoDBHook)."""

    def __init__(self, table):
        self.table = table

    def update(self, run_id: str, sk: str, **attributes: Any) -> None:
        attributes["updated_at"] = dt.datetime.now(dt.UTC).isoformat()
        names = {f"#a{i}": name for i, name in enumerate(attributes)}
        values = {f":v{i}": _dynamodb_value(v) for i, v in enumerate(attributes.values())}
        self.table.update_item(
            Key={"pk": run_pk(run_id), "sk": sk},
            UpdateExpression="SET " + ", ".join(f"#a{i} = :v{i}" for i in range(len(attributes))),
            ExpressionAttributeNames=names, ExpressionAttributeValues=values)

    def items(self, run_id: str) -> list[dict]:
        kwargs: dict[str, Any] = {"KeyConditionExpression": "pk = :pk",
                                  "ExpressionAttributeValues": {":pk": run_pk(run_id)}}
        items = []
        while True:
            page = self.table.query(**kwargs)
            items += page["Items"]
            if "LastEvaluatedKey" not in page:
                return items
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def run_status(items: list[dict]) -> tuple[str, list[str]]:
    """("succeeded" | "failed", reasons) from a run's items: failed when a task failed or a table
    did not get through validation and purge."""
    reasons = [f"{i['task']}: {i['reason']}" for i in items if i["sk"].startswith("failure#")]
    tables = [i for i in items if i["sk"].startswith("table#")]
    if not tables and not reasons:
        reasons.append("no table was archived")
    reasons += [f"{t['table']}: not validated" for t in tables if not t.get("validation", {}).get("passed")]
    reasons += [f"{t['table']}: purge step did not run" for t in tables if "purge" not in t]
    return ("failed" if reasons else "succeeded"), reasons
