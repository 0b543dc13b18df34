"""archiveflow's BatchOperator: submits, defers while the job runs, runs locally only when the connection says so."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
from airflow.providers.amazon.aws.triggers.batch import BatchJobTrigger
from airflow.sdk.exceptions import TaskDeferred

from archiveflow.hooks.batch import BatchClientHook
from archiveflow.operators.batch import BatchOperator


class FakeBatch:
    """What AWS Batch answers right after a submission: the job is RUNNING."""

    def __init__(self):
        self.submitted: dict = {}
        self.meta = SimpleNamespace(region_name="us-east-1", partition="aws", client=self)

    def submit_job(self, **kwargs):
        self.submitted = kwargs
        return {"jobId": "job-1", "jobName": kwargs["jobName"]}

    def describe_jobs(self, jobs):
        return {"jobs": [{"jobId": jobs[0], "status": "RUNNING", "jobDefinition": "arn:def", "jobQueue": "arn:q"}]}


class FakeTaskInstance:
    def xcom_push(self, key, value):
        pass


@pytest.fixture
def batch(monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", json.dumps({"conn_type": "aws", "extra": {"region_name": "us-east-1"}}))
    fake = FakeBatch()
    monkeypatch.setattr(BatchClientHook, "conn", property(lambda self: fake))  # client and get_conn() use it
    return fake


def test_a_running_job_defers_to_the_batch_trigger(batch):
    operator = BatchOperator(task_id="pack", job_name="s3-deep-archive-x", job_queue="q", job_definition="d",
                             array_properties={"size": 3}, deferrable=True, poll_interval=5)
    with pytest.raises(TaskDeferred) as deferred:
        operator.execute({"ti": FakeTaskInstance()})
    assert batch.submitted["arrayProperties"] == {"size": 3}
    trigger = deferred.value.trigger
    assert isinstance(trigger, BatchJobTrigger)
    assert trigger.serialize()[1]["job_id"] == "job-1"
    assert deferred.value.method_name == "execute_complete"
    assert operator.hook.runs_jobs_locally is False  # a plain AWS connection: nothing runs here


def test_the_connection_extra_turns_the_local_runner_on(monkeypatch):
    extra = {"region_name": "us-east-1", "service_config": {"batch": {"local_runner": "subprocess"}}}
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", json.dumps({"conn_type": "aws", "extra": extra}))
    assert BatchClientHook().runs_jobs_locally is True
