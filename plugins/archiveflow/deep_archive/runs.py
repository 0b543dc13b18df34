"""What each `s3_deep_archive` run archived, in the `runs` DynamoDB table: one item per run and
one per source (what lets the monthly run skip a source a triggered run already archived)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from decimal import Decimal

from boto3.dynamodb.conditions import Key

from archiveflow.deep_archive.index import now_iso

RUN_PK = "s3_deep_archive#run#{run_id}"
SOURCE_PK = "s3_deep_archive#source#{bucket}/{prefix}"


def archived_in(runs_table, month: str, bucket: str, prefix: str) -> list[str]:
    """Run ids that archived s3://bucket/prefix in `month` (YYYY-MM)."""
    pk = SOURCE_PK.format(bucket=bucket, prefix=prefix)
    response = runs_table.query(KeyConditionExpression=Key("pk").eq(pk) & Key("sk").begins_with(month))
    return [item["run_id"] for item in response["Items"]]


def record_run(runs_table, run_id: str, month: str, result: Mapping) -> None:
    archived_at = now_iso()
    with runs_table.batch_writer() as batch:
        batch.put_item(Item={"pk": RUN_PK.format(run_id=run_id), "sk": "run", "run_id": run_id,
                             "dag_id": "s3_deep_archive", "archived_at": archived_at,
                             **_dynamodb_numbers({k: result[k] for k in ("plan_id", "totals", "cost", "index") if k in result})})
        for request in result["requests"]:
            batch.put_item(Item={
                "pk": SOURCE_PK.format(bucket=request["bucket_name"], prefix=request["prefix"]),
                "sk": f"{month}#{run_id}", "run_id": run_id, "plan_id": result["plan_id"],
                "project_name": request["project_name"], "archived_at": archived_at,
            })


def _dynamodb_numbers(value: dict) -> dict:
    """DynamoDB takes Decimal, not float."""
    return json.loads(json.dumps(value), parse_float=Decimal)
