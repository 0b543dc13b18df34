"""S3RestoreTrigger survives a triggerer restart: it serializes to an importable classpath and
the same arguments (an absolute deadline, not a duration that would restart)."""

from __future__ import annotations

import importlib

from archiveflow.triggers.s3_restore import S3RestoreTrigger


def test_serialize_round_trip():
    trigger = S3RestoreTrigger([{"bucket": "b", "key": "k.zip"}], end_time=1_900_000_000.5, aws_conn_id="aws_x",
                               region_name="eu-west-1", poll_interval=30)
    classpath, kwargs = trigger.serialize()
    assert classpath == "archiveflow.triggers.s3_restore.S3RestoreTrigger"
    module, name = classpath.rsplit(".", 1)
    rebuilt = getattr(importlib.import_module(module), name)(**kwargs)
    assert rebuilt.serialize() == (classpath, kwargs)
    assert kwargs["end_time"] == 1_900_000_000.5 and kwargs["objects"] == [{"bucket": "b", "key": "k.zip"}]


def test_a_bundle_showing_no_restore_is_requested_again_by_the_wait_itself_within_its_deadline(monkeypatch):
    """The wait, not the request task, is retried: so the wait re-requests a restore that expired
    or was never made, and waits on until the same deadline."""
    import boto3
    import pytest
    from airflow.sdk.exceptions import TaskDeferred
    from botocore.stub import Stubber

    from archiveflow.operators.restore import WaitForRestoresOperator

    s3 = boto3.client("s3", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    stub = Stubber(s3)
    bundle = {"Bucket": "archive", "Key": "p/bundle.zip"}
    stub.add_response("head_object", {"StorageClass": "DEEP_ARCHIVE", "ContentLength": 10}, bundle)
    stub.add_response("restore_object", {}, {**bundle, "RestoreRequest": {
        "Days": 7, "GlacierJobParameters": {"Tier": "Bulk"}}})
    stub.add_response("head_object", {"StorageClass": "DEEP_ARCHIVE", "ContentLength": 10,
                                      "Restore": 'ongoing-request="true"'}, bundle)

    class Hook:
        conn = s3

    monkeypatch.setattr(WaitForRestoresOperator, "s3", lambda self: Hook())
    plan = {"request": {"dry_run": False, "retrieval_tier": "Bulk", "restore_days": 7, "poll_interval": 60,
                        "max_wait_hours": 72}}
    objects = [{"bucket": "archive", "key": "p/bundle.zip"}]
    operator = WaitForRestoresOperator(task_id="wait_for_restores", plan=plan, objects=objects)
    event = {"status": "error", "objects": objects, "message": "no restore requested (or it expired)"}
    deadline = 1_900_000_000.0
    with stub, pytest.raises(TaskDeferred) as deferred:
        operator.resume_execution("execute_complete", {"event": event, "end_time": deadline}, {})
    stub.assert_no_pending_responses()
    assert deferred.value.trigger.end_time == deadline and deferred.value.kwargs == {"end_time": deadline}
