"""What each `s3_deep_archive` run archived, in the `runs` DynamoDB table: one item per run and
one per source (what lets the monthly run skip a source a triggered run already archived)."""

from __future__ import annotations

from collections.abc import Mapping

from boto3.dynamodb.conditions import Key

from archiveflow.deep_archive.index import now_iso
from archiveflow.run_items import put_run_item

RUN_PK = "s3_deep_archive#run#{run_id}"
SOURCE_PK = "s3_deep_archive#source#{bucket}/{prefix}"


def archived_in(runs_table, month: str, bucket: str, prefix: str) -> list[str]:
    """Run ids that archived s3://bucket/prefix in `month` (YYYY-MM)."""
    pk = SOURCE_PK.format(bucket=bucket, prefix=prefix)
    response = runs_table.query(KeyConditionExpression=Key("pk").eq(pk) & Key("sk").begins_with(month))
    return [item["run_id"] for item in response["Items"]]


def record_run(runs_table, s3, lists_bucket: str, run_id: str, month: str, result: Mapping) -> None:
    """The run's item (through `archiveflow.run_items`: its size stays bounded) and one item per source."""
    archived_at = now_iso()
    put_run_item(runs_table, s3, lists_bucket, {
        "pk": RUN_PK.format(run_id=run_id), "sk": "run", "run_id": run_id, "dag_id": "s3_deep_archive",
        "archived_at": archived_at, **{k: result[k] for k in ("plan_id", "totals", "cost", "index") if k in result}})
    with runs_table.batch_writer() as batch:
        for request in result["requests"]:
            batch.put_item(Item={
                "pk": SOURCE_PK.format(bucket=request["bucket_name"], prefix=request["prefix"]),
                "sk": f"{month}#{run_id}", "run_id": run_id, "plan_id": result["plan_id"],
                "project_name": request["project_name"], "archived_at": archived_at,
            })
