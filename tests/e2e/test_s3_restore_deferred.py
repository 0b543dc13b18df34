"""s3_restore on real Airflow with a triggerer: while the emulator holds the bundle's restore in
progress the wait is deferred (no worker slot); the triggerer is killed and a new one started; when
the restore completes, the task resumes and the file is restored byte-identical."""

from __future__ import annotations

import time
import uuid

import pytest
from tests.integration.restore.conftest import Aws, RestoreDelay, located, pack

from archiveflow import resources
from archiveflow.restore.extract import destination_key
from devstack import stack

pytestmark = [pytest.mark.e2e, pytest.mark.emulator_restore_state]

DAG_ID = "s3_restore"


def wait_for_state(api, run_id: str, task_id: str, state: str, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    seen = None
    while time.monotonic() < deadline:
        seen = next((ti["state"] for ti in api.task_instances(DAG_ID, run_id) if ti["task_id"] == task_id), None)
        if seen == state:
            return
        time.sleep(1)
    raise TimeoutError(f"{task_id} never reached {state} (last seen {seen})")


def test_the_wait_is_deferred_survives_a_triggerer_restart_and_resumes(airflow_stack, local_stack):
    aws = Aws(local_stack)
    delay = RestoreDelay(local_stack.aws_endpoint)
    project = aws.unique("deferred")
    files = {f"{project}/q/asked.csv": b"id,v\n" + b"1,2\n" * 300, f"{project}/q/other.csv": b"x\n"}
    (unit,) = pack(aws, files, project, storage_class="DEEP_ARCHIVE")["units"]
    try:
        delay.hold(aws.s3, aws.archive, [unit["archive_key"]])
        airflow_stack.wait_for_dag(DAG_ID)
        run_id = f"e2e_deferred__{uuid.uuid4().hex[:8]}"
        conf = {"project_name": project, "filename": "asked.csv", "retrieval_tier": "Bulk", "poll_interval": 2,
                "destination_prefix": f"tests/{project}"}
        response = airflow_stack.trigger(DAG_ID, conf, run_id=run_id)
        assert response.status_code == 200, response.text

        wait_for_state(airflow_stack, run_id, "wait_for_restores", "deferred")
        triggerer = local_stack.config.process("triggerer")
        assert triggerer.stop()  # killed while the task is deferred...
        stack.start_airflow(local_stack.config)  # ...and a new one started (the others are left running)
        time.sleep(5)
        wait_for_state(airflow_stack, run_id, "wait_for_restores", "deferred", timeout=30)  # still waiting
    finally:
        delay.unset()  # the restore completes
    run = airflow_stack.wait_for_run(DAG_ID, run_id, timeout=240)
    states = {ti["task_id"]: ti["state"] for ti in airflow_stack.task_instances(DAG_ID, run_id)}
    assert run["state"] == "success", states
    (asked,) = located(aws, project, [f"{project}/q/asked.csv"])
    key = destination_key(asked, f"tests/{project}/")
    assert aws.s3.get_object(Bucket=resources.bucket("restore"), Key=key)["Body"].read() == files[f"{project}/q/asked.csv"]
    assert aws.keys(resources.bucket("restore"), f"tests/{project}/") == [key]
