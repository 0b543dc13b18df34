"""Each `s3_restore` run in the `runs` DynamoDB table: what was restored, what failed, what it cost,
and when its one notice was sent (long lists in S3: `archiveflow.run_items`)."""

from __future__ import annotations

from archiveflow.deep_archive.index import now_iso
from archiveflow.run_items import put_run_item

RUN_PK = "s3_restore#run#{run_id}"


def _key(run_id: str) -> dict:
    return {"pk": RUN_PK.format(run_id=run_id), "sk": "run"}


def notified_at(runs_table, run_id: str) -> str | None:
    """When this run's notice was sent (by an earlier try), or None."""
    item = runs_table.get_item(Key=_key(run_id), ConsistentRead=True).get("Item") or {}
    return item.get("notified_at")


def record_run(runs_table, s3, lists_bucket: str, run_id: str, summary: dict) -> dict:
    """One item per run (a retry overwrites it with the same content, keeping `notified_at`)."""
    item = {**_key(run_id), "run_id": run_id, "dag_id": "s3_restore", "finished_at": now_iso(), **summary}
    if sent := notified_at(runs_table, run_id):
        item["notified_at"] = sent
    return put_run_item(runs_table, s3, lists_bucket, item)


def mark_notified(runs_table, run_id: str) -> None:
    runs_table.update_item(Key=_key(run_id), UpdateExpression="SET notified_at = :at",
                           ExpressionAttributeValues={":at": now_iso()})
