"""A SIGKILL in the middle of archiving a table, then the task's retry: exactly one copy."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from psycopg import sql

from archiveflow import resources
from archiveflow.hooks.iceberg import IcebergCatalogHook
from archiveflow.rdbms_archival.archive import archive_table
from archiveflow.rdbms_archival.iceberg_sink import RUN_TAG
from archiveflow.rdbms_archival.request import parse_request
from archiveflow.rdbms_archival.source import plan_table

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[3]
ROWS = 300_000

ARCHIVE_IN_CHILD = """
import logging, sys
import psycopg
from archiveflow import resources
from archiveflow.hooks.iceberg import IcebergCatalogHook
from archiveflow.rdbms_archival import source
from archiveflow.rdbms_archival.archive import archive_table
from archiveflow.rdbms_archival.request import parse_request
source.PROGRESS_EVERY_S = 0  # a log line per batch: the parent kills us after the first one
source.log.addHandler(logging.StreamHandler(sys.stderr))
source.log.setLevel(logging.INFO)
dsn, schema = sys.argv[1:3]
request = parse_request({"source_schema": schema, "source_table": [{"table_name": "big"}]})
with psycopg.connect(dsn, autocommit=True) as conn:
    plan = source.plan_table(conn, request, 0, resources.glue_database("archive"))
    archive_table(conn, dsn, IcebergCatalogHook().get_catalog(), plan, request, "run-killed")
"""


def test_sigkill_mid_table_then_retry_leaves_exactly_one_copy(pg, local_stack, catalog):
    conn, schema = pg
    table = sql.Identifier(schema, "big")
    conn.execute(sql.SQL("CREATE TABLE {} (id bigint PRIMARY KEY, payload text)").format(table))
    conn.execute(sql.SQL("INSERT INTO {} SELECT g, repeat(md5(g::text), 3) FROM generate_series(1, %s) g")
                 .format(table), (ROWS,))

    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "plugins"), str(REPO)])}
    child = subprocess.Popen([sys.executable, "-c", ARCHIVE_IN_CHILD, local_stack.pg_dsn, schema],
                             stderr=subprocess.PIPE, text=True, env=env)
    try:
        for line in child.stderr:
            if "rows read" in line:  # mid-table: a batch is converted, the commit is still ahead
                os.kill(child.pid, signal.SIGKILL)
                break
    finally:
        child.kill()
        child.wait(timeout=60)
    assert child.returncode == -signal.SIGKILL

    request = parse_request({"source_schema": schema, "source_table": [{"table_name": "big"}]})
    plan = plan_table(conn, request, 0, resources.glue_database("archive"))
    killed = IcebergCatalogHook().get_catalog().load_table(plan.iceberg_table)
    assert not [s for s in killed.snapshots() if (s.summary or {}).get(RUN_TAG) == "run-killed"]

    retried = archive_table(conn, local_stack.pg_dsn, catalog, plan, request, "run-killed")
    again = archive_table(conn, local_stack.pg_dsn, catalog, plan, request, "run-killed")
    iceberg = catalog.load_table(plan.iceberg_table)
    assert retried["appended"] and not again["appended"] and retried["rows_archived"] == ROWS
    assert iceberg.scan(selected_fields=("id",)).to_arrow().num_rows == ROWS
    assert len([s for s in iceberg.snapshots() if s.summary.get(RUN_TAG) == "run-killed"]) == 1
