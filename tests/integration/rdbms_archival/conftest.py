"""Real PostgreSQL (the stack's source database, one fresh schema per test) and the Iceberg
catalog on the emulator."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import psycopg
import pytest
from psycopg import sql

from archiveflow import resources
from archiveflow.hooks.iceberg import IcebergCatalogHook
from archiveflow.rdbms_archival.archive import archive_table
from archiveflow.rdbms_archival.request import parse_request
from archiveflow.rdbms_archival.source import TablePlan, plan_table
from archiveflow.rdbms_archival.validation import validate_snapshot


@pytest.fixture
def pg(local_stack):
    """(connection, schema): a schema of its own, dropped afterwards."""
    schema = f"it_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(local_stack.pg_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
        try:
            yield conn, schema
        finally:
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


@pytest.fixture
def catalog(local_stack):
    catalog = IcebergCatalogHook().get_catalog()
    before = set(catalog.list_tables(resources.glue_database("archive")))
    yield catalog
    for identifier in set(catalog.list_tables(resources.glue_database("archive"))) - before:
        catalog.drop_table(identifier)


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
