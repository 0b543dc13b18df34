"""archiveflow's BatchOperator against the emulator: a failed job, or a failed local child, fails the task."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request

import pytest
from airflow.providers.common.compat.sdk import AirflowException

from archiveflow import resources
from archiveflow.operators.batch import BatchOperator

pytestmark = pytest.mark.integration


class TaskInstance:
    def xcom_push(self, key, value):
        pass


def operator(**overrides) -> BatchOperator:
    return BatchOperator(task_id="pack", job_name="test-pack", job_queue=resources.batch_job_queue(),
                         job_definition=resources.batch_job_definition("pack-bundle"), deferrable=True,
                         **overrides)


def aws_connection(endpoint: str, **extra) -> str:
    return json.dumps({"conn_type": "aws", "login": "test", "password": "test",
                       "extra": {"endpoint_url": endpoint, "region_name": "us-east-1", **extra}})


@pytest.fixture
def failing_batch(monkeypatch):
    """A moto of our own whose Batch jobs all fail (MOTO_SIMPLE_BATCH_FAIL_AFTER=0); stopped by pid."""
    from devstack.provision import provision

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    moto = subprocess.Popen([os.path.join(os.path.dirname(sys.executable), "moto_server"), "-H", "127.0.0.1",
                             "-p", str(port)], env={**os.environ, "MOTO_SIMPLE_BATCH_FAIL_AFTER": "0"},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    endpoint = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1).close()
                break
            except OSError:
                time.sleep(0.2)
        provision(endpoint)
        monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", aws_connection(
            endpoint, service_config={"batch": {"local_runner": "subprocess"}}))
        yield endpoint
    finally:
        moto.terminate()
        moto.wait(timeout=30)


def test_a_failed_batch_job_fails_the_task(failing_batch):
    with pytest.raises(AirflowException, match="FAILED"):
        operator(array_properties={"size": 2}).execute({"ti": TaskInstance()})


def test_a_failing_local_child_fails_the_task(aws, capsys):
    missing_plan = {"environment": [{"name": "ARCHIVEFLOW_PLAN", "value": f"s3://{aws.archive}/_plans/none/plan.json"}]}
    with pytest.raises(AirflowException, match=r"run locally\): children \[0, 1\] failed"):
        operator(array_properties={"size": 2}, container_overrides=missing_plan).execute({"ti": TaskInstance()})
    assert "NoSuchKey" in capsys.readouterr().out  # the worker's own error reached the task log
