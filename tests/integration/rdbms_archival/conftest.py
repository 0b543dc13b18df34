"""The rdbms_archival integration fixtures (`pg`, one fresh schema of the real PostgreSQL, and the
Iceberg `catalog` on the emulator come from tests/conftest.py)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from archiveflow import resources
from archiveflow.rdbms_archival.archive import archive_table
from archiveflow.rdbms_archival.request import parse_request
from archiveflow.rdbms_archival.source import TablePlan, plan_table
from archiveflow.rdbms_archival.validation import validate_snapshot


@dataclass
class Archived:
    plan: TablePlan
    iceberg: object
    result: dict
    validated: dict


@pytest.fixture
def archive_and_validate(pg, local_stack, catalog):
    """archive_and_validate(run_id, **conf): archive and validate table 0 of the conf in the test's
    schema as the DAG's tasks do."""
    conn, schema = pg

    def run(run_id: str, **conf) -> Archived:
        request = parse_request({"source_schema": schema, **conf})
        plan = plan_table(conn, request, 0, resources.glue_database("archive"))
        result = archive_table(conn, local_stack.pg_dsn, catalog, plan, request, run_id)
        iceberg = catalog.load_table(plan.iceberg_table)
        return Archived(plan, iceberg, result, validate_snapshot(iceberg, result, plan.columns, 1000))

    return run
