"""Shared steps of the rdbms_archival integration tests: archive and validate one table as the DAG does."""

from __future__ import annotations

from dataclasses import dataclass

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


def archive_and_validate(conn, local_stack, catalog, schema: str, run_id: str, **conf) -> Archived:
    request = parse_request({"source_schema": schema, **conf})
    plan = plan_table(conn, request, 0, resources.glue_database("archive"))
    result = archive_table(conn, local_stack.pg_dsn, catalog, plan, request, run_id)
    iceberg = catalog.load_table(plan.iceberg_table)
    return Archived(plan, iceberg, result, validate_snapshot(iceberg, result, plan.columns, 1000))
