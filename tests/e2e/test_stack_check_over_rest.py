"""Real Airflow (api-server, scheduler, dag-processor, triggerer) driven over its REST API."""

import uuid

import pytest

pytestmark = pytest.mark.e2e

DAG_ID = "archiveflow_stack_check"


def test_every_dag_file_parses_without_import_errors(airflow_stack):
    airflow_stack.wait_for_dag(DAG_ID)
    assert airflow_stack.get("/importErrors")["import_errors"] == []


def test_stack_check_triggered_over_rest_succeeds(airflow_stack):
    airflow_stack.wait_for_dag(DAG_ID)
    run_id = f"e2e__{uuid.uuid4().hex[:8]}"
    response = airflow_stack.trigger(DAG_ID, {}, run_id=run_id)
    assert response.status_code == 200, response.text
    run = airflow_stack.wait_for_run(DAG_ID, run_id, timeout=300)
    states = {ti["task_id"]: ti["state"] for ti in airflow_stack.task_instances(DAG_ID, run_id)}
    assert run["state"] == "success", states
    assert set(states.values()) == {"success"} and len(states) == 8


def test_unreachable_aws_endpoint_fails_the_run_naming_s3(airflow_stack):
    conn_id = f"aws_unreachable_{uuid.uuid4().hex[:6]}"
    connection = {
        "connection_id": conn_id, "conn_type": "aws", "login": "test", "password": "test",
        "extra": '{"endpoint_url": "http://127.0.0.1:9", "region_name": "us-east-1", '
                 '"config_kwargs": {"retries": {"max_attempts": 1}}}',
    }
    created = airflow_stack.session.post(f"{airflow_stack.base_url}/api/v2/connections", json=connection, timeout=30)
    assert created.status_code == 201, created.text
    run_id = f"e2e_broken__{uuid.uuid4().hex[:8]}"
    response = airflow_stack.trigger(DAG_ID, {"aws_conn_id": conn_id}, run_id=run_id)
    assert response.status_code == 200, response.text

    run = airflow_stack.wait_for_run(DAG_ID, run_id, timeout=300)
    assert run["state"] == "failed"
    s3 = next(ti for ti in airflow_stack.task_instances(DAG_ID, run_id) if ti["task_id"] == "check_s3")
    assert s3["state"] == "failed"
    log = airflow_stack.task_log(DAG_ID, run_id, "check_s3", s3["try_number"])
    assert "S3: cannot reach http://127.0.0.1:9" in log


def test_conf_breaking_the_param_schema_is_refused(airflow_stack):
    response = airflow_stack.trigger(DAG_ID, {"aws_conn_id": ""}, run_id=f"e2e_bad__{uuid.uuid4().hex[:8]}")
    assert response.status_code == 400
    assert "aws_conn_id" in response.text
