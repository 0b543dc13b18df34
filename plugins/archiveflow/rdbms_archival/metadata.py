"""Run metadata in DynamoDB (the `runs` table: pk/sk strings).

pk = `rdbms_archival#{run_id}`; sk = `run` for the run, `table#{schema}.{table}` per table,
`failure#{task_id}#{map_index}` per failed task attempt. Each step sets only its own attributes
(update_item), so steps and retries never overwrite each other's figures.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from archiveflow.run_items import compact, dynamodb_value, expand

RUN_SK = "run"


def run_pk(run_id: str) -> str:
    return f"rdbms_archival#{run_id}"


def table_sk(label: str) -> str:
    return f"table#{label}"


def failure_sk(task_id: str, map_index: int) -> str:
    return f"failure#{task_id}#{map_index}"


class RunRecorder:
    """Over a boto3 DynamoDB Table resource (the operators get it from the provider's DynamoDBHook);
    long lists (reasons, tables) go to `lists_bucket` through `archiveflow.run_items`."""

    def __init__(self, table, s3, lists_bucket: str):
        self.table, self.s3, self.lists_bucket = table, s3, lists_bucket

    def update(self, run_id: str, sk: str, **attributes: Any) -> None:
        attributes["updated_at"] = dt.datetime.now(dt.UTC).isoformat()
        key = {"pk": run_pk(run_id), "sk": sk}
        compacted = {k: v for k, v in compact({**key, **attributes}, self.s3, self.lists_bucket).items()
                     if k not in key}
        # An attribute now inline drops its S3 pointer of an earlier step, and one now in S3 its inline value.
        removed = [f"{name}_s3" if name in compacted else name for name in attributes]
        names = {f"#a{i}": name for i, name in enumerate(compacted)}
        names.update({f"#r{i}": name for i, name in enumerate(removed)})
        values = {f":v{i}": dynamodb_value(v) for i, v in enumerate(compacted.values())}
        self.table.update_item(
            Key=key,
            UpdateExpression="SET " + ", ".join(f"#a{i} = :v{i}" for i in range(len(compacted)))
            + " REMOVE " + ", ".join(f"#r{i}" for i in range(len(removed))),
            ExpressionAttributeNames=names, ExpressionAttributeValues=values)

    def items(self, run_id: str) -> list[dict]:
        kwargs: dict[str, Any] = {"KeyConditionExpression": "pk = :pk",
                                  "ExpressionAttributeValues": {":pk": run_pk(run_id)}}
        items = []
        while True:
            page = self.table.query(**kwargs)
            items += [expand(self.s3, item) for item in page["Items"]]
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
