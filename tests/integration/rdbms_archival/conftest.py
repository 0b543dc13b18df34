"""Real PostgreSQL (the stack's source database, one fresh schema per test) and the Iceberg
catalog on the emulator."""

from __future__ import annotations

import uuid

import psycopg
import pytest
from psycopg import sql

from archiveflow import resources
from archiveflow.hooks.iceberg import IcebergCatalogHook


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
