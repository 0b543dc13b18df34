"""Many files go to an AWS Batch array job, and the task defers to the provider's BatchJobTrigger
(no worker slot) instead of polling Batch itself."""

from __future__ import annotations

import pytest
from airflow.providers.amazon.aws.triggers.batch import BatchJobTrigger
from airflow.sdk.exceptions import TaskDeferred

from archiveflow.hooks import batch
from archiveflow.operators.restore import ExtractFilesOperator


class Client:
    def __init__(self):
        self.calls = []

    def put_object(self, **kwargs):
        self.calls.append(("put_object", kwargs))

    def submit_job(self, **kwargs):
        self.calls.append(("submit_job", kwargs))
        return {"jobId": "job-1"}


class Hook:
    def __init__(self, client):
        self.conn = self.client = client
        self.runs_jobs_locally = False


def test_above_the_threshold_the_task_submits_an_array_job_and_defers(monkeypatch):
    client = Client()
    monkeypatch.setattr(ExtractFilesOperator, "s3", lambda self: Hook(client))
    monkeypatch.setattr(batch, "BatchClientHook", lambda **kwargs: Hook(client))
    plan = {"request": {"dry_run": False, "restore_bucket": "r", "destination_prefix": ""},
            "files": [{"source_key": f"k{i}"} for i in range(1001)]}
    operator = ExtractFilesOperator(task_id="extract", plan=plan, batch_above=200, files_per_child=500)
    with pytest.raises(TaskDeferred) as deferred:
        operator.run({"run_id": "manual__2026-01-01T00:00:00+00:00"})
    assert isinstance(deferred.value.trigger, BatchJobTrigger) and deferred.value.method_name == "collect"
    assert deferred.value.kwargs["size"] == 3
    submitted = dict(client.calls)["submit_job"]
    assert submitted["arrayProperties"] == {"size": 3}
    assert submitted["containerOverrides"]["command"] == ["python", "-m", "archiveflow.restore.worker"]
