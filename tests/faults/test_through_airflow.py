"""Faults injected through the test stack's real Airflow: every DAG that writes data runs under
the scheduler and its LocalExecutor, a fault hits it mid-run, and Airflow's own retry (the DAG's
`retries`) or a restarted component finishes it. Each run ends `success` and its outcome is
checked from the services' own state (Iceberg rows against the source's, objects in S3, items in
DynamoDB), never from what the run says it did.

- a task's process killed (SIGKILL) at a failpoint, found by the pid its running task instance
  records (airflow_faults.Airflow.kill_task_at); the supervisor reports the try failed, the
  scheduler retries it;
- the scheduler stopped mid-run and started again (devstack process management);
- the triggerer stopped while a task is deferred, the awaited thing happening while it is down,
  a new triggerer started: the deferral resumes.
"""

from __future__ import annotations

import pytest
from airflow_faults import Airflow
from test_rdbms_archival_faults import check_archived_once, make_source, source_ids

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def airflow(airflow_stack, local_stack):
    return Airflow(airflow_stack, local_stack.config)


def test_rdbms_archival_task_killed_after_its_iceberg_commit(airflow, pg, catalog, fault_table):
    conn, schema = pg
    rows = 3000
    make_source(conn, schema, rows)
    conf = {"source_schema": schema, "source_table": [{"table_name": "big"}], "purge": True}
    run_id = airflow.trigger("rdbms_archival", conf, arm="rdbms_archival.committed")
    killed = airflow.kill_task_at("rdbms_archival", run_id, "archive_table", "rdbms_archival.committed")
    tis = airflow.finished("rdbms_archival", run_id)
    assert tis[("archive_table", 0)]["try_number"] == killed["try_number"] + 1
    assert not source_ids(conn, schema)  # validated against the one snapshot, then purged
    _, checked = check_archived_once(catalog, schema, run_id, rows)
    fault_table("SIGKILL (TI pid)", "rdbms_archival: archive_table after its Iceberg commit",
                "Airflow retry found the snapshot (no 2nd append); validated, purged", checked)
