"""archiveflow_stack_check against the local stack: every service passes; a dead endpoint is named."""

import json
import os

import pytest
from airflow.utils.state import DagRunState

pytestmark = pytest.mark.integration


@pytest.fixture
def stack_check_dag():
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder="dags/archiveflow_stack_check.py")
    return bag.dags["archiveflow_stack_check"]


def test_every_check_passes_on_the_local_stack(local_stack, airflow_db, stack_check_dag):
    run = stack_check_dag.test()
    assert run.state == DagRunState.SUCCESS
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert states == {f"check_{n}": "success" for n in
                      ("postgres", "s3", "dynamodb", "iceberg", "sql_engine", "sns", "kinesis")} | {"summary": "success"}


def test_unreachable_aws_endpoint_is_named(local_stack, airflow_db, monkeypatch):
    from archiveflow.stack_check.checks import Connections, StackCheckError, check_s3

    aws = json.loads(os.environ["AIRFLOW_CONN_AWS_DEFAULT"])
    aws["extra"]["endpoint_url"] = "http://127.0.0.1:9"  # nothing listens on the discard port
    aws["extra"]["config_kwargs"] = {"retries": {"max_attempts": 1}, "connect_timeout": 1}
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", json.dumps(aws))
    with pytest.raises(StackCheckError, match=r"^S3: cannot reach http://127.0.0.1:9"):
        check_s3("probe", Connections())
