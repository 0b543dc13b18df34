"""Real Airflow over REST: the plan waits for a human; a rejection archives nothing."""

from __future__ import annotations

import time
import uuid

import pytest

pytestmark = pytest.mark.e2e

DAG_ID = "s3_deep_archive"


def wait_for_state(api, run_id: str, task_id: str, state: str, timeout: float = 180) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        task = next((ti for ti in api.task_instances(DAG_ID, run_id) if ti["task_id"] == task_id), None)
        if task and task["state"] == state:
            return task
        time.sleep(1)
    raise TimeoutError(f"{task_id} never reached {state}")


@pytest.mark.parametrize("decision", ["Reject", "Approve"])
def test_the_plan_waits_for_a_human(airflow_stack, aws, decision):
    """Reject: nothing is written or deleted. Approve: every file is bundled, indexed, then deleted."""
    project = aws.unique(decision.lower())
    prefix = project + "/"
    aws.upload({f"{prefix}f{i}.csv": b"a,b\n%d,%d\n" % (i, i) for i in range(20)})
    airflow_stack.wait_for_dag(DAG_ID)
    run_id = f"e2e_{decision.lower()}__{uuid.uuid4().hex[:8]}"
    conf = {"project_name": project, "bucket_name": aws.source, "prefix": prefix, "file_count": 10,
            "archive_size": 1, "output_prefix": f"tests/{project}", "require_approval": True, "delete_source": True}
    response = airflow_stack.trigger(DAG_ID, conf, run_id=run_id)
    assert response.status_code == 200, response.text

    wait_for_state(airflow_stack, run_id, "approve", "awaiting_input")
    time.sleep(3)  # answering within ~0.2 s of awaiting_input can fail the task (STACK-NOTES.md)
    answer = airflow_stack.session.patch(
        f"{airflow_stack.base_url}/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/approve/-1/hitlDetails",
        json={"chosen_options": [decision], "params_input": {}}, timeout=30)
    assert answer.status_code == 200, answer.text

    run = airflow_stack.wait_for_run(DAG_ID, run_id, timeout=300)
    states = {ti["task_id"]: ti["state"] for ti in airflow_stack.task_instances(DAG_ID, run_id)}
    assert run["state"] == "success", states
    if decision == "Reject":
        assert (states["pack"], states["record"]) == ("skipped", "skipped")
        assert aws.keys(aws.archive, f"tests/{project}") == []
        assert aws.index_items(project) == []
        assert len(aws.keys(aws.source, prefix)) == 20  # delete_source was set: still nothing deleted
    else:
        assert (states["pack"], states["record"]) == ("success", "success")
        items = aws.index_items(project)
        assert sorted(item["source_key"] for item in items) == sorted(f"{prefix}f{i}.csv" for i in range(20))
        assert len({item["archive_key"] for item in items}) == 2  # 20 files, 10 per bundle
        assert aws.keys(aws.source, prefix) == []  # delete_source: deleted only once indexed
