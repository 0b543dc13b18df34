"""The notice of a big restore: one message however often the task is tried, sent after the run
item is written, and the item far under DynamoDB's 400 KB whatever the number of files (its lists
in S3)."""

from __future__ import annotations

import json

import pytest

from archiveflow import resources
from archiveflow.restore.runs import RUN_PK
from archiveflow.run_items import DYNAMODB_ITEM_LIMIT, encoded_size, read_list

pytestmark = pytest.mark.integration


def test_a_thousand_long_keys_notify_once_and_the_run_item_stays_small(aws, topic_queue):
    from archiveflow.operators.restore import NotifyRestoreOperator

    topic, received = topic_queue
    run_id = f"manual__{aws.unique('notify')}"
    long_key = "reports/" + "x" * 900  # S3 keys go up to 1,024 bytes
    restored = [{"source": f"{aws.source}/{long_key}{i:04d}", "version": "v", "bucket": resources.bucket("restore"),
                 "key": f"{long_key}{i:04d}", "size": i} for i in range(1000)]
    plan = {"request": {"dry_run": False, "restore_days": 1, "restore_bucket": resources.bucket("restore"),
                        "destination_prefix": f"tests/{run_id}/", "sns_topic_arn": topic},
            "cost": {"total_usd": 0.5}}
    extracted = {"restored": restored, "failed": [], "archive_bytes_read": 10, "archive_get_requests": 1}
    operator = NotifyRestoreOperator(task_id="notify", plan=plan, extracted=extracted)
    for _ in range(2):  # a retry of the task after it succeeded once
        operator.run({"run_id": run_id})

    assert len(received()) == 1
    item = aws.dynamodb.Table(resources.dynamodb_table("runs")).get_item(
        Key={"pk": RUN_PK.format(run_id=run_id), "sk": "run"})["Item"]
    assert encoded_size(item) < DYNAMODB_ITEM_LIMIT / 10 < encoded_size(restored)
    assert item["notified_at"] and int(item["restored_count"]) == 1000
    assert [r["key"] for r in read_list(aws.s3, item, "restored")] == [r["key"] for r in restored]
    assert json.loads(json.dumps(read_list(aws.s3, item, "failed"))) == []
