"""deploy.trigger, as a calling system runs it, against real Airflow on the local stack (token auth)."""

import json
import subprocess
import sys

import pytest

from deploy.constraints import REPO
from devstack.seed_rdbms_demo import DEMO_CONF, seed

pytestmark = pytest.mark.e2e


def client(airflow_stack, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "deploy.trigger", *args, "--url", airflow_stack.base_url,
                           "--poll", "2", "--timeout", "400"],
                          cwd=REPO, capture_output=True, text=True, timeout=450)


def test_client_runs_rdbms_archival_with_the_seed_payload_and_exits_with_its_outcome(airflow_stack, local_stack):
    seed(local_stack.pg_dsn)
    airflow_stack.wait_for_dag("rdbms_archival")
    result = client(airflow_stack, "rdbms_archival", "--conf", "deploy/confs/rdbms_archival.json", "--wait")
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("run_id: ") and lines[-1] == "outcome: success"
    run_id = lines[0].removeprefix("run_id: ")
    final = {ti["task_id"]: ti["state"] for ti in airflow_stack.task_instances("rdbms_archival", run_id)}
    assert all(f"task {task}: {state}" in lines or f"task {task}[" in result.stdout for task, state in final.items())


def test_a_failed_run_is_exit_1_and_a_refused_conf_exit_2(airflow_stack, tmp_path):
    airflow_stack.wait_for_dag("rdbms_archival")
    hostile = tmp_path / "hostile.json"
    hostile.write_text(json.dumps({**DEMO_CONF, "source_table": [{"table_name": "leads", "condition": "pg_sleep(5) IS NULL"}]}))
    failed = client(airflow_stack, "rdbms_archival", "--conf", str(hostile), "--wait")
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "task validate_request: failed" in failed.stdout and failed.stdout.endswith("outcome: failed\n")

    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({**DEMO_CONF, "source_table": [{"table_name": "products; DROP TABLE products"}]}))
    refused = client(airflow_stack, "rdbms_archival", "--conf", str(bad), "--wait")
    assert refused.returncode == 2 and "source_table" in refused.stderr and refused.stdout == ""
